"""No secret literals in the Dockerfiles or the compose files: credentials come only from `.env`.

A variable whose name looks secret (password, token, key, …) must take its value from `${VAR}` (or
`${VAR:?message}`), never a literal and never a non-empty `${VAR:-default}`; URLs carry no literal
passwords; known default credentials and key formats do not appear at all.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.compose_tools import COMPOSE_FILE, ENV_EXAMPLE, ROOT, SCALE_FILE, repository_dockerfiles

SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL", re.I)
# ${VAR}, ${VAR:?msg}, ${VAR?msg}, ${VAR:-} (empty default) and $VAR, possibly several in a row.
ENV_REFERENCE = re.compile(r"(\$\{[A-Za-z_]\w*(?::?\?[^}]*|:-)?\}|\$[A-Za-z_]\w*)+")
URL_USERINFO = re.compile(r"[a-z][a-z0-9+.-]*://([^/\s@:'\"]+):([^/\s@'\"]+)@", re.I)
SECRET_FLAG = re.compile(r"--?(?:password|passwd|token|secret|api-key)[= ]+([^\s\"',\]]+)", re.I)
KNOWN_LITERALS = {
    "MinIO default credentials": re.compile(r"\bminioadmin\b"),
    "AWS access key id": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"),
}


def _is_reference(value: str) -> bool:
    return value == "" or ENV_REFERENCE.fullmatch(value.strip()) is not None


class _TolerantLoader(yaml.SafeLoader):
    """Compose's own tags (`!reset`, `!override`) are not YAML standard; read them as plain values."""


def _tagged(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_TolerantLoader.add_multi_constructor("!", _tagged)


def compose_problems(document: Any, where: str = "") -> Iterator[str]:
    """Secret-named keys (mappings, or KEY=value list items) whose values are literals."""
    if isinstance(document, dict):
        for key, value in document.items():
            path = f"{where}.{key}" if where else str(key)
            secret_named = isinstance(key, str) and SECRET_NAME.search(key) is not None
            if secret_named and isinstance(value, str | int | float) and not _is_reference(str(value)):
                yield f"{path}: literal value {value!r}"
            yield from compose_problems(value, path)
    elif isinstance(document, list):
        for index, item in enumerate(document):
            if isinstance(item, str) and "=" in item and not item.startswith("-"):
                key, _, value = item.partition("=")
                if SECRET_NAME.search(key) and not _is_reference(value):
                    yield f"{where}[{index}]: literal value for {key}"
            yield from compose_problems(item, f"{where}[{index}]")


def text_problems(text: str) -> Iterator[str]:
    """Literal passwords in URLs or command-line flags, and well-known secret formats."""
    for match in URL_USERINFO.finditer(text):
        if not _is_reference(match.group(2)):
            yield f"URL with a literal password: {match.group(0)}"
    for match in SECRET_FLAG.finditer(text):
        if not _is_reference(match.group(1)):
            yield f"secret flag with a literal value: {match.group(0)}"
    for label, pattern in KNOWN_LITERALS.items():
        if pattern.search(text):
            yield f"{label} in the file"


def dockerfile_problems(text: str) -> Iterator[str]:
    """ENV/ARG instructions that bake a secret-named variable into the image."""
    joined = re.sub(r"\\\n", " ", text)
    for line in joined.splitlines():
        instruction = line.strip().split(maxsplit=1)
        if len(instruction) != 2 or instruction[0].upper() not in {"ENV", "ARG"}:
            continue
        for token in instruction[1].split():
            name = token.split("=", 1)[0]
            if SECRET_NAME.search(name):
                yield f"{instruction[0].upper()} {name}: secrets come from the runtime environment"
    yield from text_problems(text)


COMPOSE_FILES = [path for path in (COMPOSE_FILE, SCALE_FILE) if path.exists()]


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda path: path.name)
def test_compose_file_has_no_secret_literals(path: Path) -> None:
    text = path.read_text()
    problems = [*compose_problems(yaml.load(text, Loader=_TolerantLoader)), *text_problems(text)]
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", repository_dockerfiles(), ids=lambda path: str(path.relative_to(ROOT)))
def test_dockerfile_has_no_secret_literals(path: Path) -> None:
    problems = list(dockerfile_problems(path.read_text()))
    assert not problems, f"{path.relative_to(ROOT)}:\n" + "\n".join(problems)


def test_env_example_holds_only_placeholders() -> None:
    for line in ENV_EXAMPLE.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, value = line.partition("=")
        if SECRET_NAME.search(key):
            assert value == "" or value.startswith("change-me"), f".env.example: {key} is not a placeholder"


def test_no_env_file_is_committed() -> None:
    result = subprocess.run(
        ["git", "ls-files", "--", ".env"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.skip("not a git checkout")
    assert result.stdout.strip() == "", ".env holds real credentials and must not be committed"


def test_the_checks_catch_literals() -> None:
    """The grep is not vacuous: each rule fires on a planted literal and passes the safe forms."""
    planted = {
        "services": {
            "a": {"environment": {"DB_PASSWORD": "hunter2", "API_TOKEN": "${API_TOKEN:-abc}"}},
            "b": {"environment": ["MINIO_SECRET_KEY=plain"]},
        }
    }
    assert len(list(compose_problems(planted))) == 3
    safe = {"x": {"PASSWORD": "${P:?set P}", "TOKEN": "${T}", "SECRET_KEY": "${S:-}", "USER_TOKEN": ""}}
    assert list(compose_problems(safe)) == []
    assert list(text_problems("postgresql://mlflow:secret@postgres/db --token=abc minioadmin"))
    assert not list(
        text_problems("postgresql+psycopg://${POSTGRES_USER}:${POSTGRES_PASSWORD}@postgres:5432/x")
    )
    assert list(dockerfile_problems("FROM x\nENV A=1 \\\n    GATEWAY_TOKEN=abc\n"))
    assert list(dockerfile_problems("FROM x\nARG AWS_SECRET_ACCESS_KEY\n"))
    assert not list(dockerfile_problems("FROM x\nENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1\n"))
