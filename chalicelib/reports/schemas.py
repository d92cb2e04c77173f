"""The reports' query string (docs/openapi.yaml documents its parameters)."""

from __future__ import annotations

from typing import ClassVar, Literal, get_args

from pydantic import Field

from chalicelib.auth.schemas import Channel
from chalicelib.platform.http import Body
from chalicelib.reports.figures import EDGES

DATE = r"^\d{4}-\d{2}-\d{2}$"
GROUP_ID = r"^[a-z0-9][a-z0-9_-]{0,39}$"  # as config/schemas/groups.schema.json has it
USER_ID = r"^[A-Za-z0-9_.:@-]{1,64}$"
CATEGORY = r"^[A-Za-z0-9_.:-]{1,64}$"
TIME_ZONE = r"^[A-Za-z0-9_+/-]{1,64}$"
# A service level is read exactly from the histograms at their edges only.
SLA_SECONDS = tuple(str(e) for e in EDGES if 10 <= e <= 600)
MAX_HOURLY_DAYS = 31
MAX_DAILY_DAYS = 366
CHANNELS: tuple[str, ...] = get_args(Channel)


class ReportQuery(Body):
    """GET /reports: from and to are dates (both included) in ``tz``; at most one of group, agent, channel and
    category narrows the report (none: everything the caller may see)."""

    MESSAGES: ClassVar[dict[str, str]] = {
        "from": "'from' must be a date, YYYY-MM-DD",
        "to": "'to' must be a date, YYYY-MM-DD",
        "sla_seconds": f"'sla_seconds' must be one of {', '.join(SLA_SECONDS)}",
        "tz": "'tz' must be an IANA time zone name such as Asia/Shanghai",
    }

    from_: str = Field(alias="from", pattern=DATE)
    to: str = Field(pattern=DATE)
    granularity: Literal["hour", "day"] = "day"
    tz: str = Field("UTC", pattern=TIME_ZONE)
    group: str | None = Field(None, pattern=GROUP_ID)
    agent: str | None = Field(None, pattern=USER_ID)
    channel: Channel | None = None
    category: str | None = Field(None, pattern=CATEGORY)
    sla_seconds: Literal["10", "15", "20", "30", "45", "60", "90", "120", "180", "300", "600"] = "60"


assert get_args(ReportQuery.model_fields["sla_seconds"].annotation) == SLA_SECONDS
