"""The admins' command line for the configuration documents.

    python -m chalicelib.config check [DIR]
    python -m chalicelib.config push FILE [FILE...] [--path P] [--dry-run]

``push`` validates the files together with the documents already in SSM and writes nothing unless
the combination is valid, so a deployment never sees a half-updated configuration.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.config.documents import DOCUMENTS, load_directory, load_file, load_json, parse
from chalicelib.config.errors import ConfigError
from chalicelib.config.model import RoutingConfig
from chalicelib.platform import aws
from chalicelib.settings import get_settings

# The largest Advanced parameter; Intelligent-Tiering keeps a document of up to 4 KB Standard (free).
MAX_PARAMETER_BYTES = 8192


@dataclass(frozen=True)
class Change:
    document: str
    parameter: str
    action: str  # "created", "updated" or "unchanged"
    diff: str  # unified diff of the pretty-printed JSON, empty when unchanged


def check(directory: Path) -> RoutingConfig:
    """Validate ``<directory>/{hours,groups,routing}.json`` together; raises ``ConfigError``."""
    return parse(**load_directory(directory))


def read_parameters(ssm: Any, path: str) -> dict[str, str]:
    """The text of every parameter directly under ``path``, by its last name segment."""
    values: dict[str, str] = {}
    for page in ssm.get_paginator("get_parameters_by_path").paginate(Path=path.rstrip("/")):
        for parameter in page.get("Parameters", []):
            values[parameter["Name"].rsplit("/", 1)[-1]] = parameter["Value"]
    return values


def write_documents(ssm: Any, path: str, documents: Mapping[str, Any], current: Mapping[str, str],
                    *, dry_run: bool = False) -> list[Change]:
    """Put each of ``documents`` (already validated) whose content differs from ``current``."""
    path = path.rstrip("/")
    texts = {name: json.dumps(doc, ensure_ascii=False, separators=(",", ":")) for name, doc in documents.items()}
    for name, text in texts.items():  # all sizes first: nothing is written if any is refused
        size = len(text.encode())
        if size > MAX_PARAMETER_BYTES:
            raise ConfigError(name, "", f"too large for an SSM parameter: {size} bytes, at most {MAX_PARAMETER_BYTES}")
    changes = []
    for name, doc in documents.items():
        parameter = f"{path}/{name}"
        old = current.get(name)
        if old is not None and _decoded(old) == doc:
            changes.append(Change(name, parameter, "unchanged", ""))
            continue
        if not dry_run:
            ssm.put_parameter(Name=parameter, Value=texts[name], Type="String", Tier="Intelligent-Tiering",
                              Overwrite=True)
        diff = difflib.unified_diff(_pretty(old).splitlines(), _pretty_doc(doc).splitlines(),
                                    f"{parameter} (in SSM)", f"{parameter} (new)", lineterm="")
        changes.append(Change(name, parameter, "created" if old is None else "updated", "\n".join(diff)))
    return changes


def push(files: Sequence[Path], path: str, *, dry_run: bool = False, ssm: Any = None) -> list[Change]:
    """Validate ``files`` (named ``hours.json``, ``groups.json``, ``routing.json``) with the other
    documents in SSM under ``path``, then write the ones that changed. Raises ``ConfigError``,
    having written nothing, when any document or the combination is invalid."""
    ssm = ssm if ssm is not None else aws.client("ssm")
    path = path.rstrip("/")
    given: dict[str, Any] = {}
    for file in files:
        name = file.name.removesuffix(".json")
        if name not in DOCUMENTS or not file.name.endswith(".json"):
            raise ConfigError("", "", f"{file}: not a configuration document; the file must be named "
                                      + ", ".join(f"{d}.json" for d in DOCUMENTS))
        if name in given:
            raise ConfigError(name, "", f"{file}: {name}.json is given twice")
        given[name] = load_file(file, name)
    current = read_parameters(ssm, path)
    documents = {}
    for name in DOCUMENTS:
        if name in given:
            documents[name] = given[name]
        elif name in current:
            documents[name] = load_json(current[name], name, f"SSM parameter {path}/{name}")
        else:
            raise ConfigError(name, "", f"missing: no SSM parameter {path}/{name}; push {name}.json as well")
    parse(**documents)
    return write_documents(ssm, path, given, current, dry_run=dry_run)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.config",
                                     description="Validate and publish the routing, service hours and queue documents.")
    commands = parser.add_subparsers(dest="command", required=True)
    check_cmd = commands.add_parser("check", help="validate hours.json, groups.json and routing.json in a directory")
    check_cmd.add_argument("directory", nargs="?", type=Path, default=Path("config"), help="default: config/")
    push_cmd = commands.add_parser("push", help="validate documents with those in SSM and write the changed ones")
    push_cmd.add_argument("files", nargs="+", type=Path, metavar="FILE", help="hours.json, groups.json, routing.json")
    push_cmd.add_argument("--path", help="SSM path of the documents (default: CONFIG_PATH, else /cs-{STAGE}/config)")
    push_cmd.add_argument("--dry-run", action="store_true", help="show what would change; write nothing")
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            config = check(args.directory)
            print(f"{args.directory}: valid ({len(config.schedules)} schedules, {len(config.groups)} groups, "
                  f"{len(config.rules)} rules)")
        else:
            _report(push(args.files, args.path or get_settings().config_path, dry_run=args.dry_run), args.dry_run)
    except ConfigError as err:
        print(f"invalid configuration: {err}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:
        print(f"SSM: {exc}", file=sys.stderr)
        return 1
    return 0


def _report(changes: Sequence[Change], dry_run: bool) -> None:
    for change in changes:
        action = {"created": "would create", "updated": "would update"}.get(change.action, change.action)
        print(f"{change.document}: {action if dry_run else change.action} {change.parameter}")
        if change.diff:
            print(change.diff)
    if dry_run:
        print("dry run: nothing written")


def _decoded(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _pretty_doc(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2)


def _pretty(text: str | None) -> str:
    if text is None:
        return ""
    decoded = _decoded(text)
    return text if decoded is None else _pretty_doc(decoded)
