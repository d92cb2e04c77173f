"""``python -m chalicelib.routing reshard``: after updating a stack whose groups kept their queue and memberships
under one key each, move them onto their shards (see chalicelib/routing/reshard.py), against the tables the
environment names (AWS credentials and region, ``TABLE_PREFIX`` or ``STAGE``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from chalicelib.routing.agents import AgentBook
from chalicelib.routing.reshard import reshard


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.routing", description="Routing's maintenance.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("reshard", help="move a group's queue entries and memberships onto their shards")
    parser.parse_args(argv)
    from chalicelib.config.store import config_store

    done = reshard(AgentBook(lambda: config_store().current()))
    print(f"memberships of {done.agents} agents rewritten ({done.memberships} old items deleted); "
          f"{done.entries} queue entries moved")
    return 0


if __name__ == "__main__":
    sys.exit(main())
