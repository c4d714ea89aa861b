"""The generated parts of ``template.yaml``: text between a begin and an end comment.

::

    # cronlane:begin schedules (written by `cronlane template` from the catalog: edit the catalog, not this)
    ...
    # cronlane:end schedules

The begin comment's indentation is the part's indentation. Everything outside the parts is the
user's and ``cronlane template`` leaves it as it is, byte for byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cronlane.errors import CronlaneError

BEGIN = "cronlane:begin"
END = "cronlane:end"
NOTE = "(written by `cronlane template` from the catalog: edit the catalog, not this)"
_MARKER = re.compile(rf"^(?P<indent>[ ]*)# (?P<kind>{BEGIN}|{END}) (?P<name>[a-z-]+)\b.*$")


class RegionError(CronlaneError):
    """The template's markers cannot be used (one missing, unbalanced, or twice)."""


@dataclass(frozen=True)
class Region:
    name: str
    indent: str
    first: int  # index of the begin line
    last: int  # index of the end line
    body: tuple[str, ...]  # the lines between, as they are in the file (indented)


def begin_line(name: str, indent: str) -> str:
    return f"{indent}# {BEGIN} {name} {NOTE}"


def end_line(name: str, indent: str) -> str:
    return f"{indent}# {END} {name}"


def find_regions(text: str) -> dict[str, Region]:
    lines = text.replace("\r\n", "\n").split("\n")
    found: dict[str, Region] = {}
    open_at: tuple[str, str, int] | None = None
    for index, line in enumerate(lines):
        match = _MARKER.match(line)
        if not match:
            continue
        name, indent = match["name"], match["indent"]
        if match["kind"] == BEGIN:
            if open_at is not None:
                raise RegionError(
                    f"line {open_at[2] + 1}: '{BEGIN} {open_at[0]}' has no '{END} {open_at[0]}' "
                    f"before '{BEGIN} {name}' (line {index + 1})"
                )
            if name in found:
                raise RegionError(f"line {index + 1}: the part '{name}' is marked twice")
            open_at = (name, indent, index)
        else:
            if open_at is None or open_at[0] != name:
                raise RegionError(f"line {index + 1}: '{END} {name}' without its '{BEGIN} {name}'")
            found[name] = Region(name, open_at[1], open_at[2], index, tuple(lines[open_at[2] + 1 : index]))
            open_at = None
    if open_at is not None:
        raise RegionError(f"line {open_at[2] + 1}: '{BEGIN} {open_at[0]}' has no '{END} {open_at[0]}'")
    return found


def indented(body: list[str], indent: str) -> tuple[str, ...]:
    return tuple(f"{indent}{line}" if line else "" for line in body)


def replace_regions(text: str, bodies: dict[str, list[str]]) -> str:
    """``text`` with each named part's lines replaced by ``bodies[name]`` (unindented lines; the
    part's indentation is added). A part that is not marked is a ``RegionError``."""
    regions = find_regions(text)
    missing = [name for name in bodies if name not in regions]
    if missing:
        raise RegionError(
            "no "
            + ", ".join(f"'# {BEGIN} {m}' ... '# {END} {m}'" for m in missing)
            + " in the template: add them where the parts go ("
            + "docs/your-own-app.md#a-template-without-the-markers)"
        )
    lines = text.split("\n")
    for region in sorted(regions.values(), key=lambda r: r.first, reverse=True):
        if region.name not in bodies:
            continue
        new = [
            begin_line(region.name, region.indent),
            *indented(bodies[region.name], region.indent),
            end_line(region.name, region.indent),
        ]
        lines[region.first : region.last + 1] = new
    return "\n".join(lines)
