"""The Prometheus metrics FLTS services export: the one list dashboards and tests check against.

Dashboards (monitoring/grafana/dashboards/*.json) may only query these names. The static tests check the
dashboards against this list; the end-to-end test checks it against the running services' /metrics.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MetricSpec:
    name: str  # the family name as written in code (counters without `_total` are not used here)
    kind: str  # "counter", "gauge" or "histogram"
    labels: tuple[str, ...]
    owner: str  # "shared" (every service) or the package that declares it

    def series_names(self) -> tuple[str, ...]:
        """The names that appear in /metrics output and in PromQL for this family."""
        if self.kind == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)


def _spec(name: str, kind: str, labels: Iterable[str], owner: str) -> MetricSpec:
    return MetricSpec(name, kind, tuple(labels), owner)


CATALOGUE: tuple[MetricSpec, ...] = (
    # shared: every service (flts/metrics.py)
    _spec("flts_messages_total", "counter", ("service", "topic", "outcome"), "shared"),
    _spec("flts_dlq_messages_total", "counter", ("service", "topic", "error_type"), "shared"),
    _spec("flts_handler_seconds", "histogram", ("service", "topic"), "shared"),
    # gateway
    _spec("gateway_requests_total", "counter", ("method", "route", "status"), "fastapi_gateway"),
    _spec("gateway_request_seconds", "histogram", ("method", "route"), "fastapi_gateway"),
    _spec("gateway_bytes_total", "counter", ("direction",), "fastapi_gateway"),
    # preprocess
    _spec("preprocess_runs_total", "counter", ("outcome",), "preprocess_container"),
    _spec("preprocess_seconds", "histogram", (), "preprocess_container"),
    _spec("preprocess_claims_total", "counter", ("topic",), "preprocess_container"),
    # trainers
    _spec("trainer_runs_total", "counter", ("model_type", "status"), "train_container"),
    _spec("trainer_seconds", "histogram", ("model_type",), "train_container"),
    _spec("trainer_last_test_rmse", "gauge", ("model_type", "identifier"), "train_container"),
    _spec("trainer_duplicates_skipped_total", "counter", ("model_type",), "train_container"),
    # eval
    _spec("eval_promotions_total", "counter", ("identifier",), "eval_container"),
    _spec("eval_events_total", "counter", ("outcome",), "eval_container"),
    _spec("eval_candidates", "gauge", ("identifier",), "eval_container"),
    _spec("eval_last_score", "gauge", ("identifier", "model_type"), "eval_container"),
    # inference
    _spec("inference_requests_total", "counter", ("endpoint", "status"), "inference_container"),
    _spec("inference_request_seconds", "histogram", ("endpoint",), "inference_container"),
    _spec("inference_queue_wait_seconds", "histogram", (), "inference_container"),
    _spec("inference_queue_depth", "gauge", (), "inference_container"),
    _spec("inference_workers", "gauge", (), "inference_container"),
    _spec("inference_batch_size", "histogram", (), "inference_container"),
    _spec("inference_model_ready", "gauge", (), "inference_container"),
    _spec(
        "inference_model_info",
        "gauge",
        ("identifier", "run_id", "model_type", "config_hash"),
        "inference_container",
    ),
    _spec("inference_predictions_total", "counter", ("identifier",), "inference_container"),
    _spec("inference_kafka_records_total", "counter", ("outcome",), "inference_container"),
    _spec("inference_kafka_queue_depth", "gauge", (), "inference_container"),
    _spec("inference_performance_mae", "gauge", ("identifier",), "inference_container"),
    _spec("inference_performance_rmse", "gauge", ("identifier",), "inference_container"),
)

BY_NAME: dict[str, MetricSpec] = {spec.name: spec for spec in CATALOGUE}


def exported_series_names() -> frozenset[str]:
    """Every series name a dashboard may use (histograms as _bucket/_sum/_count)."""
    return frozenset(name for spec in CATALOGUE for name in spec.series_names())


def family_of(series_name: str) -> MetricSpec | None:
    """The catalogued family a series name belongs to (`x_bucket` → x), or None."""
    if series_name in BY_NAME:
        return BY_NAME[series_name]
    for suffix in ("_bucket", "_sum", "_count"):
        base = series_name.removesuffix(suffix)
        if base != series_name and base in BY_NAME and BY_NAME[base].kind == "histogram":
            return BY_NAME[base]
    return None


# -- PromQL: which metric names does an expression reference? ---------------------------------------

_KEYWORDS = frozenset(
    {
        "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
        "offset", "bool", "inf", "nan", "atan2", "start", "end",
    }
)  # fmt: skip
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+|\[\[\w+\]\]")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?")
_NUMBER_LIKE = re.compile(r"^(0x[0-9a-fA-F]+|\d+(\.\d+)?([eE][+-]?\d+)?|[0-9]+[smhdwy])$")


def promql_metric_names(expression: str) -> set[str]:
    """Metric names referenced by a PromQL expression (functions, keywords, labels removed).

    Grafana variables ($__rate_interval, ${x}) are dropped first; label matchers, ranges, strings and
    `by (...)`-style groupings are removed before the remaining bare identifiers are read as names.
    """
    text = _GRAFANA_VARIABLE.sub("1m", expression)
    text = _STRING.sub(" ", text)
    names: set[str] = set()
    # `{__name__="x"}` style selectors name a metric inside the matchers.
    names.update(re.findall(r'__name__\s*=\s*"([^"]+)"', _GRAFANA_VARIABLE.sub("1m", expression)))
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    for match in _IDENTIFIER.finditer(text):
        word, call = match.group(1), match.group(2)
        if call or word.lower() in _KEYWORDS or _NUMBER_LIKE.match(word):
            continue
        names.add(word)
    return names


# -- Grafana dashboards ------------------------------------------------------------------------------


def iter_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in (collapsed) rows."""
    stack = list(dashboard.get("panels") or [])
    while stack:
        panel = stack.pop(0)
        yield panel
        stack.extend(panel.get("panels") or [])


def panel_expressions(panel: dict[str, Any]) -> list[str]:
    """The PromQL expressions of a panel's queries (hidden ones too)."""
    return [str(target["expr"]) for target in panel.get("targets") or [] if target.get("expr")]


def series_in_exposition(text: str, include_declared: bool = True) -> set[str]:
    """Series names in a /metrics response (Prometheus text format), e.g. for the end-to-end check.

    A labelled metric has no samples until a label set is used, but its `# TYPE` line is there: with
    `include_declared` such declared families count too (counters as `_total`, histograms as
    `_bucket`/`_sum`/`_count`).
    """
    from prometheus_client.parser import text_string_to_metric_families

    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(sample.name for sample in family.samples)
        if include_declared:
            if family.type == "counter":
                names.add(f"{family.name}_total")
            elif family.type == "histogram":
                names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
            else:
                names.add(family.name)
    return names
