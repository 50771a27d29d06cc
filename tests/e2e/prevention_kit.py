"""The prevention policy on a real API server: install it, feed it exceptions, ask it.

Shared by tests/e2e/test_prevention_e2e.py and bench/prevention_admission.py. The
policy and its bindings are the shipped files (deploy/components/prevention), rendered
with `kubectl kustomize`; the parameter object is what hostns.core.prevention compiles.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from tests.e2e.kube import kubectl, run

from hostns.core.exceptions import CompiledException, compile_exception
from hostns.core.prevention import NAME, compile_params

REPO = Path(__file__).resolve().parents[2]
COMPONENT = REPO / "deploy" / "components" / "prevention"
DENY_COMPONENT = REPO / "deploy" / "components" / "prevention-deny"
CRDS = REPO / "crds"
PROBE_REGISTRY = "probe.hostns.test"
WAIT = 30.0


def component_objects(deny: bool) -> list[dict[str, Any]]:
    """The policy and binding as shipped: the Warn component, or its Deny variant."""
    policy = yaml.safe_load((COMPONENT / "policy.yaml").read_text())
    binding = yaml.safe_load((COMPONENT / "binding.yaml").read_text())
    if deny:
        patch = yaml.safe_load((DENY_COMPONENT / "kustomization.yaml").read_text())
        for op in yaml.safe_load(patch["patches"][0]["patch"]):
            assert op["op"] == "replace"
            node = binding
            *parents, leaf = op["path"].strip("/").split("/")
            for step in parents:
                node = node[step]
            node[leaf] = op["value"]
    return [policy, binding]


def install(kubeconfig: Path, deny: bool) -> None:
    """CRDs, policy and binding (apply: switching between Warn and Deny is an apply)."""
    kubectl(kubeconfig, "apply", "-k", str(CRDS))
    kubectl(kubeconfig, "wait", "--for=condition=Established", "--timeout=60s",
            "crd/hostnamespaceadmissionparams.hostns.io",
            "crd/hostnamespaceexceptions.hostns.io")
    document = {"apiVersion": "v1", "kind": "List", "items": component_objects(deny)}
    kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(document))
    _wait_mode(kubeconfig, deny)


def _wait_mode(kubeconfig: Path, deny: bool) -> None:
    """Wait until admission acts in the mode just applied (bindings reach it through an
    informer): an image nothing trusts is refused under Deny, warned about under Warn.
    Without a parameter object, Warn judges nothing, and Deny refuses everything."""
    probe = pod("mode-check", [f"{PROBE_REGISTRY}/untrusted"], hostNetwork=True)
    deadline = time.monotonic() + WAIT
    while True:
        result = dry_run(kubeconfig, probe)
        if (result.returncode != 0) == deny:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"admission did not switch to {'Deny' if deny else 'Warn'}: "
                                 f"{result.stderr}")
        time.sleep(0.2)


def exception(name: str, images: Sequence[str], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "hostns.io/v1alpha1", "kind": "HostNamespaceException",
            "metadata": {"name": name, "generation": 1},
            "spec": {"reason": f"{name} is trusted", "images": list(images), **spec}}


class Params:
    """Writes the parameter object and waits until admission uses the new one.

    The API server reads parameter objects through an informer, so a write shows up
    at admission a moment later. Each version carries a probe exception that trusts
    an image of its own; once a pod with that image is admitted, admission is using
    this version (or a later one).
    """

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self.version = 0

    def write(self, exceptions: Iterable[CompiledException | dict[str, Any]],
              now: datetime | None = None) -> dict[str, Any]:
        self.version += 1
        probe = f"{PROBE_REGISTRY}/probe/v{self.version}"
        compiled = [e if isinstance(e, CompiledException) else compile_exception(e)
                    for e in exceptions]
        compiled.append(compile_exception(exception(
            f"zz-probe-{self.version}", [probe], hostNamespaces=["hostNetwork"])))
        body = compile_params(compiled, now or datetime.now(UTC)).body
        kubectl(self.kubeconfig, "apply", "--server-side", "--force-conflicts",
                "--field-manager=hostns-test", "-f", "-", stdin=json.dumps(body))
        self._wait_admitted(pod("probe-check", [probe], namespace="default",
                                hostNetwork=True))
        return body

    def _wait_admitted(self, body: dict[str, Any]) -> None:
        deadline = time.monotonic() + WAIT
        while True:
            result = dry_run(self.kubeconfig, body)
            if result.returncode == 0 and "Warning" not in result.stderr:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"admission never used the new parameters: {result.stderr}")
            time.sleep(0.2)

    def delete(self) -> None:
        run(self.kubeconfig, "delete", "hostnamespaceadmissionparams", NAME,
            "--ignore-not-found")


def containers(images: Sequence[str], prefix: str = "c") -> list[dict[str, Any]]:
    return [{"name": f"{prefix}{i}", "image": image} for i, image in enumerate(images)]


def pod_spec(images: Sequence[str], init: Sequence[str] = (), **flags: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {**flags, "containers": containers(images)}
    if init:
        spec["initContainers"] = containers(init, "init")
    return spec


def pod(name: str, images: Sequence[str], namespace: str = "default",
        labels: dict[str, str] | None = None, init: Sequence[str] = (),
        **flags: bool) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
            "spec": pod_spec(images, init, **flags)}


#: (apiVersion, kind) of each pod-bearing workload, and where its pod template sits.
WORKLOADS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Deployment": ("apps/v1", ("spec", "template")),
    "DaemonSet": ("apps/v1", ("spec", "template")),
    "StatefulSet": ("apps/v1", ("spec", "template")),
    "ReplicaSet": ("apps/v1", ("spec", "template")),
    "Job": ("batch/v1", ("spec", "template")),
    "CronJob": ("batch/v1", ("spec", "jobTemplate", "spec", "template")),
    "ReplicationController": ("v1", ("spec", "template")),
    "PodTemplate": ("v1", ("template",)),
}


def workload(kind: str, name: str, spec: dict[str, Any], namespace: str = "default",
             labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A minimal valid workload of `kind` whose pod template has `spec` and `labels`."""
    api_version, path = WORKLOADS[kind]
    selector_labels = {"hostns-test/workload": name}
    template_labels = {**(labels or {}), **selector_labels}
    restart = "OnFailure" if kind in ("Job", "CronJob") else "Always"
    template = {"metadata": {"labels": template_labels},
                "spec": {"restartPolicy": restart, **spec}}
    body: dict[str, Any] = {"apiVersion": api_version, "kind": kind,
                            "metadata": {"name": name, "namespace": namespace}}
    node = body
    for step in path[:-1]:
        node = node.setdefault(step, {})
    node[path[-1]] = template
    if kind in ("Deployment", "DaemonSet", "StatefulSet", "ReplicaSet"):
        body["spec"]["selector"] = {"matchLabels": selector_labels}
    if kind == "StatefulSet":
        body["spec"]["serviceName"] = name
    if kind == "ReplicationController":
        body["spec"]["selector"] = selector_labels
    if kind == "CronJob":
        body["spec"]["schedule"] = "*/5 * * * *"
    return body


def template_of(body: dict[str, Any]) -> dict[str, Any]:
    if body["kind"] == "Pod":
        return body
    node = body
    for step in WORKLOADS[body["kind"]][1]:
        node = node[step]
    return node


def dry_run(kubeconfig: Path, *bodies: dict[str, Any], args: Sequence[str] = ()) -> Any:
    """`kubectl create --dry-run=server` of the bodies (a List); never raises."""
    document = {"apiVersion": "v1", "kind": "List", "items": list(bodies)}
    return run(kubeconfig, *args, "create", "--dry-run=server", "-o", "name", "-f", "-",
               stdin=json.dumps(document), check=False, timeout=600)


_DENIAL = re.compile(r"hostns: (\w+) ([^/ ]+)/(\S+) uses (.*?) with images no Active "
                     r"HostNamespaceException trusts for it: (.*)$")


def decisions(kubeconfig: Path, bodies: Sequence[dict[str, Any]],
              args: Sequence[str] = ()) -> dict[str, str | None]:
    """Admission's decision per object name: None when admitted, else the denial message."""
    result = dry_run(kubeconfig, *bodies, args=args)
    admitted = {line.rsplit("/", 1)[-1] for line in result.stdout.split()}
    denied: dict[str, str] = {}
    for line in result.stderr.splitlines():
        match = _DENIAL.search(line)
        if match:
            denied[match.group(3)] = match.group(0)
    out: dict[str, str | None] = {}
    for body in bodies:
        name = body["metadata"]["name"]
        if name in admitted:
            out[name] = None
        elif name in denied:
            out[name] = denied[name]
        else:
            raise AssertionError(f"{name}: neither admitted nor denied by the policy:\n"
                                 f"{result.stderr[-3000:]}")
    return out


def parse_denial(message: str) -> tuple[list[str], dict[str, list[str]]]:
    """(flags uncovered, {image: its uncovered flags}) from a denial message."""
    match = _DENIAL.search(message)
    assert match, message
    flags = match.group(4).split(", ")
    images: dict[str, list[str]] = {}
    for item in re.finditer(r"(\S+(?: \(not a valid image reference\))?) \(([^)]*)\)",
                            match.group(5)):
        images[item.group(1)] = item.group(2).split(", ")
    return flags, images
