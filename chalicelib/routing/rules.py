"""Routing rules: the first rule whose every condition holds picks the group; else the default."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from chalicelib.config.model import RoutingConfig, Rule


@dataclass(frozen=True)
class Visitor:
    """What rules can look at."""

    channel: str | None = None
    source: str | None = None
    category: str | None = None
    tier: str | None = None
    language: str | None = None


def _language_matches(wanted: frozenset[str], language: str | None) -> bool:
    if not language:
        return False
    lang = language.lower()
    return any(w.lower() == lang or lang.split("-", 1)[0] == w.lower() for w in wanted)


def _value_in(wanted: frozenset[str], value: str | None) -> bool:
    # Case-insensitive: shops send "Shoes", "shoes" and "SHOES" alike.
    return value is not None and value.lower() in {w.lower() for w in wanted}


def matches(rule: Rule, visitor: Visitor) -> bool:
    if rule.channel is not None and visitor.channel not in rule.channel:
        return False
    if rule.source is not None and not (
            visitor.source is not None and any(fnmatchcase(visitor.source, p) for p in rule.source)):
        return False
    if rule.category is not None and not _value_in(rule.category, visitor.category):
        return False
    if rule.tier is not None and not _value_in(rule.tier, visitor.tier):
        return False
    return rule.language is None or _language_matches(rule.language, visitor.language)


def route(config: RoutingConfig, visitor: Visitor) -> tuple[str, str | None]:
    """The target group id and the name of the rule that chose it (None: the default group)."""
    for rule in config.rules:
        if matches(rule, visitor):
            return rule.group, rule.name
    return config.default_group, None
