"""A burst of pod watch events replayed by the real API server to the real operator.

Usage: .venv/bin/python bench/event_burst.py [PODS]   (default 20000)

Why a replay: on the 2-core bench machine the local kube-apiserver and etcd cannot
*produce* 2,000 pod events/s from writes (mass deletion: median ~560/s, peaks ~1,250/s,
bench/README.md), so the operator cannot be shown a steady 2,000/s that way. But the API
server serves events from its watch cache far faster than it writes them. So the
operator is stopped while the events are written, and then has to work them off at once:

1. One local control plane; PODS pods as in bench/live_stream.py (~12 KB each, 10% with
   hostNetwork in 100 workloads, 20 exceptions), created with bench/fastkube.py. The real
   operator (`hostns run --events`) starts and gets its complete picture (every pod
   handled, every finding right).
2. Twice, once idle: the operator is stopped with SIGSTOP, a burst of pod events is
   written (96 requests in flight, for at most BURST_SECONDS = 50 s, so that the stop stays
   inside the watch cache's history), SIGCONT. First a *label burst* (each pod's label
   changed: one MODIFIED event each, no finding changes: the stream alone), then a
   *deletion burst* (pods deleted: MODIFIED + DELETED each; the workloads' findings
   change as their pods go) while new host-network pods are created at 20/s in namespace
   bench-latency, each its own workload (their findings must become Violation). An
   observer (a metadata-only pod WATCH from the version at the stop) counts the burst's
   events: the ground truth of what the operator must work off, and how fast the API
   server produced them.
3. On SIGCONT the operator first reads what the kernel buffered on its watch connection;
   the API server has meanwhile closed the stopped watcher (its cacher closes a watcher
   whose small input buffer stays full past a short time budget:
   apiserver_terminated_watchers_total), so the
   operator watches again from the last resourceVersion it read and the rest is replayed
   from the watch cache. If that version had left the cache the answer would be 410 Gone
   and a re-list: counted (hostns_pod_listings_total, its log), never passed off as a
   replay. Measured: pod events worked off (hostns_pods_evaluated_total, sampled every
   0.2 s), the catch-up rate (events / seconds from SIGCONT to the sample that saw the
   last one: up to 0.2 s too long) and the per-sample rates, CPU per event (/proc, minus
   the idle rate; the API writes made meanwhile are included, and counted by kind), memory
   (VmRSS), the time from SIGCONT until each new host-network pod's finding is Violation
   (on a watch of findings), and, once the operator is idle again, the detection latency
   p99 of new host-network pods at 20 creates/s.
4. References, in the same run, on the same replay (WATCH from just before the burst's
   first event, until its last), each alone on the machine once the operator is idle:
   A, a bare kubernetes_asyncio reader (`json.loads` per line, as A in live_stream.py),
   and R, the operator's reader thread alone (hostns.live.watchstream.ThreadedWatch,
   host-namespace pods handed to the loop). Ratios: operator catch-up / A and / R.

Limits, honestly: a replay is a burst, not a steady 2,000 events/s from writes: it shows
how fast the operator works off a backlog (a restart, a fail-over, a stalled process, a
roll-out faster than it reads), not that it keeps up with an API server writing 2,000
pods/s, which this machine cannot do. The first part of each catch-up comes from kernel
socket buffers, not from the API server. The events are full pods of a bench (~12 KB,
10% host-network), not a real cluster's mix. The operator, the API server, etcd and the
bench share two cores: during the deletion catch-up the operator also writes findings
and Events and the API server serves those writes, while A and R read alone afterwards,
so the ratios are against an easier run. Scraping /metrics every 0.2 s costs the operator
a little CPU. The watch cache (k8s 1.34 cacher) keeps at least the last 75 s of events
(eventFreshDuration), 100 to 102,400 events: a longer stop, or a burst of more than
~100,000 events, ends in a 410 and a re-list — printed, not hidden.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import ssl
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fastkube import admin_session
from live_stream import (
    NAMESPACES,
    REPO,
    Bench,
    ControlPlane,
    aiohttp_timeout,
    core_api,
    cpu_seconds,
    expected_findings,
    latency,
    memory,
    metric,
    percentile,
    stop_process,
)
from stream_scale import idle_rate, load

SAMPLE_SECONDS = 0.2
# The writes of a burst stop after this long, so that the stop (writes, the observer's
# settling, the last creates) stays well inside the watch cache's 75 s of history.
BURST_SECONDS = 50.0
CREATE_RATE = 20.0
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"


# --- the child processes ------------------------------------------------------------------


def observe_main(server: str, pki: str, since: str) -> None:
    """The burst's ground truth: a metadata-only pod WATCH from `since` (resumed from the
    last version if the server ends it); prints the count, the first and last
    resourceVersion and when they were seen, every 0.25 s."""
    seen: dict[str, Any] = {"events": 0, "first": "", "last": "", "first_at": 0.0,
                            "last_at": 0.0, "rewatches": 0}

    async def report() -> None:
        printed = 0
        while True:
            await asyncio.sleep(0.25)
            if seen["events"] != printed:
                printed = seen["events"]
                print(json.dumps(seen), flush=True)

    async def run() -> None:
        reporter = asyncio.create_task(report())
        async with admin_session(Path(pki), 1) as session:
            while True:
                version = seen["last"] or since
                url = (f"{server}/api/v1/pods?watch=true&resourceVersion={version}"
                       "&timeoutSeconds=3600")
                async with session.get(url, headers={"Accept": METADATA_ONLY},
                                       timeout=aiohttp_timeout()) as response:
                    print(json.dumps({"watching": response.status}), flush=True)
                    while line := await response.content.readline():
                        event = json.loads(line)
                        if event["type"] == "ERROR":
                            print(json.dumps({"error": event["object"]}), flush=True)
                            reporter.cancel()
                            return
                        seen["events"] += 1
                        seen["last"] = event["object"]["metadata"]["resourceVersion"]
                        seen["last_at"] = time.monotonic()
                        if not seen["first"]:
                            seen["first"], seen["first_at"] = seen["last"], seen["last_at"]
                seen["rewatches"] += 1  # the server ended it (e.g. closed it as slow)

    asyncio.run(run())


def replay_main(kubeconfig: str, since: str, until: str) -> None:
    """The reference: WATCH pods from `since` with kubernetes_asyncio, json.loads every
    line, until an event at `until`; events, seconds from the request, CPU seconds."""

    async def run() -> None:
        async with core_api(kubeconfig) as core:
            began, cpu = time.monotonic(), time.process_time()
            response = await core.list_pod_for_all_namespaces(
                watch="true", resource_version=since, timeout_seconds=3600,
                _preload_content=False, _request_timeout=aiohttp_timeout(),
            )
            events, first_at = 0, 0.0
            while line := await response.content.readline():
                event = json.loads(line)
                if event["type"] == "ERROR":
                    print(json.dumps({"error": event["object"]}), flush=True)
                    return
                if event["type"] == "BOOKMARK":
                    continue
                events += 1
                first_at = first_at or time.monotonic()
                if int(event["object"]["metadata"]["resourceVersion"]) >= int(until):
                    break
            print(json.dumps({"events": events, "seconds": time.monotonic() - began,
                              "first_event": first_at - began,
                              "cpu": time.process_time() - cpu}), flush=True)

    asyncio.run(run())


class Observer:
    """observe_main as a subprocess; `latest` is its last report."""

    def __init__(self, bench: Bench, since: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "observe", bench.plane.url,
             str(Path(bench.plane.workdir or "") / "pki"), since],
            env=bench.env, stdout=subprocess.PIPE, text=True, cwd=REPO,
        )
        self.latest: dict[str, Any] = {}
        self.status = 0
        self.watching = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.watching.wait(60) or self.status != 200:
            raise SystemExit(f"the observer's watch did not start ({self.status})")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            report = json.loads(line)
            if "error" in report:
                print(f"  the observer's watch failed: {report}", flush=True)
            if "watching" in report:
                self.status = report["watching"]
                self.watching.set()
            else:
                self.latest = report

    def settled(self, quiet: float = 2.0, timeout: float = 120) -> dict[str, Any]:
        """The report once no event has come for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last_at = self.latest.get("last_at", 0.0)
            if last_at and time.monotonic() - last_at > quiet:
                break
            time.sleep(0.2)
        time.sleep(0.3)  # its last report (printed within 0.25 s of the last event)
        return self.latest

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


# --- API server facts ------------------------------------------------------------------------


SERVER_SERIES = {
    # watchers the cacher closed because their input buffer stayed full (a slow reader)
    "terminated": ("apiserver_terminated_watchers_total", ""),
    # the pods watch cache's capacity (events), resized between 100 and 102,400
    "capacity": ("watch_cache_capacity", ""),
    # pod WATCH requests that ended (any code)
    "watches": ("apiserver_request_total", 'verb="WATCH"'),
}


def apiserver_metrics(bench: Bench) -> dict[str, float]:
    """SERVER_SERIES of the API server, for pods (summed over their other labels)."""
    pki = Path(bench.plane.workdir or "") / "pki"
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    with urllib.request.urlopen(f"{bench.plane.url}/metrics", context=context,
                                timeout=30) as response:
        text = response.read().decode()
    found = dict.fromkeys(SERVER_SERIES, 0.0)
    for line in text.splitlines():
        name = line.split("{", 1)[0]
        for key, (series, label) in SERVER_SERIES.items():
            if name == series and 'resource="pods"' in line and label in line:
                found[key] += float(line.split()[-1])
    return found


def apiserver_pid(bench: Bench) -> int:
    """The control plane's kube-apiserver process (for its CPU time)."""
    flag = f"--secure-port={bench.plane.url.rsplit(':', 1)[1]}".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if flag in argv and argv[0].endswith(b"kube-apiserver"):
                return int(entry.name)
    raise SystemExit("no kube-apiserver process found")


def log_lines(path: Path, *needles: str) -> list[str]:
    if not path.exists():
        return []
    return [line.strip() for line in path.read_text(errors="replace").splitlines()
            if any(needle in line for needle in needles)]


def pod_version(bench: Bench) -> str:
    listed = bench.core.list_pod_for_all_namespaces(limit=1)
    return str(listed.metadata.resource_version)


# --- the run ---------------------------------------------------------------------------------


def metric_series(port: int, name: str) -> dict[str, float]:
    """A labelled counter of the operator: {labels: value}."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return {}
    return {line.split("{", 1)[1].split("}", 1)[0]: float(line.split()[-1])
            for line in text.splitlines() if line.startswith(name + "{")}


def settle_operator(bench: Bench, count: int) -> tuple[subprocess.Popen[bytes], int]:
    """The operator started, its picture complete (every pod handled, every finding
    right); returns it and its metrics port."""
    expected = expected_findings(count)
    process, port, started = bench.start_operator()
    deadline = started + 900
    while (metric(port, "hostns_pods_evaluated_total") < count
           or bench.findings() != expected):
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit("the operator did not reach a complete picture in time")
        time.sleep(0.2)
    print(f"  operator: complete picture {time.monotonic() - started:.1f}s after start; "
          f"{load()}", flush=True)
    return process, port


def phase(bench: Bench, process: subprocess.Popen[bytes], port: int, action: str,
          create: bool) -> dict[str, Any]:
    """SIGSTOP, `action` (fastkube's delete or label) on every bench pod, host-network
    pods created meanwhile if `create`; SIGCONT and the catch-up; the references."""
    idle = idle_rate(process.pid)
    log = bench.operator_log()
    before_memory = memory(process.pid)
    since = pod_version(bench)
    observer = Observer(bench, since)
    server_before = apiserver_metrics(bench)
    listings_before = metric(port, "hostns_pod_listings_total")
    evaluated_before = metric(port, "hostns_pods_evaluated_total")
    writes_before = metric_series(port, "hostns_api_writes_total")  # not while stopped
    log_before = len(log_lines(log, "pod watch", "pod list"))
    loads: list[float] = []

    # --- the operator stopped: the burst -------------------------------------------------
    # fastkube first lists the pods' names (~10 s at 20,000): the stop begins with its writes.
    writer = bench.fast(action, *(f"bench-{n}" for n in range(NAMESPACES)),
                        "--concurrency", "96", "--seconds", str(BURST_SECONDS))
    assert writer.stdout is not None
    while "started" not in json.loads(writer.stdout.readline() or '{"started": 0}'):
        pass
    os.kill(process.pid, signal.SIGSTOP)
    stopped_at = time.monotonic()
    done, created_all = threading.Event(), threading.Event()
    pairs: list[tuple[float, float]] = []
    creator = None
    if create:
        print("  host-network pods created while the operator is stopped (their latency "
              "counts from the create, the stop included):", flush=True)
        creator = threading.Thread(target=lambda: latency(
            bench, CREATE_RATE, 600, "burst", pairs=pairs, settle=600,
            until=done, created_all=created_all), daemon=True)
        creator.start()
    else:
        created_all.set()
    writes = bench.finish(writer)
    done.set()
    created_all.wait()
    produced = observer.settled()
    loads.append(os.getloadavg()[0])
    server_mid = apiserver_metrics(bench)
    stopped_for = time.monotonic() - stopped_at
    burst_events = int(produced.get("events", 0))
    produced_seconds = max(produced.get("last_at", 0.0) - produced.get("first_at", 0.0), 1e-9)
    print(f"  stopped {stopped_for:.1f}s: {action} of {writes['done']} of the "
          f"{writes['total']} bench pods in {writes['seconds']:.1f}s; the API server "
          f"produced {burst_events} pod events in "
          f"{produced_seconds:.1f}s ({burst_events / produced_seconds:.0f}/s); pods watch "
          f"cache capacity {server_mid['capacity']:.0f} events; pod watchers closed as "
          f"unresponsive meanwhile {server_mid['terminated'] - server_before['terminated']:.0f}"
          f", pod WATCH requests ended {server_mid['watches'] - server_before['watches']:.0f}"
          f" (the observer's watch ended {produced.get('rewatches', 0)} times); {load()}",
          flush=True)

    # --- SIGCONT: the catch-up -----------------------------------------------------------------
    server = apiserver_pid(bench)
    cpu_before, server_cpu_before = cpu_seconds(process.pid), cpu_seconds(server)
    os.kill(process.pid, signal.SIGCONT)
    resumed_at = time.monotonic()
    samples: list[tuple[float, float]] = [(resumed_at, evaluated_before)]
    peak_rss = 0
    last_change = resumed_at
    while True:
        time.sleep(SAMPLE_SECONDS)
        now, value = time.monotonic(), metric(port, "hostns_pods_evaluated_total")
        if value != samples[-1][1]:
            last_change = now
        samples.append((now, value))
        peak_rss = max(peak_rss, memory(process.pid)["VmRSS"])
        loads.append(os.getloadavg()[0])
        relisted = metric(port, "hostns_pod_listings_total") > listings_before
        if value - evaluated_before >= burst_events and not relisted:
            break
        if now - last_change > 5 or now - resumed_at > 600:
            break  # stalled (or re-listed and done): what it worked off is printed
    cpu_net = cpu_seconds(process.pid) - cpu_before - idle * (last_change - resumed_at)
    server_cpu = cpu_seconds(server) - server_cpu_before
    writes_after = metric_series(port, "hostns_api_writes_total")
    by_kind = {k.replace('"', ""): v - writes_before.get(k, 0.0) for k, v in writes_after.items()
               if v > writes_before.get(k, 0.0)}
    writes_during = sum(by_kind.values())
    server_caught_up = apiserver_metrics(bench)
    closed = server_caught_up["terminated"] - server_mid["terminated"]
    rewatches = server_caught_up["watches"] - server_mid["watches"]
    worked = samples[-1][1] - evaluated_before
    caught_up = last_change - resumed_at
    relists = metric(port, "hostns_pod_listings_total") - listings_before
    rates = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in itertools.pairwise(samples)
             if b[0] <= last_change]
    moving = rates[next((i for i, r in enumerate(rates) if r > 0), 0):]
    rate = worked / max(caught_up, 1e-9)
    print(f"  catch-up: {worked:.0f} pod events worked off (burst: {burst_events}) in "
          f"{caught_up:.2f}s after SIGCONT = {rate:.0f} events/s; per {SAMPLE_SECONDS:g} s "
          f"sample: median {statistics.median(moving or [0]):.0f}/s, max "
          f"{max(moving or [0]):.0f}/s; {cpu_net:.2f}s CPU = "
          f"{cpu_net / max(worked, 1) * 1e6:.0f} µs per event, {writes_during:.0f} API writes "
          f"meanwhile; kube-apiserver CPU {server_cpu:.2f}s "
          f"({server_cpu / max(samples[-1][0] - resumed_at, 1e-9):.0%} of a core); {load()}",
          flush=True)
    print(f"    during it: pod watchers closed as unresponsive {closed:.0f}, pod WATCH "
          f"requests ended {rewatches:.0f}, re-listings (410 Gone) {relists:.0f}; API writes "
          f"{ {k: round(v) for k, v in by_kind.items()} }", flush=True)
    print(f"    per-sample rates: {[round(r) for r in moving]}", flush=True)

    result: dict[str, Any] = {
        "action": action, "burst_events": burst_events, "pods": writes["done"],
        "produced_rate": burst_events / produced_seconds, "stopped": stopped_for,
        "capacity": server_mid["capacity"],
        "terminated_stopped": server_mid["terminated"] - server_before["terminated"],
        "terminated_catchup": closed, "relists": relists, "worked": worked,
        "caught_up": caught_up, "rate": rate,
        "median_sample": statistics.median(moving or [0]),
        "cpu_us": cpu_net / max(worked, 1) * 1e6, "writes": writes_during,
        "server_share": server_cpu / max(samples[-1][0] - resumed_at, 1e-9),
    }

    # --- the new host-network pods' findings -------------------------------------------------
    if creator is not None:
        creator.join()
        created = len(bench.kubectl("get", "pods", "-n", "bench-latency", "-o", "name").split())
        after_cont = sorted(at + lat - resumed_at for at, lat in pairs)
        result.update(created=created, detected=len(after_cont),
                      all_violation=after_cont[-1] if after_cont else float("nan"),
                      p50_after_cont=percentile(after_cont, 50) if after_cont else float("nan"))
        print(f"  {created} host-network pods created while stopped, {len(after_cont)} "
              f"detected: every finding Violation {result['all_violation']:.2f}s after "
              f"SIGCONT (p50 {result['p50_after_cont']:.2f}s)", flush=True)
    after_memory = memory(process.pid)
    new_log = log_lines(log, "pod watch", "pod list")[log_before:]
    result.update(peak_rss=peak_rss, rss_before=before_memory["VmRSS"])
    print(f"  memory before {before_memory}, peak VmRSS during catch-up {peak_rss} MiB, "
          f"after {after_memory}; operator log on the pod stream: {new_log or 'nothing'}",
          flush=True)

    # --- the references: the same replay, read again from the watch cache ------------------
    first_rv, last_rv = produced.get("first", ""), produced.get("last", "")
    observer.stop()
    if not first_rv:
        raise SystemExit("the observer saw no pod event in the burst")
    idle_rate(process.pid, timeout=300)  # the operator's writes done: a quiet machine
    for mode, name in (("replay", "bare"), ("thread-replay", "thread")):
        server_cpu_before = cpu_seconds(server)
        reference = replay(bench, mode, str(int(first_rv) - 1), last_rv)
        server_cpu = cpu_seconds(server) - server_cpu_before
        if "error" in reference:
            print(f"  {name} reader: {reference['error']}", flush=True)
            result[name] = 0.0
            continue
        result[name] = reference["events"] / reference["seconds"]
        label = ("A: bare reader (kubernetes_asyncio, json.loads)" if name == "bare" else
                 "R: the operator's reader thread alone (hostns.live.watchstream)")
        print(f"  {label}, same replay: {reference['events']} events in "
              f"{reference['seconds']:.2f}s = {result[name]:.0f}/s, "
              f"{reference['cpu'] / reference['events'] * 1e6:.0f} µs CPU per event; "
              f"kube-apiserver CPU {server_cpu:.2f}s for the whole child process; operator "
              f"catch-up / this = {rate / result[name]:.2f}; {load()}", flush=True)
    result["load_max"] = max(loads)
    return result


def thread_replay_main(kubeconfig: str, since: str, until: str) -> None:
    """R: the operator's watch transport alone on the same replay (TLS reads, chunks,
    lines, head decode; host-namespace pods handed to the loop, as the intake wants)."""
    os.environ["KUBECONFIG"] = kubeconfig
    from hostns.live.kube import Kube
    from hostns.live.watchstream import ThreadedWatch

    async def run() -> None:
        kube = await Kube.connect()
        request = await kube.watch_request(None, since, timeout=3600)
        assert request is not None
        began, cpu = time.monotonic(), time.process_time()
        events = 0
        stream = ThreadedWatch(request, lambda head: head is None or head.uses_host_namespace)
        async for batch in stream.batches():
            for event_type, _, raw in batch.events:
                if event_type == "ERROR":
                    print(json.dumps({"error": bytes(raw).decode()[:300]}), flush=True)
                    return
            events += batch.seen
            if batch.resource_version and int(batch.resource_version) >= int(until):
                break
        print(json.dumps({"events": events, "seconds": time.monotonic() - began,
                          "cpu": time.process_time() - cpu}), flush=True)

    asyncio.run(run())


def replay(bench: Bench, mode: str, since: str, until: str) -> dict[str, Any]:
    """A reference reader (replay_main or thread_replay_main) as a subprocess."""
    result = subprocess.run(
        [sys.executable, __file__, mode, str(bench.plane.kubeconfig), since, until],
        env=bench.env, capture_output=True, text=True, cwd=REPO, timeout=900,
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode or not lines:
        return {"error": f"exit {result.returncode}: {result.stderr.strip()[-300:]}"}
    report: dict[str, Any] = json.loads(lines[-1])
    return report


def summary(r: dict[str, Any]) -> None:
    print(f"  {r['action']} burst ({r['pods']} pods): {r['burst_events']} pod events produced at "
          f"{r['produced_rate']:.0f}/s while the operator was stopped {r['stopped']:.0f}s "
          f"(pods watch cache capacity {r['capacity']:.0f}); pod watchers closed as "
          f"unresponsive: {r['terminated_stopped']:.0f} while stopped, "
          f"{r['terminated_catchup']:.0f} during the catch-up; re-listings {r['relists']:.0f}")
    print(f"    catch-up {r['worked']:.0f} events in {r['caught_up']:.2f}s = {r['rate']:.0f}/s "
          f"(median 0.2 s sample {r['median_sample']:.0f}/s; target 2,000/s), "
          f"{r['cpu_us']:.0f} µs CPU per event with {r['writes']:.0f} API writes "
          f"(kube-apiserver at {r['server_share']:.0%} of a core); "
          f"same replay: A bare {r['bare']:.0f}/s, R reader thread {r['thread']:.0f}/s; "
          f"operator/A {r['rate'] / r['bare'] if r['bare'] else 0:.2f}, operator/R "
          f"{r['rate'] / r['thread'] if r['thread'] else 0:.2f}; VmRSS {r['rss_before']} -> "
          f"peak {r['peak_rss']} MiB; load average up to {r['load_max']:.1f}")
    if "created" in r:
        print(f"    {r['created']} host-network pods created while stopped ({r['detected']} "
              f"detected): all Violation {r['all_violation']:.2f}s after SIGCONT, p50 "
              f"{r['p50_after_cont']:.2f}s")


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    with ControlPlane() as plane:
        bench = Bench(plane)
        bench.log_prefix = "/tmp/hostns-burst-operator"
        bench.setup()
        print(f"{count} pods, {count // 10} with hostNetwork; {load()}", flush=True)
        bench.grow_to(count)
        process, port = settle_operator(bench, count)
        print("1. a label burst (pods' labels changed: no finding changes):", flush=True)
        labels = phase(bench, process, port, "label", create=False)
        print("2. a deletion burst (pods deleted) with new host-network pods at "
              f"{CREATE_RATE:g}/s:", flush=True)
        deletions = phase(bench, process, port, "delete", create=True)
        print("3. after the catch-up (operator idle), new host-network pods:", flush=True)
        idle_rate(process.pid, timeout=300)
        settled = latency(bench, CREATE_RATE, 15, "after")
        stop_process(process)
        print(f"\nsummary ({count} pods):")
        summary(labels)
        summary(deletions)
        print(f"  after the catch-up, detection p99 at {CREATE_RATE:g} creates/s: "
              f"{percentile(settled, 99):.2f}s (target 1 s)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "observe":
        observe_main(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) > 1 and sys.argv[1] == "replay":
        replay_main(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) > 1 and sys.argv[1] == "thread-replay":
        thread_replay_main(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(main())
