from __future__ import annotations

import pandas as pd

from flts.synthetic import COLUMNS, generate_dataset, split_train_test


def test_twelve_columns_deterministic_with_a_few_nans() -> None:
    first, second = generate_dataset(2000, seed=3), generate_dataset(2000, seed=3)
    assert tuple(first.columns) == COLUMNS
    pd.testing.assert_frame_equal(first, second)
    assert 0 < int(first.isna().sum().sum()) < 20
    assert not generate_dataset(2000, seed=4).equals(first)


def test_daily_cycle_and_two_minute_steps() -> None:
    frame = generate_dataset(720 * 7, seed=1)
    times = pd.to_datetime(frame["time"])
    assert (times.diff().dropna() == pd.Timedelta(minutes=2)).all()
    hourly = frame.groupby(times.dt.hour)["down"].mean()
    assert hourly.max() > 2.5 * hourly.min()  # a clear daily cycle


def test_split_is_chronological() -> None:
    train, test = split_train_test(generate_dataset(1000))
    assert len(train) == 800 and len(test) == 200
    assert train["time"].iloc[-1] < test["time"].iloc[0]
