"""`kubectl hostns explain -f ... --exceptions ...` offline, and the plugin's error handling."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from hostns.plugin import main

POLICY = """\
apiVersion: hostns.io/v1alpha1
kind: HostNamespaceException
metadata: {name: agent}
spec:
  reason: the node agent
  images: ["ghcr.io/acme/agent:*"]
  hostNamespaces: [hostNetwork]
"""
WORKLOAD = """\
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: ops}
spec:
  template:
    metadata: {labels: {app: agent}}
    spec:
      hostNetwork: true
      hostPID: true
      containers:
        - {name: agent, image: "ghcr.io/acme/agent:1.2"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
"""


def _files(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "policy.yaml").write_text(POLICY)
    (tmp_path / "agent.yaml").write_text(WORKLOAD)
    return str(tmp_path / "agent.yaml"), str(tmp_path / "policy.yaml")


def test_explain_offline_says_which_flag_no_exception_covers(tmp_path: Path) -> None:
    manifest, policy = _files(tmp_path)
    out = io.StringIO()
    code = main(["explain", "-f", manifest, "--exceptions", policy], out=out)
    assert code == 1
    text = out.getvalue()
    assert text.splitlines()[0] == "daemonset/agent in ops (pod template): Violation (hostPID not covered)"
    assert "    hostNetwork: covered\n      + agent: trusts it by ghcr.io/acme/agent:*\n" in text
    assert "    hostPID: NOT covered\n      - agent: covers hostNetwork, not hostPID\n" in text


def test_explain_without_a_target_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--exceptions", "/dev/null"], out=io.StringIO()) == 2
    assert capsys.readouterr().err == (
        "kubectl hostns: error: name a target (pod/NAME, deploy/NAME, ...) or -f FILE\n"
    )


def test_without_kubectl_on_path_the_error_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert main(["findings"], out=io.StringIO()) == 2
    assert capsys.readouterr().err == "kubectl hostns: error: kubectl is not on PATH\n"


def test_a_bad_manifest_is_one_line_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Pod\nspec: [unclosed\n")
    assert main(["explain", "-f", str(bad), "--exceptions", "/dev/null"], out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"kubectl hostns: error: {bad}: document 1: ") and err.count("\n") == 1
