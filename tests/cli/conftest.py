"""Helpers for the `hostns scan` tests: run the command in-process and capture it."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from hostns.cli import main

FIXTURES = Path(__file__).parent / "fixtures"


class Run(NamedTuple):
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def by_name(self) -> dict[str, dict[str, Any]]:
        return {item["name"]: item for item in self.json()}

    def errors(self) -> list[str]:
        """The `error:` lines for bad input, without the closing count (checked here)."""
        lines = [line for line in self.err.splitlines() if line.startswith("hostns scan: error: ")]
        if not lines:
            return []
        count = len(lines) - 1
        assert lines[-1] == (
            f"hostns scan: error: {count} bad input{'s' if count > 1 else ''} (above): "
            "the scan is incomplete"
        ), self.err
        return [line.removeprefix("hostns scan: error: ") for line in lines[:-1]]


Hostns = Callable[..., Run]


@pytest.fixture
def hostns(capsys: pytest.CaptureFixture[str]) -> Hostns:
    """`hostns(*argv, stdin=text or bytes)` runs `main(argv)` and returns (code, stdout, stderr).

    Fixture file names are resolved under tests/cli/fixtures when they exist there.
    """

    def invoke(*argv: str, stdin: str | bytes = "") -> Run:
        args = [str(FIXTURES / a) if (FIXTURES / a).exists() and a != "-" else a for a in argv]
        capsys.readouterr()
        # Bytes, as the real command reads its standard input.
        raw = stdin.encode() if isinstance(stdin, str) else stdin
        code = main(args, stdin=io.BytesIO(raw))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return invoke
