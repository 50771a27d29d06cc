"""Admission cost and latency of the prevention policy, on the local control plane.

Usage: .venv/bin/python bench/prevention_admission.py [REQUESTS]   (default 2000)

1. Latency: 100 exceptions (the realistic mix of literal and wildcard patterns, some
   scoped by namespace or selector), a hostNetwork pod with 3 containers trusted by
   the last exceptions in name order (every exception is looked at). REQUESTS
   server-side dry-run creates; the figures are the API server's own histograms
   (apiserver_admission_controller_admission_duration_seconds for the
   ValidatingAdmissionPolicy plugin, and the policy's per-expression
   apiserver_validating_admission_policy_check_duration_seconds), read from
   /metrics before and after, so only these requests count.
2. Cost: the largest parameter object the CRD admits where cost is concerned (256
   exceptions, 1024 wildcard patterns all on the pod's registry, 16384 regex
   characters, selectors and namespace lists that all match), against pods with
   more and more long-named containers, until the API server refuses the request
   for its CEL cost budget. Prints the largest container count within budget.
Results go to bench/README.md ("Admission cost and latency").
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "hack" / "controlplane"))
sys.path.insert(0, str(REPO))

from launcher import ControlPlane  # noqa: E402
from tests.e2e.kube import kubectl, run  # noqa: E402
from tests.e2e.prevention_kit import Params, exception, install, pod  # noqa: E402

PLUGIN = 'name="ValidatingAdmissionPolicy"'


def metrics(plane: ControlPlane) -> str:
    assert plane.workdir is not None
    pki = plane.workdir / "pki"
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    with urllib.request.urlopen(f"{plane.url}/metrics", context=context, timeout=30) as r:
        return str(r.read().decode())


def buckets(text: str, metric: str, *must: str) -> dict[str, float]:
    """Cumulative bucket counts (le -> count) summed over the series with all of `must`."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith(metric + "_bucket{") or not all(m in line for m in must):
            continue
        labels, value = line.rsplit(" ", 1)
        le = labels.split('le="', 1)[1].split('"', 1)[0]
        out[le] = out.get(le, 0.0) + float(value)
    return out


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {le: count - before.get(le, 0.0) for le, count in after.items()}


def describe(name: str, histogram: dict[str, float]) -> str:
    total = histogram.get("+Inf", 0.0)
    if not total:
        return f"{name}: no observations"
    parts = [f"le={le}: {count / total:.2%}" for le, count in sorted(
        histogram.items(), key=lambda kv: float("inf") if kv[0] == "+Inf" else float(kv[0]))
        if le != "+Inf"]
    return f"{name}: {int(total)} requests; " + ", ".join(parts)


def hundred_exceptions() -> list[dict[str, Any]]:
    registries = ["registry.k8s.io", "ghcr.io", "quay.io", "docker.io", "gcr.io"]
    out = []
    for i in range(100):
        registry = registries[i % len(registries)]
        images = [f"{registry}/team{i}/agent:v{i}.*", f"{registry}/team{i}/sidecar-*",
                  f"{registry}/team{i}/tool:1.{i}"]
        spec: dict[str, Any] = {}
        if i % 3 == 1:
            spec["namespaces"] = ["kube-system", "monitoring", f"team-{i}"]
        if i % 3 == 2:
            spec["podSelector"] = {"matchLabels": {"app": f"team-{i}"}}
        out.append(exception(f"team-{i:03d}", images, **spec))
    # The pod's images are trusted by the last exceptions only.
    out.append(exception("zz-node-agent", ["ghcr.io/acme/node-agent:*",
                                           "ghcr.io/acme/log-shipper-*:v2.*",
                                           "registry.k8s.io/pause:3.10"],
                         hostNamespaces=["hostNetwork"], namespaces=["kube-system"]))
    return out


def requests(plane: ControlPlane, body: dict[str, Any], count: int) -> Iterator[float]:
    """Server-side dry-run creates with the Python client; yields client-side seconds."""
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(str(plane.kubeconfig)))
    for i in range(count):
        body["metadata"]["name"] = f"bench-{i}"
        start = time.perf_counter()
        api.create_namespaced_pod(body["metadata"]["namespace"], body, dry_run="All")
        yield time.perf_counter() - start


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (from /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def phase(plane: ControlPlane, body: dict[str, Any], count: int) -> tuple[dict[str, float],
                                                                            float, list[float]]:
    """Plugin histogram delta, API server CPU seconds per request, client seconds."""
    metric = "apiserver_admission_controller_admission_duration_seconds"
    must = (PLUGIN, 'operation="CREATE"', 'type="validate"')
    apiserver = plane.pids[-1]
    before, cpu = metrics(plane), cpu_seconds(apiserver)
    client_seconds = sorted(requests(plane, body, count))
    cpu = (cpu_seconds(apiserver) - cpu) / count
    after = metrics(plane)
    return delta(buckets(after, metric, *must), buckets(before, metric, *must)), cpu, client_seconds


def latency(plane: ControlPlane, count: int, rounds: int = 5) -> None:
    params = Params(plane.kubeconfig)
    written = params.write(hundred_exceptions())
    print(f"parameter object: {len(written['spec']['exceptions'])} exceptions, "
          f"{sum(len(v) for v in written['spec']['images'].values())} patterns")
    judged = pod("bench", ["ghcr.io/acme/node-agent:1.4", "ghcr.io/acme/log-shipper-fluent:v2.3",
                           "registry.k8s.io/pause:3.10"], namespace="kube-system",
                 labels={"app": "node-agent"}, hostNetwork=True)
    # The control: the same pod without a host namespace. The policy matches it too but
    # stops at its first check, so the difference is what judging 3 containers against
    # 100 exceptions adds, under the same machine load.
    control = {**judged, "spec": {k: v for k, v in judged["spec"].items() if k != "hostNetwork"}}
    list(requests(plane, judged, 50))  # warm up: compiled programs, informers, connections
    list(requests(plane, control, 50))
    totals: dict[str, list[Any]] = {"judged": [{}, 0.0, []], "control": [{}, 0.0, []]}
    for _ in range(rounds):  # interleaved, so that both see the same load
        for name, body in (("judged", judged), ("control", control)):
            histogram, cpu, client_seconds = phase(plane, body, count // rounds)
            total = totals[name]
            for le, n in histogram.items():
                total[0][le] = total[0].get(le, 0.0) + n
            total[1] += cpu / rounds
            total[2].extend(client_seconds)
    for name, (histogram, cpu, client_seconds) in totals.items():
        client_seconds.sort()
        p50 = client_seconds[len(client_seconds) // 2]
        p99 = client_seconds[int(len(client_seconds) * 0.99)]
        print(describe(f"{name}: ValidatingAdmissionPolicy plugin", histogram))
        print(f"{name}: kube-apiserver CPU per request {cpu * 1000:.2f} ms; client round trip "
              f"p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms")
    added = totals["judged"][1] - totals["control"][1]
    print(f"CPU added by judging the pod: {added * 1000:.2f} ms per request")


def worst_case_params() -> dict[str, Any]:
    """The costliest parameter object the CRD admits, written by hand (not compiled).

    Each container's image is looked up under its registry and account, which holds
    256 patterns (the most one key may), each a several-'*' glob whose literal prefix
    and suffix match, so that every regex runs, 16 regex characters each (the CRD's
    16384 over 1024 patterns). The other 768 patterns sit under other keys. 256
    exceptions, each with 16 namespaces and 8 selector requirements of 8 values, all
    matching.
    """
    exceptions = [{
        "name": f"w{i:03d}", "hostNamespaces": ["hostNetwork", "hostPID", "hostIPC"],
        "namespaces": [f"ns-{k}" for k in range(15)] + ["bench"],
        "podSelector": {"matchExpressions": [
            {"key": f"k{k}", "operator": "In", "values": [f"v{m}" for m in range(8)]}
            for k in range(8)]},
    } for i in range(256)]

    def pattern(i: int) -> dict[str, Any]:
        # ^acme/.*-[^/]*z$ is 16 characters; on a path without - it fails only at the end.
        return {"exception": i % 256, "text": "ghcr.io/acme/*-*z", "registry": "ghcr.io",
                "repositoryPrefix": "acme/", "repositorySuffix": "z",
                "repositoryRegex": "^acme/.*-[^/]*z$"}

    images = {key: [pattern(i) for i in range(256)]
              for key in ("ghcr.io/acme", "ghcr.io/acme2", "ghcr.io/acme3", "ghcr.io/acme4")}
    return {"apiVersion": "hostns.io/v1alpha1", "kind": "HostNamespaceAdmissionParams",
            "metadata": {"name": "hostns-prevention"},
            "spec": {"exceptions": exceptions, "images": images}}


def cost(plane: ControlPlane) -> None:
    body = worst_case_params()
    patterns = [p for ps in body["spec"]["images"].values() for p in ps]
    chars = sum(len(p.get("repositoryRegex", "")) for p in patterns)
    print(f"worst case: {len(body['spec']['exceptions'])} exceptions, {len(patterns)} "
          f"patterns, {chars} regex characters, {len(json.dumps(body))} bytes")
    kubectl(plane.kubeconfig, "apply", "--server-side", "--force-conflicts",
            "--field-manager=hostns-test", "-f", "-", stdin=json.dumps(body))
    time.sleep(2)
    labels = {f"k{k}": "v7" for k in range(8)}
    # The longest repository path the grammar allows; the literal prefix and suffix of
    # each pattern match, so each regex runs over the whole path. Without a '-' it fails
    # (nothing trusts the image: Violation); with one it matches, and then every
    # pattern's exception is scoped too (16 namespaces, 8 x 8 selector values).
    untrusted = "ghcr.io/acme/" + "y" * (255 - len("acme/") - 1) + "z:1"
    trusted = "ghcr.io/acme/" + "y" * (255 - len("acme/") - 2) + "-z:1"
    for label, image in (("untrusted", untrusted), ("trusted by every pattern", trusted)):
        within = 0
        for containers in (1, 3, 6, 8, 12, 16, 20, 24, 32):
            test = pod("cost", [image] * containers, namespace="bench", labels=labels,
                       hostNetwork=True)
            result = run(plane.kubeconfig, "create", "--dry-run=server", "-f", "-",
                         stdin=json.dumps(test), check=False)
            refused_for_cost = "cost" in result.stderr and "exceeded" in result.stderr
            verdict = ("refused: CEL cost budget exceeded" if refused_for_cost
                       else "Violation" if "uses hostNetwork" in result.stderr
                       else "admitted" if result.returncode == 0
                       else result.stderr.strip()[-200:])
            print(f"  {label}, {containers:3d} containers: {verdict}")
            if refused_for_cost:
                break
            within = containers
        print(f"largest {label} pod judged within the CEL cost budget: {within} containers")


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with ControlPlane() as plane:
        run(plane.kubeconfig, "create", "namespace", "bench")
        install(plane.kubeconfig, deny=True)
        latency(plane, count)
        cost(plane)
    return 0


if __name__ == "__main__":
    sys.exit(main())
