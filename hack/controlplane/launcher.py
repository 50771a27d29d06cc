"""A local Kubernetes control plane (etcd + kube-apiserver) for tests and trying the operator.

Like controller-runtime's envtest: real binaries built from Go modules (see
build.sh), listening on loopback only, with RBAC, client-certificate admin
credentials and a service-account issuer so the TokenRequest API works. There
is no kubelet or scheduler: pods stay Pending, which is all an operator that
only reads pod specs needs. With `controllers=True` (`--controllers`) a
kube-controller-manager runs the workload controllers too (CONTROLLERS below):
Deployments make real ReplicaSets and pods, CronJobs make Jobs, the garbage
collector deletes what lost its owner, deleted namespaces go away.

Options: `audit_policy` (the log backend writing `audit_log`), `audit_webhook` (the
webhook backend posting to the operator under test, see `AuditWebhook`) and
`controllers` (kube-controller-manager, above).

Importable (`from launcher import ControlPlane`) and runnable:
`python hack/controlplane/launcher.py` starts one and waits for Ctrl-C.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

HERE = Path(__file__).resolve().parent
READY_TIMEOUT = 120.0
PORT_ATTEMPTS = 3
# The kube-controller-manager controllers `controllers=True` runs: what turns
# workloads into pods and cleans up after them, nothing that needs nodes or clouds.
CONTROLLERS = (
    "deployment-controller", "replicaset-controller", "job-controller",
    "cronjob-controller", "garbage-collector-controller", "namespace-controller",
    "serviceaccount-controller", "serviceaccount-token-controller",
)
CONTROLLER_MANAGER_USER = "system:kube-controller-manager"


class ControlPlaneError(RuntimeError):
    """The control plane could not be started."""


def cache_root() -> Path:
    override = os.environ.get("HOSTNS_CONTROLPLANE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hostns-operator" / "controlplane"


def build_key() -> str:
    """Hash of everything that determines the binaries (the same as build.sh computes)."""
    digest = hashlib.sha256()
    for name in ("build.sh", "apiserver/go.mod", "apiserver/go.sum", "etcd/go.mod", "etcd/go.sum"):
        digest.update((HERE / name).read_bytes())
    return digest.hexdigest()[:16]


BINARIES = ("kube-apiserver", "kube-controller-manager", "etcd")


def find_bin_dir() -> Path:
    """The directory holding the built control plane binaries, or a clear error."""
    bin_dir = cache_root() / build_key() / "bin"
    missing = [b for b in BINARIES if not (bin_dir / b).is_file()]
    if missing:
        raise ControlPlaneError(
            f"control plane binaries not built ({', '.join(missing)} missing in {bin_dir}); "
            "run `make controlplane` (needs Go; the first build takes a while), or point "
            "HOSTNS_E2E_KUBECONFIG at a cluster such as kind"
        )
    return bin_dir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise ControlPlaneError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def _signed_cert(pki: Path, name: str, subject: str, ext: str = "client.ext") -> None:
    """`<name>.crt`/`<name>.key` signed by the CA in `pki` (a client cert by default)."""
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
             "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=pki)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", f"{name}.crt", cwd=pki)


def _make_pki(pki: Path) -> None:
    """A CA, a serving certificate for 127.0.0.1, an admin client cert, a SA signing key."""
    pki.mkdir(parents=True, exist_ok=True)  # a reused workdir gets fresh keys
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=hostns-test-ca", "-keyout", "ca.key", "-out", "ca.crt", cwd=pki)
    (pki / "serving.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
    )
    (pki / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    _signed_cert(pki, "serving", "/CN=127.0.0.1", "serving.ext")
    _signed_cert(pki, "admin", "/O=system:masters/CN=hostns-admin", "client.ext")
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)


@dataclass(frozen=True)
class AuditWebhook:
    """The audit webhook backend's receiving end, as the operator under test must serve it.

    kube-apiserver POSTs to https://127.0.0.1:`port`/audit, trusting `serving_cert` (signed
    by the control plane's CA) and presenting a client certificate signed by `client_ca`
    — a CA of its own, so that no other credential of this control plane (the admin's
    certificate) passes — and the bearer token in `token_file`.
    """

    port: int
    serving_cert: Path
    serving_key: Path
    client_ca: Path
    token_file: Path
    config_file: Path  # the kubeconfig-format --audit-webhook-config-file

    def operator_args(self) -> list[str]:
        """`hostns run` flags that serve it, requiring both the certificate and the token."""
        return [
            "--audit-webhook-port", str(self.port),
            "--audit-webhook-cert", str(self.serving_cert),
            "--audit-webhook-key", str(self.serving_key),
            "--audit-webhook-client-ca", str(self.client_ca),
            "--audit-webhook-token-file", str(self.token_file),
        ]


def _make_webhook_pki(pki: Path, port: int) -> AuditWebhook:
    """The webhook's serving certificate, the API server's client CA, certificate and token."""
    (pki / "webhook-serving.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
    )
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=hostns-audit-client-ca", "-keyout", "webhook-client-ca.key",
             "-out", "webhook-client-ca.crt", cwd=pki)
    for name, subject, ca, ext in (
        ("webhook-serving", "/CN=127.0.0.1", "ca", "webhook-serving.ext"),
        ("webhook-client", "/CN=kube-apiserver-audit", "webhook-client-ca", "client.ext"),
    ):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=pki)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey",
                 f"{ca}.key", "-CAcreateserial", "-days", "2", "-extfile", ext,
                 "-out", f"{name}.crt", cwd=pki)
    token = pki / "webhook-token"
    token.write_text(secrets.token_urlsafe(32) + "\n")
    token.chmod(0o600)
    config = pki / "webhook-kubeconfig"
    config.write_text("\n".join([
        "apiVersion: v1", "kind: Config",
        "clusters:", "- name: hostns-audit", "  cluster:",
        f"    server: https://127.0.0.1:{port}/audit",
        f"    certificate-authority: {pki / 'ca.crt'}",
        "users:", "- name: kube-apiserver", "  user:",
        f"    client-certificate: {pki / 'webhook-client.crt'}",
        f"    client-key: {pki / 'webhook-client.key'}",
        f"    token: {token.read_text().strip()}",
        "contexts:", "- name: hostns-audit",
        "  context: {cluster: hostns-audit, user: kube-apiserver}",
        "current-context: hostns-audit",
    ]) + "\n")
    config.chmod(0o600)
    return AuditWebhook(port, pki / "webhook-serving.crt", pki / "webhook-serving.key",
                        pki / "webhook-client-ca.crt", token, config)


class ControlPlane:
    """etcd + kube-apiserver on free loopback ports; a context manager."""

    def __init__(
        self, bin_dir: Path | None = None, workdir: Path | None = None,
        audit_policy: Path | None = None, audit_webhook: bool = False,
        controllers: bool = False,
    ) -> None:
        self.bin_dir = bin_dir
        # kube-controller-manager with CONTROLLERS, after the API server is ready.
        self.controllers = controllers
        # With an audit policy, kube-apiserver's log backend writes `audit_log` (JSON
        # lines, blocking mode: an event is on disk before its response is sent).
        self.audit_policy = audit_policy
        self.audit_log: Path | None = None
        # With `audit_webhook` (needs `audit_policy`), the webhook backend too: batches
        # POSTed to the operator under test, which serves `self.audit_webhook`.
        if audit_webhook and audit_policy is None:
            raise ControlPlaneError("the audit webhook backend needs an audit policy")
        self.want_audit_webhook = audit_webhook
        self.audit_webhook: AuditWebhook | None = None
        self._own_workdir = workdir is None
        self.workdir = workdir
        self.url = ""
        self.controller_manager_url = ""
        self.kubeconfig = Path()
        self._processes: list[subprocess.Popen[bytes]] = []
        self._logs: list[Path] = []

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        bin_dir = self.bin_dir or find_bin_dir()
        if self.workdir is None:
            shm = Path("/dev/shm")
            self.workdir = Path(tempfile.mkdtemp(
                prefix="hostns-cp-", dir=str(shm) if shm.is_dir() else None
            ))
        atexit.register(self.stop)
        try:
            pki = self.workdir / "pki"
            _make_pki(pki)
            if self.want_audit_webhook:
                self.audit_webhook = _make_webhook_pki(pki, free_port())
            if self.controllers:
                _signed_cert(pki, "controller-manager", f"/CN={CONTROLLER_MANAGER_USER}")
            self._launch_with_retries(bin_dir, pki)
        except BaseException:
            self.stop()
            raise

    def _launch_with_retries(self, bin_dir: Path, pki: Path) -> None:
        # A port probed free can be taken by someone else before etcd or kube-apiserver
        # binds it (parallel test runs hit this); picking new ports is the cure.
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                self._launch(bin_dir, pki)
                return
            except ControlPlaneError as exc:
                if "address already in use" not in str(exc) or attempt == PORT_ATTEMPTS:
                    raise
                self._kill_processes()

    def _launch(self, bin_dir: Path, pki: Path) -> None:
        assert self.workdir is not None
        etcd_url = self._start_etcd(bin_dir)
        self._start_apiserver(bin_dir, pki, etcd_url)
        self.kubeconfig = self.workdir / "kubeconfig"
        self._write_kubeconfig(self.kubeconfig, user={
            "client-certificate": str(pki / "admin.crt"),
            "client-key": str(pki / "admin.key"),
        })
        self._wait_ready(pki)
        if self.controllers:
            self._start_controller_manager(bin_dir, pki)

    @property
    def pids(self) -> list[int]:
        """Process ids of the running etcd, kube-apiserver and kube-controller-manager (if
        any), each leading its own group."""
        return [process.pid for process in self._processes]

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        assert self.workdir is not None
        log = self.workdir / f"{name}.log"
        self._logs.append(log)
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group, killed as a whole
            )
        self._processes.append(process)
        return process

    def _start_etcd(self, bin_dir: Path) -> str:
        assert self.workdir is not None
        client, peer = free_port(), free_port()
        client_url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
        self._spawn("etcd", [
            str(bin_dir / "etcd"),
            "--name=default",
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={client_url}", f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=default={peer_url}",
            "--unsafe-no-fsync=true",  # test data: durability is not wanted, speed is
            "--log-level=warn",
        ])
        return client_url

    def _start_apiserver(self, bin_dir: Path, pki: Path, etcd_url: str) -> None:
        port = free_port()
        self.url = f"https://127.0.0.1:{port}"
        self._spawn("kube-apiserver", [
            str(bin_dir / "kube-apiserver"),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            f"--tls-cert-file={pki / 'serving.crt'}",
            f"--tls-private-key-file={pki / 'serving.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--disable-admission-plugins=ServiceAccount",
            "--allow-privileged=true",
            "--enable-priority-and-fairness=false",
            f"--cert-dir={pki}",
            *self._audit_flags(),
            *self._audit_webhook_flags(),
        ])

    def _audit_flags(self) -> list[str]:
        if self.audit_policy is None:
            return []
        assert self.workdir is not None
        self.audit_log = self.workdir / "audit" / "audit.log"
        return [
            f"--audit-policy-file={self.audit_policy}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json",
            "--audit-log-mode=blocking",
        ]

    def _audit_webhook_flags(self) -> list[str]:
        if self.audit_webhook is None:
            return []
        return [
            f"--audit-webhook-config-file={self.audit_webhook.config_file}",
            "--audit-webhook-mode=batch",
            "--audit-webhook-batch-max-wait=1s",  # tests wait for actors: keep it short
            "--audit-webhook-initial-backoff=1s",
        ]

    def _start_controller_manager(self, bin_dir: Path, pki: Path) -> None:
        """kube-controller-manager as CONTROLLER_MANAGER_USER (bound by the API server's
        bootstrap RBAC), each controller with its own ServiceAccount's token, serving
        /healthz on loopback only with our serving certificate; waited for."""
        assert self.workdir is not None
        kubeconfig = self.workdir / "controller-manager.kubeconfig"
        self._write_kubeconfig(kubeconfig, user={
            "client-certificate": str(pki / "controller-manager.crt"),
            "client-key": str(pki / "controller-manager.key"),
        })
        port = free_port()
        self._spawn("kube-controller-manager", [
            str(bin_dir / "kube-controller-manager"),
            f"--kubeconfig={kubeconfig}",
            # Its own endpoint trusts our CA for client certificates (no lookup of the
            # front-proxy CA, which this API server has none of) and asks the API
            # server's RBAC about anything beyond /healthz, /readyz and /livez.
            f"--authentication-kubeconfig={kubeconfig}", "--authentication-skip-lookup=true",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--authorization-kubeconfig={kubeconfig}",
            f"--controllers={','.join(CONTROLLERS)}",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1", f"--secure-port={port}",
            f"--tls-cert-file={pki / 'serving.crt'}",
            f"--tls-private-key-file={pki / 'serving.key'}",
        ])
        self.controller_manager_url = f"https://127.0.0.1:{port}"
        self._wait_healthy(f"{self.controller_manager_url}/healthz", pki, "kube-controller-manager")

    def _write_kubeconfig(self, path: Path, user: dict[str, str]) -> None:
        assert self.workdir is not None
        lines = [
            "apiVersion: v1", "kind: Config",
            "clusters:", "- name: hostns-local", "  cluster:",
            f"    server: {self.url}",
            f"    certificate-authority: {self.workdir / 'pki' / 'ca.crt'}",
            "users:", "- name: user", "  user:",
            *[f"    {key}: {value}" for key, value in user.items()],
            "contexts:", "- name: hostns-local",
            "  context: {cluster: hostns-local, user: user}",
            "current-context: hostns-local",
        ]
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)

    def kubeconfig_for_token(self, token: str, path: Path) -> Path:
        """A kubeconfig that authenticates with a bearer token (e.g. a ServiceAccount's)."""
        self._write_kubeconfig(path, user={"token": token})
        return path

    def _wait_ready(self, pki: Path) -> None:
        self._wait_healthy(f"{self.url}/readyz", pki, "kube-apiserver")

    def _wait_healthy(self, url: str, pki: Path, name: str) -> None:
        """Until `url` answers 200 (as admin); any of our processes exiting is an error."""
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            for process, log in zip(self._processes, self._logs, strict=True):
                if process.poll() is not None:
                    raise ControlPlaneError(
                        f"{log.stem} exited with code {process.returncode}:\n{self._tails()}"
                    )
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(url, context=context, timeout=5) as response,
            ):
                if response.status == 200:
                    return
            time.sleep(0.5)
        raise ControlPlaneError(f"{name} not ready in {READY_TIMEOUT}s:\n{self._tails()}")

    def _tails(self) -> str:
        parts = []
        for log in self._logs:
            with contextlib.suppress(OSError):
                tail = log.read_text(errors="replace").splitlines()[-20:]
                parts.append(f"--- {log.name} ---\n" + "\n".join(tail))
        return "\n".join(parts)

    def stop(self) -> None:
        self._kill_processes()
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def _kill_processes(self) -> None:
        for process in reversed(self._processes):  # controller manager, apiserver, etcd
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        self._processes = []
        self._logs = []


def wait_for_signal(alive: Callable[[], bool] = lambda: True) -> None:
    """Block until SIGINT or SIGTERM (or until `alive()` turns false)."""
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stopping and alive():
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start a local control plane until Ctrl-C.")
    parser.add_argument(
        "--controllers", action="store_true",
        help="also run kube-controller-manager (deployment, replicaset, job, cronjob, "
             "garbage collector, namespace, serviceaccount controllers)",
    )
    args = parser.parse_args(argv)
    plane = ControlPlane(controllers=args.controllers)
    try:
        plane.start()
    except ControlPlaneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"kube-apiserver ready at {plane.url}")
    if plane.controllers:
        print(f"kube-controller-manager healthy at {plane.controller_manager_url}")
    print(f"export KUBECONFIG={plane.kubeconfig}")
    print("Ctrl-C stops it and removes its data.", flush=True)
    try:
        wait_for_signal()
    finally:
        plane.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
