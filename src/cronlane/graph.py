"""Dependency resolution: pure functions over ``{job: upstream jobs}``. No AWS here.

Everything is O(jobs + edges): a 10,000-job graph resolves in milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cronlane.declarations import Catalog, Selection
from cronlane.errors import CatalogError, CycleError


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle as ``[a, b, ..., a]`` if the graph has one, else None (unknown names are ignored)."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    for start in graph:
        if colour[start] != WHITE:
            continue
        path: list[str] = [start]
        stack = [iter(graph[start])]
        colour[start] = GREY
        while stack:
            node = next(stack[-1], None)
            if node is None:
                stack.pop()
                colour[path.pop()] = BLACK
                continue
            if node not in colour:
                continue
            if colour[node] == GREY:
                return [*path[path.index(node) :], node]
            if colour[node] == WHITE:
                colour[node] = GREY
                path.append(node)
                stack.append(iter(graph[node]))
    return None


def select(catalog: Catalog, selection: Selection, include_upstreams: bool = False) -> set[str]:
    """The names a selection picks. Unknown groups or jobs are errors that name them.

    With ``include_upstreams`` the upstream closure is added (the closure rule, see ``Schedule``).
    """
    problems: list[str] = []
    if selection.all_jobs:
        chosen = set(catalog.jobs)
    else:
        chosen = set()
        known_groups = catalog.groups
        for group in selection.groups:
            if group not in known_groups:
                problems.append(f"unknown group '{group}' (known: {', '.join(sorted(known_groups))})")
            chosen.update(catalog.members.get(group, ()))
        for name in selection.jobs:
            if name not in catalog.jobs:
                problems.append(f"unknown job '{name}'")
            chosen.add(name)
    if problems:
        raise CatalogError(problems)
    if include_upstreams:
        todo = list(chosen)
        while todo:
            for dep in catalog.jobs[todo.pop()].depends_on:
                if dep not in chosen:
                    chosen.add(dep)
                    todo.append(dep)
    return chosen


@dataclass(frozen=True)
class Plan:
    """A resolved run: each job's upstreams *inside the run*, its dependents, and its level."""

    upstreams: dict[str, tuple[str, ...]]
    dependents: dict[str, tuple[str, ...]]
    levels: list[list[str]]

    @property
    def order(self) -> list[str]:
        return [name for level in self.levels for name in level]

    @property
    def roots(self) -> list[str]:
        return self.levels[0] if self.levels else []

    def critical_path(self, durations: Mapping[str, float]) -> tuple[list[str], float]:
        """The longest chain by duration, and its length (durations default to 0)."""
        finish: dict[str, float] = {}
        via: dict[str, str | None] = {}
        for name in self.order:
            best, best_from = 0.0, None
            for up in self.upstreams[name]:
                if finish[up] > best or best_from is None:
                    best, best_from = finish[up], up
            finish[name] = best + durations.get(name, 0.0)
            via[name] = best_from
        if not finish:
            return [], 0.0
        end = max(finish, key=lambda n: finish[n])
        chain: list[str] = []
        node: str | None = end
        while node is not None:
            chain.append(node)
            node = via[node]
        return chain[::-1], finish[end]


def resolve(graph: Mapping[str, Iterable[str]], names: Iterable[str]) -> Plan:
    """Order ``names`` by their dependencies; upstreams outside ``names`` count as satisfied.

    Raises ``CycleError`` naming the cycle, and ``CatalogError`` for a name not in ``graph``.
    """
    chosen = set(names)
    unknown = sorted(chosen - set(graph))
    if unknown:
        raise CatalogError([f"unknown job '{n}'" for n in unknown])
    ordered = sorted(chosen)  # deterministic levels
    upstreams = {n: tuple(sorted(d for d in set(graph[n]) if d in chosen)) for n in ordered}
    dependents: dict[str, list[str]] = {n: [] for n in ordered}
    for name in ordered:
        for up in upstreams[name]:
            dependents[up].append(name)
    waiting = {n: len(upstreams[n]) for n in ordered}
    level = [n for n in ordered if waiting[n] == 0]
    levels: list[list[str]] = []
    placed = 0
    while level:
        levels.append(level)
        placed += len(level)
        following: list[str] = []
        for name in level:
            for dep in dependents[name]:
                waiting[dep] -= 1
                if waiting[dep] == 0:
                    following.append(dep)
        level = sorted(following)
    if placed != len(ordered):
        cycle = find_cycle({n: upstreams[n] for n in ordered if waiting[n] > 0})
        raise CycleError(cycle or sorted(n for n in ordered if waiting[n] > 0))
    return Plan(
        upstreams=upstreams,
        dependents={n: tuple(v) for n, v in dependents.items()},
        levels=levels,
    )


def plan_selection(catalog: Catalog, selection: Selection, include_upstreams: bool = False) -> Plan:
    names = select(catalog, selection, include_upstreams)
    return resolve({n: catalog.jobs[n].depends_on for n in names if n in catalog.jobs}, names)
