"""The CRDs on a real API server: installed, explained, printed, and validating at admission.

CEL compile errors, cost-budget errors and RE2's reading of the rules only show up
here; the unit tests run the same rules with Python's `re`, and the last tests
below check that both readings agree on a sample of odd patterns.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.kube import kubectl, kubectl_json, run
from tests.unit.test_crds import (
    ACCEPTED,
    IMAGE_RULES,
    REJECTED,
    _near_miss_patterns,
    _random_patterns,
    admission_errors,
)

from hostns.core.evaluation import VIOLATION, ImageUse, PodVerdict
from hostns.core.findings import finding_content, finding_status

REPO = Path(__file__).resolve().parents[2]
GROUP = "hostns.io"
CRD_NAMES = (f"hostnamespaceexceptions.{GROUP}", f"hostnamespacefindings.{GROUP}",
             f"hostnamespaceadmissionparams.{GROUP}")


@pytest.fixture(scope="module")
def kubeconfig(control_plane: Any) -> Iterator[Path]:
    """A cluster with the CRDs installed the documented way (`kubectl apply -k crds/`)."""
    config: Path = control_plane.kubeconfig
    kubectl(config, "apply", "-k", str(REPO / "crds"))
    kubectl(config, "wait", "--for=condition=Established", "--timeout=60s",
            *(f"crd/{name}" for name in CRD_NAMES))
    yield config
    run(config, "delete", "hostnamespacefindings", "--all", "-A", "--wait=false", check=False)
    run(config, "delete", "hostnamespaceexceptions", "--all", "--wait=false", check=False)


def exception(images: list[str], name: str = "crd-test", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1alpha1", "kind": "HostNamespaceException",
        "metadata": {"name": name},
        "spec": {"reason": "testing admission", "images": images, **spec},
    }


def dry_run(kubeconfig: Path, body: dict[str, Any]) -> Any:
    return run(kubeconfig, "apply", "--dry-run=server", "-f", "-", stdin=json.dumps(body),
               check=False)


def test_both_crds_are_established_and_well_formed(kubeconfig: Path) -> None:
    for name in CRD_NAMES:
        crd = kubectl_json(kubeconfig, "get", "crd", name)
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        # NonStructuralSchema or a rejected CEL rule would show up here.
        assert conditions.get("Established") == "True", conditions
        assert conditions.get("NamesAccepted") == "True", conditions
        assert "NonStructuralSchema" not in conditions, conditions


def test_the_hostns_category_lists_both_kinds(kubeconfig: Path) -> None:
    names = kubectl(kubeconfig, "api-resources", "--categories=hostns", "-o", "name").split()
    assert set(names) == set(CRD_NAMES)
    kubectl(kubeconfig, "get", "hostns", "-A")


def test_short_names_work(kubeconfig: Path) -> None:
    kubectl(kubeconfig, "get", "hne")
    kubectl(kubeconfig, "get", "hnf", "-A")


def test_kubectl_explain_teaches_the_api(kubeconfig: Path) -> None:
    # The API server publishes a new CRD's OpenAPI schema a little after it is Established.
    deadline = time.monotonic() + 60
    while (result := run(kubeconfig, "explain", "hostnamespaceexception.spec.images",
                         check=False)).returncode:
        assert time.monotonic() < deadline, result.stderr
        time.sleep(1)
    text = " ".join(result.stdout.split())  # explain wraps lines
    assert "Image patterns this exception trusts" in text
    assert "EVERY container of the pod" in text
    assert "*elastic-agent*" in text
    flags = " ".join(kubectl(kubeconfig, "explain", "hne.spec.hostNamespaces").split())
    assert "Absent means all three" in flags
    verdict = " ".join(kubectl(kubeconfig, "explain", "hnf.status.verdict").split())
    assert "Resolved: no live pod of the workload uses a host namespace" in verdict


@pytest.mark.parametrize("image", ACCEPTED)
def test_a_well_formed_pattern_is_admitted(kubeconfig: Path, image: str) -> None:
    result = dry_run(kubeconfig, exception([image]))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("image", "message"), REJECTED)
def test_a_bad_pattern_is_rejected_at_admission_with_a_message_naming_the_mistake(
    kubeconfig: Path, image: str, message: str
) -> None:
    result = dry_run(kubeconfig, exception([image]))
    assert result.returncode != 0
    stderr = " ".join(result.stderr.split())
    assert message in stderr, stderr
    if "not a valid image pattern" not in message:
        assert "not a valid image pattern" not in stderr, "the grammar rule should stay quiet"


@pytest.mark.parametrize(("spec", "message"), [
    ({"hostNamespaces": ["hostUTS"]}, 'supported values: "hostNetwork", "hostPID", "hostIPC"'),
    ({"hostNamespaces": ["hostPID", "hostPID"]}, "Duplicate value"),
    ({"hostNamespaces": []}, "spec.hostNamespaces"),
    ({"reason": "   "}, "reason must not be empty or blank"),
    ({"reason": ""}, "reason must not be empty or blank"),
    ({"reason": "x" * 1025}, "spec.reason"),
    ({"images": []}, "spec.images"),
    ({"images": ["nginx", "nginx"]}, "Duplicate value"),
    ({"images": [f"ghcr.io/acme/app-{i}" for i in range(257)]}, "spec.images"),
    ({"images": ["ghcr.io/" + "a" * 505]}, "spec.images[0]"),
    ({"podSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}},
     "In and NotIn need values"),
    ({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}},
     "Exists and DoesNotExist take no values"),
    ({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Near", "values": ["x"]}]}},
     'supported values: "In", "NotIn", "Exists", "DoesNotExist"'),
    ({"podSelector": {"matchExpressions": [{"operator": "Exists"}]}}, "key: Required value"),
    ({"podSelector": {"matchLabels": {"not a key": "x"}}}, "matchLabels keys must be label keys"),
    ({"podSelector": {"matchLabels": {"app": "not a value"}}}, "spec.podSelector.matchLabels.app"),
    ({"expiresAt": "tomorrow"}, "date-time"),
    ({"expiresAt": "9999-12-31T23:00:00-05:00"}, "expiresAt must fall between"),
    ({"expiresAt": "0001-01-01T00:30:00+01:00"}, "expiresAt must fall between"),
    ({"namespaces": ["Not_A_Namespace"]}, "spec.namespaces[0]"),
])
def test_a_bad_exception_spec_is_rejected_at_admission(
    kubeconfig: Path, spec: dict[str, Any], message: str
) -> None:
    body = exception(["nginx"])
    body["spec"].update(spec)
    result = dry_run(kubeconfig, body)
    assert result.returncode != 0
    assert message in " ".join(result.stderr.split()), result.stderr


def test_a_full_exception_is_admitted(kubeconfig: Path) -> None:
    body = exception(
        ["quay.io/cilium/cilium:v1.16.0", "registry.k8s.io/kube-proxy:*"],
        hostNamespaces=["hostNetwork", "hostPID"],
        namespaces=["kube-system"],
        podSelector={
            "matchLabels": {"app.kubernetes.io/name": "cilium"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["node"]},
                {"key": "canary", "operator": "DoesNotExist"},
            ],
        },
        expiresAt="2030-01-01T00:00:00Z",
    )
    result = dry_run(kubeconfig, body)
    assert result.returncode == 0, result.stderr


def test_the_largest_exception_fits_the_cel_cost_budget(kubeconfig: Path) -> None:
    # 256 patterns of 512 characters each, every rule run on each: the worst case
    # the schema allows must still be admitted, not fail on the runtime cost budget.
    # The grammar caps the path at 255 characters, so the host takes the rest.
    host = ".".join(["r" * 63] * 3) + "." + "r" * 59 + ":5000"
    images = [f"{host}/{i:03d}/" + "a" * 249 + ":*" for i in range(256)]
    assert {len(image) for image in images} == {512}
    assert {len(image.split("/", 1)[1]) for image in images} == {255}  # a path of 253, ":*"
    body = exception(images, namespaces=[f"ns-{i}" for i in range(256)],
                     podSelector={"matchLabels": {f"example.com/k{i}": "v" for i in range(64)}})
    result = dry_run(kubeconfig, body)
    assert result.returncode == 0, result.stderr


def _admission_verdicts(kubeconfig: Path, images: list[str]) -> dict[str, set[str]]:
    """Dry-run one exception per image (one kubectl call): name -> the rule messages it got."""
    items = [exception([image], name=f"fuzz-{i}") for i, image in enumerate(images)]
    result = run(kubeconfig, "apply", "--dry-run=server", "-f", "-", timeout=300,
                 stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
                 check=False)
    known = [message for _, message in IMAGE_RULES]
    rejected: dict[str, set[str]] = {}
    for line in result.stderr.splitlines():  # one "Error from server" line per object
        found = re.search(r'"(fuzz-\d+)" is invalid', line)
        if found:
            rejected[found[1]] = {message for message in known if message in line}
    return rejected


@pytest.mark.parametrize("generate", [_random_patterns, _near_miss_patterns])
def test_the_api_server_and_the_unit_tests_read_the_rules_alike(
    kubeconfig: Path, generate: Any
) -> None:
    images = [image for image in generate(400) if "\n" not in image][:300]
    rejected = _admission_verdicts(kubeconfig, images)
    disagreements = []
    for i, image in enumerate(images):
        expected = set(admission_errors(image))
        got = rejected.get(f"fuzz-{i}", set())
        if bool(expected) != (f"fuzz-{i}" in rejected) or got != expected:
            disagreements.append((image, sorted(expected), sorted(got)))
    assert disagreements == []
    assert 0 < len(rejected) < len(images)


FINDING = {
    "apiVersion": f"{GROUP}/v1alpha1", "kind": "HostNamespaceFinding",
    "metadata": {"name": "daemonset-agent", "namespace": "default"},
    "spec": {"workload": {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent"}},
}


@pytest.fixture
def finding(kubeconfig: Path) -> Iterator[dict[str, Any]]:
    kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(FINDING))
    yield json.loads(json.dumps(FINDING))
    kubectl(kubeconfig, "delete", "hnf", "daemonset-agent", "-n", "default")


def _patch_status(kubeconfig: Path, resource: str, *where: str, status: dict[str, Any]) -> Any:
    return kubectl(kubeconfig, "patch", resource, *where, "--subresource=status",
                   "--type=merge", "-p", json.dumps({"status": status}), "-o", "json")


def _operator_status(now: str, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """A finding status built by the operator's own code, for a two-pod DaemonSet."""
    verdict = PodVerdict(
        verdict=VIOLATION, flags=("hostNetwork", "hostPID"), uncovered_flags=("hostPID",),
        images=(
            ImageUse("docker.io/elastic/elastic-agent:8.15.0", ("hostNetwork", "hostPID"),
                     ("hostPID",)),
            ImageUse("docker.io/library/busybox:latest", ("hostNetwork", "hostPID"), ()),
        ),
        exceptions=(("elastic-agent-network", "the agent watches node traffic"),),
    )
    content = finding_content({"agent-abcde": verdict, "agent-fghij": verdict}, previous)
    return finding_status(content, previous, now)


def test_findings_print_their_columns_and_keep_what_the_operator_writes(
    kubeconfig: Path, finding: dict[str, Any]
) -> None:
    status = _operator_status("2025-11-22T12:00:00Z")
    stored = json.loads(_patch_status(kubeconfig, "hnf", "daemonset-agent", "-n", "default",
                                      status=status))
    expected = {k: v for k, v in status.items() if v is not None}
    assert stored["status"] == expected  # nothing pruned, nothing rejected

    table = kubectl(kubeconfig, "get", "hnf", "-A").splitlines()
    assert table[0].split() == ["NAMESPACE", "NAME", "KIND", "WORKLOAD", "HOST-NAMESPACES",
                                "VERDICT", "SEVERITY", "PODS", "AGE"]
    assert table[1].split()[:8] == ["default", "daemonset-agent", "DaemonSet", "agent",
                                    "hostNetwork,hostPID", "Violation", "medium", "2"]

    # Resolved, then reopened: the operator clears resolvedAt with null.
    resolved = finding_status(finding_content({}, status), status, "2025-11-22T13:00:00Z")
    stored = json.loads(_patch_status(kubeconfig, "hnf", "daemonset-agent", "-n", "default",
                                      status=resolved))
    assert stored["status"]["verdict"] == "Resolved"
    assert stored["status"]["resolvedAt"] == "2025-11-22T13:00:00Z"
    reopened = _operator_status("2025-11-22T14:00:00Z", stored["status"])
    stored = json.loads(_patch_status(kubeconfig, "hnf", "daemonset-agent", "-n", "default",
                                      status=reopened))
    assert "resolvedAt" not in stored["status"]
    assert stored["status"]["verdict"] == "Violation"


def test_the_workload_of_a_finding_cannot_change(
    kubeconfig: Path, finding: dict[str, Any]
) -> None:
    finding["spec"]["workload"]["name"] = "other"
    changed = run(kubeconfig, "apply", "-f", "-", stdin=json.dumps(finding), check=False)
    assert changed.returncode != 0
    assert "the workload identity of a finding never changes" in changed.stderr
    finding["spec"]["workload"] = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "agent"}
    changed = run(kubeconfig, "apply", "-f", "-", stdin=json.dumps(finding), check=False)
    assert "the workload identity of a finding never changes" in changed.stderr


def test_a_finding_needs_a_whole_workload(kubeconfig: Path) -> None:
    body = json.loads(json.dumps(FINDING))
    del body["spec"]["workload"]["kind"]
    result = run(kubeconfig, "apply", "--dry-run=server", "-f", "-", stdin=json.dumps(body),
                 check=False)
    assert result.returncode != 0
    assert "spec.workload.kind: Required value" in result.stderr


def test_exceptions_print_the_status_the_operator_writes(kubeconfig: Path) -> None:
    kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(
        exception(["docker.io/elastic/elastic-agent:*"], name="elastic-agent",
                  expiresAt="2030-01-01T00:00:00Z")))
    try:
        # The shape hostns.live.controller writes (no lastTransitionTime: see the CRD's note).
        status = {
            "observedGeneration": 1,
            "coveredWorkloads": 3,
            "conditions": [{"type": "Active", "status": "True", "reason": "Active",
                            "message": "the exception applies", "observedGeneration": 1}],
        }
        stored = json.loads(_patch_status(kubeconfig, "hne", "elastic-agent", status=status))
        assert stored["status"] == status
        table = kubectl(kubeconfig, "get", "hne").splitlines()
        assert table[0].split() == ["NAME", "ACTIVE", "STATE", "COVERED", "EXPIRES", "AGE"]
        assert table[1].split()[:5] == ["elastic-agent", "True", "Active", "3",
                                        "2030-01-01T00:00:00Z"]
        bad = {"conditions": [{"type": "Active", "status": "Maybe", "reason": "Active",
                               "message": "x"}]}
        result = run(kubeconfig, "patch", "hne", "elastic-agent", "--subresource=status",
                     "--type=merge", "-p", json.dumps({"status": bad}), check=False)
        assert result.returncode != 0
        assert 'supported values: "True", "False", "Unknown"' in result.stderr
    finally:
        kubectl(kubeconfig, "delete", "hne", "elastic-agent")
