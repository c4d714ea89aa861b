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
    module = job.spec.rpartition(".")[0]
    try:
        function = import_job_function(job.spec)
    except ImportError as exc:
        missing = getattr(exc.__cause__, "name", None)
        if isinstance(exc.__cause__, ModuleNotFoundError) and missing and not module.startswith(missing):
            # the job's module is there, but imports a package that is not installed
            return None, (
                f"job '{job.name}': {module} imports {missing}, which is not installed: add it to the "
                "layer (docs/your-own-app.md#a-jobs-own-dependencies)"
            )
        return None, f"job '{job.name}': {exc}: fix the path in its Job(...) or the module"
    except SyntaxError as exc:
        return (
            None,
            f"job '{job.name}': {module} does not compile: {exc.msg} (line {exc.lineno}): fix the module",
        )
    except Exception as exc:  # the job's own module raised while it was imported
        return None, f"job '{job.name}': importing '{job.spec}' raised {type(exc).__name__}: {exc}"
    except SystemExit:  # a module that exits when imported
        return None, f"job '{job.name}': importing '{job.spec}' called sys.exit: fix the module"
    if not callable(function):
        return None, f"job '{job.name}': '{job.spec}' is not a function: point the Job(...) at one"
    return function, None


SHAPE = "a job function is def fn(ctx: JobContext) -> dict | None"


def _signature_problem(job: Job, function: Callable[..., Any]) -> str | None:
    where = f"job '{job.name}': {job.spec}"
    if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
        return f"{where} is async: the executor calls it and does not await it ({SHAPE})"
    if inspect.isgeneratorfunction(function):
        return f"{where} is a generator: calling it would not run its body ({SHAPE})"
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None  # a builtin or extension: nothing to check
    try:
        signature.bind(object())
    except TypeError:
        return f"{where}{signature} cannot be called with one argument, the context ({SHAPE})"
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
    from cronlane.targets import PYTHON, kind_of

    found: list[str] = []
    for job in catalog.jobs.values():
        if kind_of(job.spec) != PYTHON:  # it runs elsewhere (template.checks checks its target)
            continue
        function, problem = _resolve(job)
        if function is None:
            found.append(problem or f"job '{job.name}': '{job.spec}' cannot be imported")
            continue
        signature = _signature_problem(job, function)
        if signature:
            found.append(signature)
            continue
        read = params_read(function)
        for name in sorted((read or set()) - set(job.params)):
            declared = ", ".join(sorted(job.params)) or "none"
            found.append(
                f"job '{job.name}': '{job.spec}' reads ctx.params[{name!r}], which the job does not "
                f"declare (declared: {declared}): add params={{{name!r}: Param(...)}} to its Job(...)"
            )
    return found
