"""The template checks ``cronlane validate`` makes live in ``cronlane.template.checks``."""

from cronlane.template.checks import RULE_NAME_PREFIX, schedules_with_a_rule

__all__ = ["RULE_NAME_PREFIX", "schedules_with_a_rule"]
