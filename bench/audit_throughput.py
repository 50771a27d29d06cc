"""Throughput and memory of `hostns audit` on a realistic, generated audit log.

Usage: .venv/bin/python bench/audit_throughput.py [--size-mb N] [--dir DIR] [--gzip]

Generates about N MB (default 1024) of audit events shaped as kube-apiserver's log
backend writes them for a busy cluster under a typical policy (Metadata for most
requests, RequestResponse for pods and pod-bearing workloads): get/list/watch of
configmaps, secrets, leases, nodes, endpointslices... by kubelets, controllers,
operators and humans; lease renewals; node and pod status patches; Events and
TokenReviews; and 1% pod or workload writes, a fifth of them with a host namespace.

Then runs, each in a fresh process on one core:
- `hostns audit -f LOG -o ndjson` (the product, pre-filter on): MB/s over wall and
  CPU time, peak RSS (ru_maxrss);
- the same reader with the skip off (every line decoded whole, with msgspec);
- every line decoded with the standard library's json.loads, nothing else;
- the floor: reading and splitting the lines only, nothing else.
With --gzip, the log is also compressed and read as a rotated `.gz`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable

NODES = [f"ip-10-0-{i // 250}-{i % 250}.eu-west-1.compute.internal" for i in range(200)]
NAMESPACES = ["default", "kube-system", "monitoring", "payments", "checkout", "search",
              "ingress-nginx", "cert-manager", "argocd", "logging"]
KUBELET_AGENT = "kubelet/v1.34.4 (linux/amd64) kubernetes/a1b2c3d"
AGENTS = {
    "kcm": "kube-controller-manager/v1.34.4 (linux/amd64) kubernetes/a1b2c3d/leader-election",
    "sched": "kube-scheduler/v1.34.4 (linux/amd64) kubernetes/a1b2c3d/leader-election",
    "coredns": "coredns/v1.11.3 (linux/amd64) kubernetes/v1.29.0",
    "argocd": "argocd-application-controller/v2.13.1+af54ef8 (linux/amd64) kubernetes/v0.31.0",
    "prometheus": "Prometheus/2.55.1",
    "certmgr": "cert-manager-cainjector/v1.16.2 (linux/amd64) cert-manager/f1e2d3c4",
    "kubectl": "kubectl/v1.34.1 (darwin/arm64) kubernetes/93248f9",
    "ingress": "nginx-ingress-controller/v1.12.0 (linux/amd64) ingress-nginx/1a2b3c4d5",
}


def _sa(namespace: str, name: str) -> dict[str, Any]:
    return {"username": f"system:serviceaccount:{namespace}:{name}",
            "uid": str(uuid.UUID(int=hash((namespace, name)) & ((1 << 128) - 1))),
            "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}",
                       "system:authenticated"],
            "extra": {"authentication.kubernetes.io/credential-id": [f"JTI={uuid.uuid4()}"],
                      "authentication.kubernetes.io/node-name": [random.choice(NODES)],
                      "authentication.kubernetes.io/pod-name": [f"{name}-7c9d8f6b5-x2k9q"],
                      "authentication.kubernetes.io/pod-uid": [str(uuid.uuid4())]}}


def _node(node: str) -> dict[str, Any]:
    return {"username": f"system:node:{node}", "groups": ["system:nodes", "system:authenticated"],
            "extra": {"authentication.kubernetes.io/credential-id": [
                "X509SHA256=" + uuid.uuid4().hex + uuid.uuid4().hex]}}


HUMAN = {"username": "alice@example.com", "uid": "8d2e57c1-1f43-4d0f-9f6a-0c4f1d7a5b11",
         "groups": ["oidc:platform-team", "system:authenticated"],
         "extra": {"authentication.kubernetes.io/credential-id": ["JTI=5f0c2a9e"]}}


def _container(name: str, image: str, index: int) -> dict[str, Any]:
    return {
        "name": name, "image": image, "imagePullPolicy": "IfNotPresent",
        "args": ["--config=/etc/app/config.yaml", f"--shard={index % 16}", "--log-level=info"],
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                  {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}],
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                 "fieldPath": "metadata.name"}}},
                {"name": "GOMAXPROCS", "value": "2"}, {"name": "OTEL_EXPORTER_OTLP_ENDPOINT",
                 "value": "http://otel-collector.observability:4317"}],
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"},
                      "requests": {"cpu": "100m", "memory": "128Mi"}},
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8080, "scheme": "HTTP"},
                           "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1,
                           "failureThreshold": 3},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/app", "readOnly": True},
                         {"name": "kube-api-access-x7k2p",
                          "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                          "readOnly": True}],
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
    }


def _pod_spec(index: int, host: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [_container("app", f"ghcr.io/acme/service-{index % 40}:v1.{index % 9}.0",
                                  index),
                       _container("istio-proxy", "docker.io/istio/proxyv2:1.24.1", index)],
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst", "serviceAccountName": "default", "securityContext": {},
        "schedulerName": "default-scheduler",
        "volumes": [{"name": "config", "configMap": {"name": "app-config", "defaultMode": 420}}],
    }
    if host:
        spec["hostNetwork"] = True
        if index % 3 == 0:
            spec["hostPID"] = True
    return spec


def _write(index: int, host: bool) -> tuple[str, str, str, dict[str, Any], dict[str, Any]]:
    """(verb, resource, group, user, object) of a pod or workload write."""
    namespace = NAMESPACES[index % len(NAMESPACES)]
    metadata = {"name": f"svc-{index}", "namespace": namespace,
                "labels": {"app.kubernetes.io/name": f"svc-{index % 40}"}}
    if index % 2 == 0:
        body = {"kind": "Pod", "apiVersion": "v1", "metadata": metadata,
                "spec": _pod_spec(index, host)}
        return "create", "pods", "", _sa("kube-system", "replicaset-controller"), body
    body = {"kind": "Deployment", "apiVersion": "apps/v1", "metadata": metadata,
            "spec": {"replicas": 3, "selector": {"matchLabels": metadata["labels"]},
                     "template": {"metadata": {"labels": metadata["labels"]},
                                  "spec": _pod_spec(index, host)}}}
    return random.choice(["create", "update", "patch"]), "deployments", "apps", HUMAN, body


def _event(ts: float, verb: str, resource: str, namespace: str | None, name: str | None,
           user: dict[str, Any], agent: str, *, group: str = "", subresource: str = "",
           level: str = "Metadata", code: int = 200, query: str = "",
           request: Any = None, response: Any = None) -> dict[str, Any]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1e6) % 1000000:06d}Z"
    prefix = f"/apis/{group}/v1" if group else "/api/v1"
    path = f"{prefix}/namespaces/{namespace}/{resource}" if namespace else f"{prefix}/{resource}"
    if name:
        path += f"/{name}"
    if subresource:
        path += f"/{subresource}"
    ref: dict[str, Any] = {"resource": resource}
    if namespace:
        ref["namespace"] = namespace
    if name:
        ref["name"] = name
    if group:
        ref["apiGroup"] = group
    ref["apiVersion"] = "v1"
    if subresource:
        ref["subresource"] = subresource
    event: dict[str, Any] = {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level,
        "auditID": str(uuid.uuid4()), "stage": "ResponseComplete",
        "requestURI": path + query, "verb": verb, "user": user,
        "sourceIPs": [f"10.0.{random.randint(0, 15)}.{random.randint(1, 254)}"],
        "userAgent": agent, "objectRef": ref,
        "responseStatus": {"metadata": {}, "code": code},
    }
    if request is not None:
        event["requestObject"] = request
    if response is not None:
        event["responseObject"] = response
    event.update({
        "requestReceivedTimestamp": stamp, "stageTimestamp": stamp,
        "annotations": {"authorization.k8s.io/decision": "allow",
                        "authorization.k8s.io/reason": 'RBAC: allowed by ClusterRoleBinding '
                        '"system:controller:generic" of ClusterRole "system:controller:generic" '
                        'to ServiceAccount "generic-controller/kube-system"'},
    })
    return event


def _one(index: int, ts: float) -> dict[str, Any]:
    roll = random.random()
    node = random.choice(NODES)
    namespace = random.choice(NAMESPACES)
    if roll < 0.01:  # the 1%: pod and workload writes, a fifth with a host namespace
        verb, res, group, user, body = _write(index, host=random.random() < 0.2)
        stored = json.loads(json.dumps(body))
        stored["metadata"].update({"uid": str(uuid.uuid4()), "resourceVersion": str(index),
                                   "creationTimestamp": "2026-12-01T10:00:00Z"})
        request = body if verb != "patch" else {"spec": {"replicas": 4}}
        return _event(ts, verb, res, body["metadata"]["namespace"], None if verb == "create"
                      else body["metadata"]["name"], user, AGENTS["kubectl"], group=group,
                      level="RequestResponse", code=201 if verb == "create" else 200,
                      query="?fieldManager=kubectl-client-side-apply\u0026fieldValidation=Strict",
                      request=request, response=stored)
    if roll < 0.16:
        return _event(ts, "update", "leases", "kube-node-lease", node, _node(node), KUBELET_AGENT,
                      group="coordination.k8s.io")
    if roll < 0.20:
        return _event(ts, "patch", "nodes", None, node, _node(node), KUBELET_AGENT,
                      subresource="status")
    if roll < 0.23:
        pod = f"svc-{random.randint(0, 40)}-7c9d8f6b5-x2k9q"
        return _event(ts, "patch", "pods", namespace, pod, _node(node), KUBELET_AGENT,
                      subresource="status")
    if roll < 0.26:
        return _event(ts, "create", "events", namespace, None, _sa("kube-system", "kcm"),
                      AGENTS["kcm"], group="events.k8s.io", code=201)
    if roll < 0.28:
        return _event(ts, "create", "tokenreviews", None, None,
                      _sa("monitoring", "kube-rbac-proxy"), AGENTS["prometheus"],
                      group="authentication.k8s.io", code=201)
    reads = [
        ("get", "configmaps", "kube-root-ca.crt", ""), ("get", "secrets", "tls-cert", ""),
        ("watch", "configmaps", None,
         "?allowWatchBookmarks=true\u0026resourceVersion=483921\u0026timeout=7m41s\u0026watch=true"),
        ("list", "pods", None, "?labelSelector=app%3Dweb\u0026limit=500\u0026resourceVersion=0"),
        ("get", "leases", "kube-controller-manager", ""), ("get", "nodes", node, ""),
        ("watch", "endpointslices", None, "?allowWatchBookmarks=true\u0026watch=true"),
        ("list", "services", None, "?limit=500\u0026resourceVersion=0"),
        ("get", "serviceaccounts", "default", ""),
    ]
    verb, res, name, query = random.choice(reads)
    who = random.choice(["kcm", "sched", "coredns", "argocd", "prometheus", "certmgr", "ingress"])
    group = {"leases": "coordination.k8s.io", "endpointslices": "discovery.k8s.io"}.get(res, "")
    return _event(ts, verb, res, None if res == "nodes" else namespace, name,
                  _sa("kube-system" if who in ("kcm", "sched") else namespace, who),
                  AGENTS[who], group=group, query=query)


def generate(path: Path, size: int, seed: int = 7) -> dict[str, int]:
    random.seed(seed)
    counts = {"lines": 0, "writes": 0}
    ts = 1796119200.0  # 2026-12-01T10:00:00Z
    written = 0
    with path.open("w") as out:
        batch: list[str] = []
        while written < size:
            ts += 0.0007
            event = _one(counts["lines"], ts)
            text = json.dumps(event, separators=(",", ":")).replace("&", "\\u0026")
            if event["level"] == "RequestResponse":
                counts["writes"] += 1
            batch.append(text)
            written += len(text) + 1
            counts["lines"] += 1
            if len(batch) >= 2000:
                out.write("\n".join(batch) + "\n")
                batch.clear()
        if batch:
            out.write("\n".join(batch) + "\n")
    counts["bytes"] = path.stat().st_size
    return counts


_MODES = {
    "product": None,  # the CLI
    # Every line decoded whole (msgspec into dicts), then judged: what the skip saves.
    "no-skip": (
        "from hostns.audit import ExceptionTimeline, Tally, audit\n"
        "from hostns.auditlog import AuditLogReader\n"
        "r = AuditLogReader(skip=False)\n"
        "n = sum(1 for _ in audit(r.read([LOG]), ExceptionTimeline([]), Tally()))\n"
    ),
    # The same with the standard library's decoder: why msgspec.
    "json.loads": (
        "import json\n"
        "with open(LOG, 'rb') as f:\n"
        "    n = sum(1 for line in f if json.loads(line))\n"
    ),
    "split-only": (
        "n = 0\n"
        "with open(LOG, 'rb') as f:\n"
        "    while chunk := f.read(1 << 20):\n"
        "        n += len(chunk.split(b'\\n'))\n"
    ),
}


def run(mode: str, log: Path) -> tuple[float, float, float, list[str]]:
    """(wall seconds, CPU seconds, peak RSS in MiB, the summary line) of one mode."""
    if _MODES[mode] is None:
        argv = [str(Path(PYTHON).parent / "hostns"), "audit", "-f", str(log), "-o", "ndjson"]
    else:
        argv = [PYTHON, "-c", f"LOG = {str(log)!r}\n" + str(_MODES[mode])]
    # One core: the pipeline is single-threaded anyway; pinning keeps figures comparable.
    if shutil.which("taskset"):
        argv = ["taskset", "-c", "0", *argv]
    start = time.monotonic()
    with open(os.devnull, "w") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.PIPE, cwd=REPO)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - start
    stderr = process.stderr.read().decode() if process.stderr else ""
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1):
        raise SystemExit(f"{mode} failed ({process.returncode}): {stderr}")
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss / 1024, stderr.strip().splitlines()[-1:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--dir", type=Path, default=None,
                        help="where to write the log (default: a temporary directory)")
    parser.add_argument("--gzip", action="store_true", help="also read it as a .gz")
    parser.add_argument("--modes", default="product,no-skip,json.loads,split-only")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="hostns-audit-bench-", dir=args.dir))
    try:
        log = workdir / "audit.log"
        started = time.monotonic()
        counts = generate(log, args.size_mb << 20)
        mb = counts["bytes"] / 1e6
        print(f"generated {mb:.0f} MB, {counts['lines']} lines "
              f"({counts['bytes'] / counts['lines']:.0f} bytes/line), {counts['writes']} pod/"
              f"workload writes ({100 * counts['writes'] / counts['lines']:.2f}%) "
              f"in {time.monotonic() - started:.0f}s", flush=True)
        targets = [(mode, log) for mode in args.modes.split(",")]
        if args.gzip:
            compressed = workdir / "audit-2026-12-01T10-00-00.000.log.gz"
            with log.open("rb") as src, gzip.open(compressed, "wb", compresslevel=6) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            targets.append(("product", compressed))
        for mode, path in targets:
            wall, cpu, rss, summary = run(mode, path)
            label = mode + (" (.gz)" if path.suffix == ".gz" else "")
            print(f"{label:<18} {mb / wall:7.1f} MB/s wall  {mb / cpu:7.1f} MB/s CPU  "
                  f"peak RSS {rss:6.1f} MiB  ({wall:.1f}s)", flush=True)
            for line in summary:
                print(f"    {line}")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"(generator's own peak RSS {peak:.0f} MiB)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
