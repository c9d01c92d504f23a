"""Inference metrics (names are what the Grafana dashboards query)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

REQUESTS = Counter("inference_requests_total", "HTTP requests by endpoint and status", ["endpoint", "status"])
REQUEST_SECONDS = Histogram(
    "inference_request_seconds",
    "Request latency from arrival to response (queue wait included)",
    ["endpoint"],
    buckets=_LATENCY,
)
QUEUE_WAIT = Histogram(
    "inference_queue_wait_seconds",
    "Time a /predict job waited in the queue before its batch started",
    buckets=_LATENCY,
)
QUEUE_DEPTH = Gauge("inference_queue_depth", "/predict jobs waiting in the queue")
WORKERS = Gauge("inference_workers", "Active inference workers (concurrent model batches)")
BATCH_SIZE = Histogram(
    "inference_batch_size", "Requests per model call", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
)
MODEL_READY = Gauge("inference_model_ready", "1 while at least one promoted model is loaded and serving")
MODEL_INFO = Gauge(
    "inference_model_info",
    "The model served per identifier (value 1)",
    ["identifier", "run_id", "model_type", "config_hash"],
)
PREDICTIONS = Counter("inference_predictions_total", "Forecasts served, per identifier", ["identifier"])
KAFKA_RECORDS = Counter(
    "inference_kafka_records_total",
    "inference-data records by outcome (done, expired, dlq, duplicate)",
    ["outcome"],
)
KAFKA_QUEUE_DEPTH = Gauge("inference_kafka_queue_depth", "inference-data records queued for processing")
PERFORMANCE_MAE = Gauge(
    "inference_performance_mae", "MAE of the last batch forecast vs actuals", ["identifier"]
)
PERFORMANCE_RMSE = Gauge(
    "inference_performance_rmse", "RMSE of the last batch forecast vs actuals", ["identifier"]
)
