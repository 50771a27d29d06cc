"""Leader election on a coordination.k8s.io/v1 Lease, for two or more replicas.

One replica holds the Lease and runs the whole operator (kopf watches and our
own loops); the others wait, watching nothing and writing nothing, until the
Lease is released or expires. This is the scheme client-go and
controller-runtime use:

- a candidate takes the Lease when it has no holder, or when its record has not
  changed for `lease_seconds` as seen on the candidate's own monotonic clock
  (never by comparing the holder's timestamps with ours: clocks may disagree);
- the leader renews every `retry_seconds`; every write carries the
  resourceVersion it read, so two candidates can never both win (409);
- a leader that cannot renew for `renew_deadline_seconds`, or that sees another
  holder in the Lease, stops at once: it must not keep writing findings beside
  a new leader. The process then exits non-zero and the kubelet restarts it as
  a candidate;
- a leader that stops cleanly releases the Lease, so a standby takes over in
  one retry period instead of a full lease duration.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from hostns.live.kube import ApiError

logger = logging.getLogger("hostns.live.leader")

class LostLeadership(Exception):
    """The Lease was lost or could not be renewed in time: the operator must stop."""


class LeaseApi(Protocol):
    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]: ...

    async def replace_lease(
        self, namespace: str, name: str, body: dict[str, Any]
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Election:
    namespace: str
    name: str = "hostns-operator"
    identity: str = ""
    lease_seconds: float = 15.0
    renew_deadline_seconds: float = 10.0
    retry_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not self.retry_seconds < self.renew_deadline_seconds < self.lease_seconds:
            raise ValueError("leader election needs retry < renew deadline < lease duration")


def default_identity() -> str:
    """The pod name (the hostname in a pod) and a random suffix: unique per process."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def micro_time(moment: datetime) -> str:
    """Kubernetes MicroTime: RFC 3339 with microseconds, in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LeaseRecord:
    holder: str | None
    lease_seconds: int
    acquire_time: str | None
    renew_time: str | None
    transitions: int
    resource_version: str | None

    @classmethod
    def of(cls, body: dict[str, Any]) -> LeaseRecord:
        spec = body.get("spec") or {}
        metadata = body.get("metadata") or {}
        return cls(
            holder=spec.get("holderIdentity") or None,
            lease_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=spec.get("acquireTime"),
            renew_time=spec.get("renewTime"),
            transitions=int(spec.get("leaseTransitions") or 0),
            resource_version=metadata.get("resourceVersion"),
        )


class LeaderElector:
    def __init__(
        self,
        api: LeaseApi,
        election: Election,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.api = api
        self.election = election
        self.identity = election.identity or default_identity()
        self._monotonic = monotonic
        self._wall = wall
        self._sleep = sleep
        self._observed: LeaseRecord | None = None
        self._observed_at = 0.0
        self.is_leader = False

    # --- one attempt --------------------------------------------------------------

    def _spec(self, previous: LeaseRecord | None, *, release: bool = False) -> dict[str, Any]:
        now = micro_time(self._wall())
        ours = previous is not None and previous.holder == self.identity
        transitions = previous.transitions if previous is not None else 0
        if release:
            return {
                "holderIdentity": None,
                "leaseDurationSeconds": 1,
                "acquireTime": previous.acquire_time if previous else now,
                "renewTime": now,
                "leaseTransitions": transitions,
            }
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self.election.lease_seconds)),
            "acquireTime": previous.acquire_time if ours and previous else now,
            "renewTime": now,
            "leaseTransitions": transitions if ours or previous is None else transitions + 1,
        }

    def _body(self, spec: dict[str, Any], resource_version: str | None) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "name": self.election.name,
            "namespace": self.election.namespace,
            "labels": {"app.kubernetes.io/managed-by": "hostns-operator"},
        }
        if resource_version is not None:
            metadata["resourceVersion"] = resource_version
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": spec,
        }

    def held_by_another(self) -> bool:
        """True when the last record seen names another, still-valid holder."""
        record = self._observed
        if record is None or record.holder is None or record.holder == self.identity:
            return False
        return self._monotonic() < self._observed_at + record.lease_seconds

    async def try_acquire_or_renew(self) -> bool:
        """One attempt to become (or stay) the leader. API errors count as failure."""
        namespace, name = self.election.namespace, self.election.name
        try:
            current = await self.api.get_lease(namespace, name)
            if current is None:
                created = await self.api.create_lease(namespace, self._body(self._spec(None), None))
                self._observe(LeaseRecord.of(created))
                return True
            record = LeaseRecord.of(current)
            self._observe(record)
            if self.held_by_another():
                return False
            updated = await self.api.replace_lease(
                namespace, name, self._body(self._spec(record), record.resource_version)
            )
            self._observe(LeaseRecord.of(updated))
            return True
        except ApiError as exc:
            if exc.status != 409:  # 409: another candidate wrote first; not worth a log line
                logger.warning("lease %s/%s: %s", namespace, name, exc)
            return False
        except (TimeoutError, OSError) as exc:
            logger.warning("lease %s/%s: %s", namespace, name, exc)
            return False

    def _observe(self, record: LeaseRecord) -> None:
        # Any write by the holder (a renewal) changes the record: the holder
        # proved alive now, by our own clock.
        if self._observed is None or record != self._observed:
            self._observed = record
            self._observed_at = self._monotonic()

    # --- the loops ----------------------------------------------------------------

    async def acquire(self) -> None:
        """Wait until this process holds the Lease."""
        waiting_logged = False
        while not await self.try_acquire_or_renew():
            if not waiting_logged and self._observed is not None:
                logger.info(
                    "standing by: lease %s/%s is held by %s",
                    self.election.namespace, self.election.name, self._observed.holder,
                )
                waiting_logged = True
            await self._sleep(self.election.retry_seconds * (1 + random.random() * 0.2))
        self.is_leader = True
        logger.info(
            "became the leader: lease %s/%s, identity %s",
            self.election.namespace, self.election.name, self.identity,
        )

    async def hold(self) -> None:
        """Renew until leadership is lost; then raise LostLeadership. Runs forever otherwise."""
        last_renewed = self._monotonic()
        while True:
            await self._sleep(self.election.retry_seconds)
            timeout = max(0.1, self.election.renew_deadline_seconds
                          - (self._monotonic() - last_renewed))
            try:
                renewed = await asyncio.wait_for(self.try_acquire_or_renew(), timeout)
            except TimeoutError:
                renewed = False
            if renewed:
                last_renewed = self._monotonic()
                continue
            if self.held_by_another():
                self.is_leader = False
                raise LostLeadership(
                    f"lease {self.election.namespace}/{self.election.name} "
                    f"is now held by {self._observed.holder if self._observed else '?'}"
                )
            if self._monotonic() - last_renewed >= self.election.renew_deadline_seconds:
                self.is_leader = False
                raise LostLeadership(
                    f"could not renew lease {self.election.namespace}/{self.election.name} "
                    f"for {self.election.renew_deadline_seconds:g}s"
                )

    async def release(self) -> None:
        """Give the Lease up (on a clean stop) so that a standby takes over at once."""
        if not self.is_leader:
            return
        self.is_leader = False
        namespace, name = self.election.namespace, self.election.name
        try:
            current = await self.api.get_lease(namespace, name)
            if current is None:
                return
            record = LeaseRecord.of(current)
            if record.holder != self.identity:
                return
            await self.api.replace_lease(
                namespace, name, self._body(self._spec(record, release=True),
                                            record.resource_version)
            )
            logger.info("released lease %s/%s", namespace, name)
        except (ApiError, TimeoutError, OSError) as exc:
            logger.warning("could not release lease %s/%s: %s", namespace, name, exc)
