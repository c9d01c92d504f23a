"""The same session fixtures as tests/ (real broker, S3, MLflow), for the inference service's own tests."""

from tests.helpers.fixtures import *  # noqa: F403  (pytest finds fixtures by name)
