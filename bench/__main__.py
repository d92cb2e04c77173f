"""``make bench``: runs the benchmarks, writes bench/results/*.json and the tables in docs/benchmarks.md (and
docs/capacity.md from the peak model)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import relay

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "benchmarks.md"


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


def routing_table(r: dict[str, Any]) -> str:
    sizes = [f"{n:,} agents" for n in r["agents"]]
    queue = r["from_queue"]

    def figures(title: str, f: dict[str, Any]) -> list[str]:
        def row(label: str, key: str) -> str:
            return f"| {label} | " + " | ".join(str(v) for v in f[key]) + " |"

        return [
            f"| {title} | " + " | ".join(sizes) + " |",
            "|---|" + "---|" * len(sizes),
            row("AWS calls (all DynamoDB)", "aws_calls_per_assignment"),
            row("read capacity units", "read_units_per_assignment"),
            row("write capacity units", "write_units_per_assignment"),
            row("of which index writes", "index_write_units_per_assignment"),
            row("**capacity units, total**", "capacity_units_per_assignment"),
            row("items read", "items_read_per_assignment"),
            row("writes refused by their condition", "refused_writes_per_assignment"),
            row("frames posted (a `PostToConnection` each on AWS)", "frames_per_assignment"),
        ]

    operations = sorted(set().union(*r["calls_by_operation"], *queue["calls_by_operation"]))
    by_operation = [
        "| call | " + " | ".join(f"direct, {s}" for s in sizes) + " | " + " | ".join(f"queue, {s}" for s in sizes)
        + " |",
        "|---|" + "---|" * (2 * len(sizes)),
        *[f"| `{op}` | " + " | ".join(str(c.get(op, 0)) for c in r["calls_by_operation"] + queue["calls_by_operation"])
          + " |" for op in operations],
    ]
    rows = [
        f"Per assignment, averaged over {r['arrivals']} assignments for each group size (capacity {r['capacity']} "
        "per agent, least loaded first):",
        "",
        *figures("straight to a free agent", r),
        "",
        *figures(f"from the queue ({queue['waiting']} waiting)", queue),
        "",
        "AWS calls per assignment, by operation:",
        "",
        *by_operation,
        "",
        f"Capacity units: {r['capacity_units_method']}. Run of {r['seconds']} s on moto ({r['date']}, "
        f"{r['machine']['cpus']} CPUs).",
    ]
    return "\n".join(rows)


def publish(name: str, result: dict[str, Any], table: Callable[[dict[str, Any]], str]) -> None:
    """Stamp a benchmark's result, write ``bench/results/{name}.json`` and its table in docs/benchmarks.md."""
    result["date"] = time.strftime("%Y-%m-%d")
    result["machine"] = machine()
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    write_doc_section(f"<!-- {name}:begin -->", f"<!-- {name}:end -->", table(result))
    print(json.dumps(result, indent=2))


def write_doc_section(begin: str, end: str, body: str) -> None:
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    block = f"{begin}\n{body}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text)


def run_relay(pairs: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="cs-bench-") as state:
        result = relay.run(pairs, seconds, Path(state))
    publish("relay", result, relay_table)


def run_routing(arrivals: int) -> None:
    # Imported only here: it points this process's AWS settings at moto when imported.
    from bench import routing

    result = routing.run(arrivals=arrivals)
    publish("routing", result, routing_table)


def run_faq() -> None:
    from bench import faq

    result = faq.run()
    publish("faq", result, faq.table)


def run_cost() -> None:
    from bench import cost

    with tempfile.TemporaryDirectory(prefix="cs-bench-cost-") as state:
        result = cost.run(Path(state))
    publish("cost", result, cost.table)


def run_load(visitors: int, agents: int, seconds: float) -> None:
    from bench import load

    with tempfile.TemporaryDirectory(prefix="cs-bench-load-") as state:
        result = load.run(Path(state), visitors=visitors, agents=agents, seconds=seconds)
    publish("load", result, load.table)


def run_peak() -> None:
    from bench import peak

    with tempfile.TemporaryDirectory(prefix="cs-bench-peak-") as state:
        result = peak.run(Path(state))
    publish("peak", result, peak.summary)
    peak.write_doc(result)
    peak.write_quotas(result)


def run_reports() -> None:
    from bench import reports

    result = reports.run()
    publish("reports", result, reports.table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=("relay", "routing", "faq", "cost", "load", "peak", "reports"),
                        help="run one benchmark (default: all)")
    parser.add_argument("--pairs", type=int, default=20, help="relay: visitor/agent pairs")
    parser.add_argument("--seconds", type=float, default=20.0, help="relay: seconds of traffic")
    parser.add_argument("--arrivals", type=int, default=30,
                        help="routing: assignments measured per group size and path")
    parser.add_argument("--visitors", type=int, default=200, help="load: concurrent visitors")
    parser.add_argument("--agents", type=int, default=40, help="load: agents (5 sessions each)")
    parser.add_argument("--load-seconds", type=float, default=60.0, help="load: seconds of traffic")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.only in (None, "relay"):
        run_relay(args.pairs, args.seconds)
    if args.only in (None, "routing"):
        run_routing(args.arrivals)
    if args.only in (None, "faq"):
        run_faq()
    if args.only in (None, "cost"):
        run_cost()
    if args.only in (None, "load"):
        run_load(args.visitors, args.agents, args.load_seconds)
    if args.only in (None, "peak"):
        run_peak()
    if args.only in (None, "reports"):
        run_reports()


if __name__ == "__main__":
    main()
