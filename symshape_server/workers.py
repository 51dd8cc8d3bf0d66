"""Work the serving process must be able to stop: derivations (and heavy evaluations) in worker processes.

SymPy work cannot be interrupted inside a thread, so each derivation runs in a worker process: the
spec is parsed, checked and derived there, so a caller's deadline bounds all of it. When the deadline
passes the worker is killed at once (SIGKILL) and replaced in the background, and the server carries on.
A worker returns the finished DeriveResponse (bytes) and the compiled evaluation program (plain data),
so Evaluate and EvaluateBatch of ordinary networks run in the serving process, from the cache; an
evaluation too large to be safe there is sent to a worker too (`evaluate`).

Request text is handed to the library as text, never as a path: see `convert.spec_payload`.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import queue
import signal
import threading
import time
import traceback
from dataclasses import asdict, dataclass, fields
from typing import Any

from symshape.errors import BindingError, LimitError, Location, SpecError
from symshape.limits import Limits

from .collector import BetweenTasks
from .threads import blocking


class DeadlineExceeded(Exception):
    pass


class WorkerCrashed(Exception):
    """A worker process died in the middle of a request (killed, out of memory)."""


class WorkerFailed(Exception):
    """An unexpected exception inside a worker; `args[0]` is its traceback, for the server log only."""


class ShuttingDown(Exception):
    pass


class Later:
    """What a derivation worker sends after the reply: the compiled evaluation program and its size bound.

    A cold Derive's reply goes back as soon as it is built (its caller does not wait for the program);
    the program follows from the same worker, and whatever needs it (Evaluate, Solve, ...) waits here."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: tuple[Any, float] | None = None
        self.error: Exception | None = None

    def set(self, value: tuple[Any, float] | None, error: Exception | None = None) -> None:
        self.value, self.error = value, error
        self.done.set()

    @property
    def failed(self) -> bool:
        return self.done.is_set() and self.error is not None

    def get(self) -> tuple[Any, float]:
        value = self.value  # set once, before `done`: the common case (a served derivation) takes no lock
        if value is not None:
            return value
        with blocking():  # (another call runs meanwhile: symshape_server.threads)
            self.done.wait()  # bounded: the pool sets an error when the worker runs past max_derive_seconds
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]

    @classmethod
    def ready(cls, compiled: Any, worst_bits: float) -> Later:
        later = cls()
        later.set((compiled, worst_bits))
        return later


@dataclass(frozen=True)
class Derived:
    key: str  # the derivation id (symshape_server.ids): carries the canonical spec
    response: bytes  # a serialized DeriveResponse without its derivation_id (b"" when not asked for)
    later: Later  # the compiled program and its size bound (they follow the reply from the worker)
    symbols: tuple[tuple[str, int | None, int | None], ...] = ()  # (name, min, max) per symbol, for Solve
    canonical: str = ""  # the canonical spec (JSON), what the id carries

    @property
    def compiled(self) -> Any:
        """symshape.evaluate.Compiled (waits for the worker if it is still building it)."""
        return self.later.get()[0]

    @property
    def worst_bits(self) -> float:
        """bounds.max_bits of the program with every symbol at the int64 extreme."""
        return self.later.get()[1]


@dataclass(frozen=True)
class ReplyOptions:
    """What a derivation's reply holds (DeriveRequest's options); reply False: no reply (Evaluate by spec)."""

    closed_forms: bool = False
    layer_graphs: bool = False
    reply: bool = True


def _limited(limits: Limits) -> None:
    from symshape.limits import current, set_limits

    if current() != limits:  # the serving process's limits govern the whole derivation (and its clock)
        set_limits(**{f.name: getattr(limits, f.name) for f in fields(limits)})


def _derive(payload: Any, source: str, limits: Limits, faults: tuple[str, ...],
            options: ReplyOptions = ReplyOptions()) -> tuple:
    from symshape.deep import run_deep

    _limited(limits)
    # one large-stack thread for all of it: the library's deep calls nested inside run directly
    return run_deep(_derive_deep, payload, source, limits, faults, options)


def _derive_deep(payload: Any, source: str, limits: Limits, faults: tuple[str, ...], options: ReplyOptions) -> tuple:
    import symshape
    from symshape.spec import load_spec

    from .convert import derive_reply
    from .ids import canonical_json

    if "derive" in faults:
        raise RuntimeError("fault injected in a derivation worker (ServerConfig.fault_injection)")
    spec = load_spec(payload, source=source, limits=limits)  # parsed here: the deadline bounds the parse too
    d = symshape.derive(spec)  # the worker's own cache: the same spec again costs nothing
    response = derive_reply(d, options.closed_forms, options.layer_graphs) if options.reply else b""
    global _pending
    _pending = d  # the compiled program is built after the reply is sent (_derive_rest)
    return (d.key, response, tuple((s.name, s.min, s.max) for s in d.symbols.values()), canonical_json(spec))


_pending: Any = None  # the derivation whose compiled program the worker sends next


def _derive_rest() -> tuple:
    """(pickled compiled program, its size bound) of the derivation `_derive` just replied for."""
    from symshape.deep import run_deep

    global _pending
    d, _pending = _pending, None
    return run_deep(_compile_deep, d)


def _compile_deep(d: Any) -> tuple:
    from .bounds import INT64_BITS, max_bits

    compiled = d.compiled
    return pickle.dumps(compiled, protocol=pickle.HIGHEST_PROTOCOL), max_bits(compiled.program, INT64_BITS)


def _render(payload: Any, source: str, limits: Limits, fmt: str, example: dict[str, int] | None,
            image: str) -> tuple:
    from symshape.deep import run_deep

    _limited(limits)
    return run_deep(_render_deep, payload, source, limits, fmt, example, image)


def _render_deep(payload: Any, source: str, limits: Limits, fmt: str, example: dict[str, int] | None,
                 image: str) -> tuple:
    """(document bytes, {file name: bytes}, canonical spec, never valid) of `symshape.docs.render_document`."""
    import symshape
    from symshape.docs import render_document
    from symshape.spec import load_spec

    from .ids import canonical_json

    spec = load_spec(payload, source=source, limits=limits)  # parsed here: the deadline bounds the parse too
    symshape.derive(spec)  # errors name the request field ("spec.text")
    # the document is titled by the spec, not by "spec.text": derived afresh without that source (the
    # worker's cache holds this network under the request field's name)
    d = symshape.derive(load_spec(payload, limits=limits), cache=False)
    never = bool(d.never_valid)
    rendered = render_document(d, fmt, example=example or None, image=image or "model.svg")
    body = getattr(rendered, "data", None)
    if body is None:
        text = rendered.text
        body = text if isinstance(text, bytes) else text.encode()
    return body, dict(rendered.files), canonical_json(spec), never


def _evaluate(key: str, compiled: bytes, bindings: dict[str, int]) -> bytes:
    from symshape.evaluate import evaluate

    from .bounds import check_bits
    from .convert import evaluate_response

    program = pickle.loads(compiled)
    check_bits(program.program, bindings)
    return evaluate_response(key, evaluate(program, bindings)).SerializeToString()


def _solve(key: str, compiled: bytes, limits: Limits, args: tuple) -> bytes:
    from symshape.limits import current, set_limits

    from .solving import solve_reply

    if current() != limits:
        set_limits(**{f.name: getattr(limits, f.name) for f in fields(limits)})
    return solve_reply(key, pickle.loads(compiled), *args)


def _cost(canonical: str, limits: Limits, options: dict[str, Any]) -> bytes:
    """The cost program (symshape.cost.CostProgram, pickled) of a derivation for the options asked."""

    from symshape.deep import run_deep

    _limited(limits)
    return run_deep(_cost_deep, canonical, limits, options)


def _cost_deep(canonical: str, limits: Limits, options: dict[str, Any]) -> bytes:
    import json

    import symshape
    from symshape.spec import load_spec

    from .ids import spec_document

    spec = load_spec(spec_document(json.loads(canonical)), source="derivation", limits=limits)
    program = symshape.derive(spec).cost(**options).compiled  # the worker's cache: derived once
    return pickle.dumps(program, protocol=pickle.HIGHEST_PROTOCOL)


TASKS = {"derive": _derive, "evaluate": _evaluate, "solve": _solve, "render": _render, "cost": _cost}
WHAT = {"derive": "derivation", "evaluate": "evaluation", "solve": "solve", "render": "document",
        "cost": "cost"}


WARM_UP = "framework: torch\ninput: [3, H]\nlayers:\n  - Conv1d: {out_channels: 4, kernel_size: 3}\n"


def _worker_main(conn: Any) -> None:
    from symshape.deep import run_in_deep_thread

    # Ctrl-C goes to the whole process group: the server stops (and kills) its workers, which say nothing
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    # every task runs in one large-stack thread: the library's deep calls run directly there (the server's
    # kill at the deadline bounds them: the library's own clock is set later, see ShapeAlgebraServicer.limits)
    run_in_deep_thread(_serve, conn)


def _serve(conn: Any) -> None:
    import symshape

    from .convert import derive_reply

    derive_reply(symshape.derive(WARM_UP, cache=False))  # imports done and code paths warm before any request
    collections = BetweenTasks()  # the garbage collector runs between tasks, never during one
    conn.send(("ready", None))
    while True:
        try:
            task, args = conn.recv()
        except EOFError:  # the server closed the pipe
            return
        try:
            result = TASKS[task](*args)
            conn.send(("ok", result))
            if task == "derive":  # then the compiled program, while the server already answers
                conn.send(("ok", _derive_rest()))
        except SpecError as err:  # LimitError included
            conn.send(("spec_error", (type(err).__name__, err.message, asdict(err.location))))
        except BindingError as err:
            conn.send(("binding_error", str(err)))
        except OverflowError as err:  # a reply value beyond int64 (convert._ints)
            conn.send(("overflow", str(err)))
        except Exception:  # noqa: BLE001 - the traceback goes to the server log, the worker lives on
            conn.send(("error", traceback.format_exc()))
        collections.after_task(lambda: conn.poll(0))  # (the caller has its answer: this runs in the wait)


def rebuild_error(kind: str, message: str, location: dict) -> SpecError:
    location = {**location, "path": tuple(location.get("path") or ())}
    cls = LimitError if kind == "LimitError" else SpecError
    return cls(message, Location(**location))


class _Worker:
    def __init__(self, ctx: Any) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child,), daemon=True, name="symshape-derive")
        self.proc.start()
        child.close()

    def kill(self) -> None:
        """SIGKILL; a thread waiting on the pipe sees end-of-file (the pipe is closed by its owner)."""
        try:
            self.proc.kill()
        except Exception:  # noqa: BLE001 - already gone
            pass


class WorkerPool:
    """`size` worker processes; a request takes an idle one, or waits for one until its deadline.

    A new worker (at start, or replacing a killed one) joins the pool only once it is ready (imports
    done, warmed up), so a request never waits for a process start inside its own deadline."""

    START_TIMEOUT = 120.0

    def __init__(self, size: int) -> None:
        self.ctx = mp.get_context("spawn")  # the serving process runs gRPC threads: never fork it
        self.cond = threading.Condition()
        self.idle: list[_Worker] = []
        self.live: set[_Worker] = set()  # ready: idle and busy
        self.starting: set[_Worker] = set()
        self.closed = False
        # threads that receive each derivation's compiled program after its reply (started once: starting a
        # thread waits for it to run, a wake-up on the reply's path); daemons, so that they never hold up exit
        self.receiving: queue.SimpleQueue = queue.SimpleQueue()
        self.receivers = max(1, size)
        for k in range(self.receivers):
            threading.Thread(target=self._receiver, name=f"symshape-compiled-{k}", daemon=True).start()
        for _ in range(max(1, size)):
            self._start()

    def pids(self, busy_only: bool = False) -> list[int]:
        """Process ids of the ready workers (or of the busy ones)."""
        with self.cond:
            return [w.proc.pid for w in self.live if not busy_only or w not in self.idle]

    def _start(self, dead: _Worker | None = None) -> None:
        threading.Thread(target=self._add, args=(dead,), name="symshape-worker-start", daemon=True).start()

    def _add(self, dead: _Worker | None = None) -> None:
        if dead is not None:
            dead.proc.join(5)
        with self.cond:
            if self.closed:
                return
            worker = _Worker(self.ctx)
            self.starting.add(worker)
        ready = False
        try:
            ready = worker.conn.poll(self.START_TIMEOUT) and worker.conn.recv()[0] == "ready"
        except (EOFError, OSError):
            pass
        with self.cond:
            self.starting.discard(worker)
            if ready and not self.closed:
                self.live.add(worker)
                self.idle.append(worker)
                self.cond.notify()
                return
        worker.kill()
        worker.conn.close()
        if not self.closed:
            time.sleep(1.0)
            self._start()  # a worker that could not start: try again, without spinning

    def _take(self, timeout: float) -> _Worker:
        end = time.monotonic() + timeout
        while True:
            with self.cond:
                if not self.cond.wait_for(lambda: self.idle or self.closed, max(end - time.monotonic(), 0.0)):
                    raise DeadlineExceeded("no derivation worker became free before the deadline")
                if self.closed:
                    raise ShuttingDown("the server is shutting down")
                worker = self.idle.pop()
            if worker.proc.is_alive():
                return worker
            self._replace(worker)  # died while idle: never hand a request to a dead worker

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        worker.conn.close()
        with self.cond:
            self.live.discard(worker)
            if self.closed:
                return
        self._start(worker)

    def run(self, task: str, args: tuple, timeout: float, keep: bool = False) -> Any:
        """The task's result; with `keep`, (result, worker) and the worker stays busy: the caller
        hands it back with `_finish` (a derivation sends its compiled program after its reply)."""
        start = time.monotonic()
        with blocking():  # waiting for a worker and its answer: another call runs meanwhile
            worker = self._take(timeout)
            remaining = timeout - (time.monotonic() - start)
            try:
                worker.conn.send((task, args))
            except (BrokenPipeError, OSError):
                self._replace(worker)
                raise WorkerCrashed("the derivation worker stopped unexpectedly (killed, or out of memory); "
                                    "it was replaced") from None
            status, result = self._receive(worker, task, remaining)
        if keep and status == "ok":
            return result, worker
        self._idle(worker)
        return self._result(status, result)

    def _receive(self, worker: _Worker, task: str, timeout: float) -> tuple[str, Any]:
        try:
            if not worker.conn.poll(max(timeout, 0.0)):
                self._replace(worker)
                raise DeadlineExceeded(f"the {WHAT[task]} ran past the deadline ({timeout:.3g} s); it was stopped")
            return worker.conn.recv()
        except (EOFError, BrokenPipeError, OSError):
            self._replace(worker)
            if self.closed:
                raise ShuttingDown("the server is shutting down") from None
            raise WorkerCrashed("the derivation worker stopped unexpectedly (killed, or out of memory); "
                                "it was replaced") from None

    def _idle(self, worker: _Worker) -> None:
        with self.cond:
            if worker in self.live:
                self.idle.append(worker)
                self.cond.notify()

    @staticmethod
    def _result(status: str, result: Any) -> Any:
        if status == "ok":
            return result
        if status == "spec_error":
            raise rebuild_error(*result)
        if status == "binding_error":
            raise BindingError(result)
        if status == "overflow":
            raise OverflowError(result)
        raise WorkerFailed(result)

    def _receiver(self) -> None:
        while True:  # (after close, a killed worker's pipe ends at once: its Later gets the error)
            item = self.receiving.get()
            if item is None:  # closed: the items before it are done
                return
            self._finish(*item)

    def _finish(self, worker: _Worker, later: Later, timeout: float) -> None:
        """Receive a derivation's compiled program (its second message), then free the worker."""
        try:
            with blocking():  # (a call's own thread when it needs the program: Evaluate by spec, an id rebuilt)
                status, result = self._receive(worker, "derive", timeout)
            self._idle(worker)
            blob, worst = self._result(status, result)
            later.set((pickle.loads(blob), worst))
        except Exception as err:  # noqa: BLE001 - whoever needs the program gets the error
            later.set(None, err)

    def derive(self, payload: Any, source: str, limits: Limits, timeout: float,
               faults: tuple[str, ...] = (), options: ReplyOptions = ReplyOptions()) -> Derived:
        """Parse, check and derive in a worker; raises SpecError, DeadlineExceeded, WorkerCrashed, WorkerFailed.
        The Derived's key is the spec's hash here: the server makes the id (`symshape_server.ids`).
        It returns with the reply; the compiled program follows (`Derived.compiled` waits for it)."""
        start = time.monotonic()
        (key, response, symbols, canonical), worker = self.run(
            "derive", (payload, source, limits, faults, options), timeout, keep=True)
        later = Later()
        if options.reply:  # the caller answers now; a thread receives the program
            self.receiving.put((worker, later, limits.seconds))
        else:  # the caller needs the program itself (Evaluate by spec, an id rebuilt)
            self._finish(worker, later, timeout - (time.monotonic() - start))
            later.get()
        return Derived(key, response, later, symbols, canonical)

    def render(self, payload: Any, source: str, limits: Limits, fmt: str, example: dict[str, int] | None,
               image: str, timeout: float) -> tuple[bytes, dict[str, bytes], str, bool]:
        """A derivation document rendered in a worker: (bytes, figure files, canonical spec, never valid)."""
        return self.run("render", (payload, source, limits, fmt, example, image), timeout)

    def evaluate(self, key: str, compiled: Any, bindings: dict[str, int], timeout: float) -> bytes:
        """An EvaluateResponse (bytes), computed in a worker that the deadline can stop."""
        blob = pickle.dumps(compiled, protocol=pickle.HIGHEST_PROTOCOL)
        return self.run("evaluate", (key, blob, bindings), timeout)

    def solve(self, derived: Derived, limits: Limits, args: tuple, timeout: float) -> bytes:
        """A SolveResponse (bytes), computed in a worker that the deadline can stop; `args` are
        solving.solve_reply's after the compiled program."""
        blob = pickle.dumps(derived.compiled, protocol=pickle.HIGHEST_PROTOCOL)
        return self.run("solve", (derived.key, blob, limits, (derived.symbols, *args)), timeout)

    def cost(self, derived: Derived, limits: Limits, options: dict[str, Any], timeout: float) -> Any:
        """The cost program (symshape.cost.CostProgram) of a derivation, built in a worker."""
        return pickle.loads(self.run("cost", (derived.canonical, limits, options), timeout))

    def close(self) -> None:
        """Kill every worker, busy ones included: their callers get ShuttingDown at once."""
        with self.cond:
            self.closed = True
            workers, idle = list(self.live | self.starting), list(self.idle)
            self.live.clear()
            self.starting.clear()
            self.idle.clear()
            self.cond.notify_all()
        for worker in workers:
            worker.kill()
        for worker in workers:
            worker.proc.join(2)
        for worker in idle:
            worker.conn.close()
        for _ in range(self.receivers):
            self.receiving.put(None)
