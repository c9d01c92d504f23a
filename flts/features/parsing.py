"""Raw input → a clean frame: `time` (datetime64) first, then float64 feature columns, sorted by time.

`parse_csv` turns uploaded bytes into a DataFrame; `normalize_frame` applies the rules every raw frame
goes through (CSV, Parquet or a serving request alike): duplicate columns repaired, timestamps parsed,
numbers checked, rows sorted, duplicate timestamps collapsed, the `value` seed convention applied.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import pandas as pd

from flts.features.errors import (
    EmptyDatasetError,
    MalformedCsvError,
    MissingColumnsError,
    MissingTimeColumnError,
    NonNumericColumnError,
    TimestampParseError,
    TooShortError,
)

TIME_COLUMN = "time"
VALUE_TARGET = "value"
# utf-8-sig reads plain utf-8 too and strips a BOM; latin-1 decodes any byte string.
ENCODINGS: tuple[str, ...] = ("utf-8-sig", "utf-8", "latin-1")


def decode_csv_bytes(data: bytes) -> str:
    """Decode with the first encoding that works."""
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise MalformedCsvError("the CSV is in none of the encodings " + ", ".join(ENCODINGS))  # unreachable


def parse_csv(data: bytes, min_rows: int = 1) -> pd.DataFrame:
    """Parse raw CSV bytes (a header row with a `time` column) into a frame with the original columns.

    The frame is not normalised yet (see `normalize_frame`); `min_rows` is the smallest acceptable
    number of data rows (pass `config.window_rows` to refuse a file too short for one window).
    """
    text = decode_csv_bytes(data)
    if not text.strip():
        raise EmptyDatasetError("the CSV is empty")
    try:
        header = next(csv.reader(io.StringIO(text)))
        frame = pd.read_csv(io.StringIO(text), skipinitialspace=True)
    except (pd.errors.ParserError, csv.Error, StopIteration) as exc:
        raise MalformedCsvError(f"the CSV cannot be read: {exc}") from exc
    except pd.errors.EmptyDataError as exc:
        raise EmptyDatasetError("the CSV has no header row") from exc
    if len(header) == frame.shape[1]:
        frame.columns = [name.strip() for name in header]  # undo pandas' "col.1" renaming of duplicates
    frame = repair_duplicate_columns(frame)
    find_time_column(frame)
    if frame.empty:
        raise EmptyDatasetError("the CSV has a header but no data rows")
    if len(frame) < min_rows:
        raise TooShortError(f"the CSV has {len(frame)} data rows; one window needs {min_rows}")
    return frame


def repair_duplicate_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep the first of several columns with the same name, so the feature count always matches."""
    frame = frame.rename(columns=lambda name: str(name).strip())
    return frame.loc[:, ~frame.columns.duplicated()]


def find_time_column(frame: pd.DataFrame) -> str:
    """The name of the `time` column (matched case-insensitively)."""
    for name in frame.columns:
        if str(name).strip().lower() == TIME_COLUMN:
            return str(name)
    raise MissingTimeColumnError(f"no `time` column; columns are {list(frame.columns)}")


def parse_timestamps(values: pd.Series) -> pd.Series:
    """Timestamps as naive datetime64[ns]; timezone-aware values are converted to UTC first."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values.dt.tz_convert("UTC") if values.dt.tz is not None else values.dt.tz_localize("UTC")
    else:
        text = values.astype("string").str.strip()
        parsed = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
        if parsed.isna().sum() > text.isna().sum():
            parsed = pd.to_datetime(text, errors="coerce", format="mixed", utc=True)
    bad = parsed.isna()
    if bad.any():
        examples = values[bad].astype(str).head(3).tolist()
        raise TimestampParseError(f"{int(bad.sum())} `time` values are not timestamps, e.g. {examples}")
    return parsed.dt.tz_localize(None).astype("datetime64[ns]")


def coerce_numeric(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column as float64; a value that is present but not a number raises NonNumericColumnError."""
    converted: dict[str, pd.Series] = {}
    problems: list[str] = []
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
            converted[name] = column.astype("float64")
            continue
        numbers = pd.to_numeric(column.astype("string").str.strip().replace("", pd.NA), errors="coerce")
        bad = numbers.isna() & column.notna() & (column.astype("string").str.strip() != "")
        if bad.any():
            problems.append(f"{name} (e.g. {column[bad].astype(str).iloc[0]!r})")
        converted[name] = numbers.astype("float64")
    if problems:
        raise NonNumericColumnError("non-numeric values in feature columns: " + ", ".join(problems))
    return pd.DataFrame(converted, index=frame.index)


def collapse_duplicate_times(frame: pd.DataFrame, rule: str) -> pd.DataFrame:
    """One row per timestamp: the mean of the duplicates, or the first or last of them."""
    if not frame[TIME_COLUMN].duplicated().any():
        return frame
    grouped = frame.groupby(TIME_COLUMN, sort=True)
    collapsed = grouped.mean() if rule == "mean" else grouped.first() if rule == "first" else grouped.last()
    return collapsed.reset_index()


def apply_value_convention(frame: pd.DataFrame, targets: Sequence[str], value_source: str) -> pd.DataFrame:
    """Seed convention: a requested but missing `value` target is `value_source`, moved to the end."""
    if VALUE_TARGET not in targets or VALUE_TARGET in frame.columns:
        return frame
    if value_source not in frame.columns:
        raise MissingColumnsError(
            f"target `value` is missing and its source column `{value_source}` is missing too"
        )
    derived = frame.drop(columns=[value_source])
    derived[VALUE_TARGET] = frame[value_source]
    return derived


def normalize_frame(
    frame: pd.DataFrame, targets: Sequence[str], value_source: str, duplicate_rule: str
) -> pd.DataFrame:
    """The rules every raw frame goes through; returns `time` then float64 columns, sorted by time."""
    frame = repair_duplicate_columns(frame)
    time_name = find_time_column(frame)
    if frame.empty:
        raise EmptyDatasetError("no data rows")
    times = parse_timestamps(frame[time_name].reset_index(drop=True))
    features = coerce_numeric(frame.drop(columns=[time_name]).reset_index(drop=True))
    if features.shape[1] == 0:
        raise MissingColumnsError("no feature columns besides `time`")
    clean = pd.concat([times.rename(TIME_COLUMN), features], axis=1)
    clean = clean.sort_values(TIME_COLUMN, kind="stable").reset_index(drop=True)
    clean = collapse_duplicate_times(clean, duplicate_rule)
    clean = apply_value_convention(clean, targets, value_source)
    missing = [name for name in targets if name not in clean.columns]
    if missing:
        raise MissingColumnsError(f"target columns missing: {missing}")
    return clean
