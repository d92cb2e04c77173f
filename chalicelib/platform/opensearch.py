"""What every OpenSearch index of the product shares: the client (signed with the Lambda's own credentials,
SigV4), the translation of vendor errors into :class:`~chalicelib.platform.textsearch.SearchUnavailable`, and
the analysis of Chinese and English text (the same cuts as ``textsearch``: English words stemmed, CJK runs as
bigrams and as single characters)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import BotoCoreError
from opensearchpy import (
    ImproperlyConfigured,
    NotFoundError,
    OpenSearch,
    OpenSearchException,
    RequestError,
    RequestsAWSV4SignerAuth,
    RequestsHttpConnection,
)

from chalicelib.platform.textsearch import SearchUnavailable

SEARCH_RETRIES = 1  # on a refused connection or a 502/503/504; never on a timeout
# Token types of the standard tokenizer for CJK scripts (one token per Han character).
CJK_TYPES = ["<IDEOGRAPHIC>", "<HIRAGANA>", "<KATAKANA>", "<HANGUL>"]


def build_client(url: str, region: str, service: str, timeout: float) -> Any:
    """An opensearch-py client for ``url``: ``https://`` signed with SigV4 for ``service`` in ``region``
    (unless the URL carries ``user:password@``), ``http://`` (a development cluster) unsigned."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SearchUnavailable(f"OpenSearch URL must be http(s)://host[:port], not {url!r}")
    secure = parts.scheme == "https"
    auth: Any = None
    if secure and not parts.username:
        credentials = boto3.session.Session().get_credentials()
        if credentials is None:
            raise SearchUnavailable("no AWS credentials to sign OpenSearch requests with")
        auth = RequestsAWSV4SignerAuth(credentials, region, service)
    return OpenSearch(
        hosts=[url], http_auth=auth, use_ssl=secure, verify_certs=secure,
        connection_class=RequestsHttpConnection, timeout=timeout, max_retries=SEARCH_RETRIES,
        retry_on_timeout=False)


def text_analysis(prefix: str) -> dict[str, Any]:
    """The ``analysis`` settings of an index with three analyzers, named after ``prefix``:
    ``{prefix}_english`` (English words, stemmed; CJK characters left out), ``{prefix}_cjk_bigram`` (CJK runs as
    overlapping bigrams; a lone character stays a unigram) and ``{prefix}_cjk_char`` (CJK runs as characters)."""
    return {
        "filter": {
            f"{prefix}_no_cjk": {"type": "keep_types", "types": CJK_TYPES, "mode": "exclude"},
            f"{prefix}_only_cjk": {"type": "keep_types", "types": CJK_TYPES, "mode": "include"},
            f"{prefix}_possessive": {"type": "stemmer", "language": "possessive_english"},
            f"{prefix}_stemmer": {"type": "stemmer", "language": "english"},
            f"{prefix}_bigrams": {"type": "cjk_bigram", "output_unigrams": False},
        },
        "analyzer": {
            f"{prefix}_english": {"type": "custom", "tokenizer": "standard",
                                  "filter": [f"{prefix}_no_cjk", f"{prefix}_possessive", "lowercase",
                                             f"{prefix}_stemmer"]},
            f"{prefix}_cjk_bigram": {"type": "custom", "tokenizer": "standard",
                                     "filter": [f"{prefix}_only_cjk", "cjk_width", "lowercase", f"{prefix}_bigrams"]},
            f"{prefix}_cjk_char": {"type": "custom", "tokenizer": "standard",
                                   "filter": [f"{prefix}_only_cjk", "cjk_width", "lowercase"]},
        },
    }


def text_field(prefix: str) -> dict[str, Any]:
    """The mapping of a text field analysed by :func:`text_analysis`'s three analyzers: the field itself in
    English, ``.cjk`` in bigrams and ``.cjk_char`` in characters."""
    return {"type": "text", "analyzer": f"{prefix}_english",
            "fields": {"cjk": {"type": "text", "analyzer": f"{prefix}_cjk_bigram"},
                       "cjk_char": {"type": "text", "analyzer": f"{prefix}_cjk_char"}}}


def first_bulk_error(response: dict[str, Any]) -> str:
    """The first rejected document's error of a bulk response, for people."""
    for item in response.get("items", []):
        for result in item.values():
            error = result.get("error")
            if error:
                return f"{error.get('type')}: {error.get('reason')}" if isinstance(error, dict) else str(error)
    return "unknown error"


@contextmanager
def translated(operation: str) -> Iterator[None]:
    """Vendor and transport errors become :class:`SearchUnavailable`."""
    try:
        yield
    except (OpenSearchException, ImproperlyConfigured, BotoCoreError) as e:
        status = getattr(e, "status_code", None)
        raise SearchUnavailable(f"OpenSearch {operation} failed: {e}",
                                status if isinstance(status, int) else None) from e


@contextmanager
def missing_index_is_empty() -> Iterator[None]:
    """Reading or deleting from an index not created yet is reading or deleting from an empty one."""
    try:
        yield
    except NotFoundError as e:
        if e.error != "index_not_found_exception":
            raise


def create_index(client: Any, index: str, body: dict[str, Any], timeout: float) -> None:
    """Create ``index`` with its settings and mapping unless it exists (one request; two callers racing both
    succeed)."""
    try:
        client.indices.create(index=index, body=body, request_timeout=timeout)
    except RequestError as e:
        if e.error != "resource_already_exists_exception":
            raise


def delete_index(client: Any, index: str, timeout: float) -> None:
    """Delete ``index`` and everything in it; a missing one is already deleted."""
    with missing_index_is_empty():
        client.indices.delete(index=index, request_timeout=timeout)
