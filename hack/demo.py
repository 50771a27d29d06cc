"""`make demo`: see the operator work on a laptop without a cluster.

Starts the local control plane (building it first if needed), installs the CRDs
and the example exceptions, runs `hostns run`, applies sample pods — one per
flag, a `kubectl debug node`-style pod with all three, one trusted by an
exception, one compliant — then prints `kubectl get hnf -A` and the events and
keeps everything running until Ctrl-C.

HOSTNS_DEMO_KUBECONFIG=<path> (or `make demo DEMO_KUBECONFIG=...`) uses that
cluster instead (kind, or your current context's file) and cleans up the
demo namespace on exit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "hack" / "controlplane"))

from launcher import ControlPlane, ControlPlaneError, free_port, wait_for_signal  # noqa: E402

NAMESPACE = "hostns-demo"
DIGEST_PINNED = (
    "docker.io/library/busybox:1.36.1"
    "@sha256:73aaf090f3d85aa34ee199857f03fa3a95c8ede2ffd4cc2cdb5b94e566b11662"
)


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None, check: bool = True) -> str:
    result = subprocess.run(
        ["kubectl", f"--kubeconfig={kubeconfig}", *args],
        input=stdin, capture_output=True, text=True, timeout=120,
    )
    if check and result.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def pod(
    name: str, image: str, namespace: str = NAMESPACE, labels: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {"app": name}},
        "spec": {"containers": [{"name": "main", "image": image}], **spec},
    }


SAMPLES = [
    pod("sniffer", "docker.io/nicolaka/netshoot:v0.13", hostNetwork=True),
    pod("process-spy", "docker.io/library/alpine:3.20", hostPID=True),
    pod("shm-reader", "docker.io/library/alpine:3.20", hostIPC=True),
    # What `kubectl debug node/NAME --image=busybox` creates: all three flags.
    pod("node-debugger-unpinned", "busybox:1.36.1", hostNetwork=True, hostPID=True, hostIPC=True),
    # The same with the digest-pinned image that deploy/examples trusts in `default`.
    pod("node-debugger-pinned", DIGEST_PINNED, namespace="default",
        hostNetwork=True, hostPID=True, hostIPC=True),
    # kube-proxy, trusted by registry and repository in kube-system for hostNetwork.
    pod("kube-proxy-demo", "registry.k8s.io/kube-proxy:v1.34.4", namespace="kube-system",
        labels={"k8s-app": "kube-proxy"}, hostNetwork=True),
    pod("web", "docker.io/library/nginx:1.27"),  # compliant: no finding, no write
]


def main() -> int:
    external = os.environ.get("HOSTNS_DEMO_KUBECONFIG")
    plane: ControlPlane | None = None
    operator: subprocess.Popen[bytes] | None = None
    if external:
        kubeconfig = Path(external)
    else:
        built = subprocess.run(["bash", str(REPO / "hack/controlplane/build.sh")], text=True,
                               stdout=subprocess.PIPE)
        if built.returncode != 0:
            return built.returncode
        plane = ControlPlane(bin_dir=Path(built.stdout.strip().splitlines()[-1]))
        try:
            plane.start()
        except ControlPlaneError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        kubeconfig = plane.kubeconfig
    # SIGTERM during set-up cleans up like Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        print("installing the CRDs and the example exceptions...")
        kubectl(kubeconfig, "apply", "-k", str(REPO / "crds"))
        kubectl(kubeconfig, "wait", "--for=condition=Established", "--timeout=60s",
                "crd/hostnamespacefindings.hostns.io", "crd/hostnamespaceexceptions.hostns.io")
        kubectl(kubeconfig, "apply", "-k", str(REPO / "deploy/examples/exceptions"))
        kubectl(kubeconfig, "create", "namespace", NAMESPACE, check=False)

        port = free_port()
        log = REPO / ".demo-operator.log"
        print(f"starting the operator (log: {log}, metrics: http://127.0.0.1:{port}/metrics)...")
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        with log.open("wb") as out:
            operator = subprocess.Popen(
                [sys.executable, "-m", "hostns", "run", "--port", str(port)],
                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
            )
        time.sleep(4)  # start-up reconciliation, then kopf's watches
        if operator.poll() is not None:
            print(log.read_text(), file=sys.stderr)
            return 1

        print("applying sample pods...")
        samples = {"apiVersion": "v1", "kind": "List", "items": SAMPLES}
        kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(samples))
        time.sleep(3)
        print("\n$ kubectl get hnf -A")
        print(kubectl(kubeconfig, "get", "hnf", "-A"))
        print("$ kubectl get hne")
        print(kubectl(kubeconfig, "get", "hne"))
        print(f"$ kubectl get events -n {NAMESPACE}")
        print(kubectl(kubeconfig, "get", "events", "-n", NAMESPACE,
                      "--field-selector=involvedObject.kind=Pod", "--sort-by=.lastTimestamp"))
        print("Everything keeps running. In another shell:")
        print(f"  export KUBECONFIG={kubeconfig}")
        print("  kubectl get hnf -A -o yaml   # try: kubectl delete pod -n hostns-demo sniffer")
        print("Ctrl-C stops the operator and the control plane.", flush=True)
        wait_for_signal(alive=lambda: operator is not None and operator.poll() is None)
    except KeyboardInterrupt:
        pass
    finally:
        if operator is not None and operator.poll() is None:
            operator.terminate()
            try:
                operator.wait(timeout=20)
            except subprocess.TimeoutExpired:
                operator.kill()
        if plane is not None:
            plane.stop()
        elif external:
            kubectl(kubeconfig, "delete", "namespace", NAMESPACE, "--wait=false", check=False)
            kubectl(kubeconfig, "delete", "pod", "-n", "default", "node-debugger-pinned",
                    "--wait=false", check=False)
            kubectl(kubeconfig, "delete", "pod", "-n", "kube-system", "kube-proxy-demo",
                    "--wait=false", check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
