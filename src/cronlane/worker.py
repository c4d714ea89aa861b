"""The clock for a job's code that runs outside Lambda: an ECS task's container, a callback
target's worker. ``now()`` is the time, ``sleep(seconds)`` lets time pass.

On AWS they are ``time.time()`` and ``time.sleep()``. On cronlane's local runtime, which starts
these processes itself, they follow the runtime's clock, as the functions' code does:

- a scaled clock (``cronlane local run --time-scale 0.01``): 100 clock seconds pass per real
  second, so a job that sleeps 40 minutes sleeps 24 real seconds;
- the virtual clock (tests, ``cronlane local simulate``): time moves only when nothing is
  working. A process the runtime started counts as working unless it is in ``sleep``; while it
  sleeps, its wake-up time is one of the times the clock may jump to. A sleep of 40 minutes
  takes no real time; a computation of a real minute takes no clock time.

So a worker idle waiting for work sleeps between empty receives, and receives without long
polling (the local runtime answers a receive at once, whatever ``WaitTimeSeconds`` says)::

    from cronlane import worker

    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", [])
        if not messages:
            worker.sleep(20)  # on the virtual clock, the one moment time may move
            continue
        ...

The runtime tells a process its clock in ``CRONLANE_CLOCK``: unset, the system clock;
``scaled:<origin>:<scale>:<real_origin>``, a clock that was ``origin`` at real time
``real_origin`` and runs ``1 / scale`` times as fast; ``virtual:<host>:<port>``, the runtime's
clock server on loopback (``cronlane.local.tasks``: one line per request, ``now`` or ``sleep
<seconds>``, each answered with the time; a sleep once the clock has reached its end).
``CRONLANE_TIME_SCALE`` is the scale alone (real seconds per clock second; 0 on the virtual
clock, where only ``sleep`` lets time pass). Each thread that uses the virtual clock counts on
its own: a process is seen as working unless each of them is in ``sleep``. Node.js processes
get the same two functions from ``require(process.env.CRONLANE_WORKER_CLOCK_JS)``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import IO

__all__ = ["now", "sleep", "time_scale"]

_local = threading.local()  # this thread's connection to a virtual clock


def now() -> float:
    """Seconds since the epoch, on the runtime's clock (the system's on AWS)."""
    mode, fields = _clock()
    if mode == "scaled":
        origin, scale, real_origin = fields
        return origin + (time.time() - real_origin) / scale
    if mode == "virtual":
        return _ask("now")
    return time.time()


def sleep(seconds: float) -> None:
    """Let ``seconds`` of the runtime's clock pass (a real sleep on AWS)."""
    if seconds <= 0:
        return
    mode, fields = _clock()
    if mode == "scaled":
        time.sleep(seconds * fields[1])
    elif mode == "virtual":
        _ask(f"sleep {seconds!r}")
    else:
        time.sleep(seconds)


def time_scale() -> float:
    """Real seconds per clock second: 1 on AWS, 0.01 at ``--time-scale 0.01``, 0 on a virtual clock."""
    mode, fields = _clock()
    return fields[1] if mode == "scaled" else (0.0 if mode == "virtual" else 1.0)


def _clock() -> tuple[str, tuple[float, ...]]:
    """``CRONLANE_CLOCK`` read: ("system", ()), ("scaled", (origin, scale, real_origin)) or
    ("virtual", ())."""
    spec = os.environ.get("CRONLANE_CLOCK", "")
    mode, _, rest = spec.partition(":")
    if not spec:
        return "system", ()
    if mode == "scaled":
        origin, scale, real_origin = (float(part) for part in rest.split(":"))
        if scale <= 0:
            raise ValueError(f"CRONLANE_CLOCK: a scale must be positive, got {scale}")
        return "scaled", (origin, scale, real_origin)
    if mode == "virtual":
        return "virtual", ()
    raise ValueError(
        f"CRONLANE_CLOCK {spec!r} is not scaled:<origin>:<scale>:<real_origin> or virtual:<host>:<port>"
    )


def _ask(request: str) -> float:
    """Send one request to the virtual clock on this thread's connection, return its answer."""
    connection = getattr(_local, "connection", None)
    if connection is None or connection[0] != os.getpid():  # none yet, or a forked child's
        connection = (os.getpid(), *_connect())
        _local.connection = connection
    _, sock, reader = connection
    sock.sendall(f"{request}\n".encode())
    answer = reader.readline()
    if not answer:
        _local.connection = None
        raise RuntimeError("the local runtime's clock is gone (the runtime stopped)")
    os.environ["CRONLANE_CLOCK_START"] = answer.strip()  # where a Node.js child's clock begins
    return float(answer)


def _connect() -> tuple[socket.socket, IO[str]]:
    """A connection to the virtual clock, introduced with the process's ``CRONLANE_CLOCK_ID`` (the
    runtime counts the process as working unless its connections are all asleep)."""
    host, _, port = os.environ["CRONLANE_CLOCK"].removeprefix("virtual:").rpartition(":")
    sock = socket.create_connection((host, int(port)))
    reader = sock.makefile("r", encoding="ascii")
    sock.sendall(f"hello {os.environ.get('CRONLANE_CLOCK_ID', '-')}\n".encode())
    if reader.readline().strip() != "ok":
        raise RuntimeError("the local runtime's clock did not answer")
    return sock, reader
