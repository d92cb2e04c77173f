"""Import and export of FAQs as JSONL or CSV (docs/knowledge-base.md describes the formats).

An import is planned whole before anything is written: every row of every file is parsed and
validated, labelled queries are attached to their FAQs, and only a plan without a single bad row
is handed to the store. A bad row stops the import with :class:`FaqImportError`, which names the
file, the line (1-based) and the field.

JSONL rows are told apart by their keys:

- a FAQ: ``id``, ``question``, ``answer`` and the other FAQ fields (Bitext's ``intent``, ``group`` and
  ``question_source`` are accepted and ignored);
- a labelled query: ``query`` with ``faq_id`` (a FAQ that must exist) or ``intent`` (HINT3): the query
  becomes a similar question of that FAQ; rows with ``in_scope: false`` are skipped;
- an intent: ``intent`` without ``question`` (HINT3's intent lists): a FAQ named after the intent.

An intent with no FAQ yet becomes a disabled FAQ with an empty answer (its question: the intent's
name in words, or the first query labelled with it); an admin enables it once it has an answer.
Intent ids are ``{namespace}/{intent}`` so that two bots' ``CANCEL_ORDER`` stay apart.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePath
from typing import Any

from chalicelib.faq.model import Faq
from chalicelib.faq.store import (
    LIST_BAR,
    MAX_ANSWER,
    MAX_QUESTION,
    MAX_SIMILAR,
    FaqError,
    faq_fields,
    valid_faq_id,
    validate_faq,
)

FORMATS = ("jsonl", "csv")
CSV_COLUMNS = ("id", "question", "similar", "answer", "category", "product_category", "tags", "enabled", "language")
CSV_REQUIRED = ("id", "question", "answer")
LIST_SEPARATOR = " | "
CONTENT_TYPES = {"jsonl": "application/x-ndjson; charset=utf-8", "csv": "text/csv; charset=utf-8"}
# Keys some source files carry that say where a row came from, not what the FAQ is.
FAQ_SOURCE_KEYS = frozenset({"intent", "group", "question_source"})
LABEL_KEYS = frozenset({"query", "faq_id", "intent", "in_scope", "split", "tags", "entity_type"})
INTENT_KEYS = frozenset({"intent", "answer", "n_queries"})
_FILE_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
_SPLIT_SUFFIX = re.compile(r"_(train|dev|test|valid|intents|queries)$")
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


class FaqImportError(FaqError):
    """A file that cannot be imported: ``source`` (the file), ``line`` (1-based; None for the file as a
    whole), ``field`` and why. Nothing of the import has been written."""

    def __init__(self, source: str, line: int | None, field: str | None, message: str) -> None:
        where = f"{source} line {line}" if line is not None else source
        super().__init__(field, f"{where}: {message}", line=line, source=source)
        self.source = source
        self.line = line


@dataclass(frozen=True)
class Source:
    """One file to import: its name (for errors), its text and format."""

    name: str
    text: str
    format: str
    labelled_only: bool = False  # every row must be a labelled query (the CLI's --similar files)
    namespace: str | None = None  # prefix of the ids of FAQs named by intent; None: the bare intent


@dataclass
class ImportResult:
    faqs: int = 0  # FAQs written (new or changed)
    created: int = 0  # of which new
    similar_added: int = 0
    placeholders: int = 0  # written FAQs that are disabled, waiting for an answer
    skipped: int = 0  # labelled rows out of scope

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class ImportPlan:
    faqs: list[Faq] = field(default_factory=list)
    result: ImportResult = field(default_factory=ImportResult)


def format_of(name: str, explicit: str | None = None) -> str:
    """``explicit`` if given, else from the file's extension; :class:`FaqImportError` if neither says."""
    fmt = explicit or _FILE_SUFFIXES.get(PurePath(name).suffix.lower())
    if fmt not in FORMATS:
        why = f"unknown format '{explicit}'" if explicit else "cannot tell the format from the file name"
        raise FaqImportError(name, None, "format", f"{why}; use one of {', '.join(FORMATS)}")
    return fmt


def default_namespace(name: str) -> str:
    """The namespace of intent ids in a file: its name without extension and split suffix
    (``hint3_curekart_train.jsonl`` and ``hint3_curekart_intents.jsonl`` both give ``hint3_curekart``)."""
    return _SPLIT_SUFFIX.sub("", PurePath(name).stem)


def humanise(intent: str) -> str:
    """``CANCEL_ORDER`` -> ``Cancel order``."""
    words = re.sub(r"[_\s]+", " ", intent).strip().lower()
    return words[:1].upper() + words[1:]


# -- reading rows ---------------------------------------------------------------------------------

def _jsonl_rows(source: Source) -> Iterator[tuple[int, dict[str, Any]]]:
    # Only "\n" ends a row: JSON text may hold U+2028 and other characters str.splitlines() splits on.
    for number, line in enumerate(source.text.split("\n"), start=1):
        line = line.rstrip("\r")
        if number == 1:
            line = line.lstrip("\ufeff")
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as err:
            raise FaqImportError(source.name, number, None, f"malformed JSON ({err})") from None
        if not isinstance(row, dict):
            raise FaqImportError(source.name, number, None, "each line must be a JSON object")
        yield number, row


def _csv_list(value: str) -> list[str]:
    return value.split(LIST_SEPARATOR) if value.strip() else []


def _csv_rows(source: Source) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(source.text.lstrip("\ufeff"), newline=""))
    try:
        header = next(reader, None)
        if header is None:
            return
        columns = [c.strip() for c in header]
        for column in columns:
            if column not in CSV_COLUMNS:
                raise FaqImportError(source.name, 1, column, f"unknown CSV column '{column}'; the columns are "
                                                             f"{', '.join(CSV_COLUMNS)}")
            if columns.count(column) > 1:
                raise FaqImportError(source.name, 1, column, f"CSV column '{column}' appears twice")
        for column in CSV_REQUIRED:
            if column not in columns:
                raise FaqImportError(source.name, 1, column, f"CSV column '{column}' is missing")
        start = reader.line_num + 1
        for cells in reader:
            number, start = start, reader.line_num + 1  # a quoted cell may span lines: report the first
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(columns):
                raise FaqImportError(source.name, number, None,
                                     f"{len(cells)} cells where the header has {len(columns)} columns")
            row: dict[str, Any] = dict(zip(columns, cells, strict=True))
            for column in ("similar", "tags"):
                if column in row:
                    row[column] = _csv_list(row[column])
            if "enabled" in row:
                flag = row["enabled"].strip().lower()
                if flag and flag not in _BOOLEANS:
                    raise FaqImportError(source.name, number, "enabled", "'enabled' must be true or false")
                row["enabled"] = _BOOLEANS.get(flag, True)
            if not row.get("language", "x").strip():
                del row["language"]  # a blank cell: the default language
            yield number, row
    except csv.Error as err:
        raise FaqImportError(source.name, reader.line_num, None, f"malformed CSV ({err})") from None


def _rows(source: Source) -> Iterator[tuple[int, dict[str, Any]]]:
    return _jsonl_rows(source) if source.format == "jsonl" else _csv_rows(source)


# -- what each row means --------------------------------------------------------------------------

@dataclass(frozen=True)
class _At:
    source: str
    line: int

    def error(self, field: str | None, message: str) -> FaqImportError:
        return FaqImportError(self.source, self.line, field, message)


@dataclass(frozen=True)
class _FaqRow:
    at: _At
    faq: Faq


@dataclass(frozen=True)
class _IntentRow:
    at: _At
    faq_id: str
    intent: str
    answer: str | None


@dataclass(frozen=True)
class _LabelRow:
    at: _At
    faq_id: str
    query: str
    by_intent: bool  # named by intent: may create its FAQ


def _intent_id(at: _At, value: Any, namespace: str | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise at.error("intent", "'intent' must be a non-empty string")
    faq_id = f"{namespace}/{value.strip()}" if namespace else value.strip()
    if not valid_faq_id(faq_id):
        raise at.error("intent", f"intent '{value}' does not make a valid FAQ id ('{faq_id}')")
    return faq_id


def _check_keys(at: _At, row: Mapping[str, Any], allowed: Iterable[str], kind: str) -> None:
    unknown = sorted(set(row) - set(allowed))
    if unknown:
        raise at.error(unknown[0], f"'{unknown[0]}' is not a field of {kind}")


def _query_text(at: _At, value: Any, name: str) -> str:
    """A labelled query as a similar question: trimmed, 1 to MAX_QUESTION characters, no bar."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise at.error(name, f"'{name}' must be a non-empty string")
    if len(text) > MAX_QUESTION:
        raise at.error(name, f"'{name}' may be at most {MAX_QUESTION} characters (it has {len(text)})")
    if LIST_BAR in text:
        raise at.error(name, f"'{name}' may not contain '{LIST_BAR}' (it separates list items in CSV)")
    return text


def _faq_row(at: _At, row: Mapping[str, Any]) -> _FaqRow:
    data = {k: v for k, v in row.items() if k not in FAQ_SOURCE_KEYS}
    if "id" in data:
        if "faq_id" in data:
            raise at.error("faq_id", "give 'id' or 'faq_id', not both")
        data["faq_id"] = data.pop("id")
    if "faq_id" not in data:
        raise at.error("id", "'id' is required")
    try:
        faq = validate_faq(data)
    except FaqError as err:
        if err.field == "faq_id" and "faq_id" not in row:  # the file calls it id
            raise at.error("id", err.message.replace("'faq_id'", "'id'")) from None
        raise at.error(err.field, err.message) from None
    return _FaqRow(at, faq)


def _parse(source: Source, namespace: str | None) -> Iterator[_FaqRow | _IntentRow | _LabelRow | None]:
    """Each row of ``source`` checked on its own (None for a row skipped as out of scope)."""
    for number, row in _rows(source):
        at = _At(source.name, number)
        if "query" in row:
            _check_keys(at, row, LABEL_KEYS, "a labelled query")
            in_scope = row.get("in_scope", True)
            if not isinstance(in_scope, bool):
                raise at.error("in_scope", "'in_scope' must be true or false")
            query = _query_text(at, row["query"], "query")
            if not in_scope:
                yield None
            elif row.get("faq_id") is not None:
                if not valid_faq_id(row["faq_id"]):
                    raise at.error("faq_id", "'faq_id' is not a valid FAQ id")
                yield _LabelRow(at, row["faq_id"], query, by_intent=False)
            elif row.get("intent") is not None:
                yield _LabelRow(at, _intent_id(at, row["intent"], namespace), query, by_intent=True)
            else:
                raise at.error("faq_id", "a labelled query needs 'faq_id' (or 'intent')")
        elif source.labelled_only:
            raise at.error("query", "expected a labelled query ('query' with 'faq_id' or 'intent')")
        elif "intent" in row and "question" not in row and "id" not in row and "faq_id" not in row:
            _check_keys(at, row, INTENT_KEYS, "an intent")
            answer = row.get("answer")
            if answer is not None and not isinstance(answer, str):
                raise at.error("answer", "'answer' must be a string or null")
            if answer is not None and len(answer.strip()) > MAX_ANSWER:
                raise at.error("answer", f"'answer' may be at most {MAX_ANSWER} characters")
            yield _IntentRow(at, _intent_id(at, row["intent"], namespace), row["intent"].strip(),
                             (answer or "").strip() or None)
        else:
            yield _faq_row(at, row)


# -- planning -------------------------------------------------------------------------------------

def plan_import(sources: Sequence[Source], existing: Callable[[Sequence[str]], dict[str, Faq]],
                progress: Callable[[int], object] | None = None) -> ImportPlan:
    """What importing ``sources`` writes, given the FAQs already stored (``existing`` looks them up by
    id). Raises :class:`FaqImportError` at the first bad row; reads nothing but ``existing``."""
    faq_rows: list[_FaqRow] = []
    intent_rows: list[_IntentRow] = []
    label_rows: list[_LabelRow] = []
    skipped = 0
    for source in sources:
        format_of(source.name, source.format)
        for parsed in _parse(source, source.namespace):
            if progress is not None:
                progress(1)
            if parsed is None:
                skipped += 1
            elif isinstance(parsed, _FaqRow):
                faq_rows.append(parsed)
            elif isinstance(parsed, _IntentRow):
                intent_rows.append(parsed)
            else:
                label_rows.append(parsed)

    batch: dict[str, Faq] = {}
    first: dict[str, _At] = {}
    for row in faq_rows:
        if row.faq.faq_id in first:
            seen = first[row.faq.faq_id]
            raise row.at.error("id", f"FAQ '{row.faq.faq_id}' is already in this import ({seen.source} line "
                                     f"{seen.line})")
        first[row.faq.faq_id] = row.at
        batch[row.faq.faq_id] = row.faq
    # Stored FAQs: the ones rows add to, and the ones replaced (to count what is new).
    wanted = {r.faq_id for r in intent_rows} | {r.faq_id for r in label_rows} | set(batch)
    stored = existing(sorted(wanted)) if wanted else {}
    known = {**stored, **batch}
    changed = dict(first)  # FAQ id -> the row that last changed it
    result = ImportResult(skipped=skipped)

    for intent in intent_rows:
        faq = known.get(intent.faq_id)
        if faq is None:
            known[intent.faq_id] = Faq(intent.faq_id, humanise(intent.intent), intent.answer or "",
                                       enabled=intent.answer is not None)
        elif intent.answer is not None:
            known[intent.faq_id] = replace(faq, answer=intent.answer, enabled=True)
        else:
            continue  # known already and nothing to add: the FAQ is left as it is
        changed[intent.faq_id] = intent.at
    for label in label_rows:
        faq = known.get(label.faq_id)
        if faq is None:
            if not label.by_intent:
                raise label.at.error("faq_id", f"no FAQ '{label.faq_id}' in this import or the knowledge base")
            known[label.faq_id] = Faq(label.faq_id, label.query, "", enabled=False)
            changed[label.faq_id] = label.at
            continue
        if label.query == faq.question or label.query in faq.similar:
            continue
        if len(faq.similar) >= MAX_SIMILAR:
            raise label.at.error("query", f"FAQ '{label.faq_id}' already has {MAX_SIMILAR} similar questions")
        known[label.faq_id] = replace(faq, similar=(*faq.similar, label.query))
        changed[label.faq_id] = label.at
        result.similar_added += 1

    plan = ImportPlan(result=result)
    for faq_id, at in changed.items():
        try:
            faq = validate_faq(faq_fields(known[faq_id]))
        except FaqError as err:
            raise at.error(err.field, err.message) from None
        plan.faqs.append(faq)
        result.created += faq_id not in stored
        result.placeholders += not faq.enabled and not faq.answer
    result.faqs = len(plan.faqs)
    return plan


# -- export ---------------------------------------------------------------------------------------

def export_row(faq: Faq) -> dict[str, Any]:
    """A FAQ as a JSONL row (the keys a FAQ row is imported from)."""
    return {"id": faq.faq_id, "question": faq.question, "similar": list(faq.similar), "answer": faq.answer,
            "category": faq.category, "product_category": faq.product_category, "tags": list(faq.tags),
            "enabled": faq.enabled, "language": faq.language}


def export_text(faqs: Iterable[Faq], fmt: str, progress: Callable[[int], object] | None = None) -> str:
    """Every FAQ in ``fmt``, sorted by id, such that importing the text gives the same FAQs back."""
    if fmt not in FORMATS:
        raise FaqError("format", f"'format' must be one of {', '.join(FORMATS)}")
    out = io.StringIO(newline="")
    writer = csv.writer(out) if fmt == "csv" else None
    if writer is not None:
        writer.writerow(CSV_COLUMNS)
    for faq in sorted(faqs, key=lambda f: f.faq_id):
        row = export_row(faq)
        if writer is None:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            writer.writerow([
                LIST_SEPARATOR.join(v) if isinstance(v, list) else str(v).lower() if isinstance(v, bool)
                else "" if v is None else v for v in row.values()])
        if progress is not None:
            progress(1)
    return out.getvalue()


__all__ = ["CONTENT_TYPES", "CSV_COLUMNS", "FORMATS", "FaqImportError", "ImportPlan",
           "ImportResult", "Source", "default_namespace", "export_row", "export_text", "format_of", "humanise",
           "plan_import"]
