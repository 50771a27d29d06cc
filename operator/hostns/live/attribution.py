"""The attribution room: who wrote each workload's pods or pod template, from audit batches.

The audit webhook (auditwebhook.py) hands it the bodies that hold pod or workload
writes; it alone decodes them, keeps the recent actors per workload (`ActorBook`)
and tells the controller which workloads' findings should now name someone. The
finding store writes them (`status.actors`), merged with what is stored.

Between the HTTP handler and this room is a bounded queue (by bytes): a flood of
batches is refused at the door (the handler answers 429 and the API server's
batch backend retries) and never reaches pod evaluation. A body is decoded in a
worker thread, so even the largest one does not hold the event loop for long.

Actors for a workload with no finding yet are kept too — the webhook often reports
a pod's creation before the pod watch has turned it into a finding — bounded by
an LRU over workloads and a time to live.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from hostns.core.actors import ACTOR_LIMIT, Actor, actor_of, merge_actors
from hostns.core.workloads import Workload
from hostns.live.metrics import Metrics
from hostns.offline.audit import Written, written
from hostns.offline.auditlog import batch_events

logger = logging.getLogger("hostns")

QUEUE_BYTES: Final = 64 << 20  # bodies waiting to be decoded, at most
BOOK_WORKLOADS: Final = 10_000  # workloads whose recent actors are remembered
BOOK_TTL_SECONDS: Final = 3600.0  # by then the finding holds them, or there is none


@dataclass(frozen=True, slots=True)
class Attributed:
    """One write, read from an audit event: the workload it changed and who did it."""

    workload: Workload
    actor: Actor
    host_namespaces: bool | None  # None: the object was not recorded


def attributed(events: list[Mapping[str, Any]]) -> list[Attributed]:
    """The attributable writes among `events` (pure; runs in a worker thread)."""
    found = []
    for event in events:
        write: Written | None = written(event)
        if write is None:
            continue
        workload = write.workload
        if workload is None:
            if not write.name:
                continue
            # A pod write logged without its object: its owner is unknown, so it is
            # recorded for the pod itself (the shipped audit policy records pods whole).
            workload = Workload(write.namespace, "v1", "Pod", write.name)
        found.append(Attributed(
            workload, actor_of(event, write.name),
            None if write.flags is None else bool(write.flags),
        ))
    return found


class ActorBook:
    """Recent actors per workload: at most ACTOR_LIMIT each, LRU over workloads, with a TTL."""

    def __init__(
        self, workloads: int = BOOK_WORKLOADS, ttl: float = BOOK_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit, self._ttl, self._clock = workloads, ttl, clock
        self._entries: OrderedDict[Workload, tuple[float, list[Actor]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, workload: Workload, actor: Actor) -> bool:
        """Record one actor; False when its auditID is already known for the workload."""
        now = self._clock()
        _, actors = self._entries.pop(workload, (now, []))
        merged = merge_actors([actor], actors)
        changed = merged != actors
        self._entries[workload] = (now, merged)
        while len(self._entries) > self._limit:
            self._entries.popitem(last=False)
        return changed

    def recent(self, workload: Workload) -> list[Actor]:
        entry = self._entries.get(workload)
        if entry is None:
            return []
        if self._clock() - entry[0] > self._ttl:
            del self._entries[workload]
            return []
        return list(entry[1])

    def expire(self) -> None:
        cutoff = self._clock() - self._ttl
        while self._entries:
            workload, (at, _) = next(iter(self._entries.items()))
            if at >= cutoff:
                return
            del self._entries[workload]


class Attribution:
    """The room: a bounded queue of audit bodies in, actors per workload out."""

    def __init__(
        self,
        metrics: Metrics,
        on_actor: Callable[[Workload], None],
        tracked: Callable[[Workload], bool],
        *,
        queue_bytes: int = QUEUE_BYTES,
        book: ActorBook | None = None,
        namespaces: frozenset[str] = frozenset(),
    ) -> None:
        self._metrics = metrics
        self._on_actor = on_actor
        self._tracked = tracked
        self._queue_bytes = queue_bytes
        self._namespaces = namespaces  # empty: all (the operator's --namespace)
        self._queued: deque[bytes] = deque()
        self._size = 0
        self._ready = asyncio.Event()
        self.book = book or ActorBook()

    @property
    def queued_bytes(self) -> int:
        return self._size

    def has_room(self, size: int) -> bool:
        """Would a body of `size` bytes fit now? (The handler asks before reading it.)"""
        return self._size + size <= self._queue_bytes

    def offer(self, body: bytes) -> bool:
        """Queue one body for decoding; False (nothing queued) when the queue is full."""
        if not self.has_room(len(body)):
            return False
        self._queued.append(body)
        self._size += len(body)
        self._ready.set()
        return True

    def actors(self, workload: Workload) -> list[Actor]:
        return self.book.recent(workload)

    async def run(self) -> None:
        while True:
            await self._ready.wait()
            while self._queued:
                body = self._queued.popleft()
                self._size -= len(body)
                await self._take(body)
            self._ready.clear()
            self.book.expire()

    async def _take(self, body: bytes) -> None:
        try:
            found = await asyncio.to_thread(_decode, body)
        except Exception:
            logger.exception("could not read an audit batch")
            found = "unexpected error"
        if isinstance(found, str):
            self._metrics.audit_bad_events.inc()
            logger.warning("ignoring an audit batch: %s", found)
            return
        self.record(found)

    def record(self, found: list[Attributed]) -> None:
        """Apply decoded writes: remember each actor, and say which workloads changed."""
        changed: set[Workload] = set()
        for item in found:
            if self._namespaces and item.workload.namespace not in self._namespaces:
                continue  # not watched here: no finding will ever want it
            # A write that sets no host namespace matters only to a workload that
            # already has (or is about to have) a finding: one that stopped using them.
            if item.host_namespaces is False and not self._tracked(item.workload):
                continue
            if self.book.add(item.workload, item.actor):
                self._metrics.audit_actors.inc()
                changed.add(item.workload)
        for workload in changed:
            self._on_actor(workload)


def _decode(body: bytes) -> list[Attributed] | str:
    events = batch_events(body)
    return events if isinstance(events, str) else attributed(events)


__all__ = ["ACTOR_LIMIT", "ActorBook", "Attributed", "Attribution", "attributed"]
