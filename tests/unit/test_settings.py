from __future__ import annotations

import pytest

from fastapi_gateway.settings import GatewaySettings
from flts.settings import DEFAULT_BUCKETS, FltsSettings, SettingsError, load_settings


def test_defaults_match_the_design_bucket_names(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(FltsSettings)
    assert settings.buckets() == ["dataset", "processed-data", "mlflow", "model-promotion", "inference-logs"]
    assert set(DEFAULT_BUCKETS.values()) == set(settings.buckets())


def test_environment_is_read_case_insensitively(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker:19092")
    monkeypatch.setenv("MAX_ATTEMPTS", "7")
    monkeypatch.setenv("KAFKA_EXTRA_CONFIG", '{"security.protocol": "SSL"}')
    settings = load_settings(FltsSettings)
    assert settings.kafka_bootstrap_servers == "broker:19092" and settings.max_attempts == 7
    assert settings.kafka_common_config() == {"bootstrap.servers": "broker:19092", "security.protocol": "SSL"}


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MAX_ATTEMPTS", "three", "MAX_ATTEMPTS (got 'three')"),
        ("MAX_ATTEMPTS", "0", "MAX_ATTEMPTS"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL"),
        ("GATEWAY_TIMEOUT_SEC", "-1", "GATEWAY_TIMEOUT_SEC"),
        ("KAFKA_EXTRA_CONFIG", "not json", "KAFKA_EXTRA_CONFIG"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as error:
        load_settings(FltsSettings)
    assert message in str(error.value)


def test_gateway_requires_credentials_and_refuses_a_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError) as missing:
        load_settings(GatewaySettings)
    assert "MINIO_ACCESS_KEY" in str(missing.value) and "MINIO_SECRET_KEY" in str(missing.value)
    monkeypatch.setenv("MINIO_ACCESS_KEY", "a")
    monkeypatch.setenv("MINIO_SECRET_KEY", "b")
    monkeypatch.setenv("MINIO_ENDPOINT", "http://minio:9000")
    with pytest.raises(SettingsError) as scheme:
        load_settings(GatewaySettings)
    assert "MINIO_ENDPOINT" in str(scheme.value)
    monkeypatch.setenv("MINIO_ENDPOINT", "minio:9000")
    monkeypatch.setenv("ALLOWED_BUCKETS", "dataset, extra")
    assert load_settings(GatewaySettings).bucket_allow_list() == {"dataset", "extra"}
