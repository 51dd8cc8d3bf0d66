"""Benchmarks of the gRPC service; prints tables. Run: python benchmarks/bench_server.py [--quick]

Starts `symshape serve` (1, then 2 serving processes) on loopback and measures, from this process:
Evaluate requests/s with p50 and p99 latency at 1, 8 and 64 calls in flight on a cached derivation
(asyncio over several connections, so SO_REUSEPORT spreads them); Derive latency cold and cached;
EvaluateBatch bindings/s end to end through the Python client. The machine has 2 cores: with 2
serving processes the load generator competes with them for CPU.
"""

from __future__ import annotations

import argparse
import asyncio
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


def start(workers: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "symshape.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", str(workers), "--derive-workers", "1", "--max-concurrent-rpcs", "256",
                             "--grace", "1"], cwd=ROOT, stderr=subprocess.DEVNULL)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny runs: checks the script, not the figures")
    args = parser.parse_args(argv)
    seconds = 0.5 if args.quick else 4.0
    print(f"Python {sys.version.split()[0]}, grpcio {grpc.__version__}, {os.cpu_count()} cores")

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

