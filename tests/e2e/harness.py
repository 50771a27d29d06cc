"""The operator under test, as a separate process, and the kubectl view the e2e tests share.

`Operator` runs `hostns run` the way the Deployment does (its own process, its own
ServiceAccount token); `Kubectl` is an admin's or the operator's kubectl, scoped to
one namespace of test pods; `eventually` polls a condition the way a person watching
`kubectl get -w` would.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from tests.e2e import kube

REPO = Path(__file__).resolve().parents[2]


class Kubectl:
    def __init__(self, kubeconfig: Path, namespace: str) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return kube.run(self.kubeconfig, *args, stdin=stdin, check=check)

    def apply(self, body: dict[str, Any]) -> None:
        self.run("apply", "-f", "-", stdin=json.dumps(body))

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def findings(self) -> dict[str, dict[str, Any]]:
        items = self.json("get", "hostnamespacefindings", "-n", self.namespace)["items"]
        return {item["metadata"]["name"]: item for item in items}

    def events(self, kind: str, name: str) -> list[dict[str, Any]]:
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
        items: list[dict[str, Any]] = self.json(
            "get", "events", "-n", self.namespace, "--field-selector", selector
        )["items"]
        return items


INSTALLED_KINDS = frozenset({
    "CustomResourceDefinition", "Namespace", "ServiceAccount", "ClusterRole",
    "ClusterRoleBinding", "Role", "RoleBinding",
})


def install(admin: Kubectl, kustomization: Path) -> None:
    """The CRDs, namespace, ServiceAccount and RBAC of a kustomization, exactly as shipped
    (not the Deployment: the operator runs here as a process), and the test namespace."""
    rendered = admin.run("kustomize", str(kustomization)).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d and d.get("kind") in INSTALLED_KINDS]
    required = INSTALLED_KINDS - {"Role", "RoleBinding"}
    assert required <= {d["kind"] for d in docs}, f"{kustomization} must ship all of {required}"
    admin.run("apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
    admin.run("wait", "--for=condition=Established", "--timeout=60s",
              "crd/hostnamespacefindings.hostns.io", "crd/hostnamespaceexceptions.hostns.io")
    admin.run("create", "namespace", admin.namespace, check=False)


def install_openreports_crd(admin: Kubectl) -> None:
    """The real Report CRD of the OpenReports project, at the version pinned in
    hack/openreports/go.mod (from its Go module, through the Go module proxy)."""
    done = subprocess.run(["bash", str(REPO / "hack" / "openreports" / "crd.sh")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"OpenReports CRDs: {done.stderr.strip()}"
    crd = Path(done.stdout.strip()) / "openreports.io_reports.yaml"
    admin.run("apply", "--server-side", "--force-conflicts", "-f", str(crd))
    admin.run("wait", "--for=condition=Established", "--timeout=60s", "crd/reports.openreports.io")


def operator_identity(admin: Kubectl, control_plane: Any, directory: Path) -> Path:
    """A kubeconfig with a token of the operator's ServiceAccount (not admin)."""
    token = admin.run(
        "create", "token", "hostns-operator", "-n", "hostns-system", "--duration=2h"
    ).stdout.strip()
    return Path(control_plane.kubeconfig_for_token(token, directory / "kubeconfig"))


def eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Operator:
    """`hostns run` as a separate process, like the Deployment runs it."""

    def __init__(self, kubeconfig: Path, log: Path, *extra_args: str) -> None:
        self.kubeconfig, self.log, self.port = kubeconfig, log, free_port()
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        env.pop("KUBERNETES_SERVICE_HOST", None)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hostns", "run", "--port", str(self.port),
                 "--coalesce", "0.2s", "--resync-interval", "0", "--log-format", "json",
                 *self.extra_args],
                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
            )
        eventually(self.healthy, timeout=60)

    def healthy(self) -> bool:
        return self._probe("/healthz")

    def ready(self) -> bool:
        """/readyz: 200 once the first complete pod listing is handled."""
        return self._probe("/readyz")

    def _probe(self, path: str) -> bool:
        assert self.process is not None and self.process.poll() is None, self.log.read_text()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            return str(r.read().decode())

    def metric(self, name: str) -> float:
        """The sum of a metric's samples (0 when it has none yet)."""
        pattern = re.compile(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", re.MULTILINE)
        return sum(float(value) for value in pattern.findall(self.metrics()))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL: the process dies without releasing anything."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self.process = None
