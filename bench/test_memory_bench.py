"""Memory the operator's picture costs per watched pod (tracemalloc, no I/O).

A compliant pod is never stored; a host-namespace pod is stored as a small
PodFacts tuple plus its verdict — not its body. Run: make bench.
"""

from __future__ import annotations

import gc
import random
import tracemalloc
from datetime import UTC, datetime
from typing import Any

from bench.test_engine_bench import _images, _pod
from hostns.core.pods import pod_facts
from hostns.live.state import ClusterState

NOW = datetime(2026, 11, 22, tzinfo=UTC)
PODS = 10_000


def _measure(bodies: list[dict[str, Any]]) -> tuple[ClusterState, int]:
    state = ClusterState()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for index, body in enumerate(bodies):
        state.observe_pod(pod_facts(body), NOW, float(index))
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return state, after - before


def test_memory_per_host_namespace_pod() -> None:
    rng = random.Random(47)
    images = _images(rng)
    bodies = [_pod(rng, i, images) for i in range(PODS)]
    state, used = _measure(bodies)
    assert len(state.pods) == PODS
    per_pod = used / PODS
    total = f"{used / 2**20:.1f} MiB for {PODS:,}"
    print(f"\nhost-namespace pods: {per_pod:,.0f} bytes per pod held ({total})")
    assert per_pod < 4096  # a small tuple, not a body (a pod body is ~5-20 KiB as dicts)


def test_compliant_pods_cost_no_memory() -> None:
    rng = random.Random(47)
    images = _images(rng)
    bodies = [_pod(rng, i, images) for i in range(PODS)]
    for body in bodies:
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            body["spec"].pop(flag, None)
    state, used = _measure(bodies)
    assert state.pods == {} and state.workloads == {}
    print(f"\ncompliant pods: {used / PODS:,.1f} bytes per pod held")
