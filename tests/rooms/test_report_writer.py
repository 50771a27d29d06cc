"""The OpenReports writer: one Report per namespace, in step with the findings, on a fake client."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hostns.core.evaluation import EXCEPTED, VIOLATION, ImageUse, PodVerdict
from hostns.core.findings import RESOLVED, finding_body, finding_content, finding_status
from hostns.core.workloads import Workload
from hostns.live.backoff import Backoff
from hostns.live.metrics import Metrics
from hostns.live.report_writer import ReportWriter
from hostns.live.tasks import cancel_and_wait

from .fakes import FakeKube, until

IMAGE = "docker.io/library/busybox:1.36"
WRITES = ("create_report", "replace_report", "delete_report")


def finding(namespace: str, name: str, verdict: str, exception: str = "agent") -> dict[str, Any]:
    pods: dict[str, PodVerdict] = {}  # none: Resolved
    if verdict == VIOLATION:
        pods[f"{name}-x"] = PodVerdict(VIOLATION, ("hostNetwork",), ("hostNetwork",),
                                       (ImageUse(IMAGE, ("hostNetwork",), ("hostNetwork",)),), ())
    elif verdict == EXCEPTED:
        pods[f"{name}-x"] = PodVerdict(EXCEPTED, ("hostPID",), (),
                                       (ImageUse(IMAGE, ("hostPID",), ()),),
                                       ((exception, f"{exception} is trusted"),))
    body = finding_body(Workload(namespace, "apps/v1", "DaemonSet", name), verdict)
    body["status"] = finding_status(finding_content(pods), None, "2026-12-01T12:00:00Z")
    return body


class Harness:
    def __init__(self, coalesce: float = 0.02) -> None:
        self.kube = FakeKube()
        self.metrics = Metrics()
        self.findings: dict[str, list[dict[str, Any]]] = {}
        self.writer = ReportWriter(
            self.kube, self.metrics, lambda: self.findings,  # type: ignore[arg-type]
            coalesce_seconds=coalesce, backoff=Backoff(first=0.02, limit=0.05),
        )

    def set(self, namespace: str, *bodies: dict[str, Any]) -> None:
        self.findings[namespace] = list(bodies)
        self.writer.mark(namespace)

    def report(self, namespace: str) -> dict[str, Any]:
        return self.kube.reports[namespace, "hostns-operator"]

    def writes(self) -> int:
        return sum(self.kube.calls.count(call) for call in WRITES)

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def h() -> Harness:
    return Harness()


@pytest.fixture
async def running(h: Harness) -> AsyncIterator[Harness]:
    h.writer.release()
    task = asyncio.create_task(h.writer.run())
    yield h
    await cancel_and_wait([task])


async def test_one_report_per_namespace_fail_for_a_violation_skip_naming_the_exception(
    h: Harness,
) -> None:
    h.set("apps", finding("apps", "sniffer", VIOLATION), finding("apps", "agent", EXCEPTED))
    h.set("tools", finding("tools", "debug", VIOLATION))
    await h.writer.sync()
    apps = h.report("apps")
    assert apps["summary"] == {"pass": 0, "fail": 1, "warn": 0, "error": 0, "skip": 1}
    assert [(r["result"], r["resources"][0]["name"]) for r in apps["results"]] == [
        ("fail", "sniffer"), ("skip", "agent")]
    assert "agent (agent is trusted)" in apps["results"][1]["message"]
    assert apps["source"] == "hostns-operator"
    assert h.report("tools")["summary"]["fail"] == 1
    assert h.metric("hostns_api_writes_total", kind="Report", verb="create") == 2


async def test_nothing_is_written_when_nothing_changed(h: Harness) -> None:
    h.set("apps", finding("apps", "sniffer", VIOLATION))
    await h.writer.sync()
    version = h.report("apps")["metadata"]["resourceVersion"]
    for _ in range(3):
        h.set("apps", finding("apps", "sniffer", VIOLATION))
        await h.writer.sync()
    assert h.writes() == 1
    assert h.report("apps")["metadata"]["resourceVersion"] == version


async def test_a_change_replaces_the_report_at_the_version_read(h: Harness) -> None:
    h.set("apps", finding("apps", "sniffer", VIOLATION))
    await h.writer.sync()
    h.set("apps", finding("apps", "sniffer", EXCEPTED, exception="sniffer-ok"))
    await h.writer.sync()
    assert h.kube.calls.count("replace_report") == 1
    result = h.report("apps")["results"][0]
    assert result["result"] == "skip" and "sniffer-ok" in result["properties"]["exceptions"]
    assert h.report("apps")["summary"]["fail"] == 0


async def test_a_namespace_whose_findings_all_resolved_or_went_has_no_report(h: Harness) -> None:
    h.set("apps", finding("apps", "sniffer", VIOLATION), finding("apps", "agent", EXCEPTED))
    await h.writer.sync()
    h.set("apps", finding("apps", "sniffer", RESOLVED))  # and agent's finding is gone
    await h.writer.sync()
    assert ("apps", "hostns-operator") not in h.kube.reports
    assert h.metric("hostns_api_writes_total", kind="Report", verb="delete") == 1


async def test_a_previous_runs_report_without_findings_is_deleted_and_others_reports_kept(
    h: Harness,
) -> None:
    ours = {"metadata": {"name": "hostns-operator", "namespace": "gone", "resourceVersion": "7",
                         "labels": {"app.kubernetes.io/managed-by": "hostns-operator"}}}
    kyverno = {"metadata": {"name": "kyverno-report", "namespace": "gone",
                            "labels": {"app.kubernetes.io/managed-by": "kyverno"}}}
    h.kube.reports["gone", "hostns-operator"] = ours
    h.kube.reports["gone", "kyverno-report"] = kyverno
    await h.writer.sync()
    assert list(h.kube.reports) == [("gone", "kyverno-report")]


async def test_a_previous_runs_report_that_still_holds_is_left_alone(h: Harness) -> None:
    h.set("apps", finding("apps", "sniffer", VIOLATION))
    await h.writer.sync()
    restarted = ReportWriter(h.kube, Metrics(), lambda: h.findings)  # type: ignore[arg-type]
    await restarted.sync()
    assert h.writes() == 1 and h.kube.calls.count("list_reports") == 2


async def test_a_report_changed_behind_our_back_is_read_again_and_replaced(h: Harness) -> None:
    h.set("apps", finding("apps", "sniffer", VIOLATION))
    await h.writer.sync()
    h.report("apps")["metadata"]["resourceVersion"] = "999"  # someone else wrote
    h.set("apps", finding("apps", "sniffer", EXCEPTED))
    await h.writer.sync()
    assert h.kube.calls.count("get_report") == 1
    assert h.report("apps")["results"][0]["result"] == "skip"


async def test_a_report_deleted_behind_our_back_is_created_again(h: Harness) -> None:
    h.set("apps", finding("apps", "sniffer", VIOLATION))
    await h.writer.sync()
    del h.kube.reports["apps", "hostns-operator"]
    h.set("apps", finding("apps", "sniffer", EXCEPTED))
    await h.writer.sync()
    assert h.kube.calls.count("create_report") == 2
    assert h.report("apps")["results"][0]["result"] == "skip"


async def test_one_failing_namespace_does_not_stop_the_others_and_is_retried(h: Harness) -> None:
    h.set("apps", finding("apps", "sniffer", VIOLATION))
    h.set("doomed", finding("doomed", "sniffer", VIOLATION))
    h.kube.fail("create_report", 403)  # "apps" comes first: its namespace is terminating
    with pytest.raises(Exception, match="403"):
        await h.writer.sync()
    assert ("doomed", "hostns-operator") in h.kube.reports
    await h.writer.sync()
    assert ("apps", "hostns-operator") in h.kube.reports


async def test_a_burst_of_finding_changes_is_one_report_write() -> None:
    # A window that a loaded machine cannot overrun between two marks of the burst.
    h = Harness(coalesce=0.5)
    h.writer.release()
    task = asyncio.create_task(h.writer.run())
    try:
        await _burst(h)
    finally:
        await cancel_and_wait([task])


async def _burst(h: Harness) -> None:
    for count in range(1, 30):
        h.set("apps", *(finding("apps", f"ds-{i}", VIOLATION) for i in range(count)))
        await asyncio.sleep(0)
    await until(lambda: ("apps", "hostns-operator") in h.kube.reports)
    await asyncio.sleep(0.1)
    assert h.writes() == 1
    assert h.report("apps")["summary"]["fail"] == 29


async def test_nothing_is_written_before_release(h: Harness) -> None:
    h.set("apps", finding("apps", "sniffer", VIOLATION))
    task = asyncio.create_task(h.writer.run())
    try:
        await asyncio.sleep(0.1)
        assert h.kube.calls == []
        h.writer.release()
        await until(lambda: ("apps", "hostns-operator") in h.kube.reports)
    finally:
        await cancel_and_wait([task])


@pytest.mark.parametrize(("status", "said"), [
    (404, "the Report CRD (reports.openreports.io) is not installed"),
    (403, "deploy/components/openreports"),
])
async def test_a_missing_crd_or_a_403_is_one_log_line_a_metric_and_a_retry(
    running: Harness, caplog: pytest.LogCaptureFixture, status: int, said: str
) -> None:
    h = running
    h.kube.fail("list_reports", status, status, status)
    h.set("apps", finding("apps", "sniffer", VIOLATION))
    with caplog.at_level(logging.INFO, logger="hostns"):
        await until(lambda: h.kube.calls.count("list_reports") >= 2)
        assert h.metric("hostns_reports_failing") == 1
        await until(lambda: ("apps", "hostns-operator") in h.kube.reports)
        await until(lambda: h.metric("hostns_reports_failing") == 0)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and said in warnings[0], warnings
    assert h.metric("hostns_api_errors_total", operation="write_report") == 3
    assert any("in step with the findings again" in r.getMessage() for r in caplog.records)


async def test_writes_refused_once_no_longer_leading_are_retried_not_fatal(running: Harness) -> None:
    h = running
    h.kube.fail("create_report", 0, 0)  # what kube.py raises for a fenced write
    h.set("apps", finding("apps", "sniffer", VIOLATION))
    await until(lambda: ("apps", "hostns-operator") in h.kube.reports)
    assert h.kube.calls.count("create_report") == 3


async def test_watching_some_namespaces_it_lists_and_cleans_only_those(h: Harness) -> None:
    ours = {"labels": {"app.kubernetes.io/managed-by": "hostns-operator"}}
    for namespace in ("apps", "elsewhere"):
        h.kube.reports[namespace, "hostns-operator"] = {
            "metadata": {"name": "hostns-operator", "namespace": namespace,
                         "resourceVersion": "1", **ours}}
    scoped = ReportWriter(h.kube, Metrics(), lambda: {}, namespaces=["apps"])  # type: ignore[arg-type]
    await scoped.sync()
    assert list(h.kube.reports) == [("elsewhere", "hostns-operator")]  # not ours to judge
