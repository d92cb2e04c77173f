"""Routing rules: which group each visitor reaches."""

from __future__ import annotations

import pytest

from chalicelib.config.model import Rule
from chalicelib.routing.rules import Visitor, matches, route
from tests.conftest import group, routing_config

RULES = (
    Rule("VIP", "vip", tier=frozenset({"vip"})),
    Rule("Shoes in the app", "shoes", category=frozenset({"shoes", "sneakers"}), channel=frozenset({"app"})),
    Rule("Cosmetics", "cosmetics", category=frozenset({"cosmetics"})),
    Rule("3C product pages", "electronics", source=("/product/3c/*", "/campaign/618/*")),
    Rule("Chinese speakers", "zh", language=frozenset({"zh"})),
)
CONFIG = routing_config([group(g, ["alice"]) for g in ("general", "vip", "shoes", "cosmetics", "electronics", "zh")],
                        rules=RULES)


@pytest.mark.parametrize(("visitor", "expected"), [
    (Visitor(channel="web"), ("general", None)),
    (Visitor(channel="app", category="shoes"), ("shoes", "Shoes in the app")),
    (Visitor(channel="app", category="Sneakers"), ("shoes", "Shoes in the app")),  # case-insensitive values
    (Visitor(channel="web", category="shoes"), ("general", None)),  # every condition must hold
    (Visitor(channel="mini_program", category="cosmetics"), ("cosmetics", "Cosmetics")),
    (Visitor(channel="app", category="shoes", tier="VIP"), ("vip", "VIP")),  # the first matching rule wins
    (Visitor(source="/product/3c/phone-12"), ("electronics", "3C product pages")),
    (Visitor(source="/campaign/618/deals"), ("electronics", "3C product pages")),
    (Visitor(source="/product/shoes/1"), ("general", None)),
    (Visitor(language="zh-CN"), ("zh", "Chinese speakers")),  # primary subtag
    (Visitor(language="zh"), ("zh", "Chinese speakers")),
    (Visitor(language="zhx"), ("general", None)),
    (Visitor(tier="gold"), ("general", None)),
    (Visitor(), ("general", None)),  # nothing known: the default group
])
def test_route(visitor: Visitor, expected: tuple[str, str | None]) -> None:
    assert route(CONFIG, visitor) == expected


def test_a_condition_on_a_missing_attribute_never_matches() -> None:
    rule = Rule("src", "general", source=("*",))
    assert matches(rule, Visitor(source="/any")) is True
    assert matches(rule, Visitor()) is False
