"""``cronlane init DIR``: a new application that uses the framework as a dependency.

It writes a SAM application (``template.yaml`` with its generated parts made from the new
catalog, ``samconfig.toml``, ``pyproject.toml`` naming the catalog, a package with one job and
one schedule, ``events/``, a test, a ``Makefile`` and a short README) from the files under
``files/``, and a ``wheels/`` folder: the framework's wheel (``wheel``) and its dependencies'
wheels for Lambda's arm64 and for this machine, so ``sam build`` needs no package index. No
framework code is copied into the app's sources.
"""

from __future__ import annotations

import importlib.util
import keyword
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cronlane.errors import CronlaneError

FILES = Path(__file__).parent / "files"
SCHEDULE = "daily"  # the one schedule the new catalog declares
PACKAGE_PATTERN = re.compile(r"^[a-z_][a-z0-9_]*$")
# A stack name leaves room for "-prod-dispatcher" in a Lambda function's 64 characters.
STACK_NAME_MAX = 40
# What the layer's pip gets for Lambda (arm64, Python 3.13), as sam build asks for it.
LAMBDA_PLATFORM = (
    "--only-binary=:all:",
    "--platform",
    "manylinux2014_aarch64",
    "--platform",
    "manylinux_2_28_aarch64",
    "--python-version",
    "3.13",
    "--implementation",
    "cp",
    "--abi",
    "cp313",
)
# Where the framework's own parts of a new template.yaml change with the app.
DESCRIPTION_LINES = (
    "  A cronlane application: scheduled job graphs on EventBridge, Lambda, SQS FIFO and DynamoDB.",
    "  Jobs and schedules are declared in src/{package}/catalog.py; `cronlane template` writes",
    "  what the template needs of them (the parts between cronlane:begin and cronlane:end).",
)


class ScaffoldError(CronlaneError):
    """The application cannot be created (the folder is not empty, a name cannot be used...)."""


@dataclass(frozen=True)
class Created:
    root: Path
    package: str
    schedule: str
    seconds: float


def package_name(folder: Path) -> str:
    """``my-jobs`` -> ``my_jobs``: the folder's name as a Python package."""
    name = re.sub(r"[^a-z0-9_]", "_", folder.resolve().name.lower()).strip("_") or "jobs"
    return f"app_{name}" if name[0].isdigit() else name


# The framework's template ends its resources with this comment: what follows, up to Outputs, is
# the app's own (its targets' functions, task definitions and queues).
APP_RESOURCES_MARK = "  # go below this line: cronlane template leaves them as they are.\n"
OUTPUTS_MARK = "\n# " + "=" * 93 + "\n# Outputs"


def app_resources(text: str) -> str:
    """The app's own resources in its ``template.yaml`` (the text after the framework's)."""
    if APP_RESOURCES_MARK not in text or OUTPUTS_MARK not in text:
        return ""
    after = text.split(APP_RESOURCES_MARK, 1)[1]
    return after.split(OUTPUTS_MARK, 1)[0].split("\n", 1)[1] if "\n" in after else ""


def render_template(package: str, description: tuple[str, ...] | None = None, resources: str = "") -> str:
    """The framework's ``template.yaml`` for an app of ``package``, with its generated parts
    empty (``cronlane.template.generate.render`` fills them) and the app's own ``resources``."""
    lines = description or tuple(line.format(package=package) for line in DESCRIPTION_LINES)
    text = (FILES / "template.yaml.tmpl").read_text()
    if resources:
        head, tail = text.split(APP_RESOURCES_MARK, 1)
        text = head + APP_RESOURCES_MARK + tail.split("\n", 1)[0] + "\n" + resources + tail.split("\n", 1)[1]
    return text.replace("@@DESCRIPTION@@", "\n".join(lines)).replace(
        "@@CATALOG_MODULE@@", f"{package}.catalog"
    )


def _rendered(text: str, tokens: dict[str, str]) -> str:
    for token, value in tokens.items():
        text = text.replace(f"@@{token}@@", value)
    return text


def _latest_tick(expression: str) -> str:
    from cronlane.clock import iso
    from cronlane.cron import parse_expression

    latest = parse_expression(expression).latest_at_or_before(time.time(), None)
    return iso(latest or time.time())


def _write_files(root: Path, package: str, tokens: dict[str, str]) -> None:
    for source in sorted(FILES.rglob("*.tmpl")):
        relative = source.relative_to(FILES).as_posix().removesuffix(".tmpl")
        if relative == "template.yaml":
            continue
        relative = relative.replace("src/package/", f"src/{package}/")
        relative = ".gitignore" if relative == "gitignore" else relative
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_rendered(source.read_text(), tokens))


def _download(wheels: Path, wheel: Path, find_links: Path | None, echo: Callable[[str], None]) -> None:
    """The framework's dependencies' wheels: for Lambda's arm64, and for this machine (the local
    runtime's layer and ``sam local invoke``)."""
    source = ["--no-index", "--find-links", str(find_links)] if find_links else []
    base = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(wheels), *source]
    for label, extra in (("Lambda's arm64", list(LAMBDA_PLATFORM)), ("this machine", [])):
        echo(f"downloading the framework's dependencies for {label} into wheels/")
        try:
            done = subprocess.run([*base, *extra, str(wheel)], capture_output=True, text=True, check=False)
        except OSError as exc:
            raise ScaffoldError(f"cannot run pip to download the framework's dependencies: {exc}") from None
        if "No module named pip" in done.stderr:
            raise ScaffoldError(
                "this environment has no pip, which init uses to download the framework's dependencies "
                "(python -m ensurepip, or pass --find-links with their wheels)"
            )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
            where = f"from {find_links}" if find_links else "from the package index"
            raise ScaffoldError(f"cannot download the framework's dependencies {where}: {last}")


def _package_problem(package: str) -> str | None:
    """Why ``package`` cannot be the app's package, or None."""
    if not PACKAGE_PATTERN.match(package) or keyword.iskeyword(package):
        return (
            f"package {package!r} is not a Python package name (lower case letters, digits, '_'): "
            "pass --package"
        )
    if package in sys.stdlib_module_names or importlib.util.find_spec(package) is not None:
        # on Lambda the app's src/ comes before the layer: it would hide the module of that name
        return (
            f"package {package!r} would shadow the module of that name (the standard library's, or "
            "an installed one): pass --package"
        )
    return None


def _stack_name(folder: str) -> str:
    stack = re.sub(r"[^A-Za-z0-9-]+", "-", folder).strip("-") or "cronlane-app"
    stack = stack if stack[0].isalpha() else f"app-{stack}"
    return stack[:STACK_NAME_MAX]


def create_app(
    directory: Path,
    *,
    package: str | None = None,
    find_links: Path | None = None,
    echo: Callable[[str], None] = lambda _: None,
) -> Created:
    """Write a new application into ``directory`` (new, or empty) and return what was made. On a
    failure, what it wrote is removed again (the folder too, if it made it)."""
    began = time.perf_counter()
    root = directory.resolve()
    if root.exists() and not root.is_dir():
        raise ScaffoldError(f"{directory} is a file: init writes a new app into a new or empty folder")
    if root.exists() and any(root.iterdir()):
        raise ScaffoldError(f"{directory} exists and is not an empty folder: init writes a new app")
    package = package or package_name(root)
    problem = _package_problem(package)
    if problem:
        raise ScaffoldError(problem)
    if find_links is not None and not find_links.is_dir():
        raise ScaffoldError(f"--find-links {find_links}: not a folder")
    made = not root.exists()
    try:
        _create(root, package, find_links, echo)
    except BaseException:
        if made:
            shutil.rmtree(root, ignore_errors=True)
        else:
            for child in root.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise
    return Created(root, package, SCHEDULE, time.perf_counter() - began)


def _create(root: Path, package: str, find_links: Path | None, echo: Callable[[str], None]) -> None:
    from cronlane import __version__
    from cronlane.errors import CatalogError
    from cronlane.project import find_app
    from cronlane.scaffold.wheel import build_wheel
    from cronlane.template.generate import render

    distribution = re.sub(r"[^A-Za-z0-9._-]+", "-", root.name).strip("-._") or "cronlane-app"
    tokens = {
        "PACKAGE": package,
        "DISTRIBUTION": distribution,
        "STACK": _stack_name(root.name),
        "TICK_TIME": _latest_tick("cron(0 6 * * ? *)"),
        "VERSION": __version__,
    }
    root.mkdir(parents=True, exist_ok=True)
    _write_files(root, package, tokens)
    (root / "template.yaml").write_text(render_template(package))
    app = find_app(root / "template.yaml", env={})
    try:
        catalog = app.load_catalog(fresh=True)
    except CatalogError as exc:
        raise ScaffoldError(f"the new app's catalog does not load: {exc}") from None
    (root / "template.yaml").write_text(
        render((root / "template.yaml").read_text(), catalog, app.catalog_module)
    )
    wheels = root / "wheels"
    wheel = build_wheel(wheels)
    echo(f"wrote {wheel.relative_to(root)} (the framework, for the layer)")
    _download(wheels, wheel, find_links, echo)
