"""The e2e suite's cluster: a local control plane, or any cluster you point it at.

HOSTNS_E2E_KUBECONFIG=<path> runs the suite against that cluster (e.g. kind)
instead of starting kube-apiserver + etcd from hack/controlplane. Without
binaries the suite is skipped with instructions — except in CI (CI=true),
where a control plane that cannot start is a failure.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "hack" / "controlplane"))

from launcher import ControlPlane, ControlPlaneError, find_bin_dir  # noqa: E402


class ExternalCluster:
    """A cluster someone else runs (kind, ...): only its admin kubeconfig."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self.url = ""

    def kubeconfig_for_token(self, token: str, path: Path) -> Path:
        import yaml

        config = yaml.safe_load(self.kubeconfig.read_text())
        context_name = config["current-context"]
        context = next(c for c in config["contexts"] if c["name"] == context_name)["context"]
        cluster = next(c for c in config["clusters"] if c["name"] == context["cluster"])
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "clusters": [cluster],
            "users": [{"name": "token", "user": {"token": token}}],
            "contexts": [{"name": "token", "context": {"cluster": cluster["name"], "user": "token"}}],
            "current-context": "token",
        }))
        path.chmod(0o600)
        return path


def local_bin_dir() -> Path:
    """The built control plane binaries; without them skip, or fail in CI."""
    try:
        return find_bin_dir()
    except ControlPlaneError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"e2e: {exc}")
        pytest.skip(f"e2e: {exc}")


def _cluster(
    controllers: bool = False, audit_policy: Path | None = None,
) -> Iterator[ControlPlane | ExternalCluster]:
    external = os.environ.get("HOSTNS_E2E_KUBECONFIG")
    if external:
        yield ExternalCluster(Path(external))
        return
    plane = ControlPlane(bin_dir=local_bin_dir(), controllers=controllers,
                         audit_policy=audit_policy)
    try:
        plane.start()
    except ControlPlaneError as exc:
        pytest.fail(f"e2e: the local control plane did not start: {exc}")
    try:
        yield plane
    finally:
        plane.stop()


def local_plane(why: str, **options: Any) -> Iterator[ControlPlane]:
    """A local control plane with launcher options (an audit policy, the audit webhook):
    skipped with HOSTNS_E2E_KUBECONFIG, whose API server's flags are not ours to set."""
    if os.environ.get("HOSTNS_E2E_KUBECONFIG"):
        pytest.skip(f"needs the local control plane: {why}")
    plane = ControlPlane(bin_dir=local_bin_dir(), **options)
    try:
        plane.start()
    except ControlPlaneError as exc:
        pytest.fail(f"e2e: the local control plane ({', '.join(options)}) did not start: {exc}")
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane | ExternalCluster]:
    yield from _cluster()


@pytest.fixture(scope="module")
def own_control_plane() -> Iterator[ControlPlane | ExternalCluster]:
    """A control plane for one module only, for tests that own cluster-wide objects.

    The Helm tests install, upgrade and uninstall the CRDs and the ClusterRole that the
    other modules run the operator under: on the shared control plane they would
    collide with those (Helm refuses objects it did not create) or change them under a
    running test. With HOSTNS_E2E_KUBECONFIG there is only that cluster.
    """
    yield from _cluster()


@pytest.fixture(scope="module")
def controlled_control_plane() -> Iterator[ControlPlane | ExternalCluster]:
    """A control plane with kube-controller-manager and the audit log, for one module.

    The shared control plane runs no controllers: the other modules' workloads stay
    objects (prevention tests create Deployments and DaemonSets to be judged, not
    run) and their namespaces stay put. The audit log (deploy/audit/audit-policy.yaml)
    records what the controllers did, as whom. Local only: the tests rely on there
    being no kubelet (pods stay Pending, so a rollout stops half way and a Job never
    finishes), and an external cluster's audit log is not readable from here.
    """
    if os.environ.get("HOSTNS_E2E_KUBECONFIG"):
        pytest.skip("needs the local control plane with kube-controller-manager and no kubelet")
    yield from _cluster(controllers=True, audit_policy=REPO / "deploy" / "audit" / "audit-policy.yaml")
