"""JSON-lines logging, configured once per process; every record carries a stable `event` name.

Use `log_event(logger, "event_name", key=value, ...)`; context such as service, identifier,
config_hash and run_id goes in as keyword fields.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_DROPPED = {"color_message"}  # uvicorn's ANSI copy of the message


class JsonLineFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "event": getattr(record, "event", None) or record.getMessage(),
        }
        message = record.getMessage()
        if message and message != payload["event"]:
            payload["message"] = message
        for key, value in vars(record).items():
            if key not in _RESERVED and key not in _DROPPED and key != "event" and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            payload["traceback"] = "".join(traceback.format_exception(*record.exc_info)).strip()
        return json.dumps(payload, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route every logger to stdout as JSON lines. Call once, from `main`."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonLineFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "httpx", "httpcore", "botocore", "uvicorn.access", "cmdstanpy", "prophet"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)  # "plotly missing": we plot with matplotlib


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one structured event: `event` is the stable name dashboards and tests rely on."""
    exc_info = fields.pop("exc_info", None)
    extra = {(f"{key}_" if key in _RESERVED else key): value for key, value in fields.items()}
    logger.log(level, event, extra={"event": event, **extra}, exc_info=exc_info)
