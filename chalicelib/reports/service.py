"""Reports over time, read from the hourly aggregates, and who may read which.

Agents see their own figures only; supervisors those of their groups (the groups in their token and those they
work in) and of the agents in them; admins everything. A report is one Query of each scope it sums (a supervisor's
whole view: one per group) over the range's hours: its cost grows with the range and the scopes, never with the
number of conversations.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.auth.identity import Identity
from chalicelib.config.model import RoutingConfig
from chalicelib.reports.errors import ReportError
from chalicelib.reports.figures import ALL, HOUR_MS, Counts, add_counts, figures, hours_between, scope
from chalicelib.reports.schemas import CHANNELS, MAX_DAILY_DAYS, MAX_HOURLY_DAYS, ReportQuery
from chalicelib.reports.store import ReportStore
from chalicelib.routing.access import staff_groups

FIRST_YEAR, LAST_YEAR = 2000, 2999


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name that is a folder of zones
        raise ReportError("invalid_query", f"'tz' {name!r} is not a known time zone", "tz") from None


def _date(text: str, field: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ReportError("invalid_query", f"'{field}' must be a date, YYYY-MM-DD", field) from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ReportError("invalid_query", f"'{field}' must be a date from {FIRST_YEAR} to {LAST_YEAR}", field)
    return day


def _midnight(day: date, zone: ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp() * 1000)


class ReportService:
    def __init__(self, store: ReportStore, config: Callable[[], RoutingConfig]) -> None:
        self._store = store
        self._config = config

    # -- who sees what --------------------------------------------------------------------------------

    def supervised(self, who: Identity) -> list[str]:
        """The groups whose figures ``who`` reads: a supervisor's token's and those it works in; an admin's all."""
        return sorted(staff_groups(self._config(), who))

    def scopes_for(self, who: Identity, query: ReportQuery) -> tuple[str, str | None, list[str]]:
        """(dimension, value, the scopes whose sums make the report), or ReportError ``forbidden``."""
        given = [(d, v) for d, v in (("group", query.group), ("agent", query.agent), ("channel", query.channel),
                                     ("category", query.category)) if v is not None]
        if len(given) > 1:
            raise ReportError("invalid_query", "give at most one of group, agent, channel and category",
                              given[1][0])
        dimension, value = given[0] if given else ("all", None)
        if who.role == "admin":
            return dimension, value, [ALL if value is None else scope(dimension, value)]
        if who.role == "agent":
            if dimension == "all" or (dimension == "agent" and value == who.user_id):
                return "agent", who.user_id, [scope("agent", who.user_id)]
            raise ReportError("forbidden", "agents see their own figures only", dimension)
        groups = self.supervised(who)
        if dimension == "all":
            if not groups:
                raise ReportError("forbidden", "you supervise no group")
            return "all", None, [scope("group", g) for g in groups]
        if dimension == "group" and value in groups:
            return dimension, value, [scope("group", value)]
        if dimension == "agent" and value is not None and (
                value == who.user_id or {g.group_id for g, _ in self._config().groups_of(value)} & set(groups)):
            return dimension, value, [scope("agent", value)]
        if dimension in ("channel", "category"):
            raise ReportError("forbidden", f"a {dimension}'s figures span every group: they are for admins",
                              dimension)
        raise ReportError("forbidden", "supervisors see the figures of their own groups and their agents only",
                          dimension)

    def filters(self, who: Identity) -> dict[str, Any]:
        """What ``who`` may narrow a report to: groups, agents, channels, categories (empty where it may not)."""
        config = self._config()
        if who.role == "agent":
            return {"groups": [], "agents": [{"id": who.user_id}], "channels": [], "categories": []}
        groups = self.supervised(who)
        agents = sorted({m.agent_id for g in groups for m in config.groups[g].members})
        admin = who.role == "admin"
        categories = sorted({c for rule in config.rules for c in (rule.category or ())}) if admin else []
        return {"groups": [config.groups[g].ref() for g in groups],
                "agents": [{"id": a} for a in agents],
                "channels": list(CHANNELS) if admin else [], "categories": categories}

    # -- the report ------------------------------------------------------------------------------------

    def report(self, who: Identity, query: ReportQuery) -> dict[str, Any]:
        """The figures per hour or day of the range, and over the whole range."""
        zone = _zone(query.tz)
        first, last = _date(query.from_, "from"), _date(query.to, "to")
        if last < first:
            raise ReportError("invalid_query", "'to' is before 'from'", "to")
        days = (last - first).days + 1
        limit = MAX_HOURLY_DAYS if query.granularity == "hour" else MAX_DAILY_DAYS
        if days > limit:
            raise ReportError("invalid_query", f"a {query.granularity}ly report covers at most {limit} days", "to")
        dimension, value, scopes = self.scopes_for(who, query)
        start, end = _midnight(first, zone), _midnight(last + timedelta(days=1), zone)
        first_hour, last_hour = hours_between(start, end)
        sums: dict[int, Counts] = {}
        for name in scopes:
            for hour, counts in self._store.hours(name, first_hour, last_hour):
                add_counts(sums.setdefault(hour, {}), counts)
        sla = int(query.sla_seconds)
        if query.granularity == "hour":
            starts = [h * HOUR_MS for h in range(first_hour, last_hour + 1)]

            def bucket(hour: int) -> int:
                return hour * HOUR_MS
        else:
            starts = [_midnight(first + timedelta(days=i), zone) for i in range(days)]

            def bucket(hour: int) -> int:
                local = datetime.fromtimestamp(hour * 3600, tz=UTC).astimezone(zone).date()
                return _midnight(local, zone)
        per: dict[int, Counts] = {s: {} for s in starts}
        total: Counts = {}
        for hour, counts in sums.items():
            add_counts(per.setdefault(bucket(hour), {}), counts)
            add_counts(total, counts)
        return {"from": query.from_, "to": query.to, "tz": query.tz, "granularity": query.granularity,
                "sla_seconds": sla, "scope": {"dimension": dimension, "value": value},
                "buckets": [{"start": s, **figures(per[s], sla)} for s in sorted(per)],
                "total": figures(total, sla), "filters": self.filters(who)}
