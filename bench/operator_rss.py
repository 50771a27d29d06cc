"""Resident memory of a running `hostns run` watching N pods on the local control plane.

Usage: .venv/bin/python bench/operator_rss.py [PODS]   (default 2000; a quarter use a
host namespace, spread over 50 DaemonSet-like workloads). Prints the operator's RSS
and peak RSS (VmHWM) once every finding is written and every pod of the listing has
been handled (hostns_pods_evaluated_total = PODS; before the operator streamed pods
itself it counted the start-up re-list and kopf's listing, 2 x PODS). bench/live_stream.py
measures memory at PODS/2 and PODS side by side with the stream's timings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "hack" / "controlplane"))

from launcher import ControlPlane, free_port  # noqa: E402


def container(index: int, j: int) -> dict[str, Any]:
    """A container spec of the size a Deployment's usually is (env, probes, mounts)."""
    return {
        "name": f"c{j}",
        "image": f"registry.example.com/team{index % 30}/app{j}:1.{index % 7}.3",
        "imagePullPolicy": "IfNotPresent",
        "args": ["--config=/etc/app/config.yaml", "--log-level=info", f"--shard={index % 16}"],
        "env": [{"name": f"APP_SETTING_{k}", "value": f"value-{k}-{index % 97}"}
                for k in range(12)],
        "ports": [{"name": "http", "containerPort": 8080 + j, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                      "limits": {"memory": "256Mi"}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080 + j},
                           "periodSeconds": 10},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080 + j},
                          "periodSeconds": 20},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/app"},
                         {"name": "data", "mountPath": "/var/lib/app"}],
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}},
    }


def pod(index: int) -> dict[str, Any]:
    """A pod about the size of a real one (~5 KB of JSON with the server's managedFields;
    status is left to a kubelet, which this control plane does not have)."""
    host = index % 4 == 0
    metadata: dict[str, Any] = {
        "name": f"pod-{index}", "namespace": f"bench-{index % 10}",
        "labels": {"app": f"app-{index % 100}", "app.kubernetes.io/part-of": "bench",
                   "app.kubernetes.io/version": f"1.{index % 7}.3", "team": f"team{index % 30}"},
        "annotations": {"kubectl.kubernetes.io/default-container": "c0",
                        "prometheus.io/scrape": "true", "prometheus.io/port": "8080",
                        "checksum/config": f"{index:064x}"},
    }
    if host:
        metadata["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "DaemonSet",
                                        "name": f"agent-{index % 50}", "uid": f"u{index % 50}",
                                        "controller": True}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": {
        "hostNetwork": host,
        "containers": [container(index, j) for j in range(3)],
        "volumes": [{"name": "config", "configMap": {"name": f"app-{index % 100}-config"}},
                    {"name": "data", "emptyDir": {}}],
        "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                         "effect": "NoExecute", "tolerationSeconds": 300}],
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "terminationGracePeriodSeconds": 30,
    }}


def rss(pid: int) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = value.strip()
    return fields


def pods_evaluated(port: int) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("hostns_pods_evaluated_total "):
            return float(line.split()[1])
    return 0.0


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with ControlPlane() as plane:
        def kubectl(*args: str, stdin: str | None = None) -> str:
            return subprocess.run(["kubectl", f"--kubeconfig={plane.kubeconfig}", *args],
                                  input=stdin, capture_output=True, text=True, check=True).stdout

        kubectl("apply", "-k", str(REPO / "crds"))
        kubectl("wait", "--for=condition=Established", "crd/hostnamespacefindings.hostns.io")
        for ns in range(10):
            kubectl("create", "namespace", f"bench-{ns}")
        for start in range(0, count, 500):
            items = [pod(i) for i in range(start, min(start + 500, count))]
            kubectl("create", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                                                            "items": items}))
        expected = len({(i % 10, i % 50) for i in range(0, count, 4)})
        port = free_port()
        operator = subprocess.Popen(
            [sys.executable, "-m", "hostns", "run", "--port", str(port)],
            env={"KUBECONFIG": str(plane.kubeconfig), "PATH": "/usr/bin:/bin",
                 **{k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO,
        )
        try:
            started = time.monotonic()
            deadline = started + 600
            evaluated = 0.0
            while time.monotonic() < deadline:
                found = json.loads(kubectl("get", "hnf", "-A", "-o", "json"))["items"]
                written = all((f.get("status") or {}).get("verdict") for f in found)
                evaluated = pods_evaluated(port)
                if len(found) >= expected and written and evaluated >= count:
                    break
                time.sleep(1)
            else:
                raise SystemExit(f"not done in time: {len(found)} findings, {evaluated} evaluated")
            took = time.monotonic() - started
            time.sleep(3)
            print(f"pods: {count} ({count // 4} with hostNetwork), findings: {len(found)}, "
                  f"pod events evaluated: {int(evaluated)}, in {took:.0f}s")
            print(f"operator memory: {rss(operator.pid)}")
        finally:
            operator.terminate()
            operator.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
