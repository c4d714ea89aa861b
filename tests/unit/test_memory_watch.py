"""The local runtime's memory limit (``cronlane.local.memory``): what a process uses counts the
processes it started (a Node.js function's node process is its function's memory), and a
watched process above its size is killed by SIGKILL, as Lambda kills it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from cronlane.local.memory import MemoryWatch, Watched, resident_mb

pytestmark = pytest.mark.skipif(resident_mb(os.getpid()) is None, reason="no /proc: nothing is enforced")

HOLD = """
import sys, time
block = bytearray(int(sys.argv[1]) * 2**20)
block[::4096] = b"x" * len(block[::4096])
print("holding", flush=True)
time.sleep(60)
"""


def holding(mb: int) -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(mb)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "holding\n"
    return child


def test_what_a_process_uses_counts_the_processes_it_started() -> None:
    before = resident_mb(os.getpid()) or 0.0
    child = holding(100)
    try:
        assert (resident_mb(os.getpid()) or 0.0) >= before + 100
        assert (resident_mb(child.pid) or 0.0) >= 100
    finally:
        child.kill()
        child.wait()


def test_a_watched_process_above_its_size_is_killed_and_its_peak_seen() -> None:
    small, big = holding(10), holding(150)
    seen: dict[int, float] = {}
    killed: list[tuple[int, float]] = []

    def watched(child: subprocess.Popen[str]) -> Watched:
        def read(used: float, was_killed: bool) -> None:
            seen[child.pid] = max(seen.get(child.pid, 0.0), used)
            if was_killed:
                killed.append((child.pid, used))

        return child.pid, 120, read

    watch = MemoryWatch(lambda: [watched(c) for c in (small, big) if c.poll() is None])
    watch.start()
    try:
        assert big.wait(timeout=10) == -signal.SIGKILL
        time.sleep(0.1)
        assert small.poll() is None  # under its size: left alone
        assert [pid for pid, _ in killed] == [big.pid] and killed[0][1] > 120
        assert 10 <= seen[small.pid] < 120
    finally:
        watch.stop()
        small.kill()
        small.wait()
