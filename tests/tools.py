"""Developer tools built from their pinned Go modules (hack/tools/build.sh), for the tests.

`build.sh TOOL` owns the cache key: it prints the cached binary's path (and builds it
first when missing), so the tests and `make` can never disagree on which binary runs.
Without Go a test that needs one is skipped with instructions, except in CI (CI=true),
where a tool that cannot be built is a failure.
"""

from __future__ import annotations

import os
import subprocess
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI") == "true"


@cache
def _build(tool: str) -> tuple[str | None, str]:
    """(path, "") or (None, why not)."""
    try:
        result = subprocess.run(
            ["bash", str(REPO / "hack" / "tools" / "build.sh"), tool],
            capture_output=True, text=True, timeout=3600,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, str(exc)
    if result.returncode != 0:
        return None, result.stderr.strip()
    return result.stdout.strip().splitlines()[-1], ""


def go_tool(tool: str) -> str:
    """The pinned tool's path; skips (fails in CI) when it cannot be built."""
    path, why = _build(tool)
    if path is None:
        message = f"{tool} could not be built (bash hack/tools/build.sh {tool}): {why}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path
