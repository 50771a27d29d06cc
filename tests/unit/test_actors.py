"""A finding's actors (spec §6.4): read from audit events, merged, bounded, named in Events."""

from __future__ import annotations

from typing import Any

import pytest

from hostns.core.actors import (
    ACTOR_LIMIT,
    actor_of,
    actor_phrase,
    latest_person,
    merge_actors,
    with_actors,
)
from hostns.core.workloads import Workload
from hostns.offline.audit import written
from tests.cli.auditevents import (
    ALICE,
    KUBECTL,
    MALLORY,
    RS_CONTROLLER,
    event,
    load,
    with_spec,
)

POD = with_spec(load("elastic-agent-pod-ephemeral.yaml"), ephemeralContainers=None)
DAEMONSET = load("elastic-agent-daemonset.yaml")


def _actor(audit_id: str, time: str, username: str = "alice") -> dict[str, Any]:
    return {"username": username, "auditID": audit_id, "time": time}


def test_an_actor_holds_the_documented_fields_of_the_event() -> None:
    ev = event("patch", POD, user=ALICE, impersonated=MALLORY, audit_id="id-1")
    actor = actor_of(ev, "agent")
    assert actor == {
        "username": ALICE["username"], "groups": ALICE["groups"],
        "impersonatedUser": {"username": "mallory", "groups": ["system:authenticated"]},
        "sourceIPs": ["10.20.0.14"], "userAgent": KUBECTL, "verb": "patch",
        "resource": "pods", "name": "agent", "time": ev["requestReceivedTimestamp"],
        "auditID": "id-1",
    }
    assert "extra" not in actor and "uid" not in actor  # credential ids stay in the log


def test_client_chosen_strings_are_cut_and_cleaned() -> None:
    ev = event("create", POD, user_agent="evil\nFAKE LOG LINE" + "x" * 1000,
               time="not a time")
    actor = actor_of(ev, None)
    assert "\n" not in actor["userAgent"] and len(actor["userAgent"]) <= 256
    assert "time" not in actor  # the CRD says date-time: a bad one is not written


def test_merge_is_most_recent_first_one_per_audit_id_and_bounded() -> None:
    stored = [_actor(f"s{i}", f"2026-12-01T10:{i:02d}:00Z") for i in range(ACTOR_LIMIT)]
    recent = [_actor("new", "2026-12-01T11:00:00Z"), _actor("s3", "2026-12-01T10:03:00Z")]
    merged = merge_actors(recent, list(reversed(stored)))
    assert len(merged) == ACTOR_LIMIT
    assert [a["auditID"] for a in merged[:3]] == ["new", "s9", "s8"]
    assert "s0" not in {a["auditID"] for a in merged}  # the oldest went
    assert [a["auditID"] for a in merged].count("s3") == 1


def test_a_full_list_drops_a_controllers_entry_before_a_persons() -> None:
    person = _actor("alice-1", "2026-12-01T09:00:00Z")
    controllers = [_actor(f"rs{i}", f"2026-12-01T10:{i:02d}:00Z", RS_CONTROLLER["username"])
                   for i in range(ACTOR_LIMIT + 5)]
    merged = merge_actors(controllers, [person])
    assert len(merged) == ACTOR_LIMIT and merged[-1]["auditID"] == "alice-1"
    assert latest_person(merged) == person


def test_without_any_actor_the_content_has_no_actors_key() -> None:
    assert with_actors({"verdict": "Violation"}, [], {"verdict": "Violation"}) == {
        "verdict": "Violation"}


def test_stored_actors_survive_a_restart_with_nothing_recent() -> None:
    stored = {"actors": [_actor("a", "2026-12-01T09:00:00Z")]}
    assert with_actors({"verdict": "Excepted"}, [], stored)["actors"] == stored["actors"]


def test_the_phrase_names_the_impersonated_user_the_client_and_the_request() -> None:
    ev = event("patch", POD, user={"username": "hostns-admin"}, impersonated=MALLORY)
    assert actor_phrase(actor_of(ev, "agent")) == (
        f"mallory (impersonated by hostns-admin) via kubectl: patch pods agent at "
        f"{ev['requestReceivedTimestamp']}"
    )


@pytest.mark.parametrize(("ev", "expected"), [
    pytest.param(event("create", POD), ("Pod", "elastic-agent-x7k2p"), id="a pod create: the pod's workload"),
    pytest.param(event("create", DAEMONSET), ("DaemonSet", "elastic-agent"),
                 id="a workload write: the workload itself"),
    pytest.param(event("patch", POD, subresource="ephemeralcontainers"),
                 ("Pod", "elastic-agent-x7k2p"),
                 id="kubectl debug"),
])
def test_a_write_is_attributed_to_the_workload_of_its_finding(
    ev: dict[str, Any], expected: tuple[str, str]
) -> None:
    found = written(ev)
    assert found is not None and found.workload is not None
    assert (found.workload.kind, found.workload.name) == expected


def test_a_replicaset_made_by_a_deployment_is_the_deployments() -> None:
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
          "metadata": {"name": "web-5d9c7", "namespace": "default", "ownerReferences": [
              {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
               "controller": True, "uid": "u"}]},
          "spec": {"template": {"metadata": {"labels": {"pod-template-hash": "5d9c7"}},
                                "spec": {"hostNetwork": True,
                                         "containers": [{"name": "c", "image": "x"}]}}}}
    found = written(event("create", rs, user=RS_CONTROLLER))
    assert found is not None
    assert found.workload == Workload("default", "apps/v1", "Deployment", "web")


@pytest.mark.parametrize("ev", [
    pytest.param(event("create", POD, decision="forbid"), id="denied"),
    pytest.param(event("create", POD, code=403), id="rejected by admission"),
    pytest.param(event("create", POD, dry_run=True), id="a server-side dry run"),
    pytest.param(event("create", POD, stage="Panic"), id="a panic"),
    pytest.param(event("get", POD), id="a read"),
    pytest.param(event("patch", POD, subresource="status"), id="a status write"),
])
def test_what_changed_nothing_names_no_actor(ev: dict[str, Any]) -> None:
    assert written(ev) is None


def test_a_pod_write_without_its_object_is_the_pods_own() -> None:
    found = written(event("patch", POD, level="Metadata"))
    assert found is not None and found.workload is None and found.flags is None
    assert (found.namespace, found.name) == (POD["metadata"]["namespace"], POD["metadata"]["name"])
