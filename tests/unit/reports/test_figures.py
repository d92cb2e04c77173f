"""What an ended conversation adds to the reports, and what sums read as: pure, no I/O."""

from __future__ import annotations

from chalicelib.reports.figures import EDGES, bucket_of, closed_counts, figures, quantile, within
from chalicelib.sessions import models as sm
from chalicelib.sessions.models import Session

T0 = 1_796_634_000_000


def ended(**attrs: object) -> Session:
    fields: dict[str, object] = {"visitor_id": "v_1", "status": sm.CLOSED, "created_at": T0, "updated_at": T0,
                                 "closed_at": T0 + 600_000, **attrs}
    return Session("s_" + "0" * 20, **fields)


def test_a_robot_only_chat_a_served_one_and_an_abandoned_one() -> None:
    assert closed_counts(ended()) == {"n": 1, "bot": 1}
    served = closed_counts(ended(handoff_at=T0, first_assigned_at=T0 + 20_000, first_response_at=T0 + 50_000,
                                 close_reason=sm.RESOLVED, transfers=2, wrapup="returns", survey_sent_at=T0))
    assert served == {"n": 1, "ho": 1, "srv": 1, "wn": 1, "ws": 20_000, "w3": 1, "fn": 1, "fs": 50_000, "f6": 1,
                      "hn": 1, "hs": 580_000, "tr": 2, "trs": 1, "res": 1, "wu:returns": 1, "sv": 1}
    assert closed_counts(ended(handoff_at=T0)) == {"n": 1, "ho": 1, "ab": 1}
    # Asked for a person, then left a message rather than wait: handed off, not abandoned.
    assert closed_counts(ended(handoff_at=T0, left_message_at=T0)) == {"n": 1, "ho": 1}
    # The robot handed over (robot_off) during closed hours, no queue: handed off, neither served nor abandoned.
    assert closed_counts(ended(robot_off=True)) == {"n": 1, "ho": 1}


def test_histogram_buckets_quantiles_and_service_levels() -> None:
    assert [bucket_of(s) for s in (0, 5, 5.1, 3600, 3601)] == [0, 0, 1, len(EDGES) - 1, len(EDGES)]
    counts = {"f0": 5, "f1": 5}  # five answers within 5 s, five within 10 s
    assert quantile(counts, "f", 0.5) == 5.0
    assert quantile(counts, "f", 0.9) == 9.0  # 80% into the 5-10 s bucket
    assert quantile({f"f{len(EDGES)}": 3}, "f", 0.9) == float(EDGES[-1])  # over an hour: the open bucket's edge
    assert quantile({}, "f", 0.9) is None
    assert within(counts, "f", 5) == 0.5 and within(counts, "f", 10) == 1.0 and within({}, "f", 10) is None


def test_rates_divide_only_what_is_there() -> None:
    out = figures({"n": 4, "bot": 1, "ho": 3, "srv": 2, "ab": 1, "sv": 2, "rt": 1, "rs": 5, "r5": 1}, 60)
    assert (out["robot_resolution_rate"], out["handoff_rate"], out["abandonment_rate"]) == (0.25, 0.75, 0.3333)
    assert (out["csat_mean"], out["csat_satisfied_share"], out["csat_answer_rate"]) == (5.0, 1.0, 0.5)
    empty = figures({}, 60)
    assert empty["conversations"] == 0 and empty["robot_resolution_rate"] is None and empty["csat_mean"] is None
    assert empty["wrapup"] == {} and empty["sla_share"] is None
