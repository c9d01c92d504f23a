"""`MODEL_REGISTRY`: model type → family class, imported lazily (TensorFlow loads only for GRU/LSTM).

Adding a family is one entry here (plus its compose service and its name in EXPECTED_MODEL_TYPES).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from flts.models.base import ForecastModel, read_manifest

MODEL_REGISTRY: dict[str, str] = {
    "NAIVE": "flts.models.naive:NaiveModel",
    "GRU": "flts.models.recurrent:GruModel",
    "LSTM": "flts.models.recurrent:LstmModel",
    "PROPHET": "flts.models.prophet_family:ProphetModel",
}


class UnknownModelTypeError(ValueError):
    """The model type is not in MODEL_REGISTRY."""


def model_class(model_type: str) -> type[ForecastModel]:
    """The family class registered for `model_type` (case-insensitive)."""
    key = model_type.strip().upper()
    if key not in MODEL_REGISTRY:
        raise UnknownModelTypeError(f"unknown model type {model_type!r}; known: {sorted(MODEL_REGISTRY)}")
    module_name, class_name = MODEL_REGISTRY[key].split(":")
    family: type[ForecastModel] = getattr(importlib.import_module(module_name), class_name)
    return family


def build_model(model_type: str, **hyper: Any) -> ForecastModel:
    """A new, unfitted model; unknown or invalid hyper-parameters raise a pydantic ValidationError."""
    family = model_class(model_type)
    return family(family.hyper_class(**hyper))


def load_model(directory: str | Path) -> ForecastModel:
    """Reload a model folder written by `ForecastModel.save` (any family)."""
    manifest = read_manifest(directory)
    return model_class(manifest["model_type"]).from_manifest(Path(directory), manifest)
