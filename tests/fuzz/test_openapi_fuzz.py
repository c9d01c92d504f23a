"""schemathesis against the gateway's and inference's own OpenAPI schemas, with a model loaded.

Every operation gets schema-valid (positive) and schema-violating (negative) cases, generated with a
fixed seed so CI repeats the same run. No answer may be a 5xx, and every 4xx must say why (`detail`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from tests.faults import support

pytestmark = pytest.mark.integration
EXAMPLES = 30  # per operation and pass (POST /predict: PREDICT_EXAMPLES): ~1,000 requests, under a minute
PREDICT_EXAMPLES = 150
MODES = list(schemathesis.GenerationMode)
# Writes to this bucket have no side effect in the pipeline (nothing consumes inference logs).
PINNED_BUCKET = "inference-logs"


@dataclass
class FuzzLog:
    statuses: Counter[int] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def record(self, case: Any, response: Any) -> None:
        status = response.status_code
        self.statuses[status] += 1
        where = f"{case.method} {case.formatted_path} -> {status}"
        if status >= 500:
            self.problems.append(f"{where}: {response.text[:300]}")
        elif status >= 400 and case.method != "HEAD" and not _detail(response):
            self.problems.append(f"{where} without a useful detail: {response.text[:300]}")


def _detail(response: Any) -> bool:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return False
    return bool(detail) and len(str(detail)) >= 8


def _fuzz(base_url: str, headers: dict[str, str]) -> FuzzLog:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    log = FuzzLog()
    for result in schema.get_all_operations():
        operation = result.ok()
        passes: list[tuple[str, Any]] = [(m.value, operation.as_strategy(generation_mode=m)) for m in MODES]
        if "{bucket}" in operation.path:  # random bucket names stop at the allow-list: also go past it
            pinned = operation.as_strategy(path_parameters={"bucket": PINNED_BUCKET})
            passes.append((f"bucket={PINNED_BUCKET}", pinned))
        for label, strategy in passes:

            @settings(
                max_examples=PREDICT_EXAMPLES if operation.path == "/predict" else EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def run(case: Any) -> None:
                log.record(case, case.call(base_url=base_url, headers=headers, timeout=30))

            try:
                run()
            except Unsatisfiable:  # nothing to generate in this mode (e.g. no parameter to violate)
                log.skipped.append(f"{operation.method.upper()} {operation.path} {label}")
    return log


@pytest.mark.parametrize("service", ["fastapi-app", "inference"])
def test_fuzzing_the_openapi_schema_finds_no_5xx_and_every_4xx_says_why(
    service: str, serving: support.Serving
) -> None:
    headers = {"Authorization": f"Bearer {serving.state.token}"} if service == "fastapi-app" else {}
    log = _fuzz(serving.state.endpoints[service], headers)
    server_errors = sum(n for status, n in log.statuses.items() if status >= 500)
    support.TALLY.add(
        f"fuzz: {service} (schemathesis)", cases=sum(log.statuses.values()), server_errors=server_errors
    )
    print(f"{service}: {dict(sorted(log.statuses.items()))}")
    assert not log.problems, "\n".join(log.problems[:20])
    assert sum(log.statuses.values()) >= 100
