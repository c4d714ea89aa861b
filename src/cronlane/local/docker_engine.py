"""A Docker engine for ``cronlane local sam-invoke``: one already running, or a ``dockerd`` of the
command's own, started in a folder of its own and stopped by its process id.

The engine the command starts (docs/sam-local.md):

- keeps everything in its folder: ``data/`` (``--data-root``: the images, kept between runs),
  ``exec/`` (``--exec-root``), ``docker.sock``, ``dockerd.pid`` and ``dockerd.log``, and reads a
  ``daemon.json`` of its own there rather than the machine's;
- keeps the default ``docker0`` bridge (SAM reaches the emulator in a container through a
  published port; a container reaches the host at the bridge's gateway) but leaves the
  firewall alone (``--iptables=false --ip-masq=false``);
- stores on ``overlay2``, or on ``vfs`` (slow, large) where ``overlay2`` does not start;
- runs in a session of its own, so a Ctrl-C in the terminal reaches the command, which stops
  the engine by its pid (SIGTERM, then SIGKILL), always, failure or not.

The engine's API is spoken over its unix socket with the standard library (``DockerAPI``), so no
Docker client of a particular version is needed.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cronlane.errors import CronlaneError

DEFAULT_SOCKET = Path("/var/run/docker.sock")
DEFAULT_GATEWAY = "172.17.0.1"  # Docker's default bridge gateway, if the engine does not say
STORAGE_DRIVERS = ("overlay2", "vfs")  # tried in this order
# A unix socket's path is at most 107 bytes (sun_path); the longest the engine makes in its
# exec root is containerd's ttrpc socket.
_SUN_PATH_MAX = 107
_LONGEST_EXEC_SOCKET = "containerd/containerd.sock.ttrpc"


class EngineError(CronlaneError):
    """The Docker engine could not be started or did not answer; the message says what to do."""


# -- can an engine run here ----------------------------------------------------------------------


@dataclass(frozen=True)
class EngineHost:
    """What this machine offers for a Docker engine of our own."""

    is_root: bool
    cgroups: bool
    dockerd: str | None  # its path, None: not installed
    running: bool  # an engine already answers (then none needs starting)


def cgroups_available(root: Path = Path("/sys/fs/cgroup")) -> bool:
    """cgroup v2 (``cgroup.controllers``) or v1 (a folder per controller) under ``root``."""
    if (root / "cgroup.controllers").is_file():
        return True
    return any((root / controller).is_dir() for controller in ("memory", "cpu", "pids", "devices"))


def engine_skip_reason(host: EngineHost) -> str | None:
    """Why no Docker engine can be had here (None: one is running, or one can be started)."""
    if host.running:
        return None
    if not host.is_root:
        return "not root: dockerd needs root"
    if not host.cgroups:
        return "no cgroups under /sys/fs/cgroup: a Docker engine cannot run here"
    if host.dockerd is None:
        return "dockerd is not installed (Debian: apt-get install docker.io)"
    return None


def existing_socket(env: Mapping[str, str] = os.environ) -> Path:
    """The socket of an engine that may already run: ``DOCKER_HOST`` if it is ``unix://``, else
    Docker's default. (An engine on TCP is not looked for: the command then starts its own.)"""
    host = env.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        return Path(host.removeprefix("unix://"))
    return DEFAULT_SOCKET


def probe_host(env: Mapping[str, str] = os.environ) -> EngineHost:
    return EngineHost(
        is_root=os.geteuid() == 0,
        cgroups=cgroups_available(),
        dockerd=shutil.which("dockerd", path=_sbin_path(env)),
        running=DockerAPI(existing_socket(env)).ping(),
    )


def _sbin_path(env: Mapping[str, str]) -> str:
    """PATH with the sbin folders (dockerd is in /usr/sbin, which a non-login shell may lack)."""
    parts = env.get("PATH", "").split(os.pathsep)
    return os.pathsep.join([*parts, *(p for p in ("/usr/sbin", "/sbin") if p not in parts)])


# -- the engine's API over its unix socket --------------------------------------------------------


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(str(self._path))
        self.sock = sock


class DockerAPI:
    """The few calls of the Docker Engine API the command makes."""

    def __init__(self, socket_path: Path, timeout_s: float = 30.0) -> None:
        self.socket = socket_path
        self.timeout_s = timeout_s

    def request(
        self,
        method: str,
        path: str,
        body: IO[bytes] | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> tuple[int, bytes]:
        connection = _UnixConnection(self.socket, timeout_s or self.timeout_s)
        try:
            chunked = body is not None and not isinstance(body, bytes)
            connection.request(method, path, body=body, headers=dict(headers or {}), encode_chunked=chunked)
            answer = connection.getresponse()
            return answer.status, answer.read()
        finally:
            connection.close()

    def ping(self) -> bool:
        try:
            status, body = self.request("GET", "/_ping", timeout_s=2)
        except OSError:
            return False
        return status == 200 and body.strip() == b"OK"

    def info(self) -> dict[str, Any]:
        return self._json("GET", "/info")

    def image_labels(self, reference: str) -> dict[str, str] | None:
        """The image's labels ({} if it has none); None: no such image."""
        status, body = self.request("GET", f"/images/{urllib.parse.quote(reference, safe='')}/json")
        if status == 404:
            return None
        if status != 200:
            raise EngineError(f"docker: looking up image {reference} answered {status}: {_message(body)}")
        config = json.loads(body).get("Config") or {}
        return dict(config.get("Labels") or {})

    def bridge_gateway(self) -> str:
        """The default bridge's gateway: the host's address as a container sees it."""
        network = self._json("GET", "/networks/bridge")
        for config in (network.get("IPAM") or {}).get("Config") or []:
            if config.get("Gateway"):
                return str(config["Gateway"])
        return DEFAULT_GATEWAY

    def import_image(self, tar: IO[bytes], repository: str, tag: str, changes: Iterable[str]) -> None:
        """``docker import``: a root file system (a tar stream) as the image ``repository:tag``, with
        Dockerfile-style ``changes`` (ENV, WORKDIR, LABEL, ...)."""
        query = urllib.parse.urlencode(
            [("fromSrc", "-"), ("repo", repository), ("tag", tag), *(("changes", c) for c in changes)]
        )
        status, body = self.request(
            "POST",
            f"/images/create?{query}",
            body=tar,
            headers={"Content-Type": "application/x-tar"},
            timeout_s=600,
        )
        errors = [line.get("error") for line in _json_lines(body) if line.get("error")]
        if status != 200 or errors:
            raise EngineError(
                f"docker import of {repository}:{tag} failed: {errors[0] if errors else status}"
            )

    def prune_dangling_images(self) -> None:
        """Remove untagged images: SAM builds its image again on every invoke of a function with a
        layer of the template, and the one it replaces would otherwise pile up."""
        query = urllib.parse.urlencode({"filters": json.dumps({"dangling": ["true"]})})
        self.request("POST", f"/images/prune?{query}", timeout_s=120)

    def _json(self, method: str, path: str) -> dict[str, Any]:
        status, body = self.request(method, path)
        if status != 200:
            raise EngineError(f"docker: {method} {path} answered {status}: {_message(body)}")
        return dict(json.loads(body))


def _json_lines(body: bytes) -> list[dict[str, Any]]:
    lines = []
    for raw in body.splitlines():
        with contextlib.suppress(ValueError):
            value = json.loads(raw)
            if isinstance(value, dict):
                lines.append(value)
    return lines


def _message(body: bytes) -> str:
    try:
        return str(json.loads(body).get("message", body[:200]))
    except ValueError:
        return body[:200].decode(errors="replace")


# -- a dockerd of our own -------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineFolder:
    """Where a dockerd of the command's own keeps everything."""

    root: Path

    @property
    def data_root(self) -> Path:
        return self.root / "data"

    @property
    def exec_root(self) -> Path:
        return self.root / "exec"

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def pidfile(self) -> Path:
        return self.root / "dockerd.pid"

    @property
    def log(self) -> Path:
        return self.root / "dockerd.log"

    @property
    def config(self) -> Path:
        return self.root / "daemon.json"

    def problem(self) -> str | None:
        """A folder whose sockets' paths would be too long for a unix socket."""
        longest = max(len(os.fsencode(self.socket)), len(os.fsencode(self.exec_root / _LONGEST_EXEC_SOCKET)))
        if longest > _SUN_PATH_MAX:
            return (
                f"the Docker folder {self.root} is too deep for the engine's unix sockets "
                f"({longest} > {_SUN_PATH_MAX} bytes): pass a shorter --docker-root"
            )
        return None


def dockerd_command(dockerd: str, folder: EngineFolder, storage_driver: str) -> list[str]:
    return [
        dockerd,
        f"--config-file={folder.config}",
        f"--data-root={folder.data_root}",
        f"--exec-root={folder.exec_root}",
        f"--pidfile={folder.pidfile}",
        f"--host=unix://{folder.socket}",
        f"--storage-driver={storage_driver}",
        "--iptables=false",
        "--ip-masq=false",
    ]


@dataclass
class Engine:
    """A Docker engine that answers: ``pid`` is set when the command started it (and stops it)."""

    api: DockerAPI
    pid: int | None
    storage_driver: str

    @property
    def docker_host(self) -> str:
        return f"unix://{self.api.socket}"


@contextlib.contextmanager
def docker_engine(
    folder: Path,
    *,
    dockerd: str = "dockerd",
    existing: Path = DEFAULT_SOCKET,
    start_timeout_s: float = 60.0,
    env: Mapping[str, str] = os.environ,
) -> Iterator[Engine]:
    """The engine answering on ``existing`` if there is one (left running afterwards), else a
    dockerd of our own in ``folder``, stopped by its pid when the block ends, however it ends."""
    running = DockerAPI(existing)
    if running.ping():
        yield Engine(running, None, str(running.info().get("Driver", "")))
        return
    own = EngineFolder(folder)
    problem = own.problem()
    if problem:
        raise EngineError(problem)
    own.root.mkdir(parents=True, exist_ok=True)
    stop_leftover(own)
    process: subprocess.Popen[bytes] | None = None
    try:
        failures = []
        for driver in STORAGE_DRIVERS:
            process = start_dockerd(dockerd, own, driver, env)
            api = DockerAPI(own.socket)
            failure = wait_until_ready(process, api, start_timeout_s)
            if failure is None:
                yield Engine(api, process.pid, driver)
                return
            failures.append(f"{driver}: {failure}")
            stop_dockerd(process)
            unmount_under(own.root)
            process = None
        raise EngineError(f"dockerd did not start ({'; '.join(failures)}; its log: {own.log})")
    finally:
        if process is not None:
            stop_dockerd(process)
            unmount_under(own.root)


def start_dockerd(
    dockerd: str, folder: EngineFolder, storage_driver: str, env: Mapping[str, str] = os.environ
) -> subprocess.Popen[bytes]:
    folder.config.write_text("{}\n")  # not the machine's /etc/docker/daemon.json
    with folder.log.open("ab") as log:
        log.write(f"\n-- {time.strftime('%Y-%m-%dT%H:%M:%S')} dockerd, storage {storage_driver}\n".encode())
        log.flush()
        try:
            return subprocess.Popen(
                dockerd_command(dockerd, folder, storage_driver),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**env, "PATH": _sbin_path(env)},
                start_new_session=True,  # a Ctrl-C reaches us, and we stop it in order
            )
        except OSError as exc:
            raise EngineError(f"cannot start {dockerd}: {exc}") from exc


def wait_until_ready(process: subprocess.Popen[bytes], api: DockerAPI, timeout_s: float) -> str | None:
    """None once the engine answers; else why not (it exited, or did not answer in time)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"it exited with code {process.returncode}"
        if api.ping():
            return None
        time.sleep(0.2)
    return f"it did not answer within {timeout_s:g} s"


def stop_dockerd(process: subprocess.Popen[bytes], grace_s: float = 30.0) -> None:
    """SIGTERM to its pid (dockerd stops its containers and its containerd), SIGKILL after
    ``grace_s``."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def stop_leftover(folder: EngineFolder, grace_s: float = 30.0) -> None:
    """A dockerd of ours that an interrupted run left (its pid file names a live dockerd): stopped
    by that pid before ours starts (dockerd refuses to start over a live pid file)."""
    try:
        pid = int(folder.pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    if not _is_dockerd(pid):
        folder.pidfile.unlink(missing_ok=True)
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while _is_dockerd(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _is_dockerd(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _is_dockerd(pid: int) -> bool:
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return comm == "dockerd" and state != "Z"


def mounts_under(root: Path, mountinfo: str) -> list[Path]:
    """The mount points at or below ``root`` in ``/proc/self/mountinfo``'s text, deepest first."""
    points = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        point = Path(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4]))
        if point == root or point.is_relative_to(root):
            points.append(point)
    return sorted(points, key=lambda p: len(p.parts), reverse=True)


def unmount_under(root: Path) -> None:
    """What a dockerd that did not shut down cleanly left mounted in its folder (a dockerd that
    fails to start leaves its data root bind-mounted on itself, and one killed leaves its
    containers' overlays): unmounted, so the folder can be used again and removed."""
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return
    for point in mounts_under(root.resolve(), mountinfo):
        subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)
