"""Workload derivation, finding bodies, the in-memory state and settings."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

import pytest

from hostns.config import Config, ConfigError, add_run_arguments, config_from_args, parse_duration
from hostns.evaluation import EXCEPTED, VIOLATION, evaluate_pod
from hostns.exceptions import ExceptionSet, compile_exception
from hostns.findings import (
    RESOLVED,
    finding_body,
    finding_content,
    finding_status,
    same_content,
    violation_message,
)
from hostns.pods import pod_facts
from hostns.state import ClusterState
from hostns.workloads import Workload, finding_name, workload_of

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def owner(kind: str, name: str, api_version: str = "apps/v1", controller: bool = True) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": "x", "controller": controller}


@pytest.mark.parametrize(("metadata", "expected"), [
    ({"name": "web-7d9f8-abcde", "labels": {"pod-template-hash": "7d9f8"},
      "ownerReferences": [owner("ReplicaSet", "web-7d9f8")]}, ("apps/v1", "Deployment", "web")),
    ({"name": "rs-x", "labels": {"pod-template-hash": "zzz"},
      "ownerReferences": [owner("ReplicaSet", "standalone")]}, ("apps/v1", "ReplicaSet", "standalone")),
    ({"name": "agent-x", "ownerReferences": [owner("DaemonSet", "agent")]}, ("apps/v1", "DaemonSet", "agent")),
    ({"name": "db-0", "ownerReferences": [owner("StatefulSet", "db")]}, ("apps/v1", "StatefulSet", "db")),
    ({"name": "migrate-x", "ownerReferences": [owner("Job", "migrate", "batch/v1")]}, ("batch/v1", "Job", "migrate")),
    ({"name": "backup-29000000-x", "ownerReferences": [owner("Job", "backup-29000000", "batch/v1")]},
     ("batch/v1", "CronJob", "backup")),
    ({"name": "backup-1-x", "ownerReferences": [owner("Job", "backup-1", "batch/v1")]}, ("batch/v1", "Job", "backup-1")),
    ({"name": "rc-x", "ownerReferences": [owner("ReplicationController", "rc", "v1")]},
     ("v1", "ReplicationController", "rc")),
    ({"name": "bare"}, ("v1", "Pod", "bare")),
    ({"name": "kube-apiserver-node1", "annotations": {"kubernetes.io/config.mirror": "abc"},
      "ownerReferences": [owner("Node", "node1", "v1")]}, ("v1", "Pod", "kube-apiserver-node1")),
    ({"name": "static", "ownerReferences": [owner("Node", "node1", "v1")]}, ("v1", "Pod", "static")),
    ({"name": "x", "ownerReferences": [owner("DaemonSet", "not-the-controller", controller=False)]},
     ("v1", "Pod", "x")),
    ({"name": "canary-x", "ownerReferences": [owner("Rollout", "canary", "argoproj.io/v1alpha1")]},
     ("argoproj.io/v1alpha1", "Rollout", "canary")),
    ({"name": "odd", "ownerReferences": "garbage"}, ("v1", "Pod", "odd")),
])
def test_the_workload_is_the_top_controller_derived_from_the_pod_alone(
    metadata: dict[str, Any], expected: tuple[str, str, str]
) -> None:
    workload = workload_of("ns", metadata)
    assert (workload.api_version, workload.kind, workload.name) == expected
    assert workload.namespace == "ns"


def test_finding_names_are_kind_and_name_shortened_stably_when_too_long() -> None:
    assert finding_name("DaemonSet", "agent") == "daemonset-agent"
    long = "x" * 300
    first, second = finding_name("Deployment", long), finding_name("Deployment", long)
    assert first == second and len(first) <= 253
    assert finding_name("Deployment", long + "y") != first


def host_pod(name: str, image: str = "nginx", uid: str | None = None, **flags: bool) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "uid": uid or f"uid-{name}",
                     "ownerReferences": [owner("DaemonSet", "agent")]},
        "spec": {**(flags or {"hostNetwork": True}), "containers": [{"name": "c", "image": image}]},
    }


def verdicts(*bodies: dict[str, Any], trusted: list[str] | None = None) -> dict[str, Any]:
    exc = ExceptionSet(
        [compile_exception({"metadata": {"name": "t"}, "spec": {"reason": "r", "images": trusted}})]
        if trusted else [], NOW,
    )
    return {b["metadata"]["name"]: evaluate_pod(pod_facts(b), exc) for b in bodies}


def test_a_workload_is_a_violation_if_any_of_its_pods_is() -> None:
    content = finding_content(verdicts(host_pod("a"), host_pod("b", "evil.example/x:1"), trusted=["nginx"]))
    assert content["verdict"] == VIOLATION
    assert content["pods"] == {"count": 2, "names": ["a", "b"]}
    assert [i["image"] for i in content["images"] if i["uncovered"]] == ["evil.example/x:1"]
    assert content["hostNamespaces"][0]["excepted"] is False


def test_a_workload_whose_every_use_is_covered_is_excepted() -> None:
    content = finding_content(verdicts(host_pod("a", hostPID=True, hostIPC=True), trusted=["nginx"]))
    assert content["verdict"] == EXCEPTED
    assert content["summary"] == "hostPID,hostIPC"
    assert content["exceptions"] == [{"name": "t", "reason": "r"}]
    assert all(entry["excepted"] for entry in content["hostNamespaces"])
    assert content["hostNamespaces"][0]["tactics"][0] == {"id": "TA0004", "name": "Privilege Escalation"}


def test_a_resolved_finding_keeps_the_record_of_what_ran() -> None:
    before = finding_content(verdicts(host_pod("a")))
    resolved = finding_content({}, previous=before)
    assert resolved["verdict"] == RESOLVED
    assert resolved["pods"] == {"count": 0, "names": []}
    assert resolved["summary"] == "hostNetwork" and resolved["images"] == before["images"]


def test_pod_names_are_bounded() -> None:
    content = finding_content(verdicts(*(host_pod(f"p{i:03}") for i in range(100))))
    assert content["pods"]["count"] == 100 and len(content["pods"]["names"]) == 20


def test_timestamps_change_only_on_verdict_changes() -> None:
    violation = finding_content(verdicts(host_pod("a")))
    first = finding_status(violation, None, "T1")
    assert (first["firstSeen"], first["lastTransitionTime"], first["resolvedAt"]) == ("T1", "T1", None)
    same = finding_status(violation, first, "T2")
    assert same["lastTransitionTime"] == "T1" and same_content(violation, first)
    resolved = finding_status(finding_content({}, previous=violation), same, "T3")
    assert (resolved["firstSeen"], resolved["lastTransitionTime"], resolved["resolvedAt"]) == ("T1", "T3", "T3")
    reopened = finding_status(violation, resolved, "T4")
    assert reopened["resolvedAt"] is None and reopened["lastTransitionTime"] == "T4"
    assert reopened["conditions"][0]["type"] == "Violation" and reopened["conditions"][0]["status"] == "True"


def test_a_finding_body_identifies_the_workload_and_carries_selection_labels() -> None:
    body = finding_body(Workload("team-a", "apps/v1", "DaemonSet", "agent"), VIOLATION)
    assert body["metadata"] == {
        "name": "daemonset-agent", "namespace": "team-a",
        "labels": {"app.kubernetes.io/managed-by": "hostns-operator", "hostns.io/verdict": VIOLATION,
                   "hostns.io/workload-kind": "DaemonSet"},
    }
    assert body["spec"] == {"workload": {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent"}}
    assert "ownerReferences" not in body["metadata"]  # a finding outlives its pods


def test_the_violation_message_names_flags_and_uncovered_images() -> None:
    message = violation_message(verdicts(host_pod("a", "evil.example/x:1", hostPID=True))["a"])
    assert "hostPID" in message and "evil.example/x:1" in message


# --- state -----------------------------------------------------------------------


def test_a_compliant_pod_is_not_stored() -> None:
    state = ClusterState()
    body = host_pod("plain")
    body["spec"] = {"containers": [{"name": "c", "image": "nginx"}]}
    observation = state.observe_pod(pod_facts(body), NOW, 1.0)
    assert observation.workload is None and state.pods == {}


def test_a_pod_becomes_a_violation_once_and_reports_its_workload() -> None:
    state = ClusterState()
    first = state.observe_pod(pod_facts(host_pod("a")), NOW, 1.0)
    assert first.new_violation is not None and first.workload is not None
    again = state.observe_pod(pod_facts(host_pod("a")), NOW, 2.0)
    assert again.new_violation is None and again.workload is None  # nothing changed


def test_an_exception_change_reevaluates_and_reports_new_violations() -> None:
    state = ClusterState()
    state.set_exception({"metadata": {"name": "t", "generation": 1}, "spec": {"reason": "r", "images": ["nginx"]}})
    state.observe_pod(pod_facts(host_pod("a")), NOW, 1.0)
    workload = pod_facts(host_pod("a")).workload
    assert state.content_of(workload, None)["verdict"] == EXCEPTED
    assert state.delete_exception("t")
    changed, new_violations = state.reevaluate(NOW)
    assert changed == {workload} and [f.name for f, _ in new_violations] == ["a"]


def test_a_status_only_update_of_an_exception_is_not_a_change() -> None:
    state = ClusterState()
    body = {"metadata": {"name": "t", "generation": 1}, "spec": {"reason": "r", "images": ["nginx"]}}
    assert state.set_exception(body)[1] is True
    assert state.set_exception({**body, "status": {"coveredWorkloads": 3}})[1] is False


def test_a_pod_seen_only_deleted_still_leaves_a_resolved_record() -> None:
    state = ClusterState()
    facts = pod_facts(host_pod("blink"))
    observation = state.observe_pod(facts, NOW, 1.0, deleted=True)
    assert observation.new_violation is not None
    content = state.content_of(facts.workload, None)
    assert content is not None and content["verdict"] == RESOLVED and content["summary"] == "hostNetwork"
    assert state.is_tombstoned(facts.uid)


def test_a_relist_forgets_pods_deleted_unseen_but_not_newer_ones() -> None:
    state = ClusterState()
    state.observe_pod(pod_facts(host_pod("old")), NOW, 1.0)
    state.observe_pod(pod_facts(host_pod("new")), NOW, 10.0)
    touched = state.forget_unlisted(listed=set(), listed_since=5.0, now=NOW)
    assert set(state.pods) == {"uid-new"} and len(touched) == 1


# --- settings --------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [
    ("7d", 604800.0), ("36h", 129600.0), ("1h30m", 5400.0), ("45s", 45.0), ("0.5s", 0.5), ("90", 90.0),
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "7x", "d7", "-1s", "1 h"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text)


def parse(argv: list[str], env: dict[str, str]) -> Config:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    return config_from_args(parser.parse_args(argv), env)


def test_flags_win_over_environment_over_defaults() -> None:
    env = {"HOSTNS_RETENTION": "1d", "HOSTNS_NAMESPACES": "a, b", "HOSTNS_EVENTS": "false",
           "HOSTNS_PORT": "9000", "HOSTNS_LOG_FORMAT": "json"}
    from_env = parse([], env)
    assert from_env.retention_seconds == 86400 and from_env.namespaces == ("a", "b")
    assert from_env.events is False and from_env.port == 9000 and from_env.log_format == "json"
    from_flags = parse(["--retention", "2h", "-n", "c", "--events", "--port", "0"], env)
    assert from_flags.retention_seconds == 7200 and from_flags.namespaces == ("c",)
    assert from_flags.events is True and from_flags.port == 0
    assert parse([], {}) == Config()


@pytest.mark.parametrize("env", [
    {"HOSTNS_PORT": "http"}, {"HOSTNS_PORT": "70000"}, {"HOSTNS_EVENTS": "maybe"},
    {"HOSTNS_LOG_FORMAT": "xml"}, {"HOSTNS_RESYNC_INTERVAL": "soon"},
])
def test_bad_settings_are_refused_with_a_config_error(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        parse([], env)
