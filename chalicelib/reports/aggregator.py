"""The sessions stream's consumer that keeps the reports' aggregates (chalicelib/sessions/stream.py registers it)."""

from __future__ import annotations

from chalicelib.reports.figures import deltas, merge
from chalicelib.reports.store import ReportStore
from chalicelib.sessions.stream import StreamBatch

# Sums a window may hold before they are written early (Lambda keeps at most 1 MB of state per shard; an item's
# sums take at most about 400 bytes of JSON).
MAX_HELD = 1500


class ReportAggregator:
    """The sessions stream's consumer that keeps the reports: sums a window's changes per (scope, hour) in the
    window's state and writes them once, at the window's end (or early if they grow large)."""

    def __init__(self, store: ReportStore) -> None:
        self._store = store

    def __call__(self, batch: StreamBatch) -> None:
        state = batch.state
        if batch.changes:
            merge(state.setdefault("sums", {}), deltas(batch.changes))
            state.setdefault("first", batch.changes[0].seq)
            state["last"] = batch.changes[-1].seq
        if state.get("sums") and (batch.final or len(state["sums"]) > MAX_HELD):
            self._store.apply(state["sums"], batch.shard_id, state["first"], state["last"])
            state.clear()
