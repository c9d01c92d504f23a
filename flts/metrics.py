"""Prometheus metrics shared by every service, and helpers to serve them.

Metric objects are declared once here (the default registry); services add their own in their
packages. Names are stable: the Grafana dashboards query them.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

MESSAGES = Counter(
    "flts_messages_total",
    "Kafka messages by consumer outcome (handled, retried, dead_lettered)",
    ["service", "topic", "outcome"],
)
DLQ_MESSAGES = Counter(
    "flts_dlq_messages_total",
    "Messages sent to a dead-letter topic, by source topic and error type",
    ["service", "topic", "error_type"],
)
HANDLER_SECONDS = Histogram(
    "flts_handler_seconds",
    "Time a consumer handler took for one message",
    ["service", "topic"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)


def render_latest() -> tuple[bytes, str]:
    """The default registry in Prometheus text format, with its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
