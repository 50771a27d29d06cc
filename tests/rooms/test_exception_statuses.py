"""Exception statuses: written when they differ, lastTransitionTime kept while the state holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hostns.core.exceptions import compile_exception
from hostns.live.exception_statuses import ExceptionStatuses
from hostns.live.metrics import Metrics

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


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


async def test_each_exception_has_its_coverage_state_and_seconds_until_expiry_as_series() -> None:
    metrics, clock = Metrics(), [NOW]
    statuses = ExceptionStatuses(FakeKube(), metrics, lambda: clock[0])  # type: ignore[arg-type]
    compiled = {
        "kube-proxy": compile_exception(exception("kube-proxy")),
        "debug": compile_exception(exception("debug", expiresAt="2026-11-25T12:00:00Z")),
        "broken": compile_exception(exception("broken", images=["*elastic-agent*"])),
    }
    await statuses.update(compiled, {"kube-proxy": 3, "gone": 9})
    assert sample(metrics, "hostns_exception_covered_workloads", exception="kube-proxy") == 3
    assert sample(metrics, "hostns_exception_covered_workloads", exception="debug") == 0
    assert sample(metrics, "hostns_exception_covered_workloads", exception="gone") is None
    assert sample(metrics, "hostns_exception_expires_in_seconds", exception="debug") == 3 * 86400
    # No series for "never expires" (no +Inf, no sentinel), nor for an Invalid one.
    assert sample(metrics, "hostns_exception_expires_in_seconds", exception="kube-proxy") is None
    assert sample(metrics, "hostns_exception_expires_in_seconds", exception="broken") is None
    states = {(name, state): sample(metrics, "hostns_exception_state", exception=name, state=state)
              for name in compiled for state in ("Active", "Expired", "Invalid")}
    assert states == {
        ("kube-proxy", "Active"): 1, ("kube-proxy", "Expired"): 0, ("kube-proxy", "Invalid"): 0,
        ("debug", "Active"): 1, ("debug", "Expired"): 0, ("debug", "Invalid"): 0,
        ("broken", "Active"): 0, ("broken", "Expired"): 0, ("broken", "Invalid"): 1,
    }


async def test_an_exception_expires_on_the_metrics_at_scrape_time_not_at_the_next_update() -> None:
    metrics, clock = Metrics(), [NOW]
    statuses = ExceptionStatuses(FakeKube(), metrics, lambda: clock[0])  # type: ignore[arg-type]
    await statuses.update({"e": compile_exception(exception("e", expiresAt="2026-11-22T12:00:30Z"))},
                          {"e": 1})
    assert sample(metrics, "hostns_exception_expires_in_seconds", exception="e") == 30
    clock[0] = NOW + timedelta(minutes=1)  # no update since
    assert sample(metrics, "hostns_exception_expires_in_seconds", exception="e") == -30
    assert sample(metrics, "hostns_exception_state", exception="e", state="Expired") == 1
    assert sample(metrics, "hostns_exception_state", exception="e", state="Active") == 0


async def test_a_deleted_exception_leaves_no_series_behind() -> None:
    metrics = Metrics()
    statuses = ExceptionStatuses(FakeKube(), metrics, lambda: NOW)  # type: ignore[arg-type]
    both = {name: compile_exception(exception(name)) for name in ("a", "b")}
    await statuses.update(both, {"a": 1, "b": 2})
    await statuses.update({"a": both["a"]}, {"a": 1})
    assert sample(metrics, "hostns_exception_covered_workloads", exception="a") == 1
    assert sample(metrics, "hostns_exception_covered_workloads", exception="b") is None
    assert sample(metrics, "hostns_exception_state", exception="b", state="Active") is None


def test_no_exception_series_before_the_first_update() -> None:
    # Until the first complete listing the coverage counts would be partial: none at all.
    text = Metrics().render().decode()
    assert "# TYPE hostns_exception_covered_workloads gauge" in text
    assert "hostns_exception_covered_workloads{" not in text
