"""helm for the chart tests: the binary built from its pinned Go module, and renderings.

The binary comes from `hack/tools/build.sh helm` through tests.tools.go_tool, so the
tests and `make helm` can never disagree on which helm they run. Without Go the chart
tests are skipped with instructions, except in CI (CI=true), where a missing helm is a
failure.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.tools import go_tool

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "charts" / "hostns-operator"
RELEASE = "hostns-operator"
NAMESPACE = "hostns-system"

Manifest = dict[str, Any]


def helm_binary() -> str:
    """The pinned helm's path; skips (fails in CI) when it cannot be built."""
    return go_tool("helm")


def helm(*args: str, kubeconfig: Path | None = None, check: bool = True,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the pinned helm; with check, a non-zero exit fails the test with its stderr.

    HELM_*_HOME point into a throwaway folder so that no test reads or writes the
    developer's own helm configuration, repositories or cache.
    """
    home = REPO / ".pytest_cache" / "helm-home"
    env = {
        **os.environ,
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    result = subprocess.run([helm_binary(), *args], capture_output=True, text=True,
                            timeout=timeout, env=env)
    if check:
        assert result.returncode == 0, (
            f"helm {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
        )
    return result


def template(*sets: str, chart: Path = CHART) -> list[Manifest]:
    """`helm template` of the chart as the README installs it, with `--set` pairs."""
    args = ["template", RELEASE, str(chart), "--namespace", NAMESPACE]
    for pair in sets:
        args += ["--set", pair]
    out = helm(*args).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]
