"""Service hours: open or closed at an instant, closes_at / next_open, and what the visitor is told."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chalicelib.config.model import Schedule, Span, SpecialPeriod
from chalicelib.i18n import LocalText
from chalicelib.schedule.hours import (
    always_open,
    describe,
    format_span,
    hours_json,
    is_open,
    spans_on,
    status,
)

SH = "Asia/Shanghai"
NY = "America/New_York"
FRI = 4
DAYTIME = Span(480, 1440)  # 08:00-24:00
FRIDAY_NIGHT = Span(1200, 1560)  # 20:00-02:00


def every_day(*spans: Span) -> tuple[tuple[Span, ...], ...]:
    return (tuple(spans),) * 7


def on_weekdays(days: Iterable[int], *spans: Span) -> tuple[tuple[Span, ...], ...]:
    chosen = set(days)
    return tuple(tuple(spans) if d in chosen else () for d in range(7))


def sched(
    weekly: tuple[tuple[Span, ...], ...],
    *,
    tz: str = SH,
    special: tuple[SpecialPeriod, ...] = (),
    closed: Iterable[date] = (),
    message: LocalText = "",
) -> Schedule:
    return Schedule(
        name="test", time_zone=tz, weekly=weekly, special=special, closed=frozenset(closed), closed_message=message
    )


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=ZoneInfo(SH))


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.isoformat()


# --- regular hours -----------------------------------------------------------------------------

REGULAR = sched(every_day(DAYTIME))


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        pytest.param(sh(2026, 11, 24, 7, 59), False, id="07:59"),
        pytest.param(sh(2026, 11, 24, 8, 0), True, id="08:00"),
        pytest.param(sh(2026, 11, 24, 23, 59, 59), True, id="23:59:59"),
        pytest.param(sh(2026, 11, 25, 0, 0), False, id="24:00 is the next day's 00:00"),
        pytest.param(sh(2026, 11, 24, 0, 30), False, id="00:30"),
    ],
)
def test_regular_hours(at: datetime, expected: bool) -> None:
    assert is_open(REGULAR, at) is expected
    assert status(REGULAR, at).open is expected


def test_regular_hours_closes_at_midnight_and_reopens_at_eight() -> None:
    late = status(REGULAR, sh(2026, 11, 24, 23, 59, 59))
    assert iso(late.closes_at) == "2026-11-25T00:00:00+08:00"
    assert late.next_open is None
    assert late.today == (DAYTIME,)

    night = status(REGULAR, sh(2026, 11, 25, 0, 0))
    assert night.closes_at is None
    assert iso(night.next_open) == "2026-11-25T08:00:00+08:00"


# --- past midnight -----------------------------------------------------------------------------

FRIDAY_ONLY = on_weekdays([FRI], FRIDAY_NIGHT)
FRIDAY, SATURDAY = date(2026, 11, 20), date(2026, 11, 21)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        pytest.param(sh(2026, 11, 20, 19, 59), False, id="Fri 19:59"),
        pytest.param(sh(2026, 11, 20, 20, 0), True, id="Fri 20:00"),
        pytest.param(sh(2026, 11, 20, 23, 59), True, id="Fri 23:59"),
        pytest.param(sh(2026, 11, 21, 1, 0), True, id="Sat 01:00"),
        pytest.param(sh(2026, 11, 21, 1, 59, 59), True, id="Sat 01:59:59"),
        pytest.param(sh(2026, 11, 21, 2, 0), False, id="Sat 02:00"),
        pytest.param(sh(2026, 11, 22, 1, 0), False, id="Sun 01:00"),
    ],
)
def test_span_past_midnight(at: datetime, expected: bool) -> None:
    assert is_open(sched(FRIDAY_ONLY), at) is expected


def test_span_past_midnight_closes_at_its_end_the_next_day() -> None:
    friday = status(sched(FRIDAY_ONLY), sh(2026, 11, 20, 21, 0))
    saturday = status(sched(FRIDAY_ONLY), sh(2026, 11, 21, 1, 0))
    assert iso(friday.closes_at) == iso(saturday.closes_at) == "2026-11-21T02:00:00+08:00"
    assert friday.today == (FRIDAY_NIGHT,)
    assert saturday.today == ()  # Saturday has no spans of its own


@pytest.mark.parametrize(
    ("schedule", "at", "expected"),
    [
        pytest.param(sched(FRIDAY_ONLY, closed=[SATURDAY]), sh(2026, 11, 21, 1, 0), True, id="next day closed"),
        pytest.param(sched(FRIDAY_ONLY, closed=[FRIDAY]), sh(2026, 11, 21, 1, 0), False, id="start day closed"),
        pytest.param(sched(FRIDAY_ONLY, closed=[FRIDAY]), sh(2026, 11, 20, 21, 0), False, id="start day closed, 21:00"),
        pytest.param(
            sched(FRIDAY_ONLY, special=(SpecialPeriod("stocktake", SATURDAY, date(2026, 11, 22), ()),)),
            sh(2026, 11, 21, 1, 0),
            True,
            id="special period from the next day",
        ),
        pytest.param(
            sched(FRIDAY_ONLY, special=(SpecialPeriod("short", FRIDAY, FRIDAY, (Span(600, 720),)),)),
            sh(2026, 11, 21, 1, 0),
            False,
            id="special period on the start day",
        ),
    ],
)
def test_span_past_midnight_belongs_to_the_day_it_starts(schedule: Schedule, at: datetime, expected: bool) -> None:
    assert is_open(schedule, at) is expected


def test_past_midnight_part_of_a_closed_day_is_not_offered_as_next_open() -> None:
    st = status(sched(FRIDAY_ONLY, closed=[FRIDAY]), sh(2026, 11, 21, 1, 0))
    assert iso(st.next_open) == "2026-11-27T20:00:00+08:00"


# --- special periods and closed dates ---------------------------------------------------------

DOUBLE_ELEVEN = sched(
    every_day(DAYTIME),
    special=(
        SpecialPeriod("11.11", date(2026, 11, 10), date(2026, 11, 12), (Span(0, 1440),)),
        SpecialPeriod("after 11.11", date(2026, 11, 13), date(2026, 11, 14), (Span(480, 1560),)),
        SpecialPeriod("stocktake", date(2026, 12, 1), date(2026, 12, 2), ()),
        SpecialPeriod("shadowed by 11.11", date(2026, 11, 11), date(2026, 11, 11), ()),
    ),
)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        pytest.param(sh(2026, 11, 9, 23, 59), True, id="regular day before"),
        pytest.param(sh(2026, 11, 10, 0, 0), True, id="00:00 right after a span ending 24:00"),
        pytest.param(sh(2026, 11, 11, 3, 0), True, id="11.11 at 03:00 (first period wins)"),
        pytest.param(sh(2026, 11, 12, 23, 59), True, id="last 11.11 day"),
        pytest.param(sh(2026, 11, 13, 0, 30), False, id="after 11.11 before 08:00"),
        pytest.param(sh(2026, 11, 13, 8, 0), True, id="after 11.11 at 08:00"),
        pytest.param(sh(2026, 11, 14, 1, 0), True, id="after 11.11 past midnight"),
        pytest.param(sh(2026, 11, 15, 1, 30), True, id="past-midnight part of the period's last day"),
        pytest.param(sh(2026, 11, 15, 2, 0), False, id="regular again at 02:00"),
        pytest.param(sh(2026, 11, 15, 7, 59), False, id="regular again at 07:59"),
        pytest.param(sh(2026, 12, 1, 12, 0), False, id="period without spans"),
        pytest.param(sh(2026, 12, 2, 23, 0), False, id="period without spans, last day"),
        pytest.param(sh(2026, 12, 3, 8, 0), True, id="regular after the closed period"),
    ],
)
def test_special_periods(at: datetime, expected: bool) -> None:
    assert is_open(DOUBLE_ELEVEN, at) is expected


def test_first_matching_special_period_wins() -> None:
    closed_first = sched(
        every_day(DAYTIME),
        special=(
            SpecialPeriod("closed", date(2026, 11, 11), date(2026, 11, 11), ()),
            SpecialPeriod("11.11", date(2026, 11, 10), date(2026, 11, 12), (Span(0, 1440),)),
        ),
    )
    assert not is_open(closed_first, sh(2026, 11, 11, 12, 0))
    assert is_open(closed_first, sh(2026, 11, 10, 3, 0))
    assert spans_on(closed_first, date(2026, 11, 11)) == ()
    assert spans_on(DOUBLE_ELEVEN, date(2026, 11, 11)) == (Span(0, 1440),)


def test_touching_spans_are_one_opening_across_days() -> None:
    # 08:00-24:00 on the 9th, then 00:00-24:00 from the 10th to the 12th: open without a break.
    assert iso(status(DOUBLE_ELEVEN, sh(2026, 11, 9, 20, 0)).closes_at) == "2026-11-13T00:00:00+08:00"
    assert iso(status(DOUBLE_ELEVEN, sh(2026, 11, 11, 12, 0)).closes_at) == "2026-11-13T00:00:00+08:00"


def test_special_period_without_spans_reopens_after_it() -> None:
    st = status(DOUBLE_ELEVEN, sh(2026, 12, 1, 12, 0))
    assert st.today == ()
    assert iso(st.next_open) == "2026-12-03T08:00:00+08:00"


def test_closed_date() -> None:
    christmas = sched(every_day(DAYTIME), closed=[date(2026, 12, 25)])
    assert iso(status(christmas, sh(2026, 12, 24, 23, 0)).closes_at) == "2026-12-25T00:00:00+08:00"
    assert not is_open(christmas, sh(2026, 12, 25, 0, 0))
    st = status(christmas, sh(2026, 12, 25, 12, 0))
    assert not st.open
    assert st.today == ()
    assert iso(st.next_open) == "2026-12-26T08:00:00+08:00"


# --- next_open ---------------------------------------------------------------------------------

OFFICE = Span(540, 1020)  # 09:00-17:00
WEEKDAYS = on_weekdays(range(5), OFFICE)
MONDAY = date(2026, 11, 23)
NEXT_WEEK = [MONDAY + timedelta(days=n) for n in range(5)]


@pytest.mark.parametrize(
    ("closed", "at", "expected"),
    [
        pytest.param((), sh(2026, 11, 20, 18, 0), "2026-11-23T09:00:00+08:00", id="Fri evening -> Mon"),
        pytest.param((), sh(2026, 11, 22, 12, 0), "2026-11-23T09:00:00+08:00", id="Sun -> Mon"),
        pytest.param((), sh(2026, 11, 23, 8, 59), "2026-11-23T09:00:00+08:00", id="same morning"),
        pytest.param([MONDAY], sh(2026, 11, 20, 18, 0), "2026-11-24T09:00:00+08:00", id="Mon closed -> Tue"),
        pytest.param(NEXT_WEEK, sh(2026, 11, 20, 18, 0), "2026-11-30T09:00:00+08:00", id="week closed -> Mon after"),
    ],
)
def test_next_open(closed: Iterable[date], at: datetime, expected: str) -> None:
    st = status(sched(WEEKDAYS, closed=closed), at)
    assert not st.open
    assert st.closes_at is None
    assert iso(st.next_open) == expected


def test_never_open() -> None:
    st = status(sched(every_day()), sh(2026, 11, 24, 12, 0))
    assert (st.open, st.closes_at, st.next_open, st.today) == (False, None, None, ())


def test_next_open_is_searched_400_days_ahead() -> None:
    def one_day(first: date) -> Schedule:
        return sched(every_day(), special=(SpecialPeriod("event", first, first, (OFFICE,)),))

    assert iso(status(one_day(date(2027, 12, 1)), sh(2026, 11, 24)).next_open) == "2027-12-01T09:00:00+08:00"
    assert status(one_day(date(2028, 6, 1)), sh(2026, 11, 24)).next_open is None


def test_always_open() -> None:
    schedule = always_open(time_zone=SH)
    assert schedule.weekly == every_day(Span(0, 1440))
    assert always_open().time_zone == "UTC"
    for at in (sh(2026, 11, 24, 0, 0), sh(2026, 11, 24, 23, 59, 59), sh(2026, 11, 25, 0, 0), utc(2027, 2, 28, 23, 59)):
        st = status(schedule, at)
        assert st.open
        assert st.closes_at is None  # no closing within the horizon
    assert describe(schedule, status(schedule, sh(2026, 11, 24))) == "Open around the clock."


# --- time zones and DST ------------------------------------------------------------------------


def test_same_instant_differs_by_time_zone() -> None:
    instant = utc(2026, 11, 24, 12, 0)  # 20:00 in Shanghai, 07:00 in New York
    shanghai = status(sched(every_day(DAYTIME), tz=SH), instant)
    new_york = status(sched(every_day(DAYTIME), tz=NY), instant)
    assert shanghai.open
    assert iso(shanghai.closes_at) == "2026-11-25T00:00:00+08:00"
    assert iso(shanghai.at) == "2026-11-24T20:00:00+08:00"
    assert not new_york.open
    assert iso(new_york.next_open) == "2026-11-24T08:00:00-05:00"


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        status(REGULAR, datetime(2026, 11, 24, 12, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open(REGULAR, datetime(2026, 11, 24, 12, 0))


# New York, 2026: spring forward 8 Mar 07:00 UTC (02:00 EST -> 03:00 EDT);
# fall back 1 Nov 06:00 UTC (02:00 EDT -> 01:00 EST).
@pytest.mark.parametrize(
    ("span", "at", "expected_open", "expected_change"),
    [
        pytest.param(Span(60, 150), utc(2026, 3, 8, 6, 30), True, "2026-03-08T03:00:00-04:00", id="end in gap"),
        pytest.param(Span(60, 150), utc(2026, 3, 8, 7, 0), False, "2026-03-09T01:00:00-04:00", id="after gap"),
        pytest.param(Span(150, 300), utc(2026, 3, 8, 6, 0), False, "2026-03-08T03:00:00-04:00", id="start in gap"),
        pytest.param(Span(150, 300), utc(2026, 3, 8, 7, 0), True, "2026-03-08T05:00:00-04:00", id="start in gap, open"),
        pytest.param(Span(130, 170), utc(2026, 3, 8, 6, 0), False, "2026-03-09T02:10:00-04:00", id="span inside gap"),
        pytest.param(Span(0, 90), utc(2026, 11, 1, 4, 30), True, "2026-11-01T01:30:00-04:00", id="first pass, open"),
        pytest.param(Span(0, 90), utc(2026, 11, 1, 5, 45), False, "2026-11-01T01:00:00-05:00", id="clock back reopens"),
        pytest.param(Span(0, 90), utc(2026, 11, 1, 6, 15), True, "2026-11-01T01:30:00-05:00", id="second pass, open"),
        pytest.param(Span(0, 90), utc(2026, 11, 1, 6, 45), False, "2026-11-02T00:00:00-05:00", id="second, closed"),
        pytest.param(Span(100, 300), utc(2026, 11, 1, 5, 45), True, "2026-11-01T01:00:00-05:00", id="back closes"),
        pytest.param(Span(100, 300), utc(2026, 11, 1, 6, 0), False, "2026-11-01T01:40:00-05:00", id="reopens later"),
        pytest.param(DAYTIME, utc(2026, 11, 1, 6, 30), False, "2026-11-01T08:00:00-05:00", id="daytime"),
    ],
)
def test_dst_new_york(span: Span, at: datetime, expected_open: bool, expected_change: str) -> None:
    st = status(sched(every_day(span), tz=NY), at)
    assert st.open is expected_open
    assert iso(st.closes_at if expected_open else st.next_open) == expected_change


@pytest.mark.parametrize("span", [Span(60, 150), Span(150, 300), Span(130, 170), Span(0, 90), Span(100, 300), DAYTIME])
def test_dst_days_are_consistent(span: Span) -> None:
    schedule = sched(every_day(span), tz=NY)
    second = timedelta(seconds=1)
    for start in (utc(2026, 3, 7, 12), utc(2026, 10, 31, 12)):
        for step in range(0, 48 * 60, 20):
            at = start + timedelta(minutes=step)
            st = status(schedule, at)
            assert st.open is is_open(schedule, at)
            change = st.closes_at if st.open else st.next_open
            assert change is not None
            assert change > at
            assert is_open(schedule, change) is not st.open
            # In UTC: arithmetic on aware datetimes of one zone is wall-clock arithmetic.
            assert is_open(schedule, change.astimezone(UTC) - second) is st.open


def test_always_open_across_dst() -> None:
    schedule = always_open(time_zone=NY)
    for at in (utc(2026, 3, 8, 6, 59), utc(2026, 3, 8, 7, 0), utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30)):
        assert status(schedule, at).open


# --- what the visitor is told ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        (DAYTIME, "08:00-24:00"),
        (FRIDAY_NIGHT, "20:00-02:00 (+1)"),
        (Span(0, 1440), "00:00-24:00"),
        (Span(570, 1050), "09:30-17:30"),
        (Span(1200, 2640), "20:00-20:00 (+1)"),
        (Span(0, 5), "00:00-00:05"),
    ],
)
def test_format_span(span: Span, expected: str) -> None:
    assert format_span(span) == expected


def test_closed_status_for_the_visitor() -> None:
    schedule = sched(WEEKDAYS, message="Leave us a message and we will reply by email.")
    st = status(schedule, sh(2026, 11, 24, 18, 0))
    assert hours_json(st) == {
        "open": False,
        "time_zone": "Asia/Shanghai",
        "today": ["09:00-17:00"],
        "closes_at": None,
        "next_open": "2026-11-25T09:00:00+08:00",
    }
    assert describe(schedule, st) == (
        "Leave us a message and we will reply by email. We are closed now. "
        "Today's hours: 09:00-17:00 (Asia/Shanghai). We open again on Wed 25 Nov at 09:00."
    )


@pytest.mark.parametrize(
    ("schedule", "at", "expected"),
    [
        pytest.param(
            REGULAR,
            sh(2026, 11, 24, 7, 0),
            "We are closed now. Today's hours: 08:00-24:00 (Asia/Shanghai). We open again today at 08:00.",
            id="later today",
        ),
        pytest.param(
            sched(every_day(DAYTIME), closed=[date(2026, 12, 25)]),
            sh(2026, 12, 25, 12, 0),
            "We are closed now. No service today. We open again on Sat 26 Dec at 08:00 (Asia/Shanghai).",
            id="closed date",
        ),
        pytest.param(
            sched(every_day(DAYTIME), closed=[date(2026, 12, 31)]),
            sh(2026, 12, 31, 12, 0),
            "We are closed now. No service today. We open again on Fri 1 Jan 2027 at 08:00 (Asia/Shanghai).",
            id="next year",
        ),
        pytest.param(
            sched(every_day(), message="Closed for good."),
            sh(2026, 11, 24, 12, 0),
            "Closed for good. We are closed now. No service today. We have no opening hours scheduled.",
            id="never",
        ),
    ],
)
def test_describe_closed(schedule: Schedule, at: datetime, expected: str) -> None:
    assert describe(schedule, status(schedule, at)) == expected


def test_open_status_for_the_visitor() -> None:
    st = status(REGULAR, sh(2026, 11, 24, 12, 0))
    assert hours_json(st) == {
        "open": True,
        "time_zone": "Asia/Shanghai",
        "today": ["08:00-24:00"],
        "closes_at": "2026-11-25T00:00:00+08:00",
        "next_open": None,
    }
    assert describe(REGULAR, st) == "Open until 24:00 (Asia/Shanghai)."


@pytest.mark.parametrize(
    ("schedule", "at", "expected"),
    [
        pytest.param(sched(FRIDAY_ONLY), sh(2026, 11, 20, 21, 0), "Open until 02:00 tomorrow", id="Fri"),
        pytest.param(sched(FRIDAY_ONLY), sh(2026, 11, 21, 1, 0), "Open until 02:00", id="Sat"),
        pytest.param(DOUBLE_ELEVEN, sh(2026, 11, 10, 12, 0), "Open until Fri 13 Nov at 00:00", id="11.11"),
        pytest.param(sched(WEEKDAYS, message="Not shown while open."), sh(2026, 11, 24, 9, 0), "Open until 17:00"),
    ],
)
def test_describe_open(schedule: Schedule, at: datetime, expected: str) -> None:
    assert describe(schedule, status(schedule, at)) == f"{expected} (Asia/Shanghai)."


# --- in the visitor's language --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "at", "expected"),
    [
        pytest.param(REGULAR, sh(2026, 11, 24, 7, 0),
                     "现在是非服务时间。今日服务时间：08:00-24:00（Asia/Shanghai）。我们将于今天 08:00 恢复服务。",
                     id="later today"),
        pytest.param(sched(every_day(DAYTIME), closed=[date(2026, 12, 25)]), sh(2026, 12, 25, 12, 0),
                     "现在是非服务时间。今日暂停服务。我们将于12月26日（周六） 08:00 恢复服务（Asia/Shanghai）。",
                     id="closed date"),
        pytest.param(sched(every_day(DAYTIME), closed=[date(2026, 12, 31)]), sh(2026, 12, 31, 12, 0),
                     "现在是非服务时间。今日暂停服务。我们将于2027年1月1日（周五） 08:00 恢复服务（Asia/Shanghai）。",
                     id="next year"),
        pytest.param(sched(every_day(), message={"en": "Closed for good.", "zh-CN": "本店已停止营业。"}),
                     sh(2026, 11, 24, 12, 0), "本店已停止营业。现在是非服务时间。今日暂停服务。暂未安排服务时间。",
                     id="the shop's own message"),
        pytest.param(sched(every_day(DAYTIME), tz=NY), utc(2026, 11, 24, 12, 0),
                     "现在是非服务时间。今日服务时间：08:00-24:00（America/New_York）。我们将于今天 08:00 恢复服务。",
                     id="the schedule's own zone"),
        pytest.param(sched(FRIDAY_ONLY), sh(2026, 11, 20, 21, 0), "服务至明天 02:00（Asia/Shanghai）。", id="open"),
        pytest.param(DOUBLE_ELEVEN, sh(2026, 11, 10, 12, 0), "服务至11月13日（周五） 00:00（Asia/Shanghai）。",
                     id="open until another day"),
    ],
)
@pytest.mark.parametrize("language", ["zh-CN", "zh", "zh-Hans-CN"])
def test_describe_in_chinese(schedule: Schedule, at: datetime, expected: str, language: str) -> None:
    assert describe(schedule, status(schedule, at), language) == expected


def test_describe_in_english_for_other_languages_with_the_shops_english() -> None:
    schedule = sched(every_day(), message={"en": "Closed for good.", "zh-CN": "本店已停止营业。"})
    for language in ("en-US", "fr", None):
        assert describe(schedule, status(schedule, sh(2026, 11, 24, 12, 0)), language) == (
            "Closed for good. We are closed now. No service today. We have no opening hours scheduled.")
