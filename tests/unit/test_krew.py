"""The krew manifest template names the plugin kubectl runs: the `kubectl-hostns` script."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def test_the_krew_template_installs_the_console_script_kubectl_finds() -> None:
    manifest = yaml.safe_load((REPO / "deploy" / "krew" / "hostns.yaml").read_text())
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert manifest["kind"] == "Plugin" and manifest["metadata"]["name"] == "hostns"
    [platform] = manifest["spec"]["platforms"]
    assert platform["bin"] == "kubectl-hostns"
    assert scripts["kubectl-hostns"] == "hostns.plugin:main"
    assert "{{VERSION}}" in manifest["spec"]["version"] and platform["sha256"] == "{{SHA256}}"
