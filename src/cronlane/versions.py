"""Which stacks this cronlane acts on: the rule the CLI applies to a stack's ``CronlaneVersion``
output (``cronlane template`` writes it; docs/operating.md, "Upgrading").

A CLI acts on a stack made by the same major version and a minor version up to its own: it
reads every item shape those wrote (a newer version only adds attributes, and reads an absent one
as its old meaning), while an older CLI would not know a newer stack's. A stack with no such
output was made before the output existed (0.2 or earlier), and is handled as 0.2.
"""

from __future__ import annotations

import re

from cronlane import __version__

UNVERSIONED = "0.2.0"  # what a stack without the output was made with, at the latest
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


def parse(version: str) -> tuple[int, int] | None:
    match = _VERSION.match(version.strip())
    return (int(match[1]), int(match[2])) if match else None


def refusal(stack_version: str | None, ours: str = __version__) -> str | None:
    """Why this CLI (version ``ours``) will not act on a stack of ``stack_version``; None if it will."""
    theirs = stack_version or UNVERSIONED
    stack, mine = parse(theirs), parse(ours)
    if stack is None or mine is None:
        return f"its CronlaneVersion output {theirs!r} is not a version (this CLI is cronlane {ours})"
    if stack[0] == mine[0] and stack[1] <= mine[1]:
        return None
    handled = f"{mine[0]}.0 to {mine[0]}.{mine[1]}"
    fix = (
        f"use a cronlane of {stack[0]}.{stack[1]} or later"
        if stack > mine
        else "upgrade the stack (cronlane template, then sam deploy)"
    )
    return f"it was made with cronlane {theirs}; this CLI is cronlane {ours}, for stacks of {handled}: {fix}"


def takes_audit(stack_version: str | None) -> bool:
    """Whether the stack's dispatcher accepts an action's ``audit`` field (cronlane.audit): a
    stack that names its version was made with the audit trail; one from before refuses the
    field, so its actions are sent without it (and recorded nowhere)."""
    return stack_version is not None
