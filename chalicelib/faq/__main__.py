"""``python -m chalicelib.faq import FILE...``, ``export FILE`` and ``reindex``: the knowledge base from a
shell, against the DynamoDB tables and search backend the environment names (AWS credentials and
region, ``TABLE_PREFIX`` or ``STAGE``, ``SEARCH_BACKEND``). docs/knowledge-base.md has the formats."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException
from tqdm import tqdm

from chalicelib.faq.kb import KnowledgeBase, default_knowledge_base
from chalicelib.faq.store import FaqError
from chalicelib.faq.transfer import FORMATS, Source, default_namespace, format_of
from chalicelib.settings import get_settings


def _read(path: str, fmt: str | None, labelled_only: bool, namespace: str | None) -> Source:
    fmt = format_of(path, fmt)
    try:
        with open(path, encoding="utf-8", newline="") as file:  # CSV cells may hold \r\n: keep it
            text = file.read()
    except (OSError, UnicodeDecodeError) as err:
        raise FaqError(None, f"{path}: cannot read ({err})") from None
    return Source(path, text, fmt, labelled_only=labelled_only,
                  namespace=default_namespace(path) if namespace is None else namespace or None)


def _lines(sources: Sequence[Source]) -> int:
    return sum(s.text.count("\n") + (not s.text.endswith("\n")) for s in sources)


def import_files(kb: KnowledgeBase, files: Sequence[str], similar: Sequence[str], fmt: str | None,
                 namespace: str | None, out: TextIO) -> None:
    sources = [_read(f, fmt, False, namespace) for f in files]
    sources += [_read(f, fmt, True, namespace) for f in similar]
    bars: list[tqdm[Any]] = []

    def written(count: int) -> None:
        if len(bars) == 1:  # the first write: every row has been checked
            bars.append(tqdm(desc="writing", unit=" FAQs", file=sys.stderr))
        bars[-1].update(count)

    bars.append(tqdm(total=_lines(sources), desc="checking", unit=" rows", file=sys.stderr))
    try:
        result = kb.import_rows(sources, progress=bars[0].update, write_progress=written,
                                index=not _index_in_process())
        bars[0].total = bars[0].n  # rows, not lines: headers and blank lines are not rows
    finally:
        for bar in bars:
            bar.close()
    print(f"imported {result.faqs} FAQs ({result.created} new, {result.placeholders} disabled awaiting an "
          f"answer), {result.similar_added} similar questions added, {result.skipped} out-of-scope rows skipped",
          file=out)


def export_file(kb: KnowledgeBase, path: str, fmt: str | None, out: TextIO) -> None:
    fmt = format_of(path, fmt) if path != "-" else fmt or "jsonl"
    with tqdm(desc="exporting", unit=" FAQs", file=sys.stderr) as bar:
        text = kb.export(fmt, progress=bar.update)
    if path == "-":
        out.write(text)
        return
    try:
        Path(path).write_text(text, encoding="utf-8", newline="")
    except OSError as err:
        raise FaqError(None, f"{path}: cannot write ({err})") from None
    print(f"exported {bar.n} FAQs to {path}", file=out)


def _index_in_process() -> bool:
    """The embedded index lives in the serving process (which loads it from DynamoDB when it starts):
    one built here would be thrown away."""
    return get_settings().search_backend == "embedded"


def main(argv: Sequence[str] | None = None, kb: Callable[[], KnowledgeBase] = default_knowledge_base,
         out: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.faq",
                                     description="Import, export and reindex the FAQ knowledge base.")
    commands = parser.add_subparsers(dest="command", required=True)
    imp = commands.add_parser("import", help="check every row of FILEs, then write them all (or nothing)")
    imp.add_argument("files", nargs="+", metavar="FILE", help="FAQs (.jsonl or .csv), HINT3 intent lists, or "
                                                              "labelled queries")
    imp.add_argument("--format", choices=FORMATS, help="default: from each file's extension")
    imp.add_argument("--similar", nargs="+", default=[], metavar="FILE",
                     help="labelled queries (JSONL) to add as similar questions of the FAQs they name")
    imp.add_argument("--namespace", help="prefix of ids of FAQs named by intent (default: the file name without "
                                         "its _train/_intents suffix; '' for none)")
    exp = commands.add_parser("export", help="write every FAQ to FILE ('-': standard output)")
    exp.add_argument("file", metavar="FILE")
    exp.add_argument("--format", choices=FORMATS, help="default: from the file's extension")
    commands.add_parser("reindex", help="rebuild the search index from DynamoDB")
    args = parser.parse_args(argv)
    out = out or sys.stdout
    try:
        if args.command == "import":
            import_files(kb(), args.files, args.similar, args.format, args.namespace, out)
        elif args.command == "export":
            export_file(kb(), args.file, args.format, out)
        elif _index_in_process():
            print("nothing to reindex here: the embedded index is built by the process that serves it, from "
                  "DynamoDB, when it starts (POST /faqs/reindex rebuilds it there)", file=out)
        else:
            print(f"indexed {kb().rebuild()} enabled FAQs", file=out)
    except FaqError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError, PynamoDBException) as err:
        print(f"AWS: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
