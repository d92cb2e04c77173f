"""The one place that reads the environment.

pynamodb reads table names when a model class is defined, so the environment must be set before
``chalicelib`` models are imported (the local stack and the tests do that first).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache

# The delivery state machine gives a message this many attempts in all before send_failed.
MAX_DELIVERY_ATTEMPTS = 3
# The lowest score of an FAQ suggested to an agent (docs/faq-matching.md, "Suggestions for agents", says why).
SUGGESTION_MIN_SCORE = 0.25


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    table_prefix: str
    # Management API of the WebSocket gateway (https://{api}.execute-api.{region}.amazonaws.com/{stage}).
    ws_endpoint: str
    delivery_state_machine_arn: str
    # The clock: one Express execution a minute sweeps the sessions' due timers and runs the queue tick.
    clock_state_machine_arn: str
    # One clock execution covers clock_period_seconds (the schedule's rate) in rounds of clock_round_seconds (how
    # late a timer may fire); the queue tick (positions, timeouts, dashboard) runs every clock_tick_seconds.
    clock_period_seconds: int
    clock_round_seconds: int
    clock_tick_seconds: int
    clock_sweepers: int  # Lambda invocations that sweep a round's timer shards side by side
    ack_wait_seconds: int  # the wait after a resend
    ack_first_wait_seconds: int  # the wait after the first post (the one nearly every delivery ends in)
    # Locally the HS256 key itself; on AWS empty, and the key is read from visitor_token_secret_id
    # (a Secrets Manager secret, or an SSM SecureString if it starts with "/"; chalicelib/platform/secrets.py).
    visitor_token_secret: str
    visitor_token_secret_id: str
    # How long a Lambda keeps a secret before reading it again (a rotation reaches it within this).
    secret_max_age_seconds: int
    visitor_token_ttl_seconds: int
    agent_token_ttl_seconds: int
    agent_token_issuer: str
    # Cognito (or any OIDC) JWKS URL; empty means the local development identity provider's key.
    agent_jwks_url: str
    agent_token_audience: str
    dev_idp_enabled: bool
    local_state_dir: str
    # SSM parameter path of the admin configuration documents ({path}/hours, /groups, /routing).
    config_path: str
    # How long a Lambda keeps a configuration before reading SSM again.
    config_max_age_seconds: int
    # SNS topic for supervisor alerts (overflow); empty: dashboard pushes only.
    alerts_topic_arn: str
    # FAQ search: "embedded" (tantivy in the process; local default) or "opensearch".
    search_backend: str
    opensearch_url: str
    opensearch_index: str
    # Seconds an OpenSearch request on a visitor's path may take (searches; retried at most once, never after a
    # timeout): past it the robot answers without search.
    opensearch_timeout_seconds: float
    # The conversation index (chalicelib/conversations), on the same backend and domain as the FAQ's.
    opensearch_conversations_index: str
    opensearch_conversations_shards: int
    # Agents' FAQ suggestions scoring under this (the matcher's 0..1 blend) are not sent: too far off to help.
    suggestion_min_score: float
    # The console's orders and products: "demo" (the local stack's tables), "http" (the shop's systems at
    # commerce_url, chalicelib/commerce/hook.py) or "none".
    commerce_backend: str
    commerce_url: str
    commerce_token: str  # locally; on AWS read from commerce_token_secret_id, as the visitor token key
    commerce_token_secret_id: str
    # S3 object where the FAQ matcher's intent classifier is shared between processes; empty bucket: none.
    faq_model_bucket: str
    faq_model_key: str
    # S3 bucket of the images sent in chats (chalicelib/media); empty: uploads are refused.
    media_bucket: str
    # The Lambda that rebuilds the FAQ index for POST /faqs/reindex, invoked asynchronously; empty: refused.
    faq_reindex_function: str
    # Origins (scheme://host[:port]) whose pages may call the REST API from the browser; empty: same origin only.
    cors_origins: tuple[str, ...]
    # Set by Lambda in a function's environment (empty elsewhere): which function this process serves, named by
    # its handler ("app.ws_message": the handlers' names are fixed, the generated function names are not).
    lambda_function_name: str
    lambda_handler: str

    def table_name(self, short: str) -> str:
        return f"{self.table_prefix}-{short}"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


def _origins(raw: str) -> tuple[str, ...]:
    """Comma-separated origins as browsers send them (lower-case, no path or trailing slash). Anything else,
    ``*`` and ``null`` included, can never match a browser's Origin and is dropped rather than widened."""
    wanted = (entry.strip().lower().rstrip("/") for entry in raw.split(","))
    return tuple(origin for origin in wanted if re.fullmatch(r"https?://[a-z0-9.-]+(:[0-9]{1,5})?", origin))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the environment once; tests call ``get_settings.cache_clear()`` after changing it."""
    stage = os.environ.get("STAGE", "dev")
    return Settings(
        stage=stage,
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        table_prefix=os.environ.get("TABLE_PREFIX", f"cs-{stage}"),
        ws_endpoint=os.environ.get("WS_ENDPOINT", ""),
        delivery_state_machine_arn=os.environ.get("DELIVERY_STATE_MACHINE_ARN", ""),
        clock_state_machine_arn=os.environ.get("CLOCK_STATE_MACHINE_ARN", ""),
        clock_period_seconds=_int("CLOCK_PERIOD_SECONDS", 60),
        clock_round_seconds=_int("CLOCK_ROUND_SECONDS", 5),
        clock_tick_seconds=_int("CLOCK_TICK_SECONDS", 15),
        clock_sweepers=_int("CLOCK_SWEEPERS", 8),
        ack_wait_seconds=_int("ACK_WAIT_SECONDS", 5),
        ack_first_wait_seconds=_int("ACK_FIRST_WAIT_SECONDS", min(1, _int("ACK_WAIT_SECONDS", 5))),
        visitor_token_secret=os.environ.get("VISITOR_TOKEN_SECRET", ""),
        visitor_token_secret_id=os.environ.get("VISITOR_TOKEN_SECRET_ID", ""),
        secret_max_age_seconds=_int("SECRET_MAX_AGE_SECONDS", 300),
        visitor_token_ttl_seconds=_int("VISITOR_TOKEN_TTL_SECONDS", 24 * 3600),
        agent_token_ttl_seconds=_int("AGENT_TOKEN_TTL_SECONDS", 12 * 3600),
        agent_token_issuer=os.environ.get("AGENT_TOKEN_ISSUER", "local-dev-idp"),
        agent_jwks_url=os.environ.get("AGENT_JWKS_URL", ""),
        agent_token_audience=os.environ.get("AGENT_TOKEN_AUDIENCE", "customer-service"),
        dev_idp_enabled=os.environ.get("DEV_IDP_ENABLED", "0") == "1",
        local_state_dir=os.environ.get("LOCAL_STATE_DIR", ".local"),
        config_path=os.environ.get("CONFIG_PATH", f"/{os.environ.get('TABLE_PREFIX', f'cs-{stage}')}/config"),
        config_max_age_seconds=_int("CONFIG_MAX_AGE_SECONDS", 60),
        alerts_topic_arn=os.environ.get("ALERTS_TOPIC_ARN", ""),
        search_backend=os.environ.get("SEARCH_BACKEND", "embedded"),
        opensearch_url=os.environ.get("OPENSEARCH_URL", ""),
        opensearch_index=os.environ.get("OPENSEARCH_INDEX", f"{os.environ.get('TABLE_PREFIX', f'cs-{stage}')}-faqs"),
        opensearch_timeout_seconds=_float("OPENSEARCH_TIMEOUT_SECONDS", 1.0),
        opensearch_conversations_index=os.environ.get(
            "OPENSEARCH_CONVERSATIONS_INDEX", f"{os.environ.get('TABLE_PREFIX', f'cs-{stage}')}-conversations"),
        opensearch_conversations_shards=_int("OPENSEARCH_CONVERSATIONS_SHARDS", 3),
        suggestion_min_score=_float("SUGGESTION_MIN_SCORE", SUGGESTION_MIN_SCORE),
        commerce_backend=os.environ.get("COMMERCE_BACKEND") or ("http" if os.environ.get("COMMERCE_URL") else "none"),
        commerce_url=os.environ.get("COMMERCE_URL", ""),
        commerce_token=os.environ.get("COMMERCE_TOKEN", ""),
        commerce_token_secret_id=os.environ.get("COMMERCE_TOKEN_SECRET_ID", ""),
        faq_model_bucket=os.environ.get("FAQ_MODEL_BUCKET", ""),
        faq_model_key=os.environ.get("FAQ_MODEL_KEY",
                                     f"{os.environ.get('TABLE_PREFIX', f'cs-{stage}')}/faq-intent-model.npz"),
        media_bucket=os.environ.get("MEDIA_BUCKET", ""),
        faq_reindex_function=os.environ.get("FAQ_REINDEX_FUNCTION", ""),
        cors_origins=_origins(os.environ.get("CORS_ORIGINS", "")),
        lambda_function_name=os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""),
        lambda_handler=os.environ.get("_HANDLER", ""),
    )
