"""Running the command line on a real terminal (a pty), as a person at a terminal sees it."""

from __future__ import annotations

import os
import pty
import subprocess
import sys


def run_on_terminal(args: list[str], stream: str = "stdout", env: dict | None = None,
                    timeout: float = 300) -> tuple[int, str]:
    """`python -m symshape ARGS` with `stream` ('stdout' or 'stderr') a terminal and the other
    discarded: (exit status, everything the terminal received, decoded)."""
    leader, follower = pty.openpty()
    other = subprocess.DEVNULL
    streams = {"stdout": follower, "stderr": other} if stream == "stdout" else {"stdout": other, "stderr": follower}
    proc = subprocess.Popen([sys.executable, "-m", "symshape", *args], stdin=subprocess.DEVNULL, env=env, **streams)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process is done
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    return proc.wait(timeout=timeout), seen.decode("utf-8", "replace")
