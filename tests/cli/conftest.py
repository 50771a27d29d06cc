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


Hostns = Callable[..., Run]


@pytest.fixture
def hostns(capsys: pytest.CaptureFixture[str]) -> Hostns:
    """`hostns(*argv, stdin=text)` runs `main(argv)` and returns (code, stdout, stderr).

    Fixture file names are resolved under tests/cli/fixtures when they exist there.
    """

    def invoke(*argv: str, stdin: str = "") -> Run:
        args = [str(FIXTURES / a) if (FIXTURES / a).exists() and a != "-" else a for a in argv]
        capsys.readouterr()
        code = main(args, stdin=io.StringIO(stdin))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return invoke
