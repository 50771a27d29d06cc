"""The operator's in-memory picture (ClusterState): what it stores and what it reports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hostns.core.evaluation import EXCEPTED
from hostns.core.findings import RESOLVED
from hostns.core.pods import pod_facts
from hostns.live.state import ClusterState

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def owner(kind: str, name: str, api_version: str = "apps/v1", controller: bool = True) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": "x", "controller": controller}


def host_pod(name: str, image: str = "nginx", uid: str | None = None, **flags: bool) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "uid": uid or f"uid-{name}",
                     "ownerReferences": [owner("DaemonSet", "agent")]},
        "spec": {**(flags or {"hostNetwork": True}), "containers": [{"name": "c", "image": image}]},
    }


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
