"""Every service's environment in docker-compose.yml agrees with its settings class.

For each service labelled `flts.local: service|oneshot`: every variable names a field of the class
(no unknown or misspelled names), the class loads from exactly that environment (interpolated with
.env.example), and bucket and topic names are the same in every service.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from flts.contracts import ALL_TOPICS, dlq_topic
from flts.settings import DEFAULT_BUCKETS, FltsSettings, SettingsError, load_settings

SETTINGS_CLASSES: dict[str, str] = {
    "fastapi-app": "fastapi_gateway.settings.GatewaySettings",
    "minio-init": "fastapi_gateway.settings.GatewaySettings",
    "preprocess": "preprocess_container.settings.PreprocessSettings",
    "train_gru": "train_container.settings.TrainSettings",
    "train_lstm": "train_container.settings.TrainSettings",
    "nonml_prophet": "train_container.settings.TrainSettings",
    "train_naive": "train_container.settings.TrainSettings",
    "eval": "eval_container.settings.EvalSettings",
    "inference": "inference_container.settings.InferenceSettings",
}
OPTIONAL_PACKAGES = {"inference_container"}  # may not exist yet: skipped, not failed
KNOWN_TOPICS = {*ALL_TOPICS, *(dlq_topic(topic) for topic in ALL_TOPICS)}


def _local_services(config: dict[str, Any]) -> dict[str, dict[str, str]]:
    services = {}
    for name, spec in config["services"].items():
        if (spec.get("labels") or {}).get("flts.local") in {"service", "oneshot"}:
            environment = spec.get("environment") or {}
            services[name] = {key: "" if value is None else str(value) for key, value in environment.items()}
    return services


def _settings_class(service: str) -> type[FltsSettings]:
    module_name, _, class_name = SETTINGS_CLASSES[service].rpartition(".")
    if module_name.split(".")[0] in OPTIONAL_PACKAGES:
        module = pytest.importorskip(module_name, reason=f"{module_name} does not exist yet")
    else:
        module = importlib.import_module(module_name)
    cls = getattr(module, class_name)
    assert issubclass(cls, FltsSettings), f"{SETTINGS_CLASSES[service]} must subclass FltsSettings"
    return cls  # type: ignore[no-any-return]


def _variable_names(cls: type[BaseSettings]) -> set[str]:
    """Environment names the class reads (field names and aliases, lower-case)."""
    names = set()
    for name, field in cls.model_fields.items():
        names.add(name.lower())
        for alias in (field.alias, field.validation_alias):
            if isinstance(alias, str):
                names.add(alias.lower())
    return names


def _load_with(cls: type[FltsSettings], environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """Build the class from exactly `environment`: variables of the test process are removed first."""
    names = _variable_names(cls)
    for key in list(os.environ):
        if key.lower() in names:
            monkeypatch.delenv(key)
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    return load_settings(cls)


def test_every_local_service_has_a_settings_class(compose_config: dict[str, Any]) -> None:
    unmapped = set(_local_services(compose_config)) - set(SETTINGS_CLASSES)
    assert not unmapped, f"add these services to SETTINGS_CLASSES: {sorted(unmapped)}"


@pytest.mark.parametrize("service", sorted(SETTINGS_CLASSES))
def test_environment_names_are_settings_fields(service: str, compose_config: dict[str, Any]) -> None:
    environment = _local_services(compose_config).get(service)
    if environment is None:
        pytest.skip(f"{service} is not in docker-compose.yml")
    cls = _settings_class(service)
    unknown = sorted(key for key in environment if key.lower() not in _variable_names(cls))
    assert not unknown, f"{service}: {cls.__name__} has no field for {unknown} (misspelled or unused?)"


@pytest.mark.parametrize("service", sorted(SETTINGS_CLASSES))
def test_settings_load_from_the_compose_environment(
    service: str, compose_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = _local_services(compose_config).get(service)
    if environment is None:
        pytest.skip(f"{service} is not in docker-compose.yml")
    cls = _settings_class(service)
    try:
        settings = _load_with(cls, environment, monkeypatch)
    except SettingsError as exc:
        pytest.fail(f"{service}: {exc}")
    # The values really arrive (a name the class reads under another spelling would not).
    for key in ("SERVICE_NAME", "CONSUMER_GROUP_ID", "PORT"):
        if key in environment:
            assert str(getattr(settings, key.lower())) == environment[key], f"{service}: {key}"


def test_bucket_and_topic_names_agree_across_services(
    compose_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = _local_services(compose_config)
    # 1. The same variable never has two values (e.g. PROCESSED_BUCKET set differently in two services).
    seen: dict[str, dict[str, str]] = {}
    for service, environment in services.items():
        for key, value in environment.items():
            if key.upper().endswith("_BUCKET") or "TOPIC" in key.upper():
                seen.setdefault(key.upper(), {})[service] = value
    conflicting = {key: values for key, values in seen.items() if len(set(values.values())) > 1}
    assert not conflicting, f"set inconsistently across services: {conflicting}"

    # 2. Every service, once loaded, uses the same bucket list and only known topics.
    buckets: dict[str, list[str]] = {}
    for service, environment in services.items():
        if service not in SETTINGS_CLASSES:
            continue
        module = SETTINGS_CLASSES[service].split(".")[0]
        if module in OPTIONAL_PACKAGES and importlib.util.find_spec(module) is None:
            continue
        with monkeypatch.context() as patch:
            settings = _load_with(_settings_class(service), environment, patch)
        buckets[service] = settings.buckets()
        for field in type(settings).model_fields:
            if "topic" in field and isinstance(value := getattr(settings, field), str) and value:
                assert value in KNOWN_TOPICS, f"{service}: {field}={value!r} is not a pipeline topic"
    assert len({tuple(names) for names in buckets.values()}) == 1, f"bucket lists differ: {buckets}"
    if not any(key.endswith("_BUCKET") for key in seen):  # nobody overrides: DESIGN §3's defaults
        assert next(iter(buckets.values())) == list(DEFAULT_BUCKETS.values())


def test_consumer_groups_are_not_shared(compose_config: dict[str, Any]) -> None:
    """Two services in one consumer group would split a topic's partitions between them."""
    groups: dict[str, list[str]] = {}
    for service, environment in _local_services(compose_config).items():
        if group := environment.get("CONSUMER_GROUP_ID"):
            groups.setdefault(group, []).append(service)
    shared = {group: names for group, names in groups.items() if len(names) > 1}
    assert not shared, f"consumer groups shared between services: {shared}"
