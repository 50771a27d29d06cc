"""Audit events shaped as kube-apiserver v1.34's log backend writes them, for the audit tables.

Field order, names and values follow `audit.k8s.io/v1` Event as the API server
serialises it (Go's encoding/json: compact, `&` written `\\u0026`); objects come
from the manifests under fixtures/audit/objects, stored as the API server returns
them (uid, resourceVersion, managedFields, defaulted status).
"""

from __future__ import annotations

import copy
import gzip
import itertools
import json
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from .conftest import FIXTURES

AUDIT = FIXTURES / "audit-events"  # not "audit": the hostns fixture would read the subcommand as a path
POLICY = AUDIT / "policy.yaml"
TIME = "2026-12-01T10:15:02.418265Z"  # before node-debugging expired (12:00)
LATER = "2026-12-01T14:40:11.007318Z"  # after

ALICE = {
    "username": "alice@example.com", "uid": "8d2e57c1-1f43-4d0f-9f6a-0c4f1d7a5b11",
    "groups": ["platform-team", "system:authenticated"],
    "extra": {"authentication.kubernetes.io/credential-id": ["JTI=5f0c2a9e-7d21-4c38-b2b4-9a1e0f6e3c77"]},
}
MALLORY = {"username": "mallory", "groups": ["system:authenticated"]}
RS_CONTROLLER = {
    "username": "system:serviceaccount:kube-system:replicaset-controller",
    "uid": "0b9a2c3e-5d6f-4a1b-8c7d-e9f0a1b2c3d4",
    "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
}
KUBECTL = "kubectl/v1.34.1 (linux/amd64) kubernetes/93248f9"
CONTROLLER_AGENT = "kube-controller-manager/v1.34.4 (linux/amd64) kubernetes/a1b2c3d/system:serviceaccount:kube-system:replicaset-controller"

_ids = itertools.count(1)


def load(name: str) -> dict[str, Any]:
    """The first pod-bearing object of fixtures/audit/objects/NAME."""
    for document in yaml.safe_load_all((AUDIT / "objects" / name).read_text()):
        if document and document.get("kind") in {"Pod", "DaemonSet", "Deployment", "ReplicaSet"}:
            return dict(document)
    raise LookupError(name)


def with_spec(body: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy with pod-spec fields changed (in the template for a workload)."""
    copied = copy.deepcopy(dict(body))
    spec = copied["spec"] if copied["kind"] == "Pod" else copied["spec"]["template"]["spec"]
    for key, value in changes.items():
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    return copied


def stored(body: Mapping[str, Any], time: str = TIME) -> dict[str, Any]:
    """`body` as the API server stores and returns it."""
    obj = copy.deepcopy(dict(body))
    metadata = obj.setdefault("metadata", {})
    metadata.setdefault("namespace", "default")
    metadata.update({
        "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{obj['kind']}/{metadata.get('name')}")),
        "resourceVersion": "48213", "creationTimestamp": time[:19] + "Z",
        "managedFields": [{
            "manager": "kubectl-client-side-apply", "operation": "Update",
            "apiVersion": obj.get("apiVersion", "v1"), "time": time[:19] + "Z",
            "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {".": {}}}},
        }],
    })
    if obj["kind"] == "Pod":
        obj["status"] = {"phase": "Pending", "qosClass": "Burstable"}
    else:
        metadata["generation"] = 1
        obj["status"] = {}
    return obj


def _plural(kind: str) -> str:
    return kind.lower() + "s"


def event(
    verb: str,
    body: Mapping[str, Any] | None = None,
    *,
    resource: str | None = None,
    subresource: str | None = None,
    namespace: str | None = None,
    name: str | None = None,
    api_group: str | None = None,
    user: Mapping[str, Any] = ALICE,
    impersonated: Mapping[str, Any] | None = None,
    user_agent: str = KUBECTL,
    level: str = "RequestResponse",
    stage: str = "ResponseComplete",
    code: int | None = None,
    decision: str | None = "allow",
    request: Any = None,
    response: Any = None,
    time: str = TIME,
    audit_id: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """One audit event. With `body`, resource, namespace and name come from it, and the
    recorded objects follow `level` (RequestResponse: both; Request: the request's)."""
    metadata = dict(body.get("metadata") or {}) if body is not None else {}
    if body is not None:
        resource = resource or _plural(str(body["kind"]))
        group = str(body.get("apiVersion", "v1")).rpartition("/")[0]
        api_group = group if api_group is None else api_group
    namespace = namespace or metadata.get("namespace") or "default"
    name = name or (metadata.get("name") if verb != "create" else None)
    assert resource is not None
    forbidden = decision == "forbid"
    if code is None:
        code = 403 if forbidden else 201 if verb == "create" else 200
    prefix = f"/apis/{api_group}/v1" if api_group else "/api/v1"
    uri = f"{prefix}/namespaces/{namespace}/{resource}"
    if name:
        uri += f"/{name}"
    if subresource:
        uri += f"/{subresource}"
    if verb in ("create", "patch"):
        uri += "?fieldManager=kubectl-client-side-apply&fieldValidation=Strict"
    if dry_run:  # as `kubectl --dry-run=server` sends it
        uri += ("&" if "?" in uri else "?") + "dryRun=All"
    ref: dict[str, Any] = {"resource": resource, "namespace": namespace}
    if name:
        ref["name"] = name
    if api_group:
        ref["apiGroup"] = api_group
    ref["apiVersion"] = "v1"
    if subresource:
        ref["subresource"] = subresource
    ev: dict[str, Any] = {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level,
        "auditID": audit_id or str(uuid.uuid5(uuid.NAMESPACE_OID, str(next(_ids)))),
        "stage": stage, "requestURI": uri, "verb": verb, "user": dict(user),
    }
    if impersonated is not None:
        ev["impersonatedUser"] = dict(impersonated)
    ev.update({"sourceIPs": ["10.20.0.14"], "userAgent": user_agent, "objectRef": ref})
    if stage != "RequestReceived":
        status: dict[str, Any] = {"metadata": {}, "code": code}
        if code >= 400:
            status.update({"status": "Failure", "reason": "Forbidden" if code == 403 else "Invalid",
                           "message": f"{resource} is forbidden"})
        ev["responseStatus"] = status
    if not forbidden and level in ("Request", "RequestResponse"):
        recorded = request if request is not None else (
            dict(body) if body is not None and verb != "patch" else None)
        if recorded is not None:
            ev["requestObject"] = recorded
    if not forbidden and level == "RequestResponse" and stage != "RequestReceived":
        if response is not None:
            ev["responseObject"] = response
        elif body is not None and code < 400:
            ev["responseObject"] = stored(body, time)
    ev["requestReceivedTimestamp"] = time
    ev["stageTimestamp"] = time[:20] + "731004Z"
    annotations = {}
    if decision is not None:
        annotations["authorization.k8s.io/decision"] = decision
        annotations["authorization.k8s.io/reason"] = (
            "" if forbidden else 'RBAC: allowed by ClusterRoleBinding "platform-admins" of ClusterRole "cluster-admin" to Group "platform-team"'
        )
    if resource == "pods" and not forbidden:
        annotations["pod-security.kubernetes.io/enforce-policy"] = "privileged:latest"
    if annotations:
        ev["annotations"] = annotations
    return ev


def line(ev: Mapping[str, Any]) -> str:
    """As Go's encoding/json writes it: compact, and HTML characters escaped."""
    text = json.dumps(ev, separators=(",", ":"), ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def noise(count: int) -> list[str]:
    """Reads and writes of other resources, as a busy cluster logs them."""
    kinds = [
        ("get", "configmaps", "kube-system", "kube-root-ca.crt"),
        ("watch", "secrets", "monitoring", None),
        ("update", "leases", "kube-node-lease", "node-7"),
        ("list", "pods", "default", None),
        ("patch", "pods", "default", "web-5d9c7-abcde"),  # a status patch, below
    ]
    out = []
    for index in range(count):
        verb, resource, namespace, name = kinds[index % len(kinds)]
        ev = event(verb, resource=resource, namespace=namespace, name=name, level="Metadata",
                   user={"username": "system:node:node-7", "groups": ["system:nodes"]},
                   user_agent="kubelet/v1.34.4 (linux/amd64) kubernetes/a1b2c3d",
                   subresource="status" if verb == "patch" else None)
        out.append(line(ev))
    return out


def write_log(path: Path, lines: Iterable[str | Mapping[str, Any]], gz: bool = False) -> Path:
    text = "".join((item if isinstance(item, str) else line(item)) + "\n" for item in lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path
