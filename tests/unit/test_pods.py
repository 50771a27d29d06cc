"""Pod facts: flags, containers and digests read from a pod body, failing closed."""

from __future__ import annotations

from typing import Any

import pytest

from hostns.core.evaluation import VIOLATION
from hostns.core.pods import (
    Container,
    PodFacts,
    container_list_problem,
    flag_set,
    flags_of,
    pod_facts,
)

from .builders import CONFIG_ID, DIGEST, OTHER_DIGEST, exception_body, judge, owner, pod, status

# --- host-namespace flags --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "in_use"),
    [
        pytest.param(True, True, id="true"),
        pytest.param(False, False, id="false"),
        pytest.param(None, False, id="null"),
        pytest.param("false", False, id="string false"),
        pytest.param("False", False, id="string False"),
        pytest.param(" FALSE ", False, id="string FALSE with spaces"),
        pytest.param("", False, id="empty string"),
        pytest.param("true", True, id="string true"),
        pytest.param("yes", True, id="string yes"),
        pytest.param("no", True, id="string no is not an explicit false"),
        pytest.param(1, True, id="one"),
        pytest.param(0, True, id="zero is not an explicit false"),
        pytest.param([], True, id="a list"),
        pytest.param({}, True, id="a map"),
        pytest.param("garbage", True, id="garbage"),
    ],
)
def test_a_host_namespace_field_counts_unless_it_is_explicitly_false(value: Any, in_use: bool) -> None:
    assert flag_set(value) is in_use


@pytest.mark.parametrize(
    "flags",
    [
        (),
        ("hostNetwork",),
        ("hostPID",),
        ("hostIPC",),
        ("hostNetwork", "hostPID"),
        ("hostNetwork", "hostIPC"),
        ("hostPID", "hostIPC"),
        ("hostNetwork", "hostPID", "hostIPC"),
    ],
    ids=lambda flags: "+".join(flags) or "none",
)
def test_every_flag_alone_and_combined_is_read_from_the_spec(flags: tuple[str, ...]) -> None:
    assert pod_facts(pod(flags=flags)).flags == frozenset(flags)


def test_flags_other_than_the_three_host_namespaces_are_ignored() -> None:
    spec = {"hostNetwork": False, "hostUsers": False, "shareProcessNamespace": True}
    assert flags_of(spec) == frozenset()


# --- containers -------------------------------------------------------------------------


def test_init_regular_and_ephemeral_containers_are_all_read_in_order() -> None:
    facts = pod_facts(
        pod(images=["app:1", "sidecar:2"], init_images=["setup:1"], ephemeral_images=["busybox:1.36"])
    )
    assert [(c.kind, c.name, c.image) for c in facts.containers] == [
        ("initContainers", "i0", "setup:1"),
        ("containers", "c0", "app:1"),
        ("containers", "c1", "sidecar:2"),
        ("ephemeralContainers", "e0", "busybox:1.36"),
    ]


def test_a_container_without_an_image_is_recorded_as_missing() -> None:
    body = pod(images=["nginx"])
    del body["spec"]["containers"][0]["image"]
    assert pod_facts(body).containers == (Container("c0", "containers", "<missing>", None),)


@pytest.mark.parametrize(
    ("containers", "expected"),
    [
        pytest.param("nginx", [("?", "<unreadable>")], id="container list is a string"),
        pytest.param({"name": "c0", "image": "nginx"}, [("?", "<unreadable>")], id="container list is a map"),
        pytest.param(["nginx"], [("?", "<unreadable>")], id="container entry is a string"),
        pytest.param([{"name": "c0", "image": 7}], [("c0", "<missing>")], id="image is a number"),
        pytest.param([{"name": "c0", "image": ""}], [("c0", "<missing>")], id="image is empty"),
        pytest.param([{"image": "nginx"}], [("?", "nginx")], id="container without a name"),
        pytest.param(None, [("?", "<unreadable>")], id="null container list"),
        pytest.param({}, [("?", "<unreadable>")], id="empty map"),
        pytest.param("", [("?", "<unreadable>")], id="empty string"),
        pytest.param(0, [("?", "<unreadable>")], id="zero"),
        pytest.param(False, [("?", "<unreadable>")], id="false"),
        pytest.param([], [], id="empty list"),
    ],
)
def test_unreadable_containers_are_recorded_so_they_cannot_be_trusted(
    containers: Any, expected: list[tuple[str, str]]
) -> None:
    body = pod()
    body["spec"]["containers"] = containers
    assert [(c.name, c.image) for c in pod_facts(body).containers] == expected


@pytest.mark.parametrize("key", ["initContainers", "containers", "ephemeralContainers"])
@pytest.mark.parametrize("falsy", [None, {}, "", 0, False], ids=["null", "map", "string", "zero", "false"])
def test_a_falsy_container_list_beside_a_trusted_container_is_a_violation(key: str, falsy: Any) -> None:
    body = pod(images=["nginx"], flags=["hostNetwork"])
    if key == "containers":  # the trusted container moves to the init list
        body["spec"]["initContainers"] = body["spec"]["containers"]
    body["spec"][key] = falsy
    verdict = judge(body, exception_body("nginx", ["nginx"]))
    assert verdict.verdict == VIOLATION
    assert "<unreadable>" in verdict.uncovered_images


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        pytest.param({"containers": {}}, "spec.containers must be a list of containers, not an object", id="map"),
        pytest.param({"initContainers": None}, "spec.initContainers must be a list of containers, not null", id="null"),
        pytest.param({"ephemeralContainers": ""}, "spec.ephemeralContainers must be a list of containers, not str ''", id="string"),
        pytest.param({"containers": [{"name": "a", "image": "nginx"}, "busybox"]}, "spec.containers[1] must be a container object, not str 'busybox'", id="entry"),
        pytest.param({"containers": [{"name": "a", "image": 7}]}, "spec.containers[0].image must be a non-empty string", id="image"),
        pytest.param({"containers": [{"name": "a"}]}, "spec.containers[0].image must be a non-empty string", id="no image"),
    ],
)
def test_container_list_problems_are_named_precisely(spec: dict[str, Any], problem: str) -> None:
    assert container_list_problem(spec) == problem


def test_well_formed_container_lists_have_no_problem() -> None:
    assert container_list_problem(pod(images=["nginx", "busybox"])["spec"]) is None
    assert container_list_problem({}) is None


# --- digests: from the spec, or from the kubelet for the same image ----------------------

NGINX_STATUS = "docker.io/library/nginx:1.25"


@pytest.mark.parametrize(
    ("spec_image", "reported", "digest"),
    [
        pytest.param("nginx:1.25", status("c0", NGINX_STATUS, f"docker.io/library/nginx@{DIGEST}"), DIGEST, id="tag and containerd imageID"),
        pytest.param("nginx:1.25", status("c0", "nginx:1.25", f"docker-pullable://nginx@{DIGEST}"), DIGEST, id="tag and dockershim imageID"),
        pytest.param("nginx:1.25", status("c0", NGINX_STATUS, f"docker.io/library/nginx@{OTHER_DIGEST}"), OTHER_DIGEST, id="the digest actually running"),
        pytest.param("nginx", status("c0", "docker.io/library/nginx:latest", f"docker.io/library/nginx@{DIGEST}"), DIGEST, id="implicit latest"),
        pytest.param("nginx:1.25", status("c0", f"docker.io/library/nginx@{DIGEST}", f"docker.io/library/nginx@{DIGEST}"), DIGEST, id="status image named by the same digest"),
        pytest.param("nginx:1.25", None, None, id="no status yet"),
        pytest.param("nginx:1.25", status("c0", NGINX_STATUS, "", running=False), None, id="imageID empty while pulling"),
        pytest.param("nginx:1.25", status("c0", NGINX_STATUS, CONFIG_ID), None, id="bare sha256 config ID"),
        pytest.param("nginx:1.25", status("c0", NGINX_STATUS, "docker.io/library/nginx@sha256:abc"), None, id="malformed imageID"),
        pytest.param("nginx:1.25", {"name": "c0", "image": NGINX_STATUS}, None, id="imageID absent"),
        pytest.param("nginx:1.25", {"name": "c0", "image": NGINX_STATUS, "imageID": 7}, None, id="imageID not a string"),
        pytest.param("nginx:1.25", status("c0", "docker.io/library/nginx:1.24", f"docker.io/library/nginx@{DIGEST}"), None, id="stale status of another tag"),
        pytest.param("nginx:1.25", status("c0", "ghcr.io/evil/nginx:1.25", f"ghcr.io/evil/nginx@{DIGEST}"), None, id="stale status of another repository"),
        pytest.param("nginx:1.25", status("c0", f"docker.io/library/nginx@{OTHER_DIGEST}", f"docker.io/library/nginx@{DIGEST}"), None, id="status image digest disagrees with imageID"),
        pytest.param("nginx:1.25", status("c0", "NOT AN IMAGE", f"docker.io/library/nginx@{DIGEST}"), None, id="unparseable status image"),
        pytest.param("nginx:1.25", status("c9", NGINX_STATUS, f"docker.io/library/nginx@{DIGEST}"), None, id="status of another container"),
        pytest.param(f"nginx@{DIGEST}", status("c0", NGINX_STATUS, f"docker.io/library/nginx@{OTHER_DIGEST}"), DIGEST, id="a digest in the spec wins"),
        pytest.param(f"nginx:1.25@{DIGEST}", None, DIGEST, id="tag and digest in the spec"),
        pytest.param("NOT AN IMAGE", status("c0", NGINX_STATUS, f"docker.io/library/nginx@{DIGEST}"), None, id="unparseable spec image"),
    ],
)
def test_a_container_digest_comes_from_the_spec_or_the_kubelet_status_of_that_image(
    spec_image: str, reported: dict[str, Any] | None, digest: str | None
) -> None:
    statuses = {"containerStatuses": [reported]} if reported is not None else None
    facts = pod_facts(pod(images=[spec_image], statuses=statuses))
    assert facts.containers[0].digest == digest


@pytest.mark.parametrize(
    ("status_key", "kind", "digest"),
    [
        ("initContainerStatuses", "initContainers", DIGEST),
        ("ephemeralContainerStatuses", "ephemeralContainers", DIGEST),
        ("containerStatuses", "initContainers", None),  # statuses are per container kind
    ],
)
def test_init_and_ephemeral_digests_come_from_their_own_statuses(
    status_key: str, kind: str, digest: str | None
) -> None:
    name = "i0" if kind == "initContainers" else "e0"
    body = pod(
        images=["app:1"],
        init_images=["nginx:1.25"] if kind == "initContainers" else (),
        ephemeral_images=["nginx:1.25"] if kind == "ephemeralContainers" else (),
        statuses={status_key: [status(name, NGINX_STATUS, f"docker.io/library/nginx@{DIGEST}")]},
    )
    (container,) = [c for c in pod_facts(body).containers if c.kind == kind]
    assert container.digest == digest


# --- the rest of the facts ----------------------------------------------------------------


def test_pod_facts_hold_identity_labels_workload_and_liveness() -> None:
    body = pod(
        "kube-proxy-x8j2n",
        "kube-system",
        labels={"k8s-app": "kube-proxy", "controller-revision-hash": "5d8f"},
        owner=owner("DaemonSet", "kube-proxy"),
    )
    facts = pod_facts(body)
    assert isinstance(facts, PodFacts)
    assert (facts.namespace, facts.name, facts.uid) == ("kube-system", "kube-proxy-x8j2n", body["metadata"]["uid"])
    assert facts.labels == (("controller-revision-hash", "5d8f"), ("k8s-app", "kube-proxy"))
    assert facts.label_map == {"k8s-app": "kube-proxy", "controller-revision-hash": "5d8f"}
    assert (facts.workload.kind, facts.workload.name) == ("DaemonSet", "kube-proxy")
    assert facts.live is True


@pytest.mark.parametrize(
    ("phase", "live"),
    [("Pending", True), ("Running", True), ("Unknown", True), ("Succeeded", False), ("Failed", False)],
)
def test_finished_pods_hold_no_host_namespace(phase: str, live: bool) -> None:
    assert pod_facts(pod(phase=phase)).live is live


STRANGE_BODIES = [
    pytest.param({}, id="empty body"),
    pytest.param({"metadata": None, "spec": None, "status": None}, id="null sections"),
    pytest.param({"metadata": [], "spec": [], "status": []}, id="lists for sections"),
    pytest.param({"spec": {"hostNetwork": True}}, id="no metadata and no containers"),
    pytest.param({"metadata": {"labels": ["app=x"], "annotations": ["x"], "ownerReferences": {"kind": "x"}}}, id="lists where maps are expected and the reverse"),
    pytest.param({"metadata": {"labels": {"app": None, "n": 1}}}, id="non-string label values"),
    pytest.param({"metadata": {"ownerReferences": [None, "x", {"controller": True}]}}, id="owner references without fields"),
    pytest.param({"metadata": {"ownerReferences": [{"controller": True, "kind": 1, "name": [], "apiVersion": None}]}}, id="owner reference fields of the wrong type"),
    pytest.param({"metadata": {"name": ["x"], "namespace": {"a": 1}, "uid": 7}}, id="identity fields of the wrong type"),
    pytest.param({"spec": {"containers": [None, 1, "x", {"name": None, "image": None}]}}, id="garbage container entries"),
    pytest.param({"spec": {"containers": [{"name": "c0", "image": "nginx"}]}, "status": {"containerStatuses": [{"name": ["c0"]}, None, {"name": "c0", "image": 5, "imageID": []}]}}, id="garbage container statuses"),
    pytest.param({"spec": {"containers": [{"name": "c0", "image": "nginx"}]}, "status": {"containerStatuses": {"c0": {}}}}, id="statuses as a map"),
    pytest.param({"status": {"phase": ["Running"]}}, id="phase as a list"),
    pytest.param({"status": {"phase": {"x": 1}}}, id="phase as a map"),
    pytest.param({"metadata": {"labels": {"pod-template-hash": ["abc"]}, "ownerReferences": [{"controller": True, "kind": "ReplicaSet", "name": "x-abc", "apiVersion": "apps/v1"}]}}, id="pod-template-hash as a list"),
]


@pytest.mark.parametrize("body", STRANGE_BODIES)
def test_pod_facts_never_raise_on_a_strange_body(body: Any) -> None:
    facts = pod_facts(body)
    assert isinstance(facts, PodFacts)
    assert all(isinstance(c, Container) for c in facts.containers)


def test_a_body_that_is_not_a_map_reads_as_an_empty_pod() -> None:
    facts = pod_facts([])  # type: ignore[arg-type]
    assert (facts.namespace, facts.flags, facts.containers, facts.workload.kind) == (
        "default",
        frozenset(),
        (),
        "Pod",
    )
