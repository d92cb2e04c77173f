"""Structured logging through Powertools: one JSON object per line, which CloudWatch Logs Insights
queries by field (connection, action, error); and the error counts that Lambda's own metrics miss."""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

logger = Logger(service="customer-service", child=False)

METRICS_NAMESPACE = "CustomerService"
# Frames that $default failed on unexpectedly. The handler answers them with internal_error instead of
# raising, so the function's Errors metric never counts them: this one does, and infra/ alarms on it.
FRAME_ERRORS_METRIC = "FrameErrors"
FRAME_ERRORS_SERVICE = "im"


def count_frame_error() -> None:
    """One frame failed: an EMF line on stdout, which CloudWatch turns into the metric (off locally through
    POWERTOOLS_METRICS_DISABLED). A metric set of its own, so no other metric of the process is flushed with it."""
    metrics = EphemeralMetrics(namespace=METRICS_NAMESPACE, service=FRAME_ERRORS_SERVICE)
    metrics.add_metric(name=FRAME_ERRORS_METRIC, unit=MetricUnit.Count, value=1)
    metrics.flush_metrics()
