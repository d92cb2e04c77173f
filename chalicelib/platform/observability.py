"""Structured logging through Powertools: one JSON object per line, which CloudWatch Logs Insights
queries by field (connection, action, error)."""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="customer-service", child=False)
