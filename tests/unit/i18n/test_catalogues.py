"""The message catalogues and the lookup: every language has the same texts with the same placeholders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib import i18n
from chalicelib.i18n import EN, LANGUAGES, ZH, TextError, check_text, negotiate, pick, placeholders, t

CATALOGUES = Path(i18n.__file__).parent / "catalogues"


def test_one_catalogue_per_language_and_no_other() -> None:
    assert sorted(p.stem for p in CATALOGUES.glob("*.json")) == sorted(LANGUAGES)


def _problems(english: dict[str, str], other: dict[str, str]) -> list[str]:
    """What makes ``other`` not a full translation of ``english``: missing and extra keys, other placeholders."""
    return ([f"missing {k}" for k in sorted(set(english) - set(other))]
            + [f"extra {k}" for k in sorted(set(other) - set(english))]
            + [f"placeholders of {k}" for k in sorted(set(english) & set(other))
               if placeholders(english[k]) != placeholders(other[k])]
            + [f"not a string: {k}" for k, v in other.items() if not isinstance(v, str)])


def _load(language: str) -> dict[str, str]:
    data = json.loads((CATALOGUES / f"{language}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != EN])
def test_every_catalogue_has_the_english_keys_and_placeholders(language: str) -> None:
    assert _problems(_load(EN), _load(language)) == []


def test_the_check_finds_a_missing_or_extra_key_and_a_changed_placeholder() -> None:
    english = _load(EN)
    other = dict(_load(ZH))
    other.pop("robot.handoff")
    other["robot.extra"] = "多余"
    other["transfer.to_agent"] = "正在为您转接客服{name}。"
    assert _problems(english, other) == ["missing robot.handoff", "extra robot.extra",
                                         "placeholders of transfer.to_agent"]


def test_chinese_texts_are_chinese() -> None:
    # A copied English text would pass the key check; the visitor-facing ones must be translated.
    chinese = i18n.catalogue(ZH)
    english = i18n.catalogue(EN)
    same = [k for k in chinese if chinese[k] == english[k] and not k.startswith(("text.", "hours.until_today"))]
    assert same == []


@pytest.mark.parametrize(("tag", "language"), [
    ("zh-CN", ZH), ("zh", ZH), ("zh-Hans-CN", ZH), ("ZH-tw", ZH), ("zh_CN", ZH),
    ("en-US", EN), ("en", EN), ("fr-FR", EN), ("", EN), (None, EN), ("zhx", EN),
])
def test_negotiation(tag: str | None, language: str) -> None:
    assert negotiate(tag) == language


def test_lookup_with_placeholders_and_fallback() -> None:
    assert t("zh-Hans-CN", "transfer.to_agent", agent="小王") == "正在为您转接客服小王。"
    assert t("en-GB", "transfer.to_agent", agent="Bob") == "You are being transferred to Bob."
    assert t("de", "robot.handoff") == "Let me connect you with a person."
    with pytest.raises(KeyError):
        t("en", "no.such.key")


def test_pick_a_shop_text() -> None:
    both = {"en": "Hello", "zh-CN": "您好"}
    assert pick(both, "zh") == "您好"
    assert pick(both, "en-US") == "Hello"
    assert pick({"zh-CN": "您好"}, "en") == "您好"  # only Chinese given: everyone reads it
    assert pick({"en": "Hello"}, "zh-CN") == "Hello"  # no Chinese: English
    assert pick("Hi", "zh-CN") == "Hi"  # a plain string is every language's


@pytest.mark.parametrize(("value", "field"), [
    ("", "greeting"),
    ("   ", "greeting"),
    ("x" * 11, "greeting"),
    (5, "greeting"),
    ({}, "greeting"),
    ({"fr": "Bonjour"}, "greeting.fr"),
    ({"en": 3}, "greeting.en"),
    ({"en": "Hi", "zh-CN": " "}, "greeting.zh-CN"),
    ({"zh-CN": "您" * 11}, "greeting.zh-CN"),
])
def test_bad_shop_texts_are_refused_naming_the_field(value: object, field: str) -> None:
    with pytest.raises(TextError) as err:
        check_text(value, "greeting", 10)
    assert err.value.field == field


def test_good_shop_texts_are_trimmed() -> None:
    assert check_text(" Hi ", "greeting", 10) == "Hi"
    assert check_text({"zh-CN": " 您好 ", "en": "Hi"}, "greeting", 10) == {"zh-CN": "您好", "en": "Hi"}
