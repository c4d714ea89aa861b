"""The catalog's job functions, checked before a deploy (``cronlane validate``): each function
path imports and is callable with one argument, the ``JobContext``; and the parameters a function
reads from ``ctx.params`` by name in its own body are declared on its job. (A read through a
helper, or with a computed name, cannot be seen and is not checked.)"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from typing import Any

from cronlane.declarations import Catalog, Job
from cronlane.execute import import_job_function

_READERS = ("get", "pop", "__getitem__")  # with a default, get and pop are optional reads


def _resolve(job: Job) -> tuple[Callable[..., Any] | None, str | None]:
    try:
        function = import_job_function(job.function)
    except ImportError as exc:
        return None, f"job '{job.name}': {exc}: fix the path in its Job(...) or the module"
    except Exception as exc:  # the job's own module raised while it was imported
        return None, f"job '{job.name}': importing '{job.function}' raised {type(exc).__name__}: {exc}"
    if not callable(function):
        return None, f"job '{job.name}': '{job.function}' is not a function"
    return function, None


def _signature_problem(job: Job, function: Callable[..., Any]) -> str | None:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None  # a builtin or extension: nothing to check
    try:
        signature.bind(object())
    except TypeError:
        return (
            f"job '{job.name}': '{job.function}{signature}' cannot be called with one argument: a job "
            "function is def fn(ctx: JobContext) -> dict | None"
        )
    return None


def params_read(function: Callable[..., Any]) -> set[str] | None:
    """The names the function needs from ``<ctx>.params``, read as constants in its own body
    (``ctx.params["n"]``, ``ctx.params.get("n")``, or through ``p = ctx.params``; a read with a
    default, ``ctx.params.get("n", 0)``, is optional); None when its source cannot be read."""
    try:
        source = textwrap.dedent(inspect.getsource(function))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return None
    node = next((n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)), None)
    if node is None or not node.args.args:
        return None
    context = node.args.args[0].arg

    def is_params(expr: ast.expr, aliases: set[str]) -> bool:
        if isinstance(expr, ast.Name):
            return expr.id in aliases
        return (
            isinstance(expr, ast.Attribute)
            and expr.attr == "params"
            and isinstance(expr.value, ast.Name)
            and expr.value.id == context
        )

    aliases: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Assign) and is_params(sub.value, set()):
            aliases |= {t.id for t in sub.targets if isinstance(t, ast.Name)}
    names: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Subscript) and is_params(sub.value, aliases):
            key = sub.slice
        elif (
            isinstance(sub, ast.Call)
            and isinstance(sub.func, ast.Attribute)
            and sub.func.attr in _READERS
            and is_params(sub.func.value, aliases)
            and len(sub.args) == 1
            and not sub.keywords
        ):
            key = sub.args[0]
        else:
            continue
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            names.add(key.value)
    return names


def problems(catalog: Catalog) -> list[str]:
    """Every job function that cannot run as declared, one line each."""
    found: list[str] = []
    for job in catalog.jobs.values():
        function, problem = _resolve(job)
        if function is None:
            found.append(problem or f"job '{job.name}': '{job.function}' cannot be imported")
            continue
        signature = _signature_problem(job, function)
        if signature:
            found.append(signature)
            continue
        read = params_read(function)
        for name in sorted((read or set()) - set(job.params)):
            declared = ", ".join(sorted(job.params)) or "none"
            found.append(
                f"job '{job.name}': '{job.function}' reads ctx.params[{name!r}], which the job does not "
                f"declare (declared: {declared}): add params={{{name!r}: Param(...)}} to its Job(...)"
            )
    return found
