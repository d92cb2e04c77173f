"""``make bench``: runs the benchmarks, writes bench/results/*.json and the tables in docs/benchmarks.md."""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import relay

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- relay:begin -->", "<!-- relay:end -->"


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def relay_table(r: dict[str, Any]) -> str:
    rows = [
        "| | our stack (local, moto) | bare WebSocket relay |",
        "|---|---|---|",
        f"| ACKed messages per second | {r['msgs_per_s']} | {r['baseline_msgs_per_s']} |",
        f"| send -> delivered p50 (ms) | {r['p50_ms']} | {r['baseline_p50_ms']} |",
        f"| send -> delivered p99 (ms) | {r['p99_ms']} | {r['baseline_p99_ms']} |",
        f"| messages in the run | {r['messages']} | {r['baseline_messages']} |",
        "",
        f"ratio (ours / bare): **{r['ratio']}**, with {r['pairs']} visitor/agent pairs, each visitor keeping one "
        f"message in flight for {r['seconds']} s ({r['date']}, {r['machine']['cpus']} CPUs).",
        "",
        "AWS calls per message (counted from botocore's events in the stack's process):",
        "",
        "| call | per message |",
        "|---|---|",
        *[f"| `{k}` | {v} |" for k, v in r["aws_calls_per_message"].items()],
        f"| **total** | **{r['aws_calls_per_message_total']}** |",
    ]
    return "\n".join(rows)


def write_doc_section(begin: str, end: str, body: str) -> None:
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    block = f"{begin}\n{body}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cs-bench-") as state:
        result = relay.run(args.pairs, args.seconds, Path(state))
    result["date"] = time.strftime("%Y-%m-%d")
    result["machine"] = machine()
    (RESULTS / "relay.json").write_text(json.dumps(result, indent=2) + "\n")
    write_doc_section(BEGIN, END, relay_table(result))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
