"""Benchmarks of the gRPC service; prints tables. Run: python benchmarks/bench_server.py [--quick]

Side by side, in one run, on this machine (loopback; the load generator shares the cores):
1. by-id Evaluate over replicas: two separately started `symshape serve` behind one round_robin client and
   `serve --workers 2`, every call on a fresh connection: the success rate (issue 13: 9 of 20 before).
2. cold Derive through the service against the library in this process (median, a new spec each run):
   `derive()` alone, `derive()` + `closed_form` (bench_core's figure, the one the issue quotes: 64 ms then)
   and `derive()` + `to_dict()` (the same content as the reply). `--against CHECKOUT` also starts a server
   from another checkout (a clone at an older commit) and interleaves it: an A/B of the service in one run.
3. Evaluate on a cached derivation against bare grpcio echo servers (the same request bytes echoed), one
   with 68 threads (the size of this server's pool for streams), one with 2 (the fastest bare echo on 2
   cores: fewer threads contend less for the GIL) at 8 calls in flight: requests/s and the ratios; the
   same binding each call (a cached reply) and a new binding each call; interleaved in 16 slices, the
   median of the slices' ratios.
4. An all-symbolic Conv2d chain at 100/200/300 layers: bytes and seconds of `to_dict()` and of the Derive
   reply (linear in depth: named sizes).
5. The older tables: Evaluate at 1/8/64 in flight with 1 and 2 serving processes, cached Derive, cold
   Derive throughput, EvaluateBatch end to end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import grpc
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from symshape.client import Client  # noqa: E402
from symshape_server.gen import shape_algebra_pb2 as pb  # noqa: E402
from symshape_server.gen import shape_algebra_pb2_grpc as pb_grpc  # noqa: E402

SPECS = {"classic (2 layers)": ("classic_symbolic.yaml", {"I": 32, "F": 3, "S": 1, "P": 0, "D": 5}),
         "ResNet-18 (71 layers)": ("resnet18.yaml", {"H": 224, "W": 224})}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(workers: int, root: Path = ROOT) -> tuple[subprocess.Popen, int]:
    """`symshape serve` from the checkout at `root` (its own code: `python -m` puts the working directory first)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "symshape.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", str(workers), "--derive-workers", "1", "--max-concurrent-rpcs", "256",
                             "--grace", "1"], cwd=root, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with Client(f"127.0.0.1:{port}", timeout=2) as c:
                if c.health() == "SERVING":
                    break
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.2)
    time.sleep(1.0 if workers > 1 else 0.2)
    return proc, port


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


async def load(port: int, request: pb.EvaluateRequest, in_flight: int, seconds: float) -> tuple[float, float, float]:
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.channel_id", i)])
                for i in range(max(2, min(8, in_flight)))]
    stubs = [pb_grpc.ShapeAlgebraServiceStub(ch) for ch in channels]
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        stub = stubs[k % len(stubs)]
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            await stub.Evaluate(request, timeout=30)
            latencies.append(time.perf_counter() - t0)

    for stub in stubs:  # warm every connection
        await stub.Evaluate(request, timeout=30)
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(in_flight)))
    elapsed = time.perf_counter() - t0
    for ch in channels:
        await ch.close()
    q = np.percentile(np.array(latencies) * 1000, [50, 99])
    return len(latencies) / elapsed, float(q[0]), float(q[1])


def bench_evaluate(worker_counts: list[int], in_flights: list[int], seconds: float) -> list[tuple]:
    rows = []
    for workers in worker_counts:
        proc, port = start(workers)
        try:
            for label, (name, bindings) in SPECS.items():
                with Client(f"127.0.0.1:{port}") as c:
                    derivation_id = c.derive(ROOT / "examples" / name).derivation_id
                    for _ in range(8):  # derive on every serving process's cache (connections spread)
                        with Client(f"127.0.0.1:{port}", options=[("grpc.channel_id", _ + 100)]) as other:
                            other.derive(ROOT / "examples" / name)
                request = pb.EvaluateRequest(derivation_id=derivation_id, bindings=bindings)
                for in_flight in in_flights:
                    rps, p50, p99 = asyncio.run(load(port, request, in_flight, seconds))
                    rows.append((workers, label, in_flight, rps, p50, p99))
        finally:
            stop(proc)
    return rows


def bench_derive(runs: int) -> list[tuple]:
    proc, port = start(1)
    rows = []
    try:
        with Client(f"127.0.0.1:{port}") as c:
            for label, name in (("classic (2 layers)", "classic_symbolic.yaml"), ("ResNet-50 (175 layers)",
                                                                                  "resnet50.yaml")):
                text = (ROOT / "examples" / name).read_text()
                cold = []
                for r in range(runs):
                    fresh = text.replace("[I, I, 3]", f"[I{r}, I{r}, 3]").replace("[3, H, W]", f"[3, H{r}, W{r}]")
                    if "symbols:" in fresh:
                        fresh = fresh.replace("  I: {min: 1}", f"  I{r}: {{min: 1}}")
                    t0 = time.perf_counter()
                    c.derive(fresh)
                    cold.append(time.perf_counter() - t0)
                warm = []
                for _ in range(runs * 5):
                    t0 = time.perf_counter()
                    c.derive(text)
                    warm.append(time.perf_counter() - t0)
                rows.append((label, 1000 * statistics.median(cold), 1000 * statistics.median(warm)))
    finally:
        stop(proc)
    return rows


def bench_derive_throughput(worker_counts: list[int], calls: int, in_flight: int) -> list[tuple]:
    """Cold derivations (every spec new) per second: CPU-bound work, spread over the serving processes."""
    text = (ROOT / "examples" / "alexnet.yaml").read_text()

    async def run(port: int, tag: str) -> float:
        channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.channel_id", i)])
                    for i in range(in_flight)]
        stubs = [pb_grpc.ShapeAlgebraServiceStub(ch) for ch in channels]
        counter = iter(range(calls))

        async def worker(k: int) -> None:
            for n in counter:
                spec = pb.Spec(text=text.replace("[3, H, W]", f"[3, H{tag}x{n}, W]"))
                await stubs[k].Derive(pb.DeriveRequest(spec=spec), timeout=120)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(in_flight)))
        elapsed = time.perf_counter() - t0
        for ch in channels:
            await ch.close()
        return calls / elapsed

    rows = []
    for workers in worker_counts:
        proc, port = start(workers)
        try:
            rows.append((workers, asyncio.run(run(port, str(workers)))))
        finally:
            stop(proc)
    return rows


def bench_batch(count: int) -> tuple[int, float]:
    proc, port = start(1)
    try:
        with Client(f"127.0.0.1:{port}") as c:
            spec = ROOT / "examples" / "classic_symbolic.yaml"
            rng = np.random.default_rng(0)
            cols = {"I": rng.integers(1, 512, count), "F": rng.integers(1, 8, count), "S": rng.integers(1, 4, count),
                    "P": rng.integers(0, 3, count), "D": rng.integers(1, 128, count)}
            c.evaluate_batch(spec, {k: v[:1000] for k, v in cols.items()})
            t0 = time.perf_counter()
            out = c.evaluate_batch(spec, cols, outputs=("output_shape", "params"), chunk=100_000)
            elapsed = time.perf_counter() - t0
            assert len(out["valid"]) == count
    finally:
        stop(proc)
    return count, count / elapsed


# ---------------------------------------------------------------- issue 13 and issue 9 figures

ECHO_METHOD = "/bench.Echo/Echo"


ECHO_THREADS = (68, 2)  # the server's own pool size for streams; and the fastest bare echo measured on 2 cores


def echo_server(port: int, threads: int) -> None:
    """A bare grpcio server that echoes request bytes: the reference for Evaluate's requests/s."""
    from concurrent import futures

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=threads))
    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: request)  # bytes in, bytes out
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("bench.Echo", {"Echo": handler}),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    signal.signal(signal.SIGTERM, lambda *_: server.stop(0))
    server.wait_for_termination()


def start_echo(threads: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--echo-server", str(port), "--echo-threads", str(threads)],
                            cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
                grpc.channel_ready_future(ch).result(timeout=1)
                break
        except grpc.FutureTimeoutError:
            time.sleep(0.2)
    return proc, port


async def rate(port: int, method: str, requests: list[bytes], in_flight: int, seconds: float) -> float:
    """Unary calls per second with `in_flight` calls at once over 4 connections; requests taken in turn."""
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.channel_id", i)]) for i in range(4)]
    calls = [ch.unary_unary(method) for ch in channels]  # bytes in, bytes out: no client-side parsing
    count = 0
    stop_at = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        nonlocal count
        call = calls[k % len(calls)]
        i = k
        while time.perf_counter() < stop_at:
            await call(requests[i % len(requests)], timeout=30)
            i += in_flight
            count += 1

    for call in calls:  # connections up, with the last request (the timed calls take them from the first on)
        await call(requests[-1], timeout=30)
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(in_flight)))
    elapsed = time.perf_counter() - t0
    for ch in channels:
        await ch.close()
    return count / elapsed


def bench_evaluate_vs_echo(seconds: float) -> list[tuple]:
    """Per network: (label, request bytes, {echo threads: mean req/s}, same-binding and new-binding mean req/s,
    {echo threads: (same, new) median slice ratio})."""
    rows = []
    echoes = {threads: start_echo(threads) for threads in ECHO_THREADS}
    proc, port = start(1)
    try:
        for label, (name, bindings) in SPECS.items():
            with Client(f"127.0.0.1:{port}") as c:
                key = c.derive(ROOT / "examples" / name).derivation_id
            first = next(iter(bindings))
            same = [pb.EvaluateRequest(derivation_id=key, bindings=bindings).SerializeToString()]
            # interleaved in short slices, so that the shared machine's drift hits the three alike; each slice
            # of new bindings gets its own (more than it can use: checked), so no binding is ever asked again
            rounds, method, per_slice = 16, "/symshape.v1.ShapeAlgebraService/Evaluate", 40_000
            echo_rates: dict[int, list[float]] = {threads: [] for threads in echoes}
            same_rates, fresh_rates = [], []
            for r in range(rounds):
                fresh = [pb.EvaluateRequest(derivation_id=key, bindings={**bindings, first: bindings[first] + k})
                         .SerializeToString() for k in range(r * per_slice, (r + 1) * per_slice)]
                for threads, (_, echo_port) in echoes.items():
                    echo_rates[threads].append(asyncio.run(rate(echo_port, ECHO_METHOD, same, 8, seconds / rounds)))
                same_rates.append(asyncio.run(rate(port, method, same, 8, seconds / rounds)))
                fresh_rates.append(asyncio.run(rate(port, method, fresh, 8, seconds / rounds)))
                assert fresh_rates[-1] * seconds / rounds < per_slice, "a slice ran out of new bindings"
            # the rates' means, and the median of each slice's ratio to the echo slices run next to it (a burst
            # of other work on the shared machine hits one slice, not the median)
            rows.append((label, len(same[0]), {t: statistics.mean(x) for t, x in echo_rates.items()},
                         statistics.mean(same_rates), statistics.mean(fresh_rates),
                         {t: tuple(statistics.median(a / e for a, e in zip(x, echo, strict=True))
                                   for x in (same_rates, fresh_rates)) for t, echo in echo_rates.items()}))
    finally:
        stop(proc)
        for echo, _ in echoes.values():
            echo.send_signal(signal.SIGTERM)
            echo.wait(timeout=10)
    return rows


def serve_replica(port: int, workers: int = 1) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "symshape.cli", "serve", "--host", "127.0.0.1", "--port",
                             str(port), "--workers", str(workers), "--derive-workers", "1", "--grace", "1"],
                            cwd=ROOT, stderr=subprocess.PIPE, text=True)
    serving, deadline = 0, time.monotonic() + 120
    while serving < workers and time.monotonic() < deadline:
        serving += "serving on" in (proc.stderr.readline() or "")
    return proc


def bench_by_id(calls: int) -> list[tuple]:
    """By-id Evaluate on fresh connections: over 2 replicas (round_robin) and over serve --workers 2."""
    text = (ROOT / "examples" / "classic_symbolic.yaml").read_text()
    bindings = SPECS["classic (2 layers)"][1]
    a, b, both = free_port(), free_port(), free_port()
    procs = [serve_replica(a), serve_replica(b), serve_replica(both, 2)]
    rows = []
    try:
        with Client(f"127.0.0.1:{a}") as c:
            key = c.derive(text).derivation_id  # derived on replica a only
        config = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})
        for label, target, options in (
                ("2 replicas, round_robin", f"ipv4:127.0.0.1:{a},127.0.0.1:{b}", [("grpc.service_config", config)]),
                ("serve --workers 2", f"127.0.0.1:{both}", [])):
            ok = 0
            t0 = time.perf_counter()
            for i in range(calls):
                try:
                    with Client(target, options=[*options, ("grpc.channel_id", i)]) as c:
                        ok += c.evaluate(key, bindings).valid
                except Exception:  # noqa: BLE001 - counted as a failure
                    pass
            rows.append((label, ok, calls, (time.perf_counter() - t0) / calls * 1000))
    finally:
        for p in procs:
            stop(p)
    return rows


def bench_cold_derive(runs: int, against: Path | None = None) -> list[tuple]:
    """Median cold Derive through the service against the library in this process (a new spec each run); with
    `against`, also a server started from that checkout (e.g. a clone at an older commit), interleaved: the
    per-run median of this server's time over that one's (an A/B of the service end to end, in one run; each
    server first every other round, each call right after a library derive)."""
    import symshape

    proc, port = start(1)
    other = start(1, against) if against is not None else None
    rows = []
    try:
        with Client(f"127.0.0.1:{port}") as c, \
                (Client(f"127.0.0.1:{other[1]}") if other is not None else contextlib.nullcontext()) as o:
            for label, name, old, tag in (("classic (2 layers)", "classic_symbolic.yaml", "[I, I, 3]", "[I, I, {}]"),
                                          ("ResNet-50 (175 layers)", "resnet50.yaml", "[3, H, W]", "[3, H{}, W]")):
                text = (ROOT / "examples" / name).read_text()

                def fresh(r: int, text: str = text, old: str = old, tag: str = tag) -> str:
                    return text.replace(old, tag.format(r + 3))  # a new canonical spec: nothing cached

                c.derive(fresh(10_000))  # (connected and warm: the timed calls below hold no handshake)
                if o is not None:
                    o.derive(fresh(10_002))
                symshape.derive(fresh(10_001), cache=False).to_dict()
                lib, lib_closed, lib_dict, svc, theirs = [], [], [], [], []
                for r in range(runs):  # interleaved: the machine's noise hits all four alike
                    t0 = time.perf_counter()
                    symshape.derive(fresh(7 * r), cache=False)
                    lib.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    symshape.derive(fresh(7 * r + 1), cache=False).closed_form  # noqa: B018 - timed
                    lib_closed.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    symshape.derive(fresh(7 * r + 2), cache=False).to_dict()
                    lib_dict.append(time.perf_counter() - t0)
                    # with a second server, each comes first every other round and right after a library
                    # derive either way: the call made first, after the library's work, is measured faster
                    calls = [(c, svc, 3), (o, theirs, 4)] if r % 2 == 0 else [(o, theirs, 4), (c, svc, 3)]
                    for k, (client, out, n) in enumerate(calls):
                        if client is None:
                            continue
                        if k:
                            symshape.derive(fresh(7 * r + 5), cache=False)
                        t0 = time.perf_counter()
                        client.derive(fresh(7 * r + n))
                        out.append(time.perf_counter() - t0)
                        # the worker builds the evaluation program after the reply: let it finish before the
                        # next library call, so that the library's figure does not carry the service's work
                        time.sleep(0.1)
                ab = [a / b for a, b in zip(svc, theirs, strict=True)] if theirs else []
                rows.append((label, *(1000 * statistics.median(x) for x in (lib, lib_closed, lib_dict, svc)),
                             statistics.quantiles([b / a for a, b in zip(lib_closed, svc, strict=True)], n=4),
                             statistics.median(ab) if ab else None))
    finally:
        stop(proc)
        if other is not None:
            stop(other[0])
    return rows


def chain_spec(n: int, tag: str) -> str:
    layers = [{"Conv2d": {"out_channels": f"D{k}{tag}", "kernel_size": f"F{k}{tag}", "stride": f"S{k}{tag}",
                          "padding": f"P{k}{tag}"}} for k in range(n)]
    return json.dumps({"framework": "torch", "input": [f"C{tag}", f"H{tag}", f"W{tag}"], "layers": layers})


def bench_depth(depths: list[int]) -> list[tuple]:
    import symshape

    proc, port = start(1)
    rows = []
    try:
        with Client(f"127.0.0.1:{port}", timeout=300) as c:
            for n in depths:
                t0 = time.perf_counter()
                d = symshape.derive(chain_spec(n, f"_l{n}"), cache=False)
                data = json.dumps(d.to_dict())
                t1 = time.perf_counter()
                reply = c.derive(chain_spec(n, f"_s{n}"))
                t2 = time.perf_counter()
                rows.append((n, len(data), t1 - t0, reply.ByteSize(), t2 - t1))
    finally:
        stop(proc)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny runs: checks the script, not the figures")
    parser.add_argument("--only-issue13", action="store_true", help="tables A-D only")
    parser.add_argument("--tables", default="ABCD", help="which of tables A-D to run (default all)")
    parser.add_argument("--against", type=Path, metavar="CHECKOUT",
                        help="table B also times a server started from this checkout (e.g. a clone at an older "
                             "commit), interleaved: this server's cold Derive over that one's")
    parser.add_argument("--echo-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--echo-threads", type=int, default=68, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.echo_server:
        echo_server(args.echo_server, args.echo_threads)
        return 0
    seconds = 0.5 if args.quick else 4.0
    print(f"Python {sys.version.split()[0]}, grpcio {grpc.__version__}, {os.cpu_count()} cores")

    if "A" in args.tables:
        print("\nA. by-id Evaluate, every call on a fresh connection (the id derived on one replica only)")
        print(f"{'where':<26} {'OK':>5} {'calls':>6} {'ms/call':>8}")
        for label, ok, calls, ms in bench_by_id(20 if args.quick else 200):
            print(f"{label:<26} {ok:>5} {calls:>6} {ms:>8.1f}")

    if "B" in args.tables:
        print("\nB. cold Derive (medians of interleaved runs, a new spec each): the service against the library in "
              "this process;\n   derive()+closed_form is the library figure the issue quotes (bench_core, README)")
        print(f"{'network':<24} {'derive()':>9} {'+closed_form':>13} {'+to_dict()':>11} {'service':>8} "
              f"{'/derive()':>10} {'/+closed_form':>14} {'(quartiles)':>12} {'/+to_dict()':>12}")
        for label, lib, closed, lib_dict, svc, q, ab in bench_cold_derive(3 if args.quick else 25, args.against):
            print(f"{label:<24} {lib:>7.1f}ms {closed:>11.1f}ms {lib_dict:>9.1f}ms {svc:>6.1f}ms {svc / lib:>10.2f} "
                  f"{svc / closed:>14.2f} {q[0]:>5.2f}-{q[2]:.2f} {svc / lib_dict:>12.2f}")
            if ab is not None:
                print(f"{'':<24} this server / the one from {args.against}: {ab:.3f} "
                      "(per-run median, the order alternating)")

    if "C" in args.tables:
        print(f"\nC. Evaluate on a cached derivation against bare grpcio echo servers (8 in flight, {seconds:g} s "
              "each): one with\n   68 threads (the size of this server's pool for streams), one with 2 (the fastest "
              "bare echo on this machine)")
        print("   (ratio: of the means; median: of the 16 slices' ratios, each to the echo slice run just before)")
        print(f"{'network':<22} {'request B':>9} {'echo':>6} {'echo req/s':>11} {'same binding':>13} {'ratio':>6} "
              f"{'median':>7} {'new binding':>12} {'ratio':>6} {'median':>7}")
        for label, size, echo, same, fresh, medians in bench_evaluate_vs_echo(seconds):
            for threads in ECHO_THREADS:
                print(f"{label:<22} {size:>9} {threads:>6} {echo[threads]:>11.0f} {same:>13.0f} "
                      f"{same / echo[threads]:>6.2f} {medians[threads][0]:>7.2f} {fresh:>12.0f} "
                      f"{fresh / echo[threads]:>6.2f} {medians[threads][1]:>7.2f}")

    if "D" in args.tables:
        print("\nD. all-symbolic Conv2d chain: to_dict() (library) and the Derive reply (service), linear in depth")
        print(f"{'layers':>6} {'to_dict bytes':>14} {'to_dict s':>10} {'reply bytes':>12} {'Derive s':>9}")
        for n, size, secs, reply, rsecs in bench_depth([20, 40] if args.quick else [100, 200, 300]):
            print(f"{n:>6} {size:>14,} {secs:>10.2f} {reply:>12,} {rsecs:>9.2f}")
    if args.only_issue13:
        return 0

    print(f"\n1. Evaluate on a cached derivation ({seconds:g} s per row)")
    print(f"{'serving processes':>17} {'network':<22} {'in flight':>9} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7}")
    for workers, label, in_flight, rps, p50, p99 in bench_evaluate([1] if args.quick else [1, 2],
                                                                    [1, 8] if args.quick else [1, 8, 64], seconds):
        print(f"{workers:>17} {label:<22} {in_flight:>9} {rps:>8.0f} {p50:>7.2f} {p99:>7.2f}")

    print("\n2. Derive latency (median), cold (new spec) and cached (same spec again)")
    print(f"{'network':<24} {'cold ms':>8} {'cached ms':>10}")
    for label, cold, warm in bench_derive(2 if args.quick else 5):
        print(f"{label:<24} {cold:>8.1f} {warm:>10.2f}")

    print("\n3. cold Derive throughput (AlexNet, a new spec each call, 8 in flight, 1 derive worker per process)")
    print(f"{'serving processes':>17} {'derivations/s':>14}")
    for workers, rate in bench_derive_throughput([1, 2], 8 if args.quick else 48, 8):
        print(f"{workers:>17} {rate:>14.1f}")

    count, rate = bench_batch(50_000 if args.quick else 2_000_000)
    print(f"\n4. EvaluateBatch end to end (Python client, 100k-row chunks): {count:,} bindings, "
          f"{rate / 1e6:.2f} M bindings/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

