"""PROPHET: one Prophet model per target on the same training split, no holiday calendars.

Prophet is a model of time alone: it forecasts each window's target timestamps from the trend and the
daily/weekly seasonality learnt on train, ignoring the input window. Fitted on original units.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from flts.features import TIME_COLUMN, FittedScaler
from flts.models.base import EpochCallback, FitReport, ForecastModel, Hyper, WindowBatch

Seasonality = bool | Literal["auto"]


class ProphetHyper(Hyper):
    changepoint_prior_scale: float = Field(default=0.05, gt=0)
    seasonality_prior_scale: float = Field(default=10.0, gt=0)
    n_changepoints: int = Field(default=25, ge=0)
    seasonality_mode: Literal["additive", "multiplicative"] = "additive"
    daily_seasonality: Seasonality = True  # traffic always has a daily cycle, even in a 1-day file
    weekly_seasonality: Seasonality = "auto"


def _quiet_stan_logs() -> None:
    # cmdstanpy logs every optimisation at INFO, which would swamp the service's JSON log stream.
    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
    logging.getLogger("prophet").setLevel(logging.WARNING)


class ProphetModel(ForecastModel):
    model_type = "PROPHET"
    hyper_class = ProphetHyper
    hyper: ProphetHyper

    def __init__(self, hyper: Hyper | None = None, **values: Any) -> None:
        super().__init__(hyper, **values)
        self.models: list[Any] = []

    def _new_prophet(self) -> Any:
        from prophet import Prophet

        hyper = self.hyper
        return Prophet(
            growth="linear",
            changepoint_prior_scale=hyper.changepoint_prior_scale,
            seasonality_prior_scale=hyper.seasonality_prior_scale,
            n_changepoints=hyper.n_changepoints,
            seasonality_mode=hyper.seasonality_mode,
            daily_seasonality=hyper.daily_seasonality,
            weekly_seasonality=hyper.weekly_seasonality,
            yearly_seasonality=False,
            uncertainty_samples=0,
        )

    def fit(
        self, train: pd.DataFrame, scaler: FittedScaler, on_epoch: EpochCallback | None = None
    ) -> FitReport:
        _quiet_stan_logs()
        started = time.perf_counter()
        spec = self.spec = scaler.spec
        # the first input_seq_len rows are never targets elsewhere, but they are history here: use them all
        history = scaler.inverse_targets(train[list(spec.targets)].to_numpy(dtype=np.float64))
        times = pd.to_datetime(train[TIME_COLUMN]).to_numpy()
        self.models = []
        for column in range(len(spec.targets)):
            model = self._new_prophet()
            model.fit(pd.DataFrame({"ds": times, "y": history[:, column]}))
            self.models.append(model)
        return FitReport(seconds=time.perf_counter() - started, details={"models": len(self.models)})

    def predict(self, batch: WindowBatch) -> np.ndarray:
        if not self.models:
            raise RuntimeError("PROPHET model is not fitted")
        _quiet_stan_logs()
        times = np.asarray(batch.target_times, dtype="datetime64[ns]")
        unique_times, positions = np.unique(times.ravel(), return_inverse=True)
        future = pd.DataFrame({"ds": unique_times})
        columns = [np.asarray(model.predict(future)["yhat"], dtype=np.float64) for model in self.models]
        forecast = np.stack(columns, axis=-1)[positions]
        return forecast.reshape(*times.shape, len(self.models))

    def save_files(self, directory: Path) -> dict[str, Any]:
        from prophet.serialize import model_to_json

        files = []
        for index, model in enumerate(self.models):
            name = f"prophet_{index}.json"
            (directory / name).write_text(model_to_json(model))
            files.append(name)
        assert self.spec is not None
        return {"prophet_files": files, "targets": list(self.spec.targets)}

    def load_files(self, directory: Path, extras: dict[str, Any]) -> None:
        from prophet.serialize import model_from_json

        self.models = [model_from_json((directory / name).read_text()) for name in extras["prophet_files"]]
        for model in self.models:
            model.uncertainty_samples = 0
