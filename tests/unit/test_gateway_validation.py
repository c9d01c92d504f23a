from __future__ import annotations

import pytest
from fastapi import HTTPException

from fastapi_gateway.validation import check_bucket, check_key, identifier_from_key


@pytest.mark.parametrize("key", ["site.csv", "a/b/c.parquet", "id/" + "f" * 64 + "/meta.json"])
def test_good_keys(key: str) -> None:
    assert check_key(key, 512) == key


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "..", "a//b", "./a", "a\\b", "a\x00b", "k" * 513])
def test_bad_keys_are_400(key: str) -> None:
    with pytest.raises(HTTPException) as error:
        check_key(key, 512)
    assert error.value.status_code == 400


def test_bucket_allow_list() -> None:
    assert check_bucket("dataset", frozenset({"dataset"})) == "dataset"
    with pytest.raises(HTTPException) as error:
        check_bucket("other", frozenset({"dataset"}))
    assert error.value.status_code == 403


@pytest.mark.parametrize(
    ("key", "identifier"),
    [("ElBorn.csv", "ElBorn"), ("ElBorn_test.csv", "ElBorn"), ("dir/site_a.csv", "site_a"), ("raw", "raw")],
)
def test_identifier_from_key(key: str, identifier: str) -> None:
    assert identifier_from_key(key) == identifier
