"""Errors raised by the feature pipeline; each names the problem so a DLQ record or a 422 can say why."""

from __future__ import annotations


class FeatureError(ValueError):
    """Base class: the input cannot be turned into features (a poison input, never retryable)."""


class EmptyDatasetError(FeatureError):
    """The CSV or frame holds no data rows (or no bytes at all)."""


class MalformedCsvError(FeatureError):
    """The bytes are not a readable CSV table."""


class MissingTimeColumnError(FeatureError):
    """There is no `time` column."""


class TimestampParseError(FeatureError):
    """Some `time` values are not timestamps."""


class NonNumericColumnError(FeatureError):
    """A feature column holds values that are not numbers."""


class MissingColumnsError(FeatureError):
    """Columns the configuration or the fitted feature spec requires are absent."""


class TooShortError(FeatureError):
    """Too few rows for one window of `input_seq_len` inputs and `output_seq_len` targets."""
