"""HostNamespaceFinding bodies: one per workload, aggregated over its pods' verdicts."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hostns.core.evaluation import EXCEPTED, VIOLATION, PodVerdict
from hostns.core.findings import (
    MAX_POD_NAMES,
    RESOLVED,
    finding_body,
    finding_content,
    finding_labels,
    finding_status,
    same_content,
    violation_message,
)
from hostns.core.workloads import Workload

from .builders import exception_body, judge, pod

AGENT = exception_body("node-agent", ["ghcr.io/acme/agent"])
T0, T1, T2, T3 = (f"2026-11-22T12:0{i}:00Z" for i in range(4))
DAEMONSET = Workload("monitoring", "apps/v1", "DaemonSet", "agent")


def excepted_pod(name: str, flags: tuple[str, ...] = ("hostNetwork",)) -> PodVerdict:
    return judge(pod(name, images=["ghcr.io/acme/agent:2"], flags=flags), AGENT)


def violating_pod(name: str, flags: tuple[str, ...] = ("hostNetwork",)) -> PodVerdict:
    return judge(pod(name, images=["ghcr.io/acme/agent:2", "evil.example/miner:1"], flags=flags), AGENT)


# --- content -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pods", "verdict"),
    [
        pytest.param({"a": excepted_pod("a")}, EXCEPTED, id="one excepted pod"),
        pytest.param({"a": excepted_pod("a"), "b": excepted_pod("b")}, EXCEPTED, id="every pod excepted"),
        pytest.param({"a": violating_pod("a")}, VIOLATION, id="one violating pod"),
        pytest.param({"a": excepted_pod("a"), "b": violating_pod("b"), "c": excepted_pod("c")}, VIOLATION, id="any violating pod makes a Violation"),
        pytest.param({}, RESOLVED, id="no live host-namespace pod"),
    ],
)
def test_a_workload_verdict_is_violation_if_any_pod_violates(pods: dict[str, PodVerdict], verdict: str) -> None:
    assert finding_content(pods)["verdict"] == verdict


def test_a_violation_finding_says_which_images_and_flags_are_uncovered() -> None:
    content = finding_content({"a": excepted_pod("a", ("hostPID",)), "b": violating_pod("b", ("hostNetwork", "hostPID"))})
    assert content["verdict"] == VIOLATION
    assert content["summary"] == "hostNetwork,hostPID"
    assert (content["severity"], content["riskScore"]) == ("medium", 47)
    assert content["images"] == [
        {"image": "evil.example/miner:1", "hostNamespaces": ["hostNetwork", "hostPID"], "uncovered": ["hostNetwork", "hostPID"]},
        {"image": "ghcr.io/acme/agent:2", "hostNamespaces": ["hostNetwork", "hostPID"], "uncovered": []},
    ]
    assert [(f["name"], f["excepted"]) for f in content["hostNamespaces"]] == [("hostNetwork", False), ("hostPID", False)]
    assert content["exceptions"] == [{"name": "node-agent", "reason": "node-agent: approved by the platform team"}]
    assert content["pods"] == {"count": 2, "names": ["a", "b"]}


def test_each_flag_in_use_carries_its_rule_severity_score_and_mitre_mapping() -> None:
    content = finding_content({"a": violating_pod("a", ("hostNetwork", "hostPID", "hostIPC"))})
    assert [f["name"] for f in content["hostNamespaces"]] == ["hostNetwork", "hostPID", "hostIPC"]
    ipc = content["hostNamespaces"][2]
    assert ipc == {
        "name": "hostIPC",
        "excepted": False,
        "rule": "Kubernetes Pod Created With HostIPC",
        "severity": "medium",
        "riskScore": 47,
        "tactics": [{"id": "TA0004", "name": "Privilege Escalation"}, {"id": "TA0002", "name": "Execution"}],
        "techniques": [{"id": "T1611", "name": "Escape to Host"}, {"id": "T1610", "name": "Deploy Container"}],
    }


def test_an_excepted_finding_lists_the_exceptions_that_applied() -> None:
    content = finding_content({"a": excepted_pod("a"), "b": excepted_pod("b", ("hostIPC",))})
    assert content["verdict"] == EXCEPTED
    assert [f["excepted"] for f in content["hostNamespaces"]] == [True, True]
    assert content["exceptions"] == [{"name": "node-agent", "reason": "node-agent: approved by the platform team"}]
    assert content["images"] == [{"image": "ghcr.io/acme/agent:2", "hostNamespaces": ["hostNetwork", "hostIPC"], "uncovered": []}]


def test_a_resolved_finding_keeps_the_last_known_flags_and_images_with_no_pods() -> None:
    previous = finding_status(finding_content({"a": violating_pod("a", ("hostPID",))}), None, T0)
    resolved = finding_content({}, previous)
    assert resolved["verdict"] == RESOLVED
    assert resolved["pods"] == {"count": 0, "names": []}
    for key in ("summary", "severity", "riskScore", "hostNamespaces", "images", "exceptions"):
        assert resolved[key] == previous[key], key
    assert "firstSeen" not in resolved  # content holds no timestamps


def test_a_resolved_finding_does_not_share_structure_with_the_previous_status() -> None:
    previous = finding_content({"a": violating_pod("a")})
    snapshot = copy.deepcopy(previous)
    resolved = finding_content({}, previous)
    resolved["images"][0]["image"] = "changed"
    assert previous == snapshot


def test_a_resolved_finding_without_a_previous_record_is_still_well_formed() -> None:
    assert finding_content({}, None) == {"verdict": RESOLVED, "pods": {"count": 0, "names": []}}


def test_the_pod_name_list_is_bounded_but_the_count_is_not() -> None:
    pods = {f"agent-{i:03d}": excepted_pod(f"agent-{i:03d}") for i in range(500)}
    content = finding_content(pods)
    assert content["pods"]["count"] == 500
    assert content["pods"]["names"] == [f"agent-{i:03d}" for i in range(MAX_POD_NAMES)]


def test_content_does_not_depend_on_the_order_pods_were_seen() -> None:
    one = {"b": violating_pod("b"), "a": excepted_pod("a", ("hostPID",))}
    two = dict(reversed(list(one.items())))
    assert finding_content(one) == finding_content(two)


def test_same_content_ignores_timestamps_but_not_content() -> None:
    content = finding_content({"a": excepted_pod("a")})
    stored = finding_status(content, None, T0)
    assert same_content(content, stored)
    assert same_content(content, {**stored, "lastTransitionTime": T3, "firstSeen": T2})
    assert not same_content(finding_content({"a": excepted_pod("a"), "b": excepted_pod("b")}), stored)
    assert not same_content(content, None)
    assert not same_content(content, {})


# --- status timestamps -------------------------------------------------------------------


def test_first_seen_is_kept_and_the_transition_time_changes_only_with_the_verdict() -> None:
    excepted = finding_content({"a": excepted_pod("a")})
    violation = finding_content({"a": violating_pod("a")})

    first = finding_status(excepted, None, T0)
    assert (first["firstSeen"], first["lastTransitionTime"], first["resolvedAt"]) == (T0, T0, None)

    same_verdict = finding_status(finding_content({"a": excepted_pod("a"), "b": excepted_pod("b")}), first, T1)
    assert (same_verdict["firstSeen"], same_verdict["lastTransitionTime"]) == (T0, T0)

    changed = finding_status(violation, same_verdict, T2)
    assert (changed["firstSeen"], changed["lastTransitionTime"]) == (T0, T2)
    assert changed["conditions"][0]["lastTransitionTime"] == T2


def test_resolved_at_is_set_on_resolution_kept_while_resolved_and_cleared_on_reopen() -> None:
    open_ = finding_status(finding_content({"a": violating_pod("a")}), None, T0)
    resolved = finding_status(finding_content({}, open_), open_, T1)
    assert (resolved["verdict"], resolved["resolvedAt"], resolved["lastTransitionTime"]) == (RESOLVED, T1, T1)

    still = finding_status(finding_content({}, resolved), resolved, T2)
    assert (still["resolvedAt"], still["lastTransitionTime"]) == (T1, T1)

    reopened = finding_status(finding_content({"a": violating_pod("a")}), still, T3)
    assert reopened["verdict"] == VIOLATION
    assert "resolvedAt" in reopened and reopened["resolvedAt"] is None  # None clears it on a merge patch
    assert (reopened["firstSeen"], reopened["lastTransitionTime"]) == (T0, T3)


@pytest.mark.parametrize(
    ("pods", "status", "reason", "message_part"),
    [
        pytest.param({"a": "violating"}, "True", "UncoveredHostNamespaces", "evil.example/miner:1", id="Violation"),
        pytest.param({"a": "excepted"}, "False", "AllExcepted", "covered", id="Excepted"),
        pytest.param({}, "False", "NoLivePods", "no live pod", id="Resolved"),
    ],
)
def test_the_violation_condition_follows_the_verdict(
    pods: dict[str, str], status: str, reason: str, message_part: str
) -> None:
    verdicts = {n: violating_pod(n) if kind == "violating" else excepted_pod(n) for n, kind in pods.items()}
    (condition,) = finding_status(finding_content(verdicts), None, T0)["conditions"]
    assert (condition["type"], condition["status"], condition["reason"]) == ("Violation", status, reason)
    assert message_part in condition["message"]


def test_a_violation_condition_names_the_uncovered_flags_and_images() -> None:
    content = finding_content({"a": violating_pod("a", ("hostNetwork", "hostPID"))})
    (condition,) = finding_status(content, None, T0)["conditions"]
    assert condition["message"] == "hostNetwork, hostPID not covered for image(s): evil.example/miner:1"


# --- body, labels, event message ---------------------------------------------------------


def test_a_finding_body_identifies_the_workload_with_selection_labels_and_no_owner() -> None:
    body = finding_body(DAEMONSET, VIOLATION)
    assert body["apiVersion"] == "hostns.io/v1alpha1"
    assert body["kind"] == "HostNamespaceFinding"
    assert body["metadata"]["name"] == "daemonset-agent"
    assert body["metadata"]["namespace"] == "monitoring"
    assert "ownerReferences" not in body["metadata"]  # a finding must outlive its pods
    assert body["spec"] == {"workload": {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent"}}
    assert body["metadata"]["labels"] == finding_labels(DAEMONSET, VIOLATION) == {
        "app.kubernetes.io/managed-by": "hostns-operator",
        "hostns.io/verdict": "Violation",
        "hostns.io/workload-kind": "DaemonSet",
    }


def test_the_violation_event_message_names_the_flags_and_the_uncovered_images() -> None:
    message = violation_message(violating_pod("a", ("hostNetwork", "hostIPC")))
    assert message == (
        "uses host namespace(s) hostNetwork, hostIPC not covered by any HostNamespaceException; "
        "uncovered image(s): evil.example/miner:1 (hostNetwork, hostIPC)"
    )
    assert "ghcr.io/acme/agent" not in message  # the trusted image is not blamed


def test_the_violation_event_message_lists_every_uncovered_image() -> None:
    verdict = judge(pod(images=["b.example/x:1", "a.example/y:2"], flags=["hostPID"]))
    assert violation_message(verdict).endswith(
        "uncovered image(s): a.example/y:2 (hostPID); b.example/x:1 (hostPID)"
    )


def _strip(status: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in status.items() if k not in ("firstSeen", "lastTransitionTime", "conditions")}


def test_a_finding_status_is_its_content_plus_timestamps() -> None:
    content = finding_content({"a": violating_pod("a")})
    assert _strip(finding_status(content, None, T0)) == {**content, "resolvedAt": None}
