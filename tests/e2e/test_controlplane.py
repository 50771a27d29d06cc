"""The local control plane itself: the right version, real authn/authz, clean teardown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    bool(os.environ.get("HOSTNS_E2E_KUBECONFIG")), reason="checks the local control plane only"
)


def test_the_api_server_reports_its_pinned_version(control_plane: Any) -> None:
    result = subprocess.run(
        ["kubectl", f"--kubeconfig={control_plane.kubeconfig}", "version", "-o", "json"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0, result.stderr
    go_mod = (REPO / "hack/controlplane/apiserver/go.mod").read_text()
    pinned = next(line.split()[-1] for line in go_mod.splitlines() if "k8s.io/kubernetes v" in line)
    assert json.loads(result.stdout)["serverVersion"]["gitVersion"] == pinned


def test_it_listens_on_loopback_only(control_plane: Any) -> None:
    assert control_plane.url.startswith("https://127.0.0.1:")


def test_a_second_control_plane_starts_and_stops_without_leftovers(tmp_path: Path) -> None:
    code = (
        "import sys; sys.path.insert(0, 'hack/controlplane');"
        "from launcher import ControlPlane;"
        "cp = ControlPlane(); cp.start(); print(cp.workdir, flush=True);"
        "print([p.pid for p in cp._processes], flush=True); cp.stop()"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    workdir, pids = result.stdout.splitlines()[:2]
    assert not Path(workdir).exists()
    for pid in json.loads(pids):
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
