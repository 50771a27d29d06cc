"""The cluster the e2e suite runs on: the right version, real authn/authz, clean teardown.

The authn/authz checks also hold on an external cluster (HOSTNS_E2E_KUBECONFIG, e.g.
kind); the version, loopback and teardown checks are about the local control plane.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube import KubectlError, can_i, create_token, kubectl, kubectl_json

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e
local_only = pytest.mark.skipif(
    bool(os.environ.get("HOSTNS_E2E_KUBECONFIG")), reason="checks the local control plane only"
)


def pinned_kubernetes_version() -> str:
    go_mod = (REPO / "hack/controlplane/apiserver/go.mod").read_text()
    return next(line.split()[-1] for line in go_mod.splitlines() if "k8s.io/kubernetes v" in line)


@pytest.fixture(scope="module")
def namespace(control_plane: Any) -> Iterator[str]:
    # Unique per run: the cluster is shared by the whole session (or is someone's kind).
    name = f"e2e-cp-{uuid.uuid4().hex[:8]}"
    kubectl(control_plane.kubeconfig, "create", "namespace", name)
    yield name
    # Without kube-controller-manager the namespace stays Terminating; that is harmless.
    kubectl(control_plane.kubeconfig, "delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="module")
def robot_kubeconfig(control_plane: Any, namespace: str,
                     tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kubeconfig for a fresh ServiceAccount that no RBAC rule grants anything."""
    kubectl(control_plane.kubeconfig, "create", "serviceaccount", "robot", "-n", namespace)
    token = create_token(control_plane.kubeconfig, namespace, "robot")
    path: Path = control_plane.kubeconfig_for_token(
        token, tmp_path_factory.mktemp("robot") / "kubeconfig")
    return path


@local_only
def test_the_api_server_reports_its_pinned_version(control_plane: Any) -> None:
    version = kubectl_json(control_plane.kubeconfig, "version")
    assert version["serverVersion"]["gitVersion"] == pinned_kubernetes_version()
    assert version["serverVersion"]["minor"] == pinned_kubernetes_version().split(".")[1]


@local_only
def test_it_listens_on_loopback_only(control_plane: Any) -> None:
    assert control_plane.url.startswith("https://127.0.0.1:")


def test_the_admin_kubeconfig_is_a_cluster_admin(control_plane: Any, namespace: str) -> None:
    assert kubectl(control_plane.kubeconfig, "get", "namespace", namespace, "-o", "name") \
        == f"namespace/{namespace}\n"
    assert can_i(control_plane.kubeconfig, "*", "*", "--all-namespaces")


def test_a_service_account_token_authenticates_as_that_service_account(
    robot_kubeconfig: Path, namespace: str
) -> None:
    review = kubectl_json(robot_kubeconfig, "auth", "whoami")
    assert review["status"]["userInfo"]["username"] == f"system:serviceaccount:{namespace}:robot"


def test_rbac_denies_what_no_role_grants(robot_kubeconfig: Path) -> None:
    assert not can_i(robot_kubeconfig, "list", "pods", "--all-namespaces")
    with pytest.raises(KubectlError, match=r"(?i)forbidden"):
        kubectl(robot_kubeconfig, "get", "pods", "--all-namespaces")


def test_a_garbage_token_is_not_authenticated(control_plane: Any, tmp_path: Path) -> None:
    kubeconfig = control_plane.kubeconfig_for_token("not-a-token", tmp_path / "kubeconfig")
    with pytest.raises(KubectlError, match=r"Unauthorized|must be logged in"):
        kubectl(kubeconfig, "get", "namespaces")


@local_only
def test_a_second_control_plane_starts_and_stops_without_leftovers(control_plane: Any) -> None:
    # In a child process, so atexit handlers and a stray process would show up here.
    code = (
        "import json, sys; sys.path.insert(0, 'hack/controlplane');"
        "from launcher import ControlPlane;"
        "cp = ControlPlane(); cp.start(); print(cp.workdir, flush=True);"
        "print(json.dumps(cp.pids), flush=True); cp.stop(); cp.stop()"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    workdir, pids = result.stdout.splitlines()[:2]
    assert not Path(workdir).exists()
    assert len(json.loads(pids)) == 2
    for pid in json.loads(pids):
        status = Path(f"/proc/{pid}/status")
        assert not status.exists() or "zombie" in status.read_text()


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except OSError:
            continue  # gone meanwhile
    return pids


@local_only
def test_the_launcher_cli_with_controllers_runs_them_and_stops_them() -> None:
    launcher = subprocess.Popen(
        [sys.executable, "hack/controlplane/launcher.py", "--controllers"], cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert launcher.stdout is not None
        lines = []
        while not lines or not lines[-1].startswith("Ctrl-C"):
            line = launcher.stdout.readline()
            assert line, launcher.stderr.read() if launcher.stderr else ""
            lines.append(line.strip())
        manager = next(line.split()[-1] for line in lines
                       if line.startswith("kube-controller-manager healthy at "))
        assert manager.startswith("https://127.0.0.1:")
        kubeconfig = Path(next(line.split("=", 1)[1] for line in lines if line.startswith("export")))
        workdir = kubeconfig.parent
        assert len(_processes_mentioning(str(workdir))) == 3  # etcd, kube-apiserver, the manager
        # The replicaset controller works: a Deployment gets its pods.
        kubectl(kubeconfig, "create", "deployment", "cli", "--image=nginx:1.25", "--replicas=2")
        deadline = time.monotonic() + 60
        while kubectl(kubeconfig, "get", "pods", "-o", "name").count("pod/cli-") < 2:
            assert time.monotonic() < deadline, kubectl(kubeconfig, "get", "all")
            time.sleep(0.5)
    finally:
        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(timeout=60) == 0
    assert not workdir.exists()
    assert _processes_mentioning(str(workdir)) == []
