"""State machine definitions live once, as ASL JSON in ``infra/statemachines``; the local stack
loads them with the same ``${...}`` substitutions CloudFormation's DefinitionSubstitutions makes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ASL_DIR = Path(__file__).resolve().parents[2] / "infra" / "statemachines"
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")

# name -> file; the name is also the state machine's name suffix locally.
STATE_MACHINES = {"delivery": "delivery.asl.json", "clock": "clock.asl.json"}
# Both Express (billed by duration, started at up to 6,000/s): a delivery lives seconds per message, the clock
# a minute, started once a minute (sessions' timers are due times it sweeps, not executions of their own).
TYPES = {"delivery": "EXPRESS", "clock": "EXPRESS"}


def placeholders(name: str) -> set[str]:
    return set(_PLACEHOLDER.findall((ASL_DIR / STATE_MACHINES[name]).read_text()))


def render(name: str, substitutions: dict[str, str]) -> str:
    """The definition with every placeholder substituted; a missing one is an error."""
    text = (ASL_DIR / STATE_MACHINES[name]).read_text()
    missing = placeholders(name) - substitutions.keys()
    if missing:
        raise KeyError(f"no substitution for {sorted(missing)} in {name}")
    rendered = _PLACEHOLDER.sub(lambda m: substitutions[m.group(1)], text)
    json.loads(rendered)
    return rendered


def definition(name: str, substitutions: dict[str, str]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(render(name, substitutions))
    return parsed
