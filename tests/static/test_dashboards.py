"""Grafana provisioning: every dashboard panel queries only metrics the services export.

The names come from tests/helpers/metric_catalogue.py; the end-to-end test checks the same catalogue
against the running services' /metrics output.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.compose_tools import ROOT
from tests.helpers.metric_catalogue import (
    CATALOGUE,
    exported_series_names,
    family_of,
    iter_panels,
    panel_expressions,
    promql_metric_names,
)

GRAFANA = ROOT / "monitoring" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
# Grafana's own variables, replaced by a plausible value before promtool parses an expression.
GRAFANA_VARIABLES = re.compile(r"\$__rate_interval|\$__interval|\$__range|\$\{__range\}")


def _load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def _datasource() -> dict[str, Any]:
    provisioning = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    [datasource] = provisioning["datasources"]
    return dict(datasource)


def test_both_dashboards_are_provisioned() -> None:
    titles = {_load(path)["title"] for path in DASHBOARDS}
    assert titles == {"FLTS inference", "FLTS pipeline"}
    uids = [_load(path)["uid"] for path in DASHBOARDS]
    assert len(set(uids)) == len(uids)


def test_datasource_points_at_the_compose_prometheus() -> None:
    datasource = _datasource()
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    assert datasource["uid"] == "prometheus"


def test_dashboard_provider_reads_the_mounted_folder(compose_config: dict[str, Any]) -> None:
    provisioning = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "flts.yml").read_text())
    [provider] = provisioning["providers"]
    mounts = {
        volume["target"]: volume["source"] for volume in compose_config["services"]["grafana"]["volumes"]
    }
    assert Path(mounts[provider["options"]["path"]]).resolve() == (GRAFANA / "dashboards").resolve()


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_panels_query_only_catalogued_metrics(path: Path) -> None:
    dashboard = _load(path)
    allowed = exported_series_names()
    uid = _datasource()["uid"]
    problems = []
    panels = [panel for panel in iter_panels(dashboard) if panel.get("type") != "row"]
    assert panels, f"{path.name} has no panels"
    for panel in panels:
        expressions = panel_expressions(panel)
        if not expressions:
            problems.append(f"{panel['title']!r}: no query")
        for target in panel.get("targets", []):
            if target.get("datasource", {}).get("uid") != uid:
                problems.append(f"{panel['title']!r}: datasource {target.get('datasource')} is not {uid!r}")
        for expression in expressions:
            names = promql_metric_names(expression)
            if not names:
                problems.append(f"{panel['title']!r}: no metric name in {expression!r}")
            for name in sorted(names - allowed):
                problems.append(f"{panel['title']!r}: {name} is not exported ({expression})")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_panel_layout_is_sound(path: Path) -> None:
    panels = list(iter_panels(_load(path)))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        position = panel["gridPos"]
        assert position["x"] >= 0 and position["x"] + position["w"] <= 24, panel["title"]


def test_dashboards_cover_the_requested_views() -> None:
    used = {
        name
        for path in DASHBOARDS
        for panel in iter_panels(_load(path))
        for expression in panel_expressions(panel)
        for name in promql_metric_names(expression)
    }
    families = {spec.name for name in used if (spec := family_of(name))}
    unused = [spec.name for spec in CATALOGUE if spec.name not in families]
    assert not unused, f"catalogued metrics no panel shows: {unused}"


def test_expressions_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses every expression (as recording rules), Grafana variables filled in."""
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool absent: install Debian's `prometheus` package (.ci/run does)")
    rules = []
    for path in DASHBOARDS:
        for panel in iter_panels(_load(path)):
            for index, expression in enumerate(panel_expressions(panel)):
                concrete = GRAFANA_VARIABLES.sub("5m", expression)
                rules.append({"record": f"dashboard:panel_{panel['id']}_{index}:check", "expr": concrete})
    rules_file = tmp_path / "dashboards.rules.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_catalogue_matches_the_code() -> None:
    """Each catalogued metric is declared in its owner's source (an absent package is skipped)."""
    missing = []
    for spec in CATALOGUE:
        package = ROOT / ("flts" if spec.owner == "shared" else spec.owner)
        if not package.is_dir():
            continue
        source = "\n".join(path.read_text() for path in package.rglob("*.py") if "tests" not in path.parts)
        declared = spec.name.removesuffix("_total") if spec.kind == "counter" else spec.name
        if not re.search(rf"[\"']{declared}(_total)?[\"']", source):
            missing.append(f"{spec.name} (in {package.name}/)")
    assert not missing, f"catalogued but not declared: {missing}"


def test_promql_name_extraction() -> None:
    expression = (
        'histogram_quantile(0.95, sum by (le, endpoint) (rate(inference_request_seconds_bucket{status=~"5.."}'
        "[$__rate_interval]))) / on (instance) group_left max by (instance) (inference_model_ready) > bool 0"
    )
    assert promql_metric_names(expression) == {"inference_request_seconds_bucket", "inference_model_ready"}
    assert promql_metric_names('sum(rate({__name__="flts_messages_total"}[5m])) or vector(0)') == {
        "flts_messages_total"
    }
