"""Running the service: `symshape serve` (N serving processes on one port with SO_REUSEPORT).

Each serving process is a full gRPC server with its own derivation workers and cache; the kernel
spreads incoming connections over them (SO_REUSEPORT), so N cores give about N times the
throughput of CPU-bound calls. SIGTERM (or Ctrl-C): health goes NOT_SERVING, then each server
stops with a grace period for the calls in flight.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import threading
from dataclasses import replace

from .service import ServerConfig, create_server, shutdown


def _serve_one(address: str, config: ServerConfig, grace: float, ready: threading.Event | None = None) -> None:
    running = create_server(address, config)
    running.server.start()
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"symshape: serving on {address.rsplit(':', 1)[0]}:{running.port} (pid {os.getpid()})", file=sys.stderr,
          flush=True)
    if ready is not None:
        ready.set()
    stop.wait()
    shutdown(running, grace)


def _child(address: str, config: ServerConfig, grace: float) -> None:
    _serve_one(address, config, grace)


def serve_forever(host: str, port: int, workers: int, config: ServerConfig, grace: float = 10.0) -> int:
    """Serve until SIGTERM/SIGINT; with workers > 1, that many processes share the port."""
    address = f"{host}:{port}"
    if workers > 1:
        if port == 0:
            raise ValueError("several serving processes need an explicit --port (they share it)")
        config = replace(config, reuse_port=True)
        ctx = mp.get_context("spawn")
        children = [ctx.Process(target=_child, args=(address, config, grace), name=f"symshape-serve-{i}")
                    for i in range(workers - 1)]
        for child in children:
            child.start()

        def forward(signum: int, frame: object) -> None:
            for child in children:
                if child.is_alive():
                    os.kill(child.pid, signal.SIGTERM)

        try:
            _serve_one(address, config, grace)
        finally:
            forward(signal.SIGTERM, None)
            for child in children:
                child.join(grace + 5)
        return 0
    _serve_one(address, config, grace)
    return 0
