"""`cronlane local up` from start to Ctrl-C, as a user runs it: a port already taken is one line
at once; a twin that is up prints a hint whose commands work as printed; Ctrl-C stops it and
every process it started, and frees its port."""

from __future__ import annotations

import os
import queue
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from tests.conftest import FIXTURE_APP

pytestmark = pytest.mark.stack
CRONLANE = str(Path(sys.executable).parent / "cronlane")
CRONLANE_ENV = ("CRONLANE_CATALOG", "CRONLANE_PORT", "CRONLANE_STACK")
# The twin started as from a terminal, with SIGINT at its default: a shell that runs a command in
# the background makes it ignore SIGINT, and the twin would inherit that (Ctrl-C would do nothing).
DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in CRONLANE_ENV}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_bindable(port: int) -> bool:
    """Whether `cronlane local up` would start on the port again (its own check of the port)."""
    from cronlane.local.runtime import port_is_free

    return port_is_free(port) is None


def start_time(pid: int) -> str | None:
    """The process's start time (field 22 of /proc/PID/stat), None if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid`` (children, theirs, ...), each with its start time."""
    found: dict[int, str] = {}
    listed = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, timeout=10, check=False
    )
    for child in (int(p) for p in listed.stdout.split()):
        started = start_time(child)
        if started is not None:
            found[child] = started
        found.update(descendants(child))
    return found


def still_running(processes: dict[int, str]) -> list[int]:
    """Those of ``processes`` still alive (the same process: its pid not reused since)."""
    return [pid for pid, started in processes.items() if start_time(pid) == started]


class Twin:
    """`cronlane local up` in its own session, its output read by a thread (never blocking)."""

    def __init__(self, *args: str, cwd: Path = FIXTURE_APP) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", DEFAULT_SIGINT, CRONLANE, "local", "up", *args],
            cwd=cwd,
            env=environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def next_line(self, deadline: float) -> str | None:
        """The next line of output, None at its end; fails at ``deadline``."""
        try:
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no more output within the time; so far: {self.seen}") from None
        if line is not None:
            self.seen.append(line)
        return line

    def rest(self, timeout: float) -> str:
        """The rest of the output, up to its end (the process closed it)."""
        deadline = time.monotonic() + timeout
        out = []
        while (line := self.next_line(deadline)) is not None:
            out.append(line)
        return "".join(out)

    def kill(self) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


@contextmanager
def twin(*args: str) -> Iterator[Twin]:
    started = Twin(*args)
    try:
        yield started
    finally:
        started.kill()


def test_up_on_a_port_another_process_listens_on_is_one_line_at_once(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        began = time.monotonic()
        with twin("--port", str(port), "--logs", str(tmp_path / "logs")) as up:
            try:
                code = up.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"`local up` on a taken port still runs; it printed {up.seen}") from None
            output = up.rest(timeout=10)
        elapsed = time.monotonic() - began
    assert code == 2, output
    assert elapsed < 10, f"took {elapsed:.1f} s"
    assert "Traceback" not in output
    lines = output.splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith(f"cronlane: cannot start the twin on port {port}: "), output


def test_the_hint_works_as_printed_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    port = free_port()
    with twin("--port", str(port), "--time-scale", "0.01", "--logs", str(tmp_path / "logs")) as up:
        # WHEN the twin is up
        deadline = time.monotonic() + 60
        while (line := up.next_line(deadline)) is not None:
            if f"cronlane twin up at http://127.0.0.1:{port}" in line:
                break
        else:
            raise AssertionError(f"the twin never came up: {up.seen}")
        hint = up.next_line(deadline)
        assert hint is not None and hint.startswith("try:"), up.seen
        # THEN each command of the hint works, run exactly as printed from the app's folder
        commands = [c.strip() for c in hint.removeprefix("try:").split(" ; ")]
        commands = [c for c in commands if not c.startswith("Ctrl-C")]
        assert len(commands) >= 2 and all(c.startswith("cronlane ") for c in commands), hint
        for command in commands:
            args = shlex.split(command)
            result = subprocess.run(
                [CRONLANE, *args[1:]],
                cwd=FIXTURE_APP,
                env=environment(),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert result.returncode == 0, f"{command}: exit {result.returncode}: {result.stderr}"
            assert "Traceback" not in result.stderr, f"{command}: {result.stderr}"
        # the triggered run's Lambda environments are processes of the twin
        wait_until = time.monotonic() + 30
        started = descendants(up.process.pid)
        while not started and time.monotonic() < wait_until:
            time.sleep(0.5)
            started = descendants(up.process.pid)
        assert started, "the twin started no process to run the jobs"
        time.sleep(1)
        started |= descendants(up.process.pid)

        # WHEN the user presses Ctrl-C
        up.process.send_signal(signal.SIGINT)
        try:
            code = up.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the twin did not stop within 30 s of SIGINT: {up.seen}") from None
        rest = up.rest(timeout=10)
        # THEN it stops cleanly, with every process it started, and its port is free again
        assert code == 0, rest
        assert "stopping the twin" in rest and "Traceback" not in rest, rest
        gone_by = time.monotonic() + 10
        while still_running(started) and time.monotonic() < gone_by:
            time.sleep(0.2)
        assert not still_running(started), f"left running: {still_running(started)} of {sorted(started)}"
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"something still answers on {port}"
        free_by = time.monotonic() + 5
        while not port_is_bindable(port) and time.monotonic() < free_by:
            time.sleep(0.2)
        assert port_is_bindable(port), (
            f"port {port} cannot be bound 5 s after the twin stopped: "
            f"`cronlane local up --port {port}` would refuse to start"
        )
