"""Builders of objects shaped like the Kubernetes API returns them, for the unit tables.

Pods carry what a real `GET /api/v1/namespaces/NS/pods/NAME` holds (resources,
pull policy, termination paths, kubelet statuses with `image` and `imageID`),
so that the engine is tested on the bodies it meets, not on minimal dicts.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from hostns.core.evaluation import PodVerdict, evaluate, evaluate_pod
from hostns.core.exceptions import CompiledException, ExceptionSet, compile_exception
from hostns.core.pods import Container, pod_facts

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
DIGEST = "sha256:" + "a1" * 32
OTHER_DIGEST = "sha256:" + "b2" * 32
CONFIG_ID = "sha256:" + "c3" * 32  # an image *config* ID, not a manifest digest
ALL_FLAGS = frozenset({"hostNetwork", "hostPID", "hostIPC"})


def container(name: str, image: str | None, **extra: Any) -> dict[str, Any]:
    """A container spec as the API server returns it after defaulting."""
    body: dict[str, Any] = {
        "name": name,
        "imagePullPolicy": "IfNotPresent",
        "resources": {},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        **extra,
    }
    if image is not None:
        body["image"] = image
    return body


def status(name: str, image: str, image_id: str, *, running: bool = True) -> dict[str, Any]:
    """A kubelet-reported container status (containerd style)."""
    state: dict[str, Any] = (
        {"running": {"startedAt": "2026-11-22T11:59:58Z"}}
        if running
        else {"waiting": {"reason": "ContainerCreating"}}
    )
    return {
        "name": name,
        "image": image,
        "imageID": image_id,
        "containerID": f"containerd://{name}0123456789abcdef" if running else "",
        "ready": running,
        "restartCount": 0,
        "started": running,
        "state": state,
    }


def pod(
    name: str = "agent-7d4b9c6f5-x2k8q",
    namespace: str = "default",
    *,
    images: Sequence[str] = ("nginx:1.25",),
    init_images: Sequence[str] = (),
    ephemeral_images: Sequence[str] = (),
    flags: Iterable[str] = ("hostNetwork",),
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    owner: dict[str, Any] | None = None,
    statuses: dict[str, list[dict[str, Any]]] | None = None,
    phase: str = "Running",
) -> dict[str, Any]:
    """A pod body. Containers are named c0, c1… (init i0…, ephemeral e0…)."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": f"0b7c1a52-{zlib.crc32(name.encode()) % 10**4:04d}-4c3e-9d1a-5b2f0c8e7a61",
        "resourceVersion": "48213",
        "creationTimestamp": "2026-11-22T11:59:50Z",
        "labels": labels if labels is not None else {"app": "agent"},
    }
    if annotations is not None:
        metadata["annotations"] = annotations
    if owner is not None:
        metadata["ownerReferences"] = [owner]
    spec: dict[str, Any] = {
        "containers": [container(f"c{i}", image) for i, image in enumerate(images)],
        "dnsPolicy": "ClusterFirst",
        "enableServiceLinks": True,
        "nodeName": "node-1",
        "preemptionPolicy": "PreemptLowerPriority",
        "priority": 0,
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "securityContext": {},
        "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
    }
    if init_images:
        spec["initContainers"] = [container(f"i{i}", img) for i, img in enumerate(init_images)]
    if ephemeral_images:
        spec["ephemeralContainers"] = [
            container(f"e{i}", img, targetContainerName="c0") for i, img in enumerate(ephemeral_images)
        ]
    for flag in flags:
        spec[flag] = True
    pod_status: dict[str, Any] = {
        "phase": phase,
        "hostIP": "10.0.0.11",
        "podIP": "10.0.0.11",
        "qosClass": "BestEffort",
        "startTime": "2026-11-22T11:59:50Z",
        **(statuses or {}),
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": spec,
        "status": pod_status,
    }


def owner(kind: str, name: str, api_version: str = "apps/v1", *, controller: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": "5e1f3a2b-8c4d-4e6f-a7b8-c9d0e1f2a3b4",
        "controller": controller,
        "blockOwnerDeletion": True,
    }


def exception_body(
    name: str = "trusted", images: Sequence[str] = ("nginx",), **spec: Any
) -> dict[str, Any]:
    """A HostNamespaceException as listed from the API (cluster-scoped)."""
    return {
        "apiVersion": "hostns.io/v1alpha1",
        "kind": "HostNamespaceException",
        "metadata": {"name": name, "generation": 1, "uid": f"uid-{name}", "resourceVersion": "7"},
        "spec": {"reason": f"{name}: approved by the platform team", "images": list(images), **spec},
    }


def compiled(*bodies: dict[str, Any]) -> list[CompiledException]:
    return [compile_exception(b) for b in bodies]


def exception_set(*bodies: dict[str, Any], now: datetime = NOW) -> ExceptionSet:
    return ExceptionSet(compiled(*bodies), now)


def judge(body: dict[str, Any], *exceptions: dict[str, Any], now: datetime = NOW) -> PodVerdict:
    """The verdict on a pod body, through pod_facts as the operator does it."""
    return evaluate_pod(pod_facts(body), exception_set(*exceptions, now=now))


def judge_images(
    images: Sequence[str | Container],
    *exceptions: dict[str, Any],
    flags: frozenset[str] = ALL_FLAGS,
    namespace: str = "default",
    labels: dict[str, str] | None = None,
) -> PodVerdict:
    """The verdict on bare containers (for tables about images, not bodies)."""
    containers = tuple(
        c if isinstance(c, Container) else Container(f"c{i}", "containers", c, None)
        for i, c in enumerate(images)
    )
    return evaluate(namespace, labels or {}, flags, containers, exception_set(*exceptions))
