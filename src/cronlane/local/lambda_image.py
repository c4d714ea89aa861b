"""A stand-in for Lambda's ``python3.13`` base image, built on this machine.

No container image can be pulled here, and ``sam local invoke --skip-pull-image`` uses a local
image tagged as the official one (``public.ecr.aws/lambda/python:3.13-x86_64``), on which SAM
builds its own (the Runtime Interface Emulator that ships inside SAM CLI, and the layers under
``/opt``). The stand-in is laid out as the official image is (docs/sam-local.md):

- a ``debootstrap --variant=minbase`` Debian root file system (cached in the cache folder, and
  trimmed of apt's caches, docs and locales in the image);
- the Python running cronlane (``sys.base_prefix``, which must be 3.13) copied to ``/var/lang``,
  without its test suite, its static library, tkinter/IDLE and its site-packages;
- the shared libraries that Python and its extension modules link against and the root file
  system lacks, copied from this machine (a Debian of the same release);
- ``awslambdaric`` and ``boto3`` under ``/var/runtime`` (pip, with their wheels cached: PyPI is
  needed by the first build only), and a ``/var/runtime/bootstrap`` that starts awslambdaric
  with the function's handler, as Lambda's own bootstrap does;
- imported with the official image's environment and working folder.

The image carries a label with the recipe's digest (``Recipe.digest``: this module's own text,
the Python, the package pins, the Debian release); it is rebuilt only when that changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import IO

from cronlane.errors import CronlaneError
from cronlane.local.docker_engine import DockerAPI

REPOSITORY = "public.ecr.aws/lambda/python"
TAG = "3.13-x86_64"
IMAGE = f"{REPOSITORY}:{TAG}"
RECIPE_LABEL = "cronlane.recipe"
PYTHON = (3, 13)
SUITE = "bookworm"
AWSLAMBDARIC = "4.2.2"
# The official image's environment (Lambda's python3.13 runtime) and working folder.
IMAGE_ENV = {
    "LANG": "en_US.UTF-8",
    "TZ": ":/etc/localtime",
    "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
    "LD_LIBRARY_PATH": ":".join(
        (
            *("/var/lang/lib", "/lib64", "/usr/lib64", "/var/runtime", "/var/runtime/lib"),
            *("/var/task", "/var/task/lib", "/opt/lib"),
        )
    ),
    "LAMBDA_TASK_ROOT": "/var/task",
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
}
WORKDIR = "/var/task"
# Lambda's bootstrap puts the function's code, then the layers, then the runtime on the path.
BOOTSTRAP = """#!/bin/sh
# Lambda's python3.13 bootstrap, in short: the runtime interface client runs the handler.
export PYTHONPATH="/var/task:/opt/python/lib/python3.13/site-packages:/opt/python:/var/runtime"
exec /var/lang/bin/python3.13 -m awslambdaric "${_HANDLER:-$AWS_LAMBDA_FUNCTION_HANDLER}"
"""
# What of the Python is left out of /var/lang (relative to its lib/python3.13).
PYTHON_LEFT_OUT = ("test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "site-packages")
# What of the minbase root file system is left out of the image.
ROOTFS_LEFT_OUT = (
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/locale",
    "usr/share/man",
    "usr/share/info",
)
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


class ImageError(CronlaneError):
    """The Lambda base image could not be built; the message says which step and where its log is."""


def python_problem(version: tuple[int, int], prefix: Path) -> str | None:
    """Why the running Python cannot go into the image (None: it can)."""
    if version != PYTHON:
        return f"the Lambda image needs Python 3.13, cronlane runs on {version[0]}.{version[1]}"
    if not (prefix / "bin" / "python3.13").is_file():
        return f"no bin/python3.13 in the Python's prefix {prefix}"
    return None


@dataclass(frozen=True)
class Recipe:
    python_prefix: Path
    python_version: str
    packages: tuple[str, ...]
    suite: str = SUITE
    mirror: str = "http://deb.debian.org/debian"

    def digest(self) -> str:
        """What the image is built from: a change to any of it rebuilds the image (the mirror is
        not in it: any mirror of the release gives the same files)."""
        recipe = {
            "module": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
            "python": [str(self.python_prefix), self.python_version],
            "packages": list(self.packages),
            "suite": self.suite,
        }
        return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]

    def changes(self) -> list[str]:
        """``docker import``'s Dockerfile-style changes: the official image's environment."""
        return [
            *(f"ENV {name}={value}" for name, value in IMAGE_ENV.items()),
            f"WORKDIR {WORKDIR}",
            f"LABEL {RECIPE_LABEL}={self.digest()}",
        ]


def default_recipe(mirror: str | None = None) -> Recipe:
    """The recipe for the Python running cronlane, with the boto3 it has (the runtime's boto3 is
    the same version the twin was tested with) and a pinned awslambdaric."""
    boto3 = metadata.version("boto3")
    return Recipe(
        python_prefix=Path(sys.base_prefix),
        python_version=".".join(map(str, sys.version_info[:3])),
        packages=(f"awslambdaric=={AWSLAMBDARIC}", f"boto3=={boto3}"),
        mirror=mirror or debian_mirror(),
    )


def debian_mirror(sources: Iterable[Path] = (Path("/etc/apt/sources.list.d/debian.sources"),)) -> str:
    """The machine's Debian mirror (deb822 ``URIs:``), else Debian's own."""
    for path in sources:
        try:
            text = path.read_text()
        except OSError:
            continue
        match = re.search(r"^URIs:\s*(\S+)", text, re.MULTILINE)
        if match and "security" not in match.group(1):
            return match.group(1)
    return "http://deb.debian.org/debian"


def image_is_current(api: DockerAPI, recipe: Recipe) -> bool:
    labels = api.image_labels(IMAGE)
    return labels is not None and labels.get(RECIPE_LABEL) == recipe.digest()


def ensure_image(api: DockerAPI, recipe: Recipe, cache: Path, log: IO[str]) -> bool:
    """Build the image unless one of the same recipe is there. True: it was built."""
    if image_is_current(api, recipe):
        return False
    build_image(api, recipe, cache, log)
    return True


def build_image(api: DockerAPI, recipe: Recipe, cache: Path, log: IO[str]) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    base = base_rootfs(cache, recipe, log)
    stage = cache / "stage"
    shutil.rmtree(stage, ignore_errors=True)
    try:
        _run(["cp", "-a", f"{base}/.", str(stage)], "copying the root file system", log)
        for left_out in ROOTFS_LEFT_OUT:
            shutil.rmtree(stage / left_out, ignore_errors=True)
        copy_python(recipe.python_prefix, stage / "var" / "lang")
        copied = copy_libraries(linked_libraries(stage / "var" / "lang", log), stage)
        log.write("libraries copied: " + " ".join(sorted(p.name for p in copied)) + "\n")
        if CA_BUNDLE.is_file():
            (stage / CA_BUNDLE.relative_to("/")).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(CA_BUNDLE, stage / CA_BUNDLE.relative_to("/"))
        install_runtime(recipe.packages, stage / "var" / "runtime", cache / "wheels", log)
        (stage / "var" / "task").mkdir(parents=True, exist_ok=True)
        bootstrap = stage / "var" / "runtime" / "bootstrap"
        bootstrap.write_text(BOOTSTRAP)
        bootstrap.chmod(0o755)
        log.write(f"importing {IMAGE} (recipe {recipe.digest()})\n")
        log.flush()
        tar = subprocess.Popen(
            ["tar", "--numeric-owner", "-C", str(stage), "-cf", "-", "."],
            stdout=subprocess.PIPE,
            stderr=log,
        )
        assert tar.stdout is not None
        try:
            api.import_image(tar.stdout, REPOSITORY, TAG, recipe.changes())
        finally:
            tar.stdout.close()
            tar.wait()
        if tar.returncode != 0:
            raise ImageError(f"tar of the image's root file system failed (log: {log.name})")
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def base_rootfs(cache: Path, recipe: Recipe, log: IO[str]) -> Path:
    """The ``debootstrap --variant=minbase`` root file system, made once and kept in ``cache``."""
    rootfs = cache / f"{recipe.suite}-minbase"
    done = cache / f"{recipe.suite}-minbase.done"
    if done.is_file() and rootfs.is_dir():
        return rootfs
    shutil.rmtree(rootfs, ignore_errors=True)
    done.unlink(missing_ok=True)
    debootstrap = shutil.which("debootstrap", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))
    if debootstrap is None:
        raise ImageError("debootstrap is not installed (Debian: apt-get install debootstrap)")
    _run(
        [debootstrap, "--variant=minbase", recipe.suite, str(rootfs), recipe.mirror],
        f"debootstrap of {recipe.suite} from {recipe.mirror}",
        log,
    )
    done.write_text(recipe.mirror + "\n")
    return rootfs


def copy_python(prefix: Path, destination: Path) -> None:
    """The interpreter, its shared library and its standard library, as the official image has
    them under /var/lang."""
    lib = f"python{PYTHON[0]}.{PYTHON[1]}"
    (destination / "bin").mkdir(parents=True, exist_ok=True)
    for name in ("python3.13", "python3", "python"):
        source = prefix / "bin" / name
        if source.is_symlink() or source.is_file():
            shutil.copy2(source, destination / "bin" / name, follow_symlinks=False)
    (destination / "lib").mkdir(parents=True, exist_ok=True)
    for library in (prefix / "lib").glob("libpython3*.so*"):
        shutil.copy2(library, destination / "lib" / library.name, follow_symlinks=False)
    left_out = {*PYTHON_LEFT_OUT}

    def ignore(folder: str, names: list[str]) -> set[str]:
        if Path(folder) == prefix / "lib" / lib:
            return {n for n in names if n in left_out or n.startswith("config-")}
        if Path(folder).name == "lib-dynload":  # tkinter's module would pull in X11 and Tk
            return {n for n in names if n.startswith("_tkinter")}
        return set()

    shutil.copytree(prefix / "lib" / lib, destination / "lib" / lib, symlinks=True, ignore=ignore)
    (destination / "lib" / lib / "site-packages").mkdir(exist_ok=True)


def linked_libraries(lang: Path, log: IO[str]) -> list[Path]:
    """This machine's shared libraries that the copied interpreter and its extension modules
    load (what ``ldd`` resolves them to)."""
    objects = [lang / "bin" / "python3.13", *sorted(lang.glob("lib/libpython3*.so*"))]
    objects += sorted(lang.glob("lib/python3.13/lib-dynload/*.so"))
    env = {**os.environ, "LD_LIBRARY_PATH": str(lang / "lib")}
    found: set[Path] = set()
    for obj in objects:
        answer = subprocess.run(["ldd", str(obj)], capture_output=True, text=True, env=env, check=False)
        if answer.returncode != 0:
            log.write(f"ldd {obj}: {answer.stderr.strip()}\n")
            continue
        found.update(_ldd_paths(answer.stdout))
    return sorted(p for p in found if not p.is_relative_to(lang))


def _ldd_paths(output: str) -> set[Path]:
    paths = set()
    for line in output.splitlines():
        match = re.search(r"=>\s*(/\S+)", line)
        if match:
            paths.add(Path(match.group(1)))
    return paths


def copy_libraries(libraries: Iterable[Path], rootfs: Path) -> list[Path]:
    """Each library the root file system lacks, under the name the loader looks for, in the
    folder it really lives in (so a merged-/usr symlink such as /lib is never written through)."""
    copied = []
    for library in libraries:
        folder = Path(os.path.realpath(library.parent))
        target = rootfs / folder.relative_to("/") / library.name
        if target.exists() or target.is_symlink():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(library, target)  # the file the name resolves to
        copied.append(target)
    return copied


def install_runtime(packages: tuple[str, ...], target: Path, wheels: Path, log: IO[str]) -> None:
    """The runtime interface client and boto3 under ``target``, from the cached wheels, which
    are downloaded (PyPI) only when they are not all there."""
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    wheels.mkdir(parents=True, exist_ok=True)
    install = [
        *pip,
        "install",
        "--quiet",
        "--no-index",
        f"--find-links={wheels}",
        "--only-binary=:all:",
        f"--target={target}",
        *packages,
    ]
    if _run_quietly(install, log) == 0:
        return
    _run(
        [*pip, "download", "--quiet", "--only-binary=:all:", f"--dest={wheels}", *packages],
        f"pip download of {', '.join(packages)} (needs PyPI once)",
        log,
    )
    shutil.rmtree(target, ignore_errors=True)
    _run(install, f"pip install of {', '.join(packages)}", log)


def _run(command: list[str], what: str, log: IO[str]) -> None:
    if _run_quietly(command, log) != 0:
        raise ImageError(f"{what} failed (log: {log.name})")


def _run_quietly(command: list[str], log: IO[str]) -> int:
    log.write(f"$ {' '.join(command)}\n")
    log.flush()
    return subprocess.run(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, check=False).returncode
