"""Exception statuses: written when they differ, lastTransitionTime kept while the state holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hostns.exception_statuses import ExceptionStatuses
from hostns.exceptions import compile_exception
from hostns.metrics import Metrics

from .fakes import FakeKube

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def exception(name: str, **spec: object) -> dict[str, object]:
    return {"metadata": {"name": name, "generation": 3},
            "spec": {"reason": "why", "images": ["nginx"], **spec}}


async def test_a_status_is_written_once_then_only_on_change() -> None:
    kube, clock = FakeKube(), [NOW]
    statuses = ExceptionStatuses(kube, Metrics(), lambda: clock[0])  # type: ignore[arg-type]
    compiled = {"e": compile_exception(exception("e"))}
    assert await statuses.update(compiled, {"e": 2}) == 1
    status = kube.exceptions["e"]["status"]
    assert status["coveredWorkloads"] == 2 and status["observedGeneration"] == 3
    assert status["conditions"][0]["status"] == "True"
    assert status["conditions"][0]["lastTransitionTime"] == "2026-11-22T12:00:00Z"
    clock[0] = NOW + timedelta(minutes=1)
    assert await statuses.update(compiled, {"e": 2}) == 0
    assert await statuses.update(compiled, {"e": 5}) == 1
    status = kube.exceptions["e"]["status"]
    assert status["conditions"][0]["lastTransitionTime"] == "2026-11-22T12:00:00Z", "still Active"


async def test_an_expired_exception_turns_false_with_a_new_transition_time() -> None:
    kube, clock = FakeKube(), [NOW]
    statuses = ExceptionStatuses(kube, Metrics(), lambda: clock[0])  # type: ignore[arg-type]
    compiled = {"e": compile_exception(exception("e", expiresAt="2026-11-22T12:00:30Z"))}
    await statuses.update(compiled, {})
    clock[0] = NOW + timedelta(minutes=1)
    await statuses.update(compiled, {})
    condition = kube.exceptions["e"]["status"]["conditions"][0]
    assert (condition["status"], condition["reason"]) == ("False", "Expired")
    assert condition["lastTransitionTime"] == "2026-11-22T12:01:00Z"


async def test_a_status_seen_on_the_watch_is_not_written_again() -> None:
    kube = FakeKube()
    writer = ExceptionStatuses(kube, Metrics(), lambda: NOW)  # type: ignore[arg-type]
    compiled = {"e": compile_exception(exception("e"))}
    await writer.update(compiled, {})
    restarted = ExceptionStatuses(kube, Metrics(), lambda: NOW)  # type: ignore[arg-type]
    restarted.seen("e", kube.exceptions["e"]["status"])
    assert await restarted.update(compiled, {}) == 0


async def test_a_failed_write_is_counted_and_tried_again_next_time() -> None:
    kube = FakeKube()
    metrics = Metrics()
    statuses = ExceptionStatuses(kube, metrics, lambda: NOW)  # type: ignore[arg-type]
    kube.fail("patch_exception_status", 429)
    compiled = {"e": compile_exception(exception("e"))}
    assert await statuses.update(compiled, {}) == 0
    assert metrics.api_errors.labels("write_exception_status")._value.get() == 1
    assert await statuses.update(compiled, {}) == 1
