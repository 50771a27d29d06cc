"""Leader election on a Lease: one leader at a time, take-over only after silence, clean hand-over.

The fake API below keeps what the API server guarantees and nothing more: a
create fails with 409 when the Lease exists, and a replace fails with 409 when
its resourceVersion is not the current one. Time is a hand-driven clock.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hostns.live.kube import ApiError
from hostns.live.leader import Election, LeaderElector, LostLeadership, micro_time

NAMESPACE = "hostns-system"
ELECTION = Election(namespace=NAMESPACE, lease_seconds=15, renew_deadline_seconds=10, retry_seconds=2)


@dataclass
class FakeLeases:
    leases: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    version: int = 0
    failing: bool = False  # every call fails as if the API server were unreachable

    def _check(self) -> None:
        if self.failing:
            raise OSError("connection refused")

    def _stored(self, body: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.leases[(stored["metadata"]["namespace"], stored["metadata"]["name"])] = stored
        return copy.deepcopy(stored)

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        self._check()
        found = self.leases.get((namespace, name))
        return copy.deepcopy(found) if found is not None else None

    async def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check()
        if (namespace, body["metadata"]["name"]) in self.leases:
            raise ApiError(409, "already exists")
        return self._stored(body)

    async def replace_lease(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check()
        current = self.leases.get((namespace, name))
        if current is None:
            raise ApiError(404, "not found")
        if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise ApiError(409, "the object has been modified")
        return self._stored(body)

    def spec(self) -> dict[str, Any]:
        return dict(self.leases[(NAMESPACE, "hostns-operator")]["spec"])


@dataclass
class Clock:
    """One process's clocks: monotonic seconds and a wall clock that may be skewed."""

    now: float = 1000.0
    skew: timedelta = timedelta(0)

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return datetime(2026, 11, 23, 12, 0, tzinfo=UTC) + timedelta(seconds=self.now) + self.skew


@dataclass
class Candidate:
    elector: LeaderElector
    clock: Clock


def candidate(api: FakeLeases, identity: str, clock: Clock | None = None) -> Candidate:
    clock = clock or Clock()

    async def sleep(seconds: float) -> None:
        clock.now += seconds

    election = Election(
        namespace=NAMESPACE, identity=identity, lease_seconds=ELECTION.lease_seconds,
        renew_deadline_seconds=ELECTION.renew_deadline_seconds, retry_seconds=ELECTION.retry_seconds,
    )
    elector = LeaderElector(api, election, monotonic=clock.monotonic, wall=clock.wall, sleep=sleep)
    return Candidate(elector, clock)


async def test_the_first_candidate_creates_the_lease_and_leads() -> None:
    api = FakeLeases()
    a = candidate(api, "a")
    await a.elector.acquire()
    assert a.elector.is_leader
    spec = api.spec()
    assert spec["holderIdentity"] == "a"
    assert spec["leaseDurationSeconds"] == 15
    assert spec["leaseTransitions"] == 0
    assert spec["acquireTime"] == spec["renewTime"] == micro_time(a.clock.wall())


async def test_a_second_candidate_stands_by_while_the_leader_renews() -> None:
    api = FakeLeases()
    a, b = candidate(api, "a"), candidate(api, "b")
    await a.elector.acquire()
    for _ in range(20):  # 40 seconds of renewals every 2 s, b trying as often
        a.clock.now += 2
        b.clock.now += 2
        assert await a.elector.try_acquire_or_renew()
        assert not await b.elector.try_acquire_or_renew()
    assert api.spec()["holderIdentity"] == "a"
    assert b.elector.held_by_another()


async def test_a_standby_takes_over_only_after_a_full_lease_of_silence_on_its_own_clock() -> None:
    api = FakeLeases()
    a, b = candidate(api, "a"), candidate(api, "b")
    await a.elector.acquire()
    first_acquired = api.spec()["acquireTime"]
    assert not await b.elector.try_acquire_or_renew()  # b sees a's record now
    b.clock.now += 14.9
    assert not await b.elector.try_acquire_or_renew(), "the lease is not over yet"
    b.clock.now += 0.2
    assert await b.elector.try_acquire_or_renew()
    spec = api.spec()
    assert spec["holderIdentity"] == "b"
    assert spec["leaseTransitions"] == 1
    assert spec["acquireTime"] != first_acquired


async def test_the_holders_timestamps_are_not_trusted_so_clock_skew_cannot_steal_the_lease() -> None:
    api = FakeLeases()
    # a's wall clock is an hour behind: its renewTime always looks stale to b.
    a = candidate(api, "a", Clock(skew=timedelta(hours=-1)))
    b = candidate(api, "b")
    await a.elector.acquire()
    for _ in range(10):
        a.clock.now += 2
        b.clock.now += 2
        assert await a.elector.try_acquire_or_renew()
        assert not await b.elector.try_acquire_or_renew()
    assert api.spec()["holderIdentity"] == "a"


async def test_two_candidates_racing_for_an_expired_lease_cannot_both_win() -> None:
    api = FakeLeases()
    old, b, c = candidate(api, "old"), candidate(api, "b"), candidate(api, "c")
    await old.elector.acquire()
    assert not await b.elector.try_acquire_or_renew()
    assert not await c.elector.try_acquire_or_renew()
    b.clock.now += 16
    c.clock.now += 16
    original_get = api.get_lease

    async def c_reads_then_b_wins(namespace: str, name: str) -> dict[str, Any] | None:
        seen = await original_get(namespace, name)  # c reads the expired record ...
        api.get_lease = original_get  # type: ignore[method-assign]
        assert await b.elector.try_acquire_or_renew()  # ... b takes it before c writes
        return seen

    api.get_lease = c_reads_then_b_wins  # type: ignore[method-assign]
    assert not await c.elector.try_acquire_or_renew(), "c's write carries a stale resourceVersion"
    assert api.spec()["holderIdentity"] == "b"
    assert api.spec()["leaseTransitions"] == 1


async def b_takes_over_from_a_silent_a(api: FakeLeases) -> tuple[Candidate, Candidate]:
    """a leads, then falls silent (a long GC, a frozen node) until b takes the Lease."""
    a, b = candidate(api, "a"), candidate(api, "b")
    await a.elector.acquire()
    assert not await b.elector.try_acquire_or_renew()
    b.clock.now += 16
    assert await b.elector.try_acquire_or_renew()
    return a, b


async def test_a_leader_that_sees_another_holder_stops_at_once() -> None:
    api = FakeLeases()
    a, _ = await b_takes_over_from_a_silent_a(api)
    with pytest.raises(LostLeadership, match="held by b"):
        await a.elector.hold()
    assert not a.elector.is_leader


async def test_a_leader_that_cannot_renew_for_the_renew_deadline_stops() -> None:
    api = FakeLeases()
    a = candidate(api, "a")
    await a.elector.acquire()
    started = a.clock.now
    api.failing = True
    with pytest.raises(LostLeadership, match="could not renew"):
        await a.elector.hold()
    assert 10 <= a.clock.now - started <= 12, "stops within one retry after the deadline"
    assert not a.elector.is_leader


async def test_a_clean_stop_releases_the_lease_and_a_standby_takes_over_at_once() -> None:
    api = FakeLeases()
    a, b = candidate(api, "a"), candidate(api, "b")
    await a.elector.acquire()
    assert not await b.elector.try_acquire_or_renew()
    await a.elector.release()
    assert api.spec()["holderIdentity"] is None
    b.clock.now += 2  # one retry later, not a lease duration later
    assert await b.elector.try_acquire_or_renew()
    assert api.spec()["holderIdentity"] == "b"
    assert api.spec()["leaseTransitions"] == 1


async def test_release_does_not_touch_a_lease_someone_else_holds() -> None:
    api = FakeLeases()
    a, _ = await b_takes_over_from_a_silent_a(api)
    await a.elector.release()
    assert api.spec()["holderIdentity"] == "b"


async def test_api_errors_while_standing_by_are_retried() -> None:
    api = FakeLeases(failing=True)
    a = candidate(api, "a")
    assert not await a.elector.try_acquire_or_renew()
    api.failing = False
    await a.elector.acquire()
    assert api.spec()["holderIdentity"] == "a"


def test_renewing_must_fit_inside_the_lease() -> None:
    with pytest.raises(ValueError, match="retry < renew deadline < lease duration"):
        Election(namespace=NAMESPACE, lease_seconds=10, renew_deadline_seconds=10, retry_seconds=2)
