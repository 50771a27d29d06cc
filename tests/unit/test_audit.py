"""The pure audit judge: exceptions over time, one result per auditID, what is judged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hostns.audit import ExceptionTimeline, RecentIDs, judged_kind_of
from hostns.exceptions import compile_exception

NOON = datetime(2026, 12, 1, 12, tzinfo=UTC)


def _exception(name: str, expires: datetime | None) -> dict[str, object]:
    spec: dict[str, object] = {"reason": "r", "images": ["docker.io/nicolaka/netshoot:*"]}
    if expires is not None:
        spec["expiresAt"] = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"metadata": {"name": name}, "spec": spec}


@pytest.mark.parametrize(("when", "active"), [
    (NOON - timedelta(microseconds=1), ["forever", "until-noon", "until-one"]),
    (NOON, ["forever", "until-one"]),  # expired from expiresAt on, as the operator judges it
    (NOON + timedelta(hours=1), ["forever"]),
    (None, ["forever"]),  # no readable time: only what never expires (fail closed)
])
def test_the_exceptions_in_force_are_those_active_at_the_events_time(
    when: datetime | None, active: list[str],
) -> None:
    timeline = ExceptionTimeline(compile_exception(_exception(n, e)) for n, e in (
        ("forever", None), ("until-noon", NOON), ("until-one", NOON + timedelta(hours=1))))
    assert [e.name for e in timeline.at(when).active] == active


def test_an_exception_set_is_built_once_per_interval_between_expiries() -> None:
    timeline = ExceptionTimeline([compile_exception(_exception("until-noon", NOON))])
    morning = timeline.at(NOON - timedelta(hours=3))
    assert timeline.at(NOON - timedelta(hours=1)) is morning
    assert timeline.at(NOON + timedelta(hours=1)) is not morning


def test_recent_ids_count_a_request_once_and_stay_bounded() -> None:
    recent = RecentIDs(limit=3)
    assert [recent.first_time(i) for i in ("a", "b", "a", "c", "d")] == [True, True, False, True, True]
    assert recent.first_time("a")  # forgotten: the oldest of more than 3
    assert recent.first_time(None) and recent.first_time(None)  # no id: always judged


@pytest.mark.parametrize(("fields", "kind"), [
    (("ResponseComplete", "create", "pods", None, None), "Pod"),
    (("Panic", "patch", "pods", "", "ephemeralcontainers"), "Pod"),
    (("ResponseComplete", "update", "deployments", "apps", None), "Deployment"),
    (("ResponseComplete", "update", "deployments", "extensions", None), "Deployment"),
    (("ResponseComplete", "create", "cronjobs", "batch", None), "CronJob"),
    (("ResponseComplete", "create", "podtemplates", "", None), "PodTemplate"),
    (("ResponseComplete", "create", "replicationcontrollers", None, None), "ReplicationController"),
    (("RequestReceived", "create", "pods", None, None), None),
    (("ResponseStarted", "create", "pods", None, None), None),
    (("ResponseComplete", "delete", "pods", None, None), None),
    (("ResponseComplete", "patch", "pods", None, "status"), None),
    (("ResponseComplete", "update", "deployments", "apps", "scale"), None),
    (("ResponseComplete", "create", "pods", None, "binding"), None),
    (("ResponseComplete", "create", "pods", None, "eviction"), None),
    (("ResponseComplete", "update", "daemonsets", "apps", "ephemeralcontainers"), None),
    (("ResponseComplete", "create", "jobs", "example.com", None), None),
    (("ResponseComplete", "create", "pods", "apps", None), None),
    (("ResponseComplete", "create", "Pods", None, None), None),
    (("ResponseComplete", "create", 7, None, None), None),
])
def test_which_requests_are_judged(fields: tuple[object, ...], kind: str | None) -> None:
    assert judged_kind_of(*fields) == kind
