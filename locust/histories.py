"""Request bodies for /predict: windows of raw history, generated once before the load starts.

With the project installed (`locust -f locust/locustfile.py` from the venv) the windows come from
`flts.synthetic.generate_dataset`, the generator the tests and the demo use. The official locust image
cannot import `flts` (nor numpy/pandas), so there a small standard-library generator with the same
columns, 2-minute steps and daily cycle stands in. Importing this module does no work.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

COLUMNS: tuple[str, ...] = (
    "time",
    "down",
    "up",
    "rnti_count",
    "mcs_down",
    "mcs_down_var",
    "mcs_up",
    "mcs_up_var",
    "rb_down",
    "rb_down_var",
    "rb_up",
    "rb_up_var",
)
START = "2018-03-28 15:56:00"
STEP = timedelta(minutes=2)


def generate_columns(rows: int, seed: int = 7, site: int = 0) -> tuple[str, dict[str, list[Any]]]:
    """`rows` consecutive rows of raw traffic as columns; returns (source, columns)."""
    try:
        from flts.synthetic import generate_dataset
    except ImportError:  # the locust image: no flts, no numpy/pandas
        return "inline", _inline_columns(rows, seed, site)
    frame = generate_dataset(rows=rows, seed=seed, site=site, nan_fraction=0.0)
    return "flts.synthetic", {column: frame[column].tolist() for column in COLUMNS}


def _inline_columns(rows: int, seed: int, site: int) -> dict[str, list[Any]]:
    rng = random.Random(seed + 1009 * site)
    start = datetime.strptime(START, "%Y-%m-%d %H:%M:%S")
    columns: dict[str, list[Any]] = {column: [] for column in COLUMNS}
    for row in range(rows):
        moment = start + row * STEP
        phase = 2 * math.pi * (row * 2 / 1440.0 + 0.07 * site)
        weekly = 0.75 if moment.weekday() >= 5 else 1.0
        activity = (1.0 + 0.35 * site) * (0.55 + 0.45 * math.sin(phase - math.pi / 2)) * weekly
        rb_down = (0.03 * activity + 0.002) * rng.lognormvariate(0.0, 0.25)
        rb_up = (0.0006 * activity + 0.00005) * rng.lognormvariate(0.0, 0.3)
        values = {
            "time": moment.strftime("%Y-%m-%d %H:%M:%S"),
            "down": 1.5e8 * activity * rng.lognormvariate(0.0, 0.35),
            "up": 2.0e6 * activity * rng.lognormvariate(0.0, 0.45),
            "rnti_count": float(max(1, round(rng.gauss(9000 * activity + 200, 95)))),
            "mcs_down": min(28.0, max(0.0, 18 + 4 * math.sin(phase) + rng.gauss(0, 1.5))),
            "mcs_down_var": abs(rng.gauss(85, 8)),
            "mcs_up": min(28.0, max(0.0, 12 + 3 * math.cos(phase) + rng.gauss(0, 1.5))),
            "mcs_up_var": abs(rng.gauss(55, 10)),
            "rb_down": rb_down,
            "rb_down_var": abs(rb_down * rng.gauss(1.5e-6, 4e-7)),
            "rb_up": rb_up,
            "rb_up_var": abs(rb_up * rng.gauss(6e-5, 2e-5)),
        }
        for column in COLUMNS:
            columns[column].append(values[column])
    return columns


def window_bodies(
    columns: dict[str, Sequence[Any]],
    count: int,
    rows: int,
    identifier: str | None = None,
    horizon: int | None = None,
    seed: int = 11,
) -> list[bytes]:
    """`count` JSON bodies, each a window of `rows` consecutive rows at random offsets."""
    total = len(columns["time"])
    if total < rows:
        raise ValueError(f"need at least {rows} rows, got {total}")
    rng = random.Random(seed)
    bodies = []
    for _ in range(count):
        offset = rng.randrange(total - rows + 1)
        body: dict[str, Any] = {}
        if identifier:
            body["identifier"] = identifier
        body["history"] = {column: list(columns[column][offset : offset + rows]) for column in COLUMNS}
        if horizon:
            body["horizon"] = horizon
        bodies.append(json.dumps(body, separators=(",", ":")).encode())
    return bodies


def build_history_bodies(
    count: int = 256,
    rows: int = 10,
    identifier: str | None = None,
    horizon: int | None = None,
    seed: int = 7,
) -> tuple[str, list[bytes]]:
    """Generate the pool of /predict bodies once; returns (generator used, bodies)."""
    source, columns = generate_columns(rows=max(rows * 4, 2000), seed=seed)
    return source, window_bodies(columns, count, rows, identifier, horizon, seed=seed + 4)
