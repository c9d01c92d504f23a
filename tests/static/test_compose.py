"""docker-compose.yml validates with the official Compose binary and keeps the stack's rules."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.compose_tools import COMPOSE_FILE, SCALE_FILE, resolved_compose, run_compose

# The only services that may publish ports, each on the host's loopback at its documented port.
PUBLISHED = {"fastapi-app": 8080, "inference": 8000, "mlflow": 5000, "grafana": 3000, "prometheus": 9090}
# With docker-compose.scale.yml, the load balancer takes inference's port.
SCALE_PUBLISHED = {**{k: v for k, v in PUBLISHED.items() if k != "inference"}, "inference-lb": 8000}
EXPECTED_SERVICES = {
    "kafka", "minio", "postgres", "mlflow", "fastapi-app", "preprocess", "train_gru", "train_lstm",
    "nonml_prophet", "eval", "inference", "prometheus", "grafana", "locust",
}  # fmt: skip


@pytest.mark.parametrize(
    "files", [(COMPOSE_FILE,), (COMPOSE_FILE, SCALE_FILE)], ids=["compose", "compose+scale"]
)
def test_compose_validates_with_the_official_binary(files: tuple[Any, ...]) -> None:
    result = run_compose("--profile", "*", "config", "-q", files=files)
    assert result.returncode == 0, result.stderr


def test_the_service_names_users_know(compose_config: dict[str, Any]) -> None:
    missing = EXPECTED_SERVICES - compose_config["services"].keys()
    assert not missing, f"services missing from docker-compose.yml: {sorted(missing)}"


def _published(config: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {name: spec["ports"] for name, spec in config["services"].items() if spec.get("ports")}


@pytest.mark.parametrize("scaled", [False, True], ids=["compose", "compose+scale"])
def test_only_known_services_publish_and_only_on_loopback(
    scaled: bool, compose_config: dict[str, Any]
) -> None:
    config = resolved_compose((COMPOSE_FILE, SCALE_FILE)) if scaled else compose_config
    allowed = SCALE_PUBLISHED if scaled else PUBLISHED
    for name, ports in _published(config).items():
        assert name in allowed, f"{name} publishes {ports}; only {sorted(allowed)} may"
        for port in ports:
            assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port} beyond 127.0.0.1"
            assert int(port["published"]) == allowed[name], f"{name}: {port}"


def test_images_are_pinned(compose_config: dict[str, Any]) -> None:
    for name, spec in compose_config["services"].items():
        image = spec.get("image", "")
        assert image, f"{name} has no image name"
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest", f"{name}: image {image!r} uses latest"


def test_every_service_has_a_healthcheck(compose_config: dict[str, Any]) -> None:
    for name, spec in compose_config["services"].items():
        check = spec.get("healthcheck") or {}
        if check.get("disable"):
            # Only jobs that run and exit may go without one.
            oneshot = (spec.get("labels") or {}).get("flts.local") == "oneshot" or spec.get("profiles")
            assert oneshot, f"{name} disables its healthcheck but is a long-running service"
            continue
        assert check.get("test"), f"{name} has no healthcheck"


def test_dependencies_wait_for_health(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    for name, spec in services.items():
        for dependency, condition in (spec.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            wanted = (
                "service_completed_successfully"
                if services[dependency].get("healthcheck", {}).get("disable")
                else "service_healthy"
            )
            assert condition.get("condition") == wanted, f"{name} → {dependency}: {condition}"


def test_one_network(compose_config: dict[str, Any]) -> None:
    assert list(compose_config["networks"]) == ["flts"]
    for name, spec in compose_config["services"].items():
        assert list(spec.get("networks") or {}) == ["flts"], f"{name} is not (only) on the flts network"


def test_monitoring_and_load_test_mounts(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]

    def mounts(name: str) -> dict[str, str]:
        return {volume["target"]: volume["source"] for volume in services[name].get("volumes", [])}

    assert mounts("prometheus")["/etc/prometheus/prometheus.yml"].endswith("monitoring/prometheus.yml")
    data = [volume for volume in services["prometheus"]["volumes"] if volume["target"] == "/prometheus"]
    assert data and data[0]["type"] == "volume", "Prometheus keeps its data in a named volume"
    grafana = mounts("grafana")
    assert grafana["/etc/grafana/provisioning"].endswith("monitoring/grafana/provisioning")
    assert grafana["/etc/grafana/dashboards"].endswith("monitoring/grafana/dashboards")
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"
    assert mounts("locust")["/mnt/locust"].endswith("/locust")
    assert services["locust"].get("profiles") == ["loadtest"], "`docker compose up` must not start locust"


def test_grafana_password_is_required_from_env() -> None:
    text = COMPOSE_FILE.read_text()
    assert "GF_SECURITY_ADMIN_PASSWORD: ${GRAFANA_ADMIN_PASSWORD:?" in text
