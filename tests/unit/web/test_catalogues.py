"""The web pages' message catalogues (web/static/i18n/): zh-CN says everything English says, with the same
placeholders, and no text is empty."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

CATALOGUES = Path(__file__).resolve().parents[3] / "web" / "static" / "i18n"
LANGUAGES = ("en", "zh-CN")  # web/static/i18n.js LANGUAGES
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def load(language: str) -> dict[str, str]:
    data = json.loads((CATALOGUES / f"{language}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def problems(english: dict[str, str], other: dict[str, str]) -> list[str]:
    """What keeps ``other`` from being a full translation of ``english``."""
    return ([f"missing {k}" for k in sorted(set(english) - set(other))]
            + [f"extra {k}" for k in sorted(set(other) - set(english))]
            + [f"placeholders of {k}" for k in sorted(set(english) & set(other))
               if set(PLACEHOLDER.findall(english[k])) != set(PLACEHOLDER.findall(other[k]))]
            + [f"not a text: {k}" for k, v in other.items() if not isinstance(v, str) or not v.strip()])


def test_one_catalogue_per_language() -> None:
    assert sorted(p.stem for p in CATALOGUES.glob("*.json")) == sorted(LANGUAGES)


def test_zh_cn_has_the_english_keys_and_placeholders() -> None:
    assert problems(load("en"), load("zh-CN")) == []
    assert problems(load("zh-CN"), load("en")) == []


def test_the_check_finds_a_missing_or_extra_key_a_changed_placeholder_and_an_empty_text() -> None:
    english = {"a": "Hello {name}", "b": "Bye"}
    assert problems(english, {"a": "你好 {name}", "b": "再见"}) == []
    assert problems(english, {"a": "你好 {who}", "c": "x", "b": " "}) == [
        "extra c", "placeholders of a", "not a text: b"]
    assert problems(english, {"a": "你好 {name}"}) == ["missing b"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_plural_texts_have_an_other_form(language: str) -> None:
    """tn() falls back to `key.other`: a key with a `.one` form needs one."""
    catalogue = load(language)
    assert [k for k in catalogue if k.endswith(".one") and k[:-4] + ".other" not in catalogue] == []
