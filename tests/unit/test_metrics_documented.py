"""Every metric the operator exposes is named in the README, and nothing else is."""

from __future__ import annotations

import re
from pathlib import Path

from hostns.live.metrics import Metrics

README = Path(__file__).resolve().parents[2] / "README.md"


def exposed() -> set[str]:
    names = set()
    for family in Metrics().registry.collect():
        suffix = "_total" if family.type == "counter" else ""
        names.add(family.name + suffix)
    return names


def documented() -> set[str]:
    text = README.read_text()
    section = text[text.index("### Observability"):text.index("## Development")]
    return set(re.findall(r"`(hostns_[a-z_]+)", section))


def test_the_readme_names_exactly_the_metrics_the_operator_exposes() -> None:
    assert "hostns_leader" in exposed()
    assert documented() == exposed()
