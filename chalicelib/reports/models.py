"""The reports' aggregates: one item per scope and hour, summed as conversations end (chalicelib/reports/
figures.py names the counters). The counters are numbers added with ``ADD``, and their names depend on the
data (wrap-up codes), so only the keys are declared; the store reads and writes the items with the low-level
client."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.platform.modelbase import meta


class ReportHour(Model):
    """``scope``: ``all``, ``g#{group}``, ``a#{agent}``, ``c#{channel}`` or ``k#{category}``; ``hour``: hours
    since the epoch (UTC). A report over a range is one Query per scope, whatever the number of conversations."""

    Meta = meta("reports")
    scope = UnicodeAttribute(hash_key=True)
    hour = NumberAttribute(range_key=True)
