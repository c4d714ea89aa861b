"""Dependency resolution: the pure core, no AWS."""

from __future__ import annotations

import pytest

from cronlane import Catalog, Job, Schedule, Selection
from cronlane.errors import CatalogError, CycleError
from cronlane.graph import find_cycle, plan_selection, resolve, select
from fixture_jobs.catalog import CATALOG


def job(name: str, *deps: str, group: str = "g") -> Job:
    return Job(name, f"jobs.x.{name}", group, tuple(deps))


def test_resolution_puts_every_job_after_its_upstreams() -> None:
    # GIVEN the fixture app WHEN every job is resolved
    plan = plan_selection(CATALOG, Selection.everything())
    position = {name: i for i, name in enumerate(plan.order)}
    # THEN every upstream comes first
    assert len(plan.order) == len(CATALOG.jobs)
    for name, ups in plan.upstreams.items():
        assert all(position[u] < position[name] for u in ups)
    assert set(plan.dependents["extract"]) == {"index", "score", "presort", "check", "train"}


def test_levels_group_jobs_that_can_run_together() -> None:
    graph = {"a": (), "b": ("a",), "c": ("a",), "d": ("b", "c"), "e": ()}
    plan = resolve(graph, graph)
    assert plan.levels == [["a", "e"], ["b", "c"], ["d"]]
    assert plan.roots == ["a", "e"]


def test_a_cycle_is_an_error_that_names_the_cycle() -> None:
    graph = {"a": ("c",), "b": ("a",), "c": ("b",), "d": ()}
    with pytest.raises(CycleError) as err:
        resolve(graph, graph)
    assert set(err.value.cycle) == {"a", "b", "c"}
    assert "dependency cycle" in str(err.value) and "->" in str(err.value)
    assert find_cycle({"x": ("x",)}) == ["x", "x"]


def test_a_catalog_with_a_cycle_is_refused_at_build_time() -> None:
    with pytest.raises(CatalogError, match=r"dependency cycle: .*a.*b"):
        Catalog.build([job("a", "b"), job("b", "a")])


def test_an_unknown_dependency_is_an_error_that_names_it() -> None:
    with pytest.raises(CatalogError, match="job 'b': depends on unknown job 'ghost'"):
        Catalog.build([job("a"), job("b", "ghost")])


def test_resolving_an_unknown_job_names_it() -> None:
    with pytest.raises(CatalogError, match="unknown job 'nope'"):
        resolve({"a": ()}, ["a", "nope"])


def test_selection_by_group_picks_the_group() -> None:
    names = select(CATALOG, Selection.of_groups("feed"))
    assert names == {n for n, j in CATALOG.jobs.items() if j.group == "feed"}
    assert "rank" in names and "extract" not in names


def test_selection_by_list_picks_exactly_the_list() -> None:
    assert select(CATALOG, Selection.of_jobs("score", "geo")) == {
        "score",
        "geo",
    }


def test_selecting_an_unknown_group_or_job_names_it() -> None:
    with pytest.raises(CatalogError, match="unknown group 'billing'"):
        select(CATALOG, Selection.of_groups("billing"))
    with pytest.raises(CatalogError, match="unknown job 'fooJob'"):
        select(CATALOG, Selection.of_jobs("fooJob"))


def test_closure_rule_upstreams_outside_the_selection_count_as_satisfied() -> None:
    # GIVEN the feed group, whose jobs depend on matching jobs
    plan = plan_selection(CATALOG, Selection.of_groups("feed"))
    # THEN those upstreams are not in the run, and the feed jobs that needed them are roots
    assert "extract" not in plan.upstreams
    assert plan.upstreams["presort"] == ()
    assert plan.upstreams["rank"] == ("presort",)
    assert "presort" in plan.roots


def test_closure_rule_include_upstreams_pulls_them_in() -> None:
    plan = plan_selection(CATALOG, Selection.of_jobs("rank"), include_upstreams=True)
    assert set(plan.order) == {"rank", "presort", "score", "extract"}
    assert plan.order[0] == "extract"


def test_critical_path_follows_the_longest_chain() -> None:
    graph = {"a": (), "b": ("a",), "c": ("a",), "d": ("b", "c")}
    path, length = resolve(graph, graph).critical_path({"a": 1, "b": 5, "c": 2, "d": 1})
    assert path == ["a", "b", "d"] and length == 7


def test_schedules_must_select_known_groups() -> None:
    with pytest.raises(CatalogError, match="schedule 's': selects unknown group 'nope'"):
        Catalog.build([job("a")], [Schedule("s", "cron(0 2 * * ? *)", Selection.of_groups("nope"))])
