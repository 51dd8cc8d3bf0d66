"""Running the service: `symshape serve` (N serving processes on one port with SO_REUSEPORT).

Each serving process is a full gRPC server with its own derivation workers and cache; the kernel
spreads incoming connections over them (SO_REUSEPORT), so N cores give about N times the
throughput of CPU-bound calls.

Shutdown is bounded: on SIGTERM (or Ctrl-C) the first process forwards the signal to all the others
at once, every process goes NOT_SERVING at once, stops within `grace` seconds (calls in flight get
what is left of it), kills its derivation workers, and exits; a watchdog makes sure a process is gone
`EXIT_MARGIN` seconds after the grace, whatever a stuck call does.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from .collector import freeze_alive
from .service import ServerConfig, create_server, shutdown

EXIT_MARGIN = 1.0  # seconds after the grace: the watchdog ends the process
log = logging.getLogger("symshape_server")


def _say(message: str) -> None:
    print(f"symshape: {message} (pid {os.getpid()})", file=sys.stderr, flush=True)


def _serve_one(address: str, config: ServerConfig, grace: float, on_stop: Callable[[], None] | None = None) -> None:
    if not logging.getLogger().handlers:  # the traceback of an internal error goes to stderr with its id
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    running = create_server(address, config)
    running.server.start()
    freeze_alive()  # (a serving process has calls in flight at any time: its collector stays on)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if stop.is_set():
            return
        stop.set()
        if on_stop is not None:
            on_stop()  # the other serving processes: signalled now, not after this one is done

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    _say(f"serving on {address.rsplit(':', 1)[0]}:{running.port}")
    while not stop.wait(0.5):  # wake up now and then: signal handlers run on the main thread
        pass
    _say(f"stopping within {grace:g} s")
    start = time.monotonic()

    def watchdog() -> None:
        time.sleep(grace + EXIT_MARGIN)
        _say("grace period over: exiting now")
        running.servicer.pool.close()
        os._exit(0)

    threading.Thread(target=watchdog, name="symshape-exit-watchdog", daemon=True).start()
    shutdown(running, grace)
    _say(f"stopped in {time.monotonic() - start:.2f} s")


def _child(address: str, config: ServerConfig, grace: float) -> None:
    _serve_one(address, config, grace)
    os._exit(0)  # threads of calls that outlived the grace (already cancelled) must not hold the exit


def serve_forever(host: str, port: int, workers: int, config: ServerConfig, grace: float = 10.0) -> int:
    """Serve until SIGTERM/SIGINT; with workers > 1, that many processes share the port."""
    address = f"{host}:{port}"
    if workers <= 1:
        _serve_one(address, config, grace)
        return 0
    if port == 0:
        raise ValueError("several serving processes need an explicit --port (they share it)")
    config = replace(config, reuse_port=True)
    ctx = mp.get_context("spawn")
    children = [ctx.Process(target=_child, args=(address, config, grace), name=f"symshape-serve-{i}")
                for i in range(workers - 1)]
    for child in children:
        child.start()

    def forward() -> None:
        for child in children:
            if child.is_alive():
                os.kill(child.pid, signal.SIGTERM)

    try:
        _serve_one(address, config, grace, on_stop=forward)
    finally:
        forward()
        for child in children:
            child.join(grace + EXIT_MARGIN + 1)
            if child.is_alive():
                child.kill()
    return 0
