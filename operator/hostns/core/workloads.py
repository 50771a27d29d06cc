"""Which workload a pod belongs to, from its own metadata (no API reads).

One finding is kept per workload, so a DaemonSet on 500 nodes is one line.
The workload is the pod's top controller as far as it can be derived from the
pod alone: a ReplicaSet named `<deployment>-<pod-template-hash>` belongs to
that Deployment; a Job named `<cronjob>-<scheduled minute>` to that CronJob.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
_MAX_NAME = 253
# CronJob controllers name their Jobs `<cronjob>-<unix time in minutes>`. The
# bounds (mid-2017 to 2046) keep ordinary numbered Job names from being misread,
# date-stamped ones too: `report-20250101` (YYYYMMDD is below 25,000,000).
_CRONJOB_SUFFIX = re.compile(r"^(?P<cronjob>.+)-(?P<minutes>[0-9]{8})$")
_CRONJOB_MINUTES = range(25_000_000, 40_000_000)


class Workload(NamedTuple):
    """A workload's identity: the key of its finding."""

    namespace: str
    api_version: str
    kind: str
    name: str

    @property
    def finding_name(self) -> str:
        return finding_name(self.kind, self.name)

    def as_ref(self) -> dict[str, str]:
        return {"apiVersion": self.api_version, "kind": self.kind, "name": self.name}


def finding_name(kind: str, name: str) -> str:
    """`<kind lowercase>-<name>`, shortened with a stable hash when too long."""
    full = f"{kind.lower()}-{name}"
    if len(full) <= _MAX_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:10]
    return f"{full[: _MAX_NAME - 11].rstrip('-.')}-{digest}"


def _controller(owner_refs: Any) -> Mapping[str, Any] | None:
    if not isinstance(owner_refs, list):
        return None
    for ref in owner_refs:
        if isinstance(ref, Mapping) and ref.get("controller") is True:
            return ref
    return None


def workload_of(namespace: str, metadata: Mapping[str, Any]) -> Workload:
    """Derive the workload of a pod from its metadata."""
    name = str(metadata.get("name") or "")
    pod = Workload(namespace, "v1", "Pod", name)
    annotations = metadata.get("annotations") or {}
    if isinstance(annotations, Mapping) and MIRROR_ANNOTATION in annotations:
        return pod  # a static pod is its own workload (its owner is the Node)
    owner = _controller(metadata.get("ownerReferences"))
    if owner is None:
        return pod
    kind, owner_name = owner.get("kind"), owner.get("name")
    api_version = owner.get("apiVersion")
    if not (isinstance(kind, str) and isinstance(owner_name, str) and isinstance(api_version, str)):
        return pod
    if kind == "Node":
        return pod
    labels = metadata.get("labels") or {}
    if kind == "ReplicaSet" and api_version == "apps/v1" and isinstance(labels, Mapping):
        template_hash = labels.get("pod-template-hash")
        if isinstance(template_hash, str) and template_hash:
            suffix = f"-{template_hash}"
            if owner_name.endswith(suffix) and len(owner_name) > len(suffix):
                return Workload(namespace, "apps/v1", "Deployment", owner_name[: -len(suffix)])
    if kind == "Job" and api_version == "batch/v1":
        match = _CRONJOB_SUFFIX.match(owner_name)
        if match and int(match["minutes"]) in _CRONJOB_MINUTES:
            return Workload(namespace, "batch/v1", "CronJob", match["cronjob"])
    return Workload(namespace, api_version, kind, owner_name)
