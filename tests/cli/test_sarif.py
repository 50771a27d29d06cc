"""`hostns scan -o sarif`: valid SARIF 2.1.0 (the official schema, from a pinned Go module),
stable rule ids and fingerprints, the document's line, Excepted results suppressed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from .conftest import Hostns

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / "docs" / "github-actions" / "hostns-scan.yml"

POLICY = """\
apiVersion: hostns.io/v1alpha1
kind: HostNamespaceException
metadata: {name: agent}
spec:
  reason: the node agent reads host metrics
  images: ["ghcr.io/acme/agent:*"]
  hostNamespaces: [hostNetwork]
"""
MANIFESTS = """\
# a ConfigMap first, so the workload is not on line 1
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: ops}
---
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
kind: Pod
metadata: {name: web, namespace: ops}
spec:
  containers: [{name: web, image: nginx}]
"""


def _tool(script: str, *args: str) -> Path:
    done = subprocess.run(["bash", str(REPO / "hack" / script), *args], capture_output=True,
                          text=True, timeout=900, check=False)
    if done.returncode != 0:
        if os.environ.get("CI") == "true" or shutil.which("go"):
            pytest.fail(f"hack/{script}: {done.stderr.strip()}")
        pytest.skip(f"hack/{script} needs Go: {done.stderr.strip()}")
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(_tool("sarif/schema.sh").read_text())
    return loaded


def _scan(hostns: Hostns, tmp_path: Path, manifests: str = MANIFESTS) -> tuple[int, dict[str, Any]]:
    (tmp_path / "policy.yaml").write_text(POLICY)
    (tmp_path / "app.yaml").write_text(manifests)
    cwd = os.getcwd()
    os.chdir(tmp_path)  # SARIF paths are relative to the working directory (the repo root)
    try:
        run = hostns("scan", "-f", "app.yaml", "--exceptions", "policy.yaml", "-o", "sarif")
    finally:
        os.chdir(cwd)
    return run.code, json.loads(run.out)


def test_the_log_is_valid_sarif_2_1_0(hostns: Hostns, tmp_path: Path, schema: dict[str, Any]) -> None:
    _, log = _scan(hostns, tmp_path)
    jsonschema.Draft4Validator(schema).validate(log)
    assert log["version"] == "2.1.0"


def test_a_broken_log_fails_the_schema(schema: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate({"version": "2.1.0", "runs": [{"results": []}]})


def test_one_rule_per_host_namespace_with_stable_ids_and_the_seed_rules_severity(hostns: Hostns, tmp_path: Path) -> None:
    _, log = _scan(hostns, tmp_path)
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["host-network", "host-pid", "host-ipc"]
    assert [r["shortDescription"]["text"] for r in rules] == [
        "Kubernetes Pod Created With HostNetwork", "Kubernetes Pod Created With HostPID",
        "Kubernetes Pod Created With HostIPC"]
    assert {r["properties"]["security-severity"] for r in rules} == {"4.7"}
    assert all("T1611" in r["properties"]["tags"] and r["help"]["text"] for r in rules)


def test_a_violation_points_at_the_workload_document_and_an_excepted_flag_is_suppressed(hostns: Hostns, tmp_path: Path) -> None:
    code, log = _scan(hostns, tmp_path)
    assert code == 1
    results = {r["ruleId"]: r for r in log["runs"][0]["results"]}
    assert set(results) == {"host-network", "host-pid"}  # the compliant Pod has none
    pid, net = results["host-pid"], results["host-network"]
    location = pid["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "app.yaml"
    assert location["region"]["startLine"] == 6  # `apiVersion: apps/v1` of document 2
    assert "suppressions" not in pid
    assert "ghcr.io/acme/agent:1.2" in pid["message"]["text"]
    assert net["suppressions"] == [{"kind": "external", "status": "accepted",
                                    "justification": "agent: the node agent reads host metrics"}]


def test_fingerprints_follow_the_workload_not_its_line(hostns: Hostns, tmp_path: Path) -> None:
    _, before = _scan(hostns, tmp_path)
    _, after = _scan(hostns, tmp_path, "\n\n\n" + MANIFESTS)
    one, two = before["runs"][0]["results"][0], after["runs"][0]["results"][0]
    assert one["partialFingerprints"] == two["partialFingerprints"]
    line = lambda r: r["locations"][0]["physicalLocation"]["region"]["startLine"]  # noqa: E731
    assert line(two) == line(one) + 3
    assert len({r["partialFingerprints"]["hostnsWorkload/v1"] for r in before["runs"][0]["results"]}) == 2


def test_bad_input_still_prints_a_log_that_says_the_run_was_incomplete(hostns: Hostns, tmp_path: Path, schema: dict[str, Any]) -> None:
    code, log = _scan(hostns, tmp_path, MANIFESTS + "---\nkind: [unclosed\n")
    assert code == 2
    jsonschema.Draft4Validator(schema).validate(log)
    invocation = log["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"][0]["level"] == "error"
    assert len(log["runs"][0]["results"]) == 2  # the good documents are still judged


def test_the_sample_workflow_passes_actionlint_and_a_broken_one_does_not(tmp_path: Path) -> None:
    actionlint = _tool("tools/build.sh", "actionlint")
    ok = subprocess.run([str(actionlint), str(WORKFLOW)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("steps.scan.outputs.status", "steps.scna.outputs.status"))
    bad = subprocess.run([str(actionlint), str(broken)], capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and "scna" in bad.stdout
