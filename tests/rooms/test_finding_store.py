"""The finding store: writes only on a content change, adopts, forgets, expires, counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hostns.evaluation import PodVerdict
from hostns.finding_store import FindingStore
from hostns.findings import finding_content
from hostns.kube import ApiError, NotFound
from hostns.metrics import Metrics
from hostns.workloads import Workload

from .fakes import FakeKube

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
AGENT = Workload("apps", "apps/v1", "DaemonSet", "agent")
VIOLATION = PodVerdict("Violation", ("hostNetwork",), ("hostNetwork",), (), ())
EXCEPTED = PodVerdict("Excepted", ("hostNetwork",), (), (), (("trusted", "why"),))


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube()


@pytest.fixture
def store(kube: FakeKube) -> FindingStore:
    return FindingStore(kube, Metrics(), lambda: NOW)  # type: ignore[arg-type]


async def test_a_new_finding_is_created_with_its_status_and_reports_the_transition(
    kube: FakeKube, store: FindingStore
) -> None:
    transition = await store.sync(AGENT, finding_content({"agent-1": VIOLATION}))
    assert transition is not None and transition.previous is None
    assert transition.status["verdict"] == "Violation" and transition.uid == "uid-daemonset-agent"
    assert kube.calls == ["create_finding", "patch_finding_status"]  # the label came with create
    stored = kube.findings["apps", "daemonset-agent"]
    assert stored["metadata"]["labels"]["hostns.io/verdict"] == "Violation"
    assert stored["status"]["pods"] == {"count": 1, "names": ["agent-1"]}


async def test_the_same_content_is_not_written_again(kube: FakeKube, store: FindingStore) -> None:
    await store.sync(AGENT, finding_content({"agent-1": VIOLATION}))
    kube.calls.clear()
    assert await store.sync(AGENT, finding_content({"agent-1": VIOLATION})) is None
    assert kube.calls == []


async def test_a_verdict_change_moves_the_label_and_the_status(kube: FakeKube, store: FindingStore) -> None:
    await store.sync(AGENT, finding_content({"agent-1": VIOLATION}))
    kube.calls.clear()
    transition = await store.sync(AGENT, finding_content({"agent-1": EXCEPTED}))
    assert transition is not None and transition.previous == "Violation"
    assert kube.calls == ["patch_finding", "patch_finding_status"]
    assert kube.findings["apps", "daemonset-agent"]["metadata"]["labels"]["hostns.io/verdict"] == "Excepted"


async def test_a_finding_created_by_someone_else_is_adopted_on_conflict(
    kube: FakeKube, store: FindingStore
) -> None:
    other = FindingStore(kube, Metrics(), lambda: NOW)  # type: ignore[arg-type]
    await other.sync(AGENT, finding_content({"agent-1": VIOLATION}))
    kube.calls.clear()
    assert await store.sync(AGENT, finding_content({"agent-1": VIOLATION})) is None
    assert kube.calls == ["create_finding", "get_finding"]  # adopted, nothing to write


async def test_a_finding_deleted_behind_our_back_is_forgotten_and_recreated(
    kube: FakeKube, store: FindingStore
) -> None:
    await store.sync(AGENT, finding_content({"agent-1": VIOLATION}))
    del kube.findings["apps", "daemonset-agent"]
    with pytest.raises(NotFound):
        await store.sync(AGENT, finding_content({"agent-1": EXCEPTED}))
    assert AGENT not in store
    await store.sync(AGENT, finding_content({"agent-1": EXCEPTED}))
    assert kube.findings["apps", "daemonset-agent"]["status"]["verdict"] == "Excepted"


async def test_a_failed_write_raises_and_keeps_the_old_picture(kube: FakeKube, store: FindingStore) -> None:
    await store.sync(AGENT, finding_content({"agent-1": VIOLATION}))
    kube.fail("patch_finding_status", 500)
    with pytest.raises(ApiError) as caught:
        await store.sync(AGENT, finding_content({"agent-1": VIOLATION, "agent-2": VIOLATION}))
    assert caught.value.transient
    assert store.get(AGENT) is not None and store.get(AGENT).status["pods"]["count"] == 1  # type: ignore[union-attr]


async def test_resolved_findings_past_the_retention_are_deleted_unless_live(
    kube: FakeKube, store: FindingStore
) -> None:
    other = Workload("apps", "v1", "Pod", "solo")
    for workload in (AGENT, other):
        await store.sync(workload, finding_content({"p": VIOLATION}))
        await store.sync(workload, finding_content({}, previous=store.get(workload).status))  # type: ignore[union-attr]
    deleted = await store.delete_expired(NOW + timedelta(seconds=1), live={other})
    assert deleted == [AGENT]
    assert list(kube.findings) == [("apps", "pod-solo")]
    assert await store.delete_expired(NOW - timedelta(days=1), live=set()) == []


async def test_loaded_findings_count_by_verdict_and_flag_and_by_exception(
    kube: FakeKube, store: FindingStore
) -> None:
    await store.sync(AGENT, finding_content({"agent-1": EXCEPTED}))
    fresh = FindingStore(kube, Metrics(), lambda: NOW)  # type: ignore[arg-type]
    await fresh.load([None])
    assert fresh.verdict(AGENT) == "Excepted"
    assert fresh.counts() == {("Excepted", "hostNetwork"): 1}
    assert fresh.covered_by() == {"trusted": 1}
