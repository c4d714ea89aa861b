"""Lambda's memory limit on the local runtime: an environment running an invocation whose resident
memory goes above its function's ``MemorySize`` is killed at once by SIGKILL, as Lambda kills it
(its log stream then says ``Runtime exited with error: signal: killed``), and the invocation
fails with ``Runtime.OutOfMemory``.

The runtime's process reads each running environment's resident size every ``POLL_S`` from
/proc (a thread of its own, so a job holding the GIL in a long C call cannot hide from it),
with the processes it started (a Node.js function's node process is its function's memory, as
on Lambda; they are listed again every ``CHILDREN_EVERY`` polls); where there is no /proc nothing
is enforced. A spike shorter than that may pass
unkilled: each invocation's answer also carries the environment's own peak (``getrusage``), so
``cronlane local run`` still shows it above its size. Local tasks and workers are not Lambda's:
their memory is not counted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterable

POLL_S = 0.02
CHILDREN_EVERY = 10  # polls between two listings of a process's children (they change seldom)
PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20 if hasattr(os, "sysconf") else 0.0


def resident_mb(pid: int, children: Callable[[int], list[int]] | None = None) -> float | None:
    """A process's resident memory now, with its children's (None: no /proc, or no such process);
    ``children`` lists a process's children (by default read from /proc each time)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    below = children or _children
    return pages * PAGE_MB + sum(resident_mb(child, children) or 0.0 for child in below(pid))


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError, ValueError), open(f"/proc/{pid}/task/{task}/children") as f:
                found.extend(int(child) for child in f.read().split())
    return found


def killed_line(used_mb: float, limit_mb: int, request_id: str) -> str:
    """What the environment's log stream says of it (Lambda writes the second line)."""
    return (
        f"[local runtime] {used_mb:.0f} MB used of a MemorySize of {limit_mb} MB: "
        "killed, as Lambda kills it\n"
        f"RequestId: {request_id} Error: Runtime exited with error: signal: killed\n"
    )


# what is watched: a pid, its MemorySize, and what to tell of each size read (True: it was above
# its size, and is killed)
Watched = tuple[int, int, Callable[[float, bool], None]]


class MemoryWatch:
    """Reads what ``running()`` names every ``POLL_S`` and kills each one above its size."""

    def __init__(self, running: Callable[[], Iterable[Watched]]) -> None:
        self.running = running
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None and resident_mb(os.getpid()) is not None:
            self._thread = threading.Thread(target=self._watch, name="memory-limit", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        polls = 0
        known: dict[int, list[int]] = {}  # pid -> its children, as last listed

        def children(pid: int) -> list[int]:
            if pid not in known:
                known[pid] = _children(pid)
            return known[pid]

        while not self._stop.wait(POLL_S):
            if polls % CHILDREN_EVERY == 0:  # a process started since is counted from the next
                known.clear()
            polls += 1
            for pid, limit_mb, read in list(self.running()):
                used = resident_mb(pid, children)
                if used is None:
                    continue
                killed = False
                if used > limit_mb:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                        killed = True
                read(used, killed)
