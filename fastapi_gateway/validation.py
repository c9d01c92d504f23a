"""Bucket and key validation: what the gateway refuses before touching the store."""

from __future__ import annotations

import re

from fastapi import HTTPException, status

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_bucket(bucket: str, allowed: frozenset[str]) -> str:
    if bucket not in allowed:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"bucket {bucket!r} is not served by this gateway")
    return bucket


def check_key(key: str, max_length: int) -> str:
    """A relative, normalised object key: no '..', no absolute path, no control chars, bounded length."""
    problem = None
    if not key:
        problem = "object key is empty"
    elif len(key.encode()) > max_length:
        problem = f"object key is longer than {max_length} bytes"
    elif key.startswith("/") or "\\" in key:
        problem = "object key must be a relative path with '/' separators"
    elif _CONTROL.search(key):
        problem = "object key contains control characters"
    elif any(part in {"", ".", ".."} for part in key.split("/")):
        problem = "object key has an empty, '.' or '..' path segment"
    if problem:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"{problem}: {key[:80]!r}")
    return key


def identifier_from_key(key: str) -> str:
    """`site_a.csv` and `site_a_test.csv` both belong to identifier `site_a` (DESIGN §3)."""
    stem = key.rsplit("/", 1)[-1]
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    return stem[: -len("_test")] if stem.endswith("_test") else stem
