"""Engine benchmarks: pods evaluated per second on one core.

Workload (the issue's target: at least 50,000 pods/s): 100 exceptions of 5
patterns each (literal repositories with and without tags, wildcard paths and
tags, digest pins; some scoped to namespaces and label selectors), and a pool
of 10,000 distinct pods with 3 containers each, drawn from ~2,000 image
references of which most are untrusted, every pod using a host namespace.

Run: make bench   (pytest bench --benchmark-only)
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from hostns.evaluation import evaluate_pod
from hostns.exceptions import ExceptionSet, compile_exception
from hostns.pods import PodFacts, pod_facts

NOW = datetime(2026, 11, 22, tzinfo=UTC)
POOL = 10_000
FLAGS = ("hostNetwork", "hostPID", "hostIPC")


def _exceptions(rng: random.Random) -> list[dict[str, Any]]:
    bodies = []
    for i in range(100):
        images = [
            f"registry.example.com/team{i}/agent",            # literal repository, any tag
            f"registry.example.com/team{i}/proxy:v1.{i % 7}",  # literal with a tag
            f"ghcr.io/org{i}/*:v2.*",                          # wildcard path and tag
            f"quay.io/vendor{i}/node-*",                       # wildcard in a component
            f"docker.io/library/tool{i}@sha256:{i:064x}",      # digest pin
        ]
        spec: dict[str, Any] = {"reason": f"exception {i}", "images": images}
        if i % 3 == 0:
            spec["namespaces"] = [f"ns{j}" for j in range(i % 10, i % 10 + 5)]
        if i % 4 == 0:
            spec["podSelector"] = {"matchLabels": {"tier": "node"}}
        if i % 5 == 0:
            spec["hostNamespaces"] = [FLAGS[i % 3]]
        bodies.append({"metadata": {"name": f"exception-{i}", "generation": 1}, "spec": spec})
    rng.shuffle(bodies)
    return bodies


def _images(rng: random.Random) -> list[str]:
    images = []
    for i in range(2_000):
        team = rng.randrange(150)  # beyond 100: repositories no exception names
        kind = i % 6
        if kind == 0:
            images.append(f"registry.example.com/team{team}/agent:{rng.randrange(50)}")
        elif kind == 1:
            images.append(f"registry.example.com/team{team}/proxy:v1.{rng.randrange(9)}")
        elif kind == 2:
            images.append(f"ghcr.io/org{team}/collector:v{rng.randrange(1, 4)}.{rng.randrange(9)}")
        elif kind == 3:
            images.append(f"quay.io/vendor{team}/node-exporter:{rng.randrange(20)}")
        elif kind == 4:
            images.append(f"docker.io/library/tool{team}@sha256:{team:064x}")
        else:
            images.append(f"untrusted{team}.example/app{i}:latest")
    return images


def _pod(rng: random.Random, index: int, images: list[str]) -> dict[str, Any]:
    flags = {flag: True for flag in rng.sample(FLAGS, rng.randrange(1, 4))}
    labels = {"app": f"app{index % 300}", **({"tier": "node"} if index % 2 else {})}
    return {
        "metadata": {"name": f"pod-{index}", "namespace": f"ns{index % 20}", "uid": f"uid-{index}",
                     "labels": labels,
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "uid": "x",
                                          "name": f"ds-{index % 500}", "controller": True}]},
        "spec": {**flags, "containers": [
            {"name": f"c{j}", "image": rng.choice(images)} for j in range(3)
        ]},
    }


@pytest.fixture(scope="module")
def workload() -> tuple[list[dict[str, Any]], list[PodFacts], list[Any]]:
    rng = random.Random(47)
    images = _images(rng)
    bodies = [_pod(rng, i, images) for i in range(POOL)]
    return bodies, [pod_facts(b) for b in bodies], [compile_exception(b) for b in _exceptions(rng)]


def _report(benchmark: Any, label: str) -> None:
    pods_per_second = POOL / benchmark.stats["mean"]
    benchmark.extra_info["pods_per_second"] = round(pods_per_second)
    print(f"\n{label}: {pods_per_second:,.0f} pods/s")


def test_bench_evaluate_warm(benchmark: Any, workload: Any) -> None:
    """The steady state: an ExceptionSet whose image cache has seen the images."""
    _, facts, compiled = workload
    exceptions = ExceptionSet(compiled, NOW)

    def run() -> int:
        return sum(1 for f in facts if evaluate_pod(f, exceptions).verdict == "Violation")

    violations = benchmark(run)
    assert 0 < violations < POOL  # a mix of verdicts, not a degenerate workload
    _report(benchmark, "evaluate_pod, warm cache")


def test_bench_evaluate_cold(benchmark: Any, workload: Any) -> None:
    """Right after an exception change: a fresh ExceptionSet, empty image cache."""
    _, facts, compiled = workload

    def run() -> int:
        exceptions = ExceptionSet(compiled, NOW)
        return sum(1 for f in facts if evaluate_pod(f, exceptions).verdict == "Excepted")

    excepted = benchmark(run)
    assert 0 < excepted < POOL
    _report(benchmark, "evaluate_pod, cold cache (incl. building the ExceptionSet)")


def test_bench_pod_facts(benchmark: Any, workload: Any) -> None:
    """Extracting the small tuple from a pod body (done once per watch event)."""
    bodies, _, _ = workload
    facts = benchmark(lambda: [pod_facts(b) for b in bodies])
    assert len(facts) == POOL
    _report(benchmark, "pod_facts")
