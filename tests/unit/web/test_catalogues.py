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


WEB = CATALOGUES.parents[1]
# Where the pages name a key literally: t("key"), tn("key", n), parts("key"), has("key") in scripts (i18n.js's
# functions, imported as t or tr), data-i18n="key" and data-i18n-<attribute>="key" in HTML, and the attributes of
# the custom elements that take a key (<cs-sign-in heading hint>, <cs-connection-banner what>).
CALL = re.compile(r"""\b(?:t|tr|parts|has)\(\s*["']([\w.-]+)["']""")
COUNTED = re.compile(r"""\btn\(\s*["']([\w.-]+)["']""")  # key.one / key.other: .other is always there
MARK = re.compile(r"""\bdata-i18n(?:-[\w-]+)?=["']([\w.-]+)["']""")
ELEMENT_KEY = re.compile(r"""<cs-[\w-]+[^>]*?\b(?:heading|hint|what)=["']([\w.-]+)["']""")


def named_keys() -> dict[str, set[str]]:
    """Every catalogue key the pages and scripts name literally, with the files naming it."""
    found: dict[str, set[str]] = {}
    for path in [*WEB.glob("*.html"), *WEB.glob("static/**/*.js")]:
        if path.name == "i18n.js":
            continue  # the functions themselves (their comments name example keys)
        text = path.read_text(encoding="utf-8")
        patterns = (MARK, ELEMENT_KEY) if path.suffix == ".html" else (CALL, MARK)
        keys = [key for pattern in patterns for key in pattern.findall(text)]
        if path.suffix == ".js":
            keys += [f"{key}.other" for key in COUNTED.findall(text)]
        for key in keys:
            found.setdefault(key, set()).add(str(path.relative_to(WEB)))
    return found


def test_every_key_the_pages_name_is_in_the_catalogue() -> None:
    """A key a page or script names but the catalogue lacks would show as the key itself."""
    catalogue = load("en")
    named = named_keys()
    assert len(named) > 100  # the patterns still find the pages' keys
    assert {key: sorted(files) for key, files in named.items() if key not in catalogue} == {}


def test_every_overflow_reason_the_server_sends_reads_in_words_on_the_dashboard() -> None:
    """The dashboard shows an overflow's reason from the catalogue only for the codes it lists; a code the routing
    schema gained later would show as the code itself (no_agents_online did, on the Chinese dashboard)."""
    from typing import get_args

    from chalicelib.routing.schemas import OverflowReason

    listed = re.search(r"const OVERFLOW_REASONS = \[([^\]]*)\]", (WEB / "static" / "dashboard.js").read_text())
    assert listed is not None
    assert sorted(re.findall(r'"(\w+)"', listed[1])) == sorted(get_args(OverflowReason))
    for language in LANGUAGES:
        assert [r for r in get_args(OverflowReason) if f"dash.reason.{r}" not in load(language)] == [], language
