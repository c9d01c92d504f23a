"""Fixtures for tests/: see tests/helpers/fixtures.py."""

from tests.helpers.fixtures import *  # noqa: F403  (pytest finds fixtures by name)
from tests.helpers.fixtures import ROOT

__all__ = ["ROOT"]
