"""The pod stream side by side on the local control plane: bare client, operator, kopf.

Usage: .venv/bin/python bench/live_stream.py [PODS] [ROUNDS]   (default 10000 pods, 3 rounds)

One run, one control plane, the same pods for everyone:

- PODS pods of ~10 KB as served (3 containers with env, probes, mounts, annotations,
  the server's managedFields), in 10 namespaces; 10% use hostNetwork, in 100 DaemonSet-like
  workloads; 20 HostNamespaceExceptions, one per workload for the first 20 (Excepted), the
  other 80 are Violations.
- Complete picture, per round and side by side: A, a bare kubernetes_asyncio client (LIST
  500 per page, json.loads, then WATCH) until its watch is open; the operator (`hostns run`)
  until it has handled every pod (`hostns_pods_evaluated_total` = PODS) and every finding
  is right (verdict and pod count); K, kopf with one empty `on.event` pod handler until it
  has been called for every pod. Ratios against A of the same round.
- CPU per watch event of a pod that uses no host namespace: the three run at once, with T
  (the same watch read as bytes, nothing decoded: the transport's floor), while 3,000 such
  pods are created (~40/s here) and then deleted in one burst (6,000 events); process CPU
  time (/proc) minus each process's idle rate, per event.
- Detection latency of new host-network pods (each its own workload) at steady create
  rates: from the create call's return to the finding's first Violation on a watch.
- Operator resident memory (VmRSS, VmHWM) after the picture at PODS/2 and at PODS, and
  the per-pod slope between them.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "hack" / "controlplane"))
sys.path.insert(0, str(REPO / "bench"))

from launcher import ControlPlane, free_port  # noqa: E402
from operator_rss import container as rss_container  # noqa: E402

WORKLOADS = 100
EXCEPTED_WORKLOADS = 20
NAMESPACES = 10
HZ = os.sysconf("SC_CLK_TCK")
# A directory holding uvloop (e.g. `pip install --target DIR uvloop`) adds "T on uvloop"
# to the CPU figures; uvloop is not one of the project's dependencies.
UVLOOP = os.environ.get("HOSTNS_BENCH_UVLOOP", "")


# --- the pods -----------------------------------------------------------------------


def container(index: int, j: int, image: str) -> dict[str, Any]:
    """operator_rss's container (env, probes, mounts), with the image this bench needs."""
    return {**rss_container(index, j), "image": image}


def workload_of(index: int) -> int | None:
    """The host-network workload of pod `index` (every tenth pod), else None."""
    return (index // 10) % WORKLOADS if index % 10 == 0 else None


def trusted_image(workload: int) -> str:
    return f"registry.example.com/trusted/agent{workload}:1.0"


def pod(index: int, namespace: str | None = None, prefix: str = "pod") -> dict[str, Any]:
    workload = workload_of(index) if namespace is None else None
    ns = namespace or f"bench-{(workload if workload is not None else index) % NAMESPACES}"
    metadata: dict[str, Any] = {
        "name": f"{prefix}-{index}", "namespace": ns,
        "labels": {"app": f"app-{index % 100}", "app.kubernetes.io/part-of": "bench",
                   "app.kubernetes.io/version": f"1.{index % 7}.3", "team": f"team{index % 30}"},
        "annotations": {"kubectl.kubernetes.io/default-container": "c0",
                        "prometheus.io/scrape": "true", "prometheus.io/port": "8080",
                        "checksum/config": f"{index:064x}"},
    }
    if workload is not None:
        metadata["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "DaemonSet",
                                        "name": f"agent-{workload}", "uid": f"u{workload}",
                                        "controller": True}]
    if workload is not None and workload < EXCEPTED_WORKLOADS:
        images = [trusted_image(workload)] * 3
    else:
        images = [f"registry.example.com/team{index % 30}/app{j}:1.{index % 7}.3"
                  for j in range(3)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": {
        "hostNetwork": workload is not None,
        "containers": [container(index, j, image) for j, image in enumerate(images)],
        "volumes": [{"name": "config", "configMap": {"name": f"app-{index % 100}-config"}},
                    {"name": "data", "emptyDir": {}}],
        "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                         "effect": "NoExecute", "tolerationSeconds": 300}],
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "terminationGracePeriodSeconds": 30,
    }}


def exception(workload: int) -> dict[str, Any]:
    return {"apiVersion": "hostns.io/v1alpha1", "kind": "HostNamespaceException",
            "metadata": {"name": f"agent-{workload}"},
            "spec": {"reason": "bench", "images": [trusted_image(workload).split(":")[0]]}}


def expected_findings(count: int) -> dict[tuple[str, str], tuple[str, int]]:
    """(namespace, finding name) -> (verdict, pod count), by construction."""
    pods: dict[int, int] = {}
    for index in range(0, count, 10):
        workload = workload_of(index)
        assert workload is not None
        pods[workload] = pods.get(workload, 0) + 1
    return {
        (f"bench-{w % NAMESPACES}", f"daemonset-agent-{w}"):
            ("Excepted" if w < EXCEPTED_WORKLOADS else "Violation", n)
        for w, n in pods.items()
    }


# --- the processes under test ---------------------------------------------------------


@contextlib.asynccontextmanager
async def core_api(kubeconfig: str) -> AsyncIterator[Any]:
    """kubernetes_asyncio's CoreV1Api on the bench's kubeconfig."""
    from kubernetes_asyncio import client, config

    configuration = client.Configuration()
    await config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    async with client.ApiClient(configuration) as api_client:
        yield client.CoreV1Api(api_client)


def bare_main(kubeconfig: str) -> None:
    """A: LIST 500 per page with kubernetes_asyncio (json.loads), then WATCH; report counts."""
    import asyncio

    async def run() -> None:
        async with core_api(kubeconfig) as core:
            token, count, version = None, 0, ""
            while True:
                kwargs: dict[str, Any] = {"limit": 500, "_preload_content": False}
                if token:
                    kwargs["_continue"] = token
                response = await core.list_pod_for_all_namespaces(**kwargs)
                page = json.loads(await response.read())
                count += len(page["items"])
                version = page["metadata"]["resourceVersion"]
                token = page["metadata"].get("continue")
                if not token:
                    break
            response = await core.list_pod_for_all_namespaces(
                watch="true", resource_version=version, allow_watch_bookmarks="true",
                timeout_seconds=3600, _preload_content=False,
                _request_timeout=aiohttp_timeout(),
            )
            print(json.dumps({"listed": count}), flush=True)
            events = 0
            while line := await response.content.readline():
                json.loads(line)
                events += 1
                if events % 500 == 0:
                    print(json.dumps({"events": events}), flush=True)

    asyncio.run(run())


def raw_main(kubeconfig: str) -> None:
    """T: the transport alone — the same WATCH read as bytes, lines counted, nothing decoded."""
    import asyncio

    async def run() -> None:
        async with core_api(kubeconfig) as core:
            response = await core.list_pod_for_all_namespaces(limit=1, _preload_content=False)
            version = json.loads(await response.read())["metadata"]["resourceVersion"]
            response = await core.list_pod_for_all_namespaces(
                watch="true", resource_version=version, timeout_seconds=3600,
                _preload_content=False, _request_timeout=aiohttp_timeout(),
            )
            print(json.dumps({"listed": 0}), flush=True)
            events = 0
            async for chunk in response.content.iter_any():
                before = events
                events += chunk.count(b"\n")
                if events // 500 != before // 500:
                    print(json.dumps({"events": events}), flush=True)

    asyncio.run(run())


def uvloop_raw_main(kubeconfig: str) -> None:
    """T under uvloop (if importable): the same transport on libuv's loop and TLS."""
    import asyncio

    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    raw_main(kubeconfig)


def thread_main(kubeconfig: str) -> None:
    """R: the operator's reader thread alone (hostns.live.watchstream): TLS reads, chunks,
    lines, head decode; `wants` says no to every pod, so nothing reaches the loop."""
    import asyncio

    os.environ["KUBECONFIG"] = kubeconfig
    from hostns.live.kube import Kube
    from hostns.live.watchstream import ThreadedWatch

    async def run() -> None:
        kube = await Kube.connect()
        version = (await kube.list_pod_page(None, limit=1)).resource_version
        request = await kube.watch_request(None, version or "0", timeout=3600)
        assert request is not None
        print(json.dumps({"listed": 0}), flush=True)
        events = 0
        async for batch in ThreadedWatch(request, lambda head: False).batches():
            before = events
            events += batch.seen
            if events // 500 != before // 500:
                print(json.dumps({"events": events}), flush=True)

    asyncio.run(run())


def aiohttp_timeout() -> Any:
    import aiohttp

    return aiohttp.ClientTimeout(total=None, sock_read=3600)


def kopf_main(kubeconfig: str, count: int) -> None:
    """K: kopf, one empty on.event handler on pods (kopf's own settings otherwise)."""
    import asyncio

    import kopf

    os.environ["KUBECONFIG"] = kubeconfig
    seen = [0]
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.enabled = False
        settings.scanning.disabled = True

    @kopf.on.login(registry=registry)
    async def login(**kwargs: Any) -> Any:
        return await kopf.login_via_async_client(**kwargs)

    @kopf.on.event("", "v1", "pods", registry=registry)
    def handler(**_: Any) -> None:
        seen[0] += 1
        if seen[0] == count:
            print(json.dumps({"listed": seen[0]}), flush=True)
        elif seen[0] > count and (seen[0] - count) % 500 == 0:
            print(json.dumps({"events": seen[0] - count}), flush=True)

    kopf.configure(verbose=False)
    import logging

    logging.getLogger("kopf").setLevel(logging.ERROR)
    asyncio.run(kopf.operator(registry=registry, clusterwide=True, standalone=True))


class Child:
    """A process under test whose stdout lines are JSON progress reports."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.started = time.monotonic()
        self.process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, cwd=REPO, text=True)
        self.listed_at: float | None = None
        self.events = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            report = json.loads(line)
            if "listed" in report:
                self.listed_at = time.monotonic()
            self.events = report.get("events", self.events)

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def memory(pid: int) -> dict[str, int]:
    result = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            result[key] = int(value.split()[0]) // 1024  # MiB
    return result


def metric(port: int, name: str) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


# --- the driver ----------------------------------------------------------------------


class Bench:
    def __init__(self, plane: ControlPlane) -> None:
        from kubernetes import client, config

        self.plane = plane
        self.env = {"KUBECONFIG": str(plane.kubeconfig), "PATH": "/usr/bin:/bin",
                    "PYTHONPATH": str(REPO / "operator")}
        api_client = config.new_client_from_config(config_file=str(plane.kubeconfig))
        api_client.configuration.connection_pool_maxsize = 16
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.pods = 0
        self.operators = 0
        self.log_prefix = "/tmp/hostns-bench-operator"  # logs: PREFIX-N.log

    def operator_log(self, number: int | None = None) -> Path:
        return Path(f"{self.log_prefix}-{number or self.operators}.log")

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(["kubectl", f"--kubeconfig={self.plane.kubeconfig}", *args],
                                input=stdin, capture_output=True, text=True)
        if result.returncode:
            raise SystemExit(f"kubectl {args[0]} failed: {result.stderr.strip()[-500:]}")
        return result.stdout

    def setup(self) -> None:
        self.kubectl("apply", "-k", str(REPO / "crds"))
        self.kubectl("wait", "--timeout=180s", "--for=condition=Established",
                     "crd/hostnamespacefindings.hostns.io",
                     "crd/hostnamespaceexceptions.hostns.io")
        for ns in [*(f"bench-{n}" for n in range(NAMESPACES)), "bench-cpu", "bench-latency"]:
            self.kubectl("create", "namespace", ns)
        items = [exception(w) for w in range(EXCEPTED_WORKLOADS)]
        self.kubectl("create", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                                                            "items": items}))

    def create_pods(self, items: list[dict[str, Any]]) -> None:
        for start in range(0, len(items), 500):
            chunk = items[start:start + 500]
            self.kubectl("create", "-f", "-", stdin=json.dumps(
                {"apiVersion": "v1", "kind": "List", "items": chunk}))

    def fast(self, *args: str) -> subprocess.Popen[str]:
        """bench/fastkube.py: many concurrent requests (kubectl does ~40 pods/s)."""
        return subprocess.Popen(
            [sys.executable, str(REPO / "bench" / "fastkube.py"), self.plane.url,
             str(Path(self.plane.workdir or "") / "pki"), *args],
            env=self.env, stdout=subprocess.PIPE, text=True, cwd=REPO,
        )

    @staticmethod
    def finish(process: subprocess.Popen[str]) -> dict[str, Any]:
        """fastkube's final report (it prints one line per second before)."""
        assert process.stdout is not None
        report: dict[str, Any] = {}
        for line in process.stdout:
            report = json.loads(line)
        process.wait()
        if not report.get("final") or report.get("failed"):
            raise SystemExit(f"fastkube failed: {report}")
        return report

    def grow_to(self, count: int) -> None:
        report = self.finish(self.fast("create", str(self.pods), str(count)))
        print(f"  created pods {self.pods}..{count - 1} in {report['seconds']:.0f}s "
              f"({report['done'] / report['seconds']:.0f}/s, concurrent HTTP); "
              f"load {os.getloadavg()[0]:.1f}", flush=True)
        self.pods = count

    def served_size(self) -> int:
        response = self.core.list_pod_for_all_namespaces(limit=50, _preload_content=False)
        page = json.loads(response.data)
        return len(response.data) // max(len(page["items"]), 1)

    def findings(self) -> dict[tuple[str, str], tuple[str | None, int | None]]:
        items = self.custom.list_cluster_custom_object(
            "hostns.io", "v1alpha1", "hostnamespacefindings")["items"]
        return {
            (i["metadata"]["namespace"], i["metadata"]["name"]):
                ((i.get("status") or {}).get("verdict"),
                 ((i.get("status") or {}).get("pods") or {}).get("count"))
            for i in items
        }

    def clear_findings(self) -> None:
        self.kubectl("delete", "hostnamespacefindings", "--all", "-A", "--wait=true")

    def start_operator(self) -> tuple[subprocess.Popen[bytes], int, float]:
        port = free_port()
        self.operators += 1
        with self.operator_log().open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "hostns", "run", "--port", str(port), "--events"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
            )
        return process, port, time.monotonic()

    def memory_at(self, count: int) -> dict[str, int]:
        """Grow to `count` pods; the operator's memory once its picture is complete (one
        end of the per-pod slope). The operator is stopped and its findings cleared."""
        self.grow_to(count)
        handled, right, process, _ = self.operator_round(count)
        used = memory(process.pid)
        stop_process(process)
        self.clear_findings()
        print(f"  operator at {count} pods: handled {handled:.1f}s, right {right:.1f}s, "
              f"memory {used} MiB; load {os.getloadavg()[0]:.1f}", flush=True)
        return used

    def picture_round(self, count: int) -> tuple[float, float, float, dict[str, int], float]:
        """A (bare LIST+WATCH), then the operator from a clean slate, one after the other:
        A's seconds, the operator's seconds to every pod handled and to every finding
        right, its memory and CPU seconds then (the operator is stopped after)."""
        bare, child = self.child_round("bare", count)
        child.stop()
        handled, right, process, _ = self.operator_round(count)
        used, cpu = memory(process.pid), cpu_seconds(process.pid)
        stop_process(process)
        return bare, handled, right, used, cpu

    def operator_round(self, count: int) -> tuple[float, float, subprocess.Popen[bytes], int]:
        """Seconds to every pod handled, and to every finding right (from a clean slate)."""
        expected = expected_findings(count)
        process, port, started = self.start_operator()
        handled_at = right_at = None
        deadline = started + 900
        while time.monotonic() < deadline and (handled_at is None or right_at is None):
            if handled_at is None and metric(port, "hostns_pods_evaluated_total") >= count:
                handled_at = time.monotonic()
            if right_at is None and self.findings() == expected:
                right_at = time.monotonic()
            time.sleep(0.1)
        if handled_at is None or right_at is None:
            raise SystemExit("the operator did not reach a complete picture in time")
        return handled_at - started, right_at - started, process, port

    def child_round(self, mode: str, count: int) -> tuple[float, Child]:
        child = Child([sys.executable, __file__, mode, str(self.plane.kubeconfig), str(count)],
                      self.env)
        deadline = child.started + 900
        while child.listed_at is None:
            if time.monotonic() > deadline or child.process.poll() is not None:
                raise SystemExit(f"{mode} did not list every pod")
            time.sleep(0.05)
        return child.listed_at - child.started, child


def stop_process(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def latency(bench: Bench, rate: float, seconds: float, tag: str,
            pairs: list[tuple[float, float]] | None = None, settle: float = 30,
            until: threading.Event | None = None,
            created_all: threading.Event | None = None) -> list[float]:
    """Create host-network pods (each its own workload) at `rate`/s; seconds to Violation.
    `pairs` receives (created at, latency) of each detected pod, in creation order.
    Creating stops after `seconds`, or earlier once `until` is set; `created_all` is set
    when the last create has returned (the wait for the findings follows)."""
    from kubernetes import watch

    created: dict[str, float] = {}
    detected: dict[str, float] = {}
    stop = threading.Event()

    def watcher() -> None:
        while not stop.is_set():
            stream = watch.Watch()
            try:
                for event in stream.stream(
                    bench.custom.list_namespaced_custom_object, "hostns.io", "v1alpha1",
                    "bench-latency", "hostnamespacefindings", timeout_seconds=int(seconds) + 60,
                ):
                    obj = event["object"]
                    name = obj["metadata"]["name"]
                    verdict = (obj.get("status") or {}).get("verdict")
                    if verdict == "Violation" and name not in detected:
                        detected[name] = time.monotonic()
                    if stop.is_set():
                        stream.stop()
            except Exception:  # a dropped stream: watch again (a re-list replays all)
                time.sleep(0.1)

    thread = threading.Thread(target=watcher, daemon=True)
    thread.start()
    time.sleep(1)
    total = int(rate * seconds)
    begin = time.monotonic()

    def create(i: int) -> None:
        due = begin + i / rate
        if until is None:
            time.sleep(max(0.0, due - time.monotonic()))
        elif until.wait(max(0.0, due - time.monotonic())):
            return
        body = pod(i, namespace="bench-latency", prefix=f"lat-{tag}")
        body["spec"]["hostNetwork"] = True
        # The raw response: decoding each answer into a V1Pod costs this process milliseconds
        # per pod, and would delay its own watcher thread's timestamps (the GIL).
        response = bench.core.create_namespaced_pod("bench-latency", body,
                                                    _preload_content=False)
        created[f"pod-lat-{tag}-{i}"] = time.monotonic()
        response.read()  # drained, so the connection can be used again

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(total)))
    total = len(created)
    if created_all is not None:
        created_all.set()
    achieved = total / (max(created.values()) - begin)
    deadline = time.monotonic() + settle
    while len(detected.keys() & created.keys()) < total and time.monotonic() < deadline:
        time.sleep(0.2)
    stop.set()
    missing = total - len(detected.keys() & created.keys())
    latencies = sorted(detected[n] - created[n] for n in created if n in detected)
    if pairs is not None:
        pairs.extend(sorted((created[n], detected[n] - created[n])
                            for n in created if n in detected))
    print(f"  latency at {rate:g} creates/s (achieved {achieved:.0f}/s, {total} pods"
          f"{f', {missing} not detected within {settle:g} s' if missing else ''}): "
          f"p50 {percentile(latencies, 50):.2f}s, p99 {percentile(latencies, 99):.2f}s, "
          f"max {latencies[-1]:.2f}s", flush=True)
    return latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with ControlPlane() as plane:
        bench = Bench(plane)
        bench.setup()
        print(f"{count} pods, {count // 10} with hostNetwork in {WORKLOADS} workloads, "
              f"{EXCEPTED_WORKLOADS} exceptions; load average {os.getloadavg()[0]:.1f}",
              flush=True)

        half_memory = bench.memory_at(count // 2)  # for the per-pod slope

        bench.grow_to(count)
        print(f"served pod size: {bench.served_size()} bytes", flush=True)
        table: list[tuple[float, float, float, float]] = []
        full_memory: dict[str, int] = {}
        for r in range(rounds):
            bare, handled, right, full_memory, cpu = bench.picture_round(count)
            bench.clear_findings()
            kopf, child = bench.child_round("kopf", count)
            child.stop()
            table.append((bare, handled, right, kopf))
            print(f"  round {r + 1}: A {bare:.1f}s | operator: every pod handled {handled:.1f}s "
                  f"({handled / bare:.2f}x A), every finding right {right:.1f}s "
                  f"({right / bare:.2f}x A), {cpu:.1f}s CPU, memory {full_memory} | "
                  f"kopf empty handler {kopf:.1f}s ({kopf / bare:.2f}x A); "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)

        def med(i: int) -> float:
            return statistics.median(row[i] for row in table)

        def ratio(i: int) -> float:
            return statistics.median(row[i] / row[0] for row in table)

        # CPU per watch event of a compliant pod: all watching at once.
        print("CPU per watch event of pods without host namespaces:", flush=True)
        process, port, _ = bench.start_operator()
        children = {
            "T (transport only)": Child([sys.executable, __file__, "raw", str(plane.kubeconfig)],
                                        bench.env),
            "R (reader thread only)": Child(
                [sys.executable, __file__, "thread", str(plane.kubeconfig)], bench.env),
            "A (bare)": Child([sys.executable, __file__, "bare", str(plane.kubeconfig), "0"],
                              bench.env),
            "kopf": Child([sys.executable, __file__, "kopf", str(plane.kubeconfig), str(count)],
                          bench.env),
        }
        if UVLOOP:
            children["T on uvloop"] = Child(
                [sys.executable, __file__, "uvloop-raw", str(plane.kubeconfig)],
                {**bench.env, "PYTHONPATH": f"{bench.env['PYTHONPATH']}:{UVLOOP}"})
        while (metric(port, "hostns_pods_evaluated_total") < count
               or any(c.listed_at is None for c in children.values())):
            time.sleep(0.2)
        time.sleep(3)
        pids = {"operator": process.pid, **{n: c.process.pid for n, c in children.items()}}
        events = 3000
        per_event: dict[str, dict[str, float]] = {}
        for phase, action, expected_events in (
            ("created (kubectl, ~40/s)", lambda: bench.create_pods(
                [pod(i, namespace="bench-cpu", prefix="cpu") for i in range(events)]), events),
            ("deleted (one deletecollection, a burst)", lambda: bench.kubectl(
                "delete", "pods", "--all", "-n", "bench-cpu", "--wait=false"), 2 * events),
        ):
            idle_start = {name: cpu_seconds(pid) for name, pid in pids.items()}
            time.sleep(5)
            idle = {name: (cpu_seconds(pid) - idle_start[name]) / 5 for name, pid in pids.items()}
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            seen_before = {n: c.events for n, c in children.items()}
            evaluated = metric(port, "hostns_pods_evaluated_total")
            began = time.monotonic()
            action()
            while time.monotonic() - began < 300 and (
                metric(port, "hostns_pods_evaluated_total") < evaluated + expected_events
                or any(c.events - seen_before[n] < expected_events - 500
                       for n, c in children.items())
            ):
                time.sleep(0.2)
            time.sleep(2)
            took = time.monotonic() - began
            per_event[phase] = {
                name: (cpu_seconds(pid) - before[name] - idle[name] * took)
                / expected_events * 1e6
                for name, pid in pids.items()
            }
            print(f"  {expected_events} events, pods {phase}, over {took:.0f}s:", flush=True)
            for name, micros in per_event[phase].items():
                print(f"    {name}: {micros:.0f} µs CPU per event "
                      f"({micros / per_event[phase]['A (bare)']:.2f}x A)", flush=True)
        for child in children.values():
            child.stop()

        print("detection latency (operator settled, findings Violation):", flush=True)
        lat20 = latency(bench, 20, 15, "a")
        lat50 = latency(bench, 50, 10, "b")
        lat100 = latency(bench, 100, 6, "c")
        stop_process(process)

        slope = (full_memory["VmHWM"] - half_memory["VmHWM"]) * 1024 / (count - count // 2)
        print(f"\nsummary ({count} pods, {rounds} rounds, medians):")
        print(f"  A bare LIST+WATCH: {med(0):.1f}s")
        print(f"  operator, every pod handled: {med(1):.1f}s = {ratio(1):.2f}x A")
        print(f"  operator, every finding right: {med(2):.1f}s = {ratio(2):.2f}x A")
        print(f"  kopf, empty on.event handler: {med(3):.1f}s = {ratio(3):.2f}x A")
        for phase, figures in per_event.items():
            print(f"  CPU per watch event, pods {phase}: "
                  + ", ".join(f"{name} {micros:.0f} µs" for name, micros in figures.items()))
        print(f"  detection latency p99: {percentile(lat20, 99):.2f}s at 20/s, "
              f"{percentile(lat50, 99):.2f}s at 50/s, {percentile(lat100, 99):.2f}s at 100/s")
        print(f"  operator memory: {half_memory} at {count // 2} pods, {full_memory} at {count}; "
              f"slope {slope:.2f} KiB per pod (peak)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "bare":
        bare_main(sys.argv[2])
    elif len(sys.argv) > 1 and sys.argv[1] == "raw":
        raw_main(sys.argv[2])
    elif len(sys.argv) > 1 and sys.argv[1] == "uvloop-raw":
        uvloop_raw_main(sys.argv[2])
    elif len(sys.argv) > 1 and sys.argv[1] == "thread":
        thread_main(sys.argv[2])
    elif len(sys.argv) > 1 and sys.argv[1] == "kopf":
        kopf_main(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(main())
