"""Service hours: whether a schedule is open at an instant, until when, and when it opens next.

Hours are wall-clock hours in the schedule's time zone. An instant is open when its local wall time
falls inside a span of its local date, or inside the past-midnight part of a span of an earlier date
(a span belongs to the date it starts on, so a closed date or a special period only affects the
spans starting on it).

Daylight saving time follows from comparing wall times:

- spring forward: the skipped wall times never occur, so a span boundary inside the gap takes effect
  at the transition (a span starting at 02:30 opens at 03:00 new time) and a span lying wholly inside
  the gap never opens that day;
- fall back: the repeated wall times are evaluated twice, so a span covering 01:00-01:30 is open in
  both passes, and the clock jumping back can reopen or close the service; ``closes_at`` and
  ``next_open`` take that jump into account.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.config.model import Schedule, Span
from chalicelib.i18n import pick, t

HORIZON_DAYS = 400  # how far ahead closes_at and next_open are searched
_DAY_MINUTES = 1440
_ONE_DAY = timedelta(days=1)

_Interval = tuple[datetime, datetime]  # naive local wall times, half-open


@dataclass(frozen=True)
class OpenStatus:
    """A schedule evaluated at one instant.

    ``closes_at`` is set only when open: the end of the continuous opening we are in (spans that
    touch or overlap, across midnight too, count as one); None when open with no closing within
    ``HORIZON_DAYS``. ``next_open`` is set only when closed: the start of the next opening within
    ``HORIZON_DAYS``, None if there is none. Both are aware, in the schedule's zone.
    """

    open: bool
    closes_at: datetime | None
    next_open: datetime | None
    today: tuple[Span, ...]  # the spans of the local date of ``at``, by start
    time_zone: str
    at: datetime  # the instant evaluated, in the schedule's zone


def always_open(name: str = "always", time_zone: str = "UTC") -> Schedule:
    """A schedule open around the clock, every day."""
    return Schedule(name=name, time_zone=time_zone, weekly=((Span(0, _DAY_MINUTES),),) * 7)


def spans_on(schedule: Schedule, day: date) -> tuple[Span, ...]:
    """The spans starting on the local date ``day``: none on a closed date, else the first matching
    special period's, else the weekday's."""
    if day in schedule.closed:
        return ()
    for period in schedule.special:
        if period.first <= day <= period.last:
            return period.spans
    return schedule.weekly[day.weekday()]


def status(schedule: Schedule, at: datetime) -> OpenStatus:
    """Evaluate ``schedule`` at the aware instant ``at`` (ValueError if ``at`` is naive)."""
    _require_aware(at)
    hours = _Hours(schedule)
    local = at.astimezone(hours.tz)
    open_now = hours.covers(local.replace(tzinfo=None))
    change = hours.change_after(at.astimezone(UTC), open_now)
    change_local = None if change is None else change.astimezone(hours.tz)
    return OpenStatus(
        open=open_now,
        closes_at=change_local if open_now else None,
        next_open=None if open_now else change_local,
        today=tuple(sorted(spans_on(schedule, local.date()), key=lambda s: (s.start, s.end))),
        time_zone=schedule.time_zone,
        at=local,
    )


def is_open(schedule: Schedule, at: datetime) -> bool:
    """Whether ``schedule`` is open at the aware instant ``at`` (ValueError if ``at`` is naive)."""
    _require_aware(at)
    hours = _Hours(schedule)
    return hours.covers(hours.wall(at))


def format_span(span: Span) -> str:
    """``08:00-24:00``; a span past midnight is marked with the day it ends on: ``20:00-02:00 (+1)``."""
    return f"{_clock(span.start)}-{_clock(span.end)}"


def hours_json(st: OpenStatus) -> dict[str, Any]:
    """The status as sent over the WebSocket protocol."""
    return {
        "open": st.open,
        "time_zone": st.time_zone,
        "today": [format_span(s) for s in st.today],
        "closes_at": None if st.closes_at is None else st.closes_at.isoformat(),
        "next_open": None if st.next_open is None else st.next_open.isoformat(),
    }


def describe(schedule: Schedule, st: OpenStatus, language: str | None = None) -> str:
    """One visitor-facing sentence (or a few) about the status, in the visitor's ``language`` (zh-CN or English),
    its dates and times on the schedule's wall clock."""
    today = st.at.date()
    zone = st.time_zone
    if st.open:
        if st.closes_at is None:
            return t(language, "hours.open_always")
        end = st.closes_at
        days = (end.date() - today).days
        if days == 0:
            until = t(language, "hours.until_today", time=_hhmm(end))
        elif days == 1 and end.time() == time():
            until = t(language, "hours.until_today", time="24:00")
        elif days == 1:
            until = t(language, "hours.until_tomorrow", time=_hhmm(end))
        else:
            until = t(language, "hours.until_day", day=_day(end, today, language), time=_hhmm(end))
        return t(language, "hours.open_until", until=until, zone=zone)

    message = pick(schedule.closed_message, language).strip()
    parts = [message] if message else []
    parts.append(t(language, "hours.closed_now"))
    if st.today:
        spans = t(language, "text.list_join").join(format_span(s) for s in st.today)
        parts.append(t(language, "hours.today", spans=spans, zone=zone))
        zone_said = True
    else:
        parts.append(t(language, "hours.no_service_today"))
        zone_said = False
    if st.next_open is None:
        parts.append(t(language, "hours.none_scheduled"))
    else:
        nxt = st.next_open
        when = (t(language, "hours.at_today", time=_hhmm(nxt)) if nxt.date() == today else
                t(language, "hours.at_day", day=_day(nxt, today, language), time=_hhmm(nxt)))
        parts.append(t(language, "hours.open_again" if zone_said else "hours.open_again_zone", when=when, zone=zone))
    return t(language, "text.sentence_join").join(parts)


class _Hours:
    """One schedule's intervals, as naive local wall times, and the instants they map to.

    Instants are passed and returned in UTC: arithmetic on aware datetimes of one zone is wall-clock
    arithmetic, which is wrong across a DST transition.
    """

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.tz = ZoneInfo(schedule.time_zone)
        ends = [s.end for day in schedule.weekly for s in day] + [s.end for p in schedule.special for s in p.spans]
        # How many earlier dates can have a span still running on a given date.
        self.reach = max(((end - 1) // _DAY_MINUTES for end in ends), default=0)

    def wall(self, instant: datetime) -> datetime:
        return instant.astimezone(self.tz).replace(tzinfo=None)

    def intervals(self, day: date) -> list[_Interval]:
        midnight = datetime.combine(day, time())
        return [
            (midnight + timedelta(minutes=s.start), midnight + timedelta(minutes=s.end))
            for s in spans_on(self.schedule, day)
        ]

    def covers(self, wall: datetime) -> bool:
        day = wall.date()
        return any(
            start <= wall < end
            for back in range(self.reach + 1)
            for start, end in self.intervals(day - timedelta(days=back))
        )

    def run_end(self, wall: datetime) -> datetime | None:
        """End of the continuous opening covering ``wall``; None if it outlasts the horizon."""
        limit = wall.date() + timedelta(days=HORIZON_DAYS)
        end = wall
        day = wall.date() - timedelta(days=self.reach)
        pending: list[_Interval] = []
        while True:
            # Every interval starting at or before `end` starts on a date up to end's.
            while day <= end.date():
                if day > limit:
                    return None
                pending.extend(self.intervals(day))
                day += _ONE_DAY
            longer = [e for s, e in pending if s <= end < e]
            if not longer:
                return end
            end = max(longer)
            pending = [iv for iv in pending if iv[1] > end]

    def next_start(self, wall: datetime) -> datetime | None:
        """The first span start after ``wall`` within the horizon."""
        best: datetime | None = None
        day = wall.date() - timedelta(days=self.reach)
        last = wall.date() + timedelta(days=HORIZON_DAYS)
        while day <= last:
            if best is not None and datetime.combine(day, time()) > best:
                break
            for start, _ in self.intervals(day):
                if start > wall and (best is None or start < best):
                    best = start
            day += _ONE_DAY
        return best

    def instant(self, wall: datetime, not_before: datetime) -> datetime:
        """The first instant (UTC) at or after ``not_before`` when the wall clock reaches ``wall``."""
        first = wall.replace(tzinfo=self.tz, fold=0).astimezone(UTC)
        second = wall.replace(tzinfo=self.tz, fold=1).astimezone(UTC)
        if first <= second:  # an ordinary wall time, or one repeated when the clock falls back
            return first if first >= not_before else second
        # Skipped by spring forward (fold=0 then maps past the gap): reached when the clock jumps.
        return _first_second(second, first, lambda u: self.wall(u) >= wall)

    def fall_back_after(self, instant: datetime) -> datetime | None:
        """When the clock next falls back, if ``instant`` lies in the first pass of a repeated hour."""
        local = instant.astimezone(self.tz)
        offset = _offset(local)
        shift = offset - _offset(local.replace(fold=1))
        if local.fold or shift <= timedelta(0):
            return None
        lo = instant.replace(microsecond=0)
        return _first_second(lo, lo + shift, lambda u: _offset(u.astimezone(self.tz)) != offset)

    def change_after(self, instant: datetime, open_now: bool) -> datetime | None:
        """The first instant (UTC) after ``instant`` at which openness is no longer ``open_now``."""
        deadline = instant + timedelta(days=HORIZON_DAYS + 1)
        t = instant
        # The next wall-time boundary (or fall-back jump) is usually the answer; DST can make it a
        # non-event (a span skipped whole by spring forward, a jump back into the same state), and
        # then the search goes on from there.
        for _ in range(64):
            wall = self.wall(t)
            naive = self.run_end(wall) if open_now else self.next_start(wall)
            candidate = None if naive is None else self.instant(naive, t)
            back = self.fall_back_after(t)
            if back is not None and (candidate is None or back < candidate):
                candidate = back
            if candidate is None or candidate > deadline or candidate <= t:
                return None
            if self.covers(self.wall(candidate)) != open_now:
                return candidate
            t = candidate
        return None


def _first_second(lo: datetime, hi: datetime, pred: Callable[[datetime], bool]) -> datetime:
    """The first whole-second step from ``lo`` to ``hi`` where ``pred`` holds (false, then true)."""
    steps = int((hi - lo).total_seconds())
    i = bisect.bisect_left(range(steps + 1), True, key=lambda n: pred(lo + timedelta(seconds=n)))
    return lo + timedelta(seconds=i)


def _offset(dt: datetime) -> timedelta:
    return dt.utcoffset() or timedelta(0)


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("a timezone-aware datetime is required")


def _clock(minutes: int) -> str:
    days, rest = divmod(minutes, _DAY_MINUTES)
    if rest == 0 and days > 0:  # the end of a day reads 24:00, not 00:00 of the next
        days, rest = days - 1, _DAY_MINUTES
    text = f"{rest // 60:02d}:{rest % 60:02d}"
    return f"{text} (+{days})" if days else text


def _hhmm(dt: datetime) -> str:
    return f"{dt.hour:02d}:{dt.minute:02d}"


def _day(dt: datetime, today: date, language: str | None) -> str:
    """A date as the catalogue writes it (``Sun 7 Feb``), with the year when it is not this one."""
    return t(language, "date.day" if dt.year == today.year else "date.day_year", weekday=t(
        language, f"date.weekday.{dt.weekday()}"), day=dt.day, month=t(language, f"date.month.{dt.month}"),
             year=dt.year)
