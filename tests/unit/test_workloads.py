"""Which workload a pod belongs to (spec §2, one finding per workload), from the pod alone."""

from __future__ import annotations

import re
from typing import Any

import pytest

from hostns.core.pods import pod_facts
from hostns.core.workloads import MIRROR_ANNOTATION, Workload, finding_name, workload_of

from .builders import NOW, owner, pod

# The minute CronJob controllers put in Job names: unix time in minutes.
SCHEDULED_MINUTE = int(NOW.timestamp()) // 60  # 29,922,480 (8 digits) in 2026
HASH = "7d4b9c6f5"


WORKLOAD_TABLE = [
    pytest.param(
        dict(name=f"web-{HASH}-x2k8q", labels={"app": "web", "pod-template-hash": HASH}, owner=owner("ReplicaSet", f"web-{HASH}")),
        ("apps/v1", "Deployment", "web"), id="Deployment via its ReplicaSet and pod-template-hash",
    ),
    pytest.param(
        dict(name=f"my-web-app-{HASH}-x2k8q", labels={"pod-template-hash": HASH}, owner=owner("ReplicaSet", f"my-web-app-{HASH}")),
        ("apps/v1", "Deployment", "my-web-app"), id="Deployment whose name has dashes",
    ),
    pytest.param(
        dict(name="standalone-x2k8q", labels={"pod-template-hash": HASH}, owner=owner("ReplicaSet", "standalone")),
        ("apps/v1", "ReplicaSet", "standalone"), id="ReplicaSet whose name does not end in the hash stays ReplicaSet",
    ),
    pytest.param(
        dict(name="rs-x2k8q", labels={"app": "rs"}, owner=owner("ReplicaSet", f"rs-{HASH}")),
        ("apps/v1", "ReplicaSet", f"rs-{HASH}"), id="ReplicaSet without a pod-template-hash label stays ReplicaSet",
    ),
    pytest.param(
        dict(name="x", labels={"pod-template-hash": HASH}, owner=owner("ReplicaSet", HASH)),
        ("apps/v1", "ReplicaSet", HASH), id="ReplicaSet named only by the hash stays ReplicaSet",
    ),
    pytest.param(
        dict(name="x", labels={"pod-template-hash": ""}, owner=owner("ReplicaSet", "web-")),
        ("apps/v1", "ReplicaSet", "web-"), id="an empty pod-template-hash derives nothing",
    ),
    pytest.param(
        dict(name="x", labels={"pod-template-hash": HASH}, owner=owner("ReplicaSet", f"web-{HASH}", "extensions/v1beta1")),
        ("extensions/v1beta1", "ReplicaSet", f"web-{HASH}"), id="a ReplicaSet of another API group is kept as is",
    ),
    pytest.param(
        dict(name="kube-proxy-x8j2n", owner=owner("DaemonSet", "kube-proxy")),
        ("apps/v1", "DaemonSet", "kube-proxy"), id="DaemonSet",
    ),
    pytest.param(
        dict(name="db-0", owner=owner("StatefulSet", "db")),
        ("apps/v1", "StatefulSet", "db"), id="StatefulSet",
    ),
    pytest.param(
        dict(name="migrate-x2k8q", owner=owner("Job", "migrate", "batch/v1")),
        ("batch/v1", "Job", "migrate"), id="Job",
    ),
    pytest.param(
        dict(name=f"backup-{SCHEDULED_MINUTE}-x2k8q", owner=owner("Job", f"backup-{SCHEDULED_MINUTE}", "batch/v1")),
        ("batch/v1", "CronJob", "backup"), id="CronJob via its Job named <cronjob>-<scheduled minute>",
    ),
    pytest.param(
        dict(name="x", owner=owner("Job", "nightly-db-backup-29000000", "batch/v1")),
        ("batch/v1", "CronJob", "nightly-db-backup"), id="CronJob whose name has dashes",
    ),
    pytest.param(
        dict(name="x", owner=owner("Job", "backup-1", "batch/v1")),
        ("batch/v1", "Job", "backup-1"), id="an ordinary numbered Job stays Job",
    ),
    pytest.param(
        dict(name="x", owner=owner("Job", "backup-12345678", "batch/v1")),
        ("batch/v1", "Job", "backup-12345678"), id="an 8-digit suffix before 2017 is not a scheduled minute",
    ),
    pytest.param(
        dict(name="x", owner=owner("Job", "report-20250101", "batch/v1")),
        ("batch/v1", "Job", "report-20250101"), id="a date-stamped Job name is not a scheduled minute",
    ),
    pytest.param(
        dict(name="x", owner=owner("Job", "backup-9999999999", "batch/v1")),
        ("batch/v1", "Job", "backup-9999999999"), id="a 10-digit suffix is not a scheduled minute",
    ),
    pytest.param(
        dict(name="x", owner=owner("Job", f"-{SCHEDULED_MINUTE}", "batch/v1")),
        ("batch/v1", "Job", f"-{SCHEDULED_MINUTE}"), id="a Job named only by a minute stays Job",
    ),
    pytest.param(
        dict(name="legacy-x2k8q", owner=owner("ReplicationController", "legacy", "v1")),
        ("v1", "ReplicationController", "legacy"), id="ReplicationController",
    ),
    pytest.param(dict(name="debugger"), ("v1", "Pod", "debugger"), id="a bare pod is its own workload"),
    pytest.param(
        dict(name="kube-apiserver-node-1", annotations={MIRROR_ANNOTATION: "3f1c2d"}, owner=owner("Node", "node-1", "v1")),
        ("v1", "Pod", "kube-apiserver-node-1"), id="a mirror pod is its own workload",
    ),
    pytest.param(
        dict(name="etcd-node-1", annotations={MIRROR_ANNOTATION: "3f1c2d"}),
        ("v1", "Pod", "etcd-node-1"), id="a mirror pod without an owner is its own workload",
    ),
    pytest.param(
        dict(name="static-node-1", owner=owner("Node", "node-1", "v1")),
        ("v1", "Pod", "static-node-1"), id="a pod owned by a Node is its own workload",
    ),
    pytest.param(
        dict(name="x", owner=owner("DaemonSet", "adopter", controller=False)),
        ("v1", "Pod", "x"), id="a non-controller ownerReference is ignored",
    ),
    pytest.param(
        dict(name=f"canary-{HASH}-x2k8q", labels={"pod-template-hash": HASH}, owner=owner("Rollout", "canary", "argoproj.io/v1alpha1")),
        ("argoproj.io/v1alpha1", "Rollout", "canary"), id="a custom controller kind is kept as is",
    ),
    pytest.param(
        dict(name="x", owner={"kind": "DaemonSet", "name": "agent", "controller": True}),
        ("v1", "Pod", "x"), id="a controller reference without apiVersion is ignored",
    ),
]


@pytest.mark.parametrize(("pod_args", "expected"), WORKLOAD_TABLE)
def test_the_workload_is_the_top_controller_derived_from_the_pod_alone(
    pod_args: dict[str, Any], expected: tuple[str, str, str]
) -> None:
    facts = pod_facts(pod(namespace="team-a", **pod_args))
    assert (facts.workload.api_version, facts.workload.kind, facts.workload.name) == expected
    assert facts.workload.namespace == "team-a"


def test_the_controller_reference_is_the_one_used_among_several() -> None:
    metadata = {
        "name": "x",
        "ownerReferences": [
            owner("ConfigMap", "not-me", "v1", controller=False),
            {**owner("DaemonSet", "agent"), "controller": "true"},  # only a real `true` counts
            owner("StatefulSet", "db"),
        ],
    }
    assert workload_of("ns", metadata) == Workload("ns", "apps/v1", "StatefulSet", "db")


@pytest.mark.parametrize(
    "metadata",
    [
        pytest.param({}, id="no metadata"),
        pytest.param({"ownerReferences": "garbage"}, id="ownerReferences a string"),
        pytest.param({"ownerReferences": [None, 1]}, id="ownerReferences garbage entries"),
        pytest.param({"annotations": ["kubernetes.io/config.mirror"]}, id="annotations a list"),
        pytest.param({"ownerReferences": [owner("ReplicaSet", "web-abc")], "labels": ["pod-template-hash"]}, id="labels a list"),
    ],
)
def test_strange_metadata_makes_the_pod_its_own_workload_or_keeps_the_owner(metadata: dict[str, Any]) -> None:
    workload = workload_of("ns", metadata)
    assert workload.kind in ("Pod", "ReplicaSet")


def test_a_workload_is_a_finding_key_and_a_reference() -> None:
    workload = Workload("kube-system", "apps/v1", "DaemonSet", "kube-proxy")
    assert workload.finding_name == "daemonset-kube-proxy"
    assert workload.as_ref() == {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "kube-proxy"}


# --- finding names ------------------------------------------------------------------------

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@pytest.mark.parametrize(
    ("kind", "name", "expected"),
    [
        ("Deployment", "web", "deployment-web"),
        ("DaemonSet", "kube-proxy", "daemonset-kube-proxy"),
        ("CronJob", "backup", "cronjob-backup"),
        ("Pod", "kube-apiserver-node-1", "pod-kube-apiserver-node-1"),
        ("Rollout", "canary", "rollout-canary"),
        ("Pod", "n" * 249, "pod-" + "n" * 249),  # exactly 253: kept
    ],
)
def test_a_finding_is_named_kind_dash_name(kind: str, name: str, expected: str) -> None:
    assert finding_name(kind, name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "n" * 250,
        "a" * 253,
        "web." * 63 + "x",
        "-".join(["segment"] * 40),
        "x" * 225 + "-" * 10 + "y" * 30,
    ],
    ids=["254 chars", "257 chars", "dots at the cut", "dashes everywhere", "dashes at the cut"],
)
def test_a_long_finding_name_is_shortened_stably_to_at_most_253_valid_characters(name: str) -> None:
    shortened = finding_name("Deployment", name)
    assert len(shortened) <= 253
    assert shortened == finding_name("Deployment", name)  # stable: same input, same name
    assert _DNS_SUBDOMAIN.match(shortened), shortened
    assert shortened.startswith("deployment-")


def test_long_names_that_share_a_prefix_get_different_finding_names() -> None:
    prefix = "p" * 260
    names = {finding_name("Deployment", prefix + suffix) for suffix in ("a", "b", "c")}
    assert len(names) == 3
    assert finding_name("Deployment", prefix) != finding_name("StatefulSet", prefix)
