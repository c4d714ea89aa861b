"""The framework's wheel, made from the installed package: what ``cronlane init`` puts in an
app's ``wheels/`` so its layer installs cronlane with no package index (cronlane is not on PyPI).

Made from the files of the ``cronlane`` package as installed (a regular or an editable install)
and the distribution's own metadata; the same files give the same wheel, byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import zipfile
from pathlib import Path

import cronlane

EPOCH = (1980, 1, 1, 0, 0, 0)  # zip's earliest time: fixed, so the wheel is reproducible
WHEEL_FILE = "Wheel-Version: 1.0\nGenerator: cronlane init\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _package_files() -> list[tuple[str, bytes]]:
    root = Path(cronlane.__file__).resolve().parent
    files = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
            continue
        files.append((f"cronlane/{path.relative_to(root).as_posix()}", path.read_bytes()))
    return files


def build_wheel(dest: Path) -> Path:
    """Write ``cronlane-<version>-py3-none-any.whl`` into ``dest`` and return its path."""
    distribution = importlib.metadata.distribution("cronlane")
    version = distribution.version
    info = f"cronlane-{version}.dist-info"
    metadata = (
        distribution.read_text("METADATA") or f"Metadata-Version: 2.1\nName: cronlane\nVersion: {version}\n"
    )
    entries = [
        *_package_files(),
        (f"{info}/METADATA", metadata.encode()),
        (f"{info}/WHEEL", WHEEL_FILE.encode()),
    ]
    entry_points = distribution.read_text("entry_points.txt")
    if entry_points:
        entries.append((f"{info}/entry_points.txt", entry_points.encode()))
    record = [f"{name},{_digest(data)},{len(data)}" for name, data in entries] + [f"{info}/RECORD,,"]
    entries.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode()))
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"cronlane-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            item = zipfile.ZipInfo(name, EPOCH)
            item.external_attr = 0o644 << 16
            item.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(item, data)
    return path
