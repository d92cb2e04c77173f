"""``python -m chalicelib.conversations reindex``: the backfill of conversation search, against the DynamoDB
tables and search backend the environment names (AWS credentials and region, ``TABLE_PREFIX`` or ``STAGE``,
``SEARCH_BACKEND``, ``OPENSEARCH_URL``). It scans the sessions table for closed sessions (the only scan of
conversation search: an admin's tool, run once after deploying, or after the index was lost) and indexes each
one with its messages; the sessions table's stream keeps the index current after that."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException
from tqdm import tqdm

from chalicelib.conversations.service import ConversationService
from chalicelib.platform.textsearch import SearchUnavailable
from chalicelib.settings import get_settings


def _service() -> ConversationService:
    from chalicelib.config.store import config_store
    from chalicelib.conversations.service import conversation_index

    return ConversationService(conversation_index(), lambda: config_store().current())


def main(argv: Sequence[str] | None = None, service: Callable[[], ConversationService] = _service,
         out: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.conversations",
                                     description="Maintain the conversation search index.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("reindex", help="index every closed session again, from DynamoDB (scans the sessions table)")
    parser.parse_args(argv)
    out = out or sys.stdout
    if get_settings().search_backend == "embedded" and service is _service:
        print("nothing to reindex here: the embedded index lives in the process that serves it, which indexes "
              "every closed session from DynamoDB when it starts", file=out)
        return 0
    try:
        with tqdm(desc="indexing", unit=" conversations", file=sys.stderr) as bar:
            count = service().reindex(progress=bar.update)
    except SearchUnavailable as err:
        print(f"search: {err}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError, PynamoDBException) as err:
        print(f"AWS: {err}", file=sys.stderr)
        return 1
    print(f"indexed {count} closed conversations", file=out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
