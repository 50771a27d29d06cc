"""The pod stream at scale, in one run on the local control plane (issue 9, spec §9).

Usage: .venv/bin/python bench/stream_scale.py [PODS]   (default 50000)

The pods, exceptions and findings of bench/live_stream.py, created by bench/fastkube.py
(concurrent HTTP). In order, on one control plane:

1. Memory slope: the operator's picture at PODS/2 and at PODS pods (VmHWM/VmRSS once
   complete), the per-pod slope, and its extrapolation to 150,000 pods.
2. Complete picture at PODS: A (bare kubernetes_asyncio LIST 500 per page + WATCH), then
   the operator (every pod handled, every finding right), ratio to A.
3. Start-up under load: the operator starts (findings cleared) while host-network pods
   are created at 100/s from the same moment on, until 5 s after its listing completed;
   detection latency (create → finding Violation), p99 of the pods created while the
   listing ran, and of all, and the p99 by 2-second window of creation (where a tail is).
4. Sustained events: the operator settled; every PODS pod is deleted with many concurrent
   DELETEs while host-network pods are created at 20/s; the pod watch event rate the
   operator saw (per second, from hostns_pods_evaluated_total), its CPU per event, and the
   detection latency during the burst.
Load average is printed with every figure (CPU time per event is fair under load; wall
times are not).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from live_stream import (
    NAMESPACES,
    Bench,
    ControlPlane,
    cpu_seconds,
    latency,
    metric,
    percentile,
    stop_process,
)

TARGET_PODS = 150_000


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def idle_rate(pid: int, timeout: float = 600) -> float:
    """Wait until the process is idle (under 2% of a core over 2 s, at most `timeout`:
    e.g. findings still being written), then its CPU seconds per second over 5 s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(2)
        if cpu_seconds(pid) - before < 0.04:
            break
    idle_from = cpu_seconds(pid)
    time.sleep(5)
    return (cpu_seconds(pid) - idle_from) / 5


def wait_listed(port: int, timeout: float = 900) -> float:
    """Until the operator's first complete pod listing; the moment it was seen."""
    deadline = time.monotonic() + timeout
    while metric(port, "hostns_pod_listings_total") < 1:
        if time.monotonic() > deadline:
            raise SystemExit("the operator did not complete its listing")
        time.sleep(0.05)
    return time.monotonic()


def wait_first_page(port: int, timeout: float = 900) -> float:
    """Until the operator read its first pod page (its watch starts then); that moment."""
    deadline = time.monotonic() + timeout
    name = "hostns_pod_watch_last_event_timestamp_seconds{"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                text = r.read().decode()
        except OSError:
            text = ""
        if any(line.startswith(name) and float(line.split()[-1]) > 0
               for line in text.splitlines()):
            return time.monotonic()
        time.sleep(0.05)
    raise SystemExit("the operator read no pod page")


def startup_latency(
    bench: Bench, count: int, rate: float, listing_seconds: float,
) -> tuple[dict[str, float], subprocess.Popen[bytes], int]:
    """Host-network pods at `rate`/s from the operator's start until after its listing."""
    bench.clear_findings()
    process, port, started = bench.start_operator()
    listed: list[float] = []
    first_page: list[float] = []
    watcher = threading.Thread(target=lambda: listed.append(wait_listed(port)), daemon=True)
    watcher.start()
    paging = threading.Thread(target=lambda: first_page.append(wait_first_page(port)),
                              daemon=True)
    paging.start()
    pairs: list[tuple[float, float]] = []
    # Create for as long as the listing took before, plus 5 s (at least 15 s).
    seconds = max(15.0, listing_seconds + 5.0)
    latencies = latency(bench, rate, seconds, "s", pairs=pairs, settle=120)
    watcher.join()
    paging.join()
    listing_end, listing_start = listed[0], first_page[0]
    during = [lat for at, lat in pairs if at < listing_end]
    # Created before the first page was read: the operator was still starting (imports,
    # login, exceptions and findings loaded), or the pod is in the LIST's snapshot.
    booting = [lat for at, lat in pairs if at < listing_start]
    paging_ = [lat for at, lat in pairs if listing_start <= at < listing_end]
    after = [lat for at, lat in pairs if at >= listing_end]
    result = {
        "listing": listing_end - started, "created": rate * seconds, "detected": len(pairs),
        "during": len(during), "p99_during": percentile(during, 99) if during else 0.0,
        "max_during": max(during) if during else 0.0,
        "first_page": listing_start - started, "booting": len(booting),
        "p99_booting": percentile(booting, 99) if booting else 0.0,
        "paging": len(paging_), "p99_paging": percentile(paging_, 99) if paging_ else 0.0,
        "p99_after": percentile(after, 99) if after else 0.0,
        "p99_all": percentile(latencies, 99),
    }
    print(f"  start-up with {count} pods: listing complete {result['listing']:.1f}s after "
          f"start; {len(during)} pods created during it: p99 {result['p99_during']:.2f}s, "
          f"max {result['max_during']:.2f}s; after it: p99 {result['p99_after']:.2f}s; "
          f"{load()}", flush=True)
    print(f"    first page read {result['first_page']:.1f}s after start; {len(booting)} pods "
          f"created before it: p99 {result['p99_booting']:.2f}s; {len(paging_)} created "
          f"while the pages were read: p99 {result['p99_paging']:.2f}s", flush=True)
    print(f"    by creation time after the start: {timeline(pairs, started)}", flush=True)
    return result, process, port


def timeline(pairs: list[tuple[float, float]], started: float, step: float = 2.0) -> str:
    """p99 (and count) of the detection latencies by `step`-second window of creation."""
    windows: dict[int, list[float]] = {}
    for at, lat in pairs:
        windows.setdefault(int((at - started) // step), []).append(lat)
    return ", ".join(f"{w * step:g}-{(w + 1) * step:g}s: p99 {percentile(lats, 99):.2f}s "
                     f"({len(lats)})" for w, lats in sorted(windows.items()))


def sustained(
    bench: Bench, count: int, process: subprocess.Popen[bytes], port: int,
) -> dict[str, float]:
    """Delete every bench pod as fast as the API server allows; the operator's event rate."""
    idle = idle_rate(process.pid)
    before_events = metric(port, "hostns_pods_evaluated_total")
    before_cpu = cpu_seconds(process.pid)
    rates: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        last, last_at = before_events, time.monotonic()
        while not stop.is_set():
            time.sleep(1)
            now, at = metric(port, "hostns_pods_evaluated_total"), time.monotonic()
            rates.append((now - last) / (at - last_at))
            last, last_at = now, at

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    began = time.monotonic()
    deleter = bench.fast("delete", *(f"bench-{n}" for n in range(NAMESPACES)),
                         "--concurrency", "96")
    result_holder: list[dict[str, object]] = []
    finisher = threading.Thread(target=lambda: result_holder.append(bench.finish(deleter)),
                                daemon=True)
    finisher.start()
    # New host-network pods at 20/s while the deletions run (about count / 1,000 s).
    pairs: list[tuple[float, float]] = []
    lat = latency(bench, 20, max(10.0, min(60.0, count / 2000)), "d", pairs=pairs, settle=60)
    finisher.join()
    while metric(port, "hostns_pods_evaluated_total") < before_events + count:
        if time.monotonic() - began > 600:
            break
        time.sleep(0.2)
    took = time.monotonic() - began
    stop.set()
    sampler.join()
    events = metric(port, "hostns_pods_evaluated_total") - before_events
    cpu = cpu_seconds(process.pid) - before_cpu - idle * took
    report = result_holder[0]
    busy = [r for r in rates if r > 100]
    result = {
        "events": events, "seconds": float(report["seconds"]),  # type: ignore[arg-type]
        "delete_rate": count / float(report["seconds"]),  # type: ignore[arg-type]
        "median_rate": statistics.median(busy) if busy else 0.0,
        "peak_rate": max(rates) if rates else 0.0,
        "cpu_us": cpu / max(events, 1) * 1e6, "p99": percentile(lat, 99),
    }
    print(f"  {count} pods deleted in {result['seconds']:.1f}s ({result['delete_rate']:.0f}/s); "
          f"operator saw {events:.0f} pod events, median {result['median_rate']:.0f}/s over "
          f"the busy seconds (peak {result['peak_rate']:.0f}/s), {result['cpu_us']:.0f} µs CPU "
          f"per event; detection p99 during it {result['p99']:.2f}s; {load()}", flush=True)
    print(f"    per-second event rates: {[round(r) for r in rates]}", flush=True)
    stop_process(process)
    return result


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    with ControlPlane() as plane:
        bench = Bench(plane)
        bench.setup()
        print(f"{count} pods, {count // 10} with hostNetwork; {load()}", flush=True)

        half = bench.memory_at(count // 2)

        bench.grow_to(count)
        print(f"served pod size: {bench.served_size()} bytes", flush=True)
        bare, handled, right, full, cpu = bench.picture_round(count)
        print(f"  A {bare:.1f}s | operator: every pod handled {handled:.1f}s "
              f"({handled / bare:.2f}x A), every finding right {right:.1f}s "
              f"({right / bare:.2f}x A), {cpu:.1f}s CPU, memory {full} MiB; {load()}",
              flush=True)
        slope = (full["VmHWM"] - half["VmHWM"]) * 1024 / (count - count // 2)
        at_target = full["VmHWM"] + slope * (TARGET_PODS - count) / 1024

        start, process, port = startup_latency(bench, count, 100, handled)
        burst = sustained(bench, count, process, port)

        print(f"\nsummary ({count} pods):")
        print(f"  complete picture: A {bare:.1f}s, operator every pod handled {handled:.1f}s "
              f"= {handled / bare:.2f}x A, every finding right {right:.1f}s "
              f"= {right / bare:.2f}x A (target 1.5x)")
        print(f"  memory: VmHWM {half['VmHWM']} MiB at {count // 2}, {full['VmHWM']} MiB at "
              f"{count}: {slope:.2f} KiB per pod -> {at_target:.0f} MiB at {TARGET_PODS} "
              f"(target 256 MiB)")
        print(f"  start-up at 100 creates/s: listing {start['listing']:.1f}s, p99 of pods "
              f"created during it {start['p99_during']:.2f}s (target 1 s), after it "
              f"{start['p99_after']:.2f}s; of those created before the first page "
              f"({start['first_page']:.1f}s) {start['p99_booting']:.2f}s, while the pages "
              f"were read {start['p99_paging']:.2f}s")
        print(f"  sustained: {burst['median_rate']:.0f} pod events/s (median busy second; "
              f"deletions {burst['delete_rate']:.0f}/s), {burst['cpu_us']:.0f} µs CPU per "
              f"event, detection p99 {burst['p99']:.2f}s (target 2,000/s, 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
