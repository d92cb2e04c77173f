"""The server's own texts in the visitor's language: message catalogues, language negotiation, shop texts.

Two languages are served, ``zh-CN`` and ``en``: any Chinese tag (``zh``, ``zh-Hans-CN``, ``zh-TW``...) reads
Chinese, anything else (or nothing) English. The catalogues ship with the code as JSON (``catalogues/``) and are
read once per container, on the first lookup: a translated text costs no AWS call.

A shop's own texts (the robot's greeting and phrases, the survey, a schedule's closed message) are a
:data:`LocalText`: a plain string for every language, or ``{"en": ..., "zh-CN": ...}`` with at least one of the
two; :func:`pick` chooses the visitor's, else English, else the other.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any, Final

EN: Final = "en"
ZH: Final = "zh-CN"
LANGUAGES: Final = (EN, ZH)  # the catalogues, and the keys a per-language shop text may have
DEFAULT: Final = EN

LocalText = str | Mapping[str, str]


def negotiate(tag: str | None) -> str:
    """The served language for a BCP 47 tag: ``zh-CN`` for any Chinese tag, else ``en``."""
    primary = (tag or "").strip().replace("_", "-").split("-", 1)[0].lower()
    return ZH if primary == "zh" else EN


@cache
def catalogue(language: str) -> dict[str, str]:
    """One language's catalogue (read from the package once per container)."""
    text = resources.files(__package__).joinpath("catalogues", f"{language}.json").read_text(encoding="utf-8")
    data = json.loads(text)
    assert isinstance(data, dict)
    return {str(k): str(v) for k, v in data.items()}


def t(language: str | None, key: str, **params: Any) -> str:
    """The text of ``key`` in the negotiated ``language`` (English where that catalogue lacks it), with
    ``params`` put in its ``{name}`` placeholders. An unknown key is a bug: KeyError."""
    lang = negotiate(language)
    text = catalogue(lang).get(key)
    if text is None:
        text = catalogue(DEFAULT)[key]
    return text.format(**params) if params else text


def shipped(key: str) -> dict[str, str]:
    """A catalogue text in every language, as a shop text's default."""
    return {lang: catalogue(lang)[key] for lang in LANGUAGES}


def placeholders(text: str) -> set[str]:
    """The ``{name}`` placeholders of a catalogue text."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def pick(value: LocalText, language: str | None) -> str:
    """A shop text in the visitor's language: a plain string as it is; a per-language one in the negotiated
    language, else English, else whichever it has."""
    if isinstance(value, str):
        return value
    lang = negotiate(language)
    for choice in (lang, DEFAULT, *LANGUAGES):
        if value.get(choice):
            return value[choice]
    return ""


def every_language(value: LocalText) -> dict[str, str]:
    """A shop text in each served language (as :func:`pick` chooses it): what the APIs send as ``names``, so a
    client shows its own language without knowing whether the configuration gave one text or one per language."""
    return {lang: pick(value, lang) for lang in LANGUAGES}


def texts_of(value: LocalText) -> tuple[str, ...]:
    """Every language's text of a shop text."""
    return (value,) if isinstance(value, str) else tuple(v for v in value.values() if v)


def as_json(value: LocalText) -> str | dict[str, str]:
    """A shop text as the APIs show it (a copy: the settings' own stays untouched)."""
    return value if isinstance(value, str) else {k: value[k] for k in LANGUAGES if k in value}


def check_text(value: Any, field: str, max_length: int) -> LocalText:
    """A shop text from a request or a document, trimmed: a non-blank string of at most ``max_length``
    characters, or an object of ``en`` and/or ``zh-CN`` to such strings; else :class:`TextError`."""
    if isinstance(value, str):
        return _one(value, field, max_length)
    if not isinstance(value, Mapping):
        raise TextError(field, f"'{field}' must be a string, or an object of languages ({', '.join(LANGUAGES)}) "
                               "to strings")
    if not value:
        raise TextError(field, f"'{field}' needs at least one language ({', '.join(LANGUAGES)})")
    out: dict[str, str] = {}
    for lang, text in value.items():
        if lang not in LANGUAGES:
            raise TextError(f"{field}.{lang}", f"'{field}' has language {lang!r}; the languages are "
                                               f"{', '.join(LANGUAGES)}")
        if not isinstance(text, str):
            raise TextError(f"{field}.{lang}", f"'{field}.{lang}' must be a string")
        out[lang] = _one(text, f"{field}.{lang}", max_length)
    return out


class TextError(ValueError):
    """A shop text that :func:`check_text` refuses: ``field`` names where, ``message`` says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _one(text: str, field: str, max_length: int) -> str:
    text = text.strip()
    if not text:
        raise TextError(field, f"'{field}' must not be empty")
    if len(text) > max_length:
        raise TextError(field, f"'{field}' may be at most {max_length} characters")
    return text
