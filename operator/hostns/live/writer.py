"""The finding writer: dirty workloads in arrival order, written by several workers.

A workload marked dirty waits `coalesce` seconds from its first mark, so that a
burst (a DaemonSet rolling out) becomes one write per finding; marks that arrive
meanwhile join it. A mark can be urgent — a new detection: a pod just turned
into a Violation and the finding does not say so yet — and is then written at
once, ahead of the coalescing queue; the rest of its burst coalesces behind it.
A finding that keeps changing is throttled: one marked again less than `hot`
(HOT_FACTOR x `coalesce`) after its last coalesced write waits `hot` instead — a
roll-out or a mass deletion costs one write per finding every few seconds, not
every half second, and leaves the API server to the events (urgent marks are
never held back).
Workloads are then taken first in, first out — the oldest change is written
first, whatever its name — by `concurrency` workers, and a workload is never
written by two workers at once (a mark during its write queues it again behind
the others). A failed write is retried after a bounded exponential back-off per
workload. The writer can be held (during the start-up listing, when the picture
is still partial) and released; a hold may let through the workloads an `allow`
predicate accepts when their turn comes (the start-up lets new Violations
through: one uncovered pod makes a Violation whatever the pods not listed yet).
A workload it refuses waits, in arrival order, for the release or for its next
mark.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from hostns.core.workloads import Workload
from hostns.live.backoff import Backoff
from hostns.live.tasks import cancel_and_wait

logger = logging.getLogger("hostns")

CONCURRENCY = 32
HOT_FACTOR = 8  # a finding rewritten within HOT_FACTOR x coalesce waits that long

# A hold's predicate: True for a workload that may be written while held.
Allow = Callable[[Workload], bool]


class FindingWriter:
    def __init__(
        self,
        flush: Callable[[Workload], Awaitable[None]],
        *,
        coalesce: float,
        concurrency: int = CONCURRENCY,
        on_error: Callable[[Workload, Exception], None] | None = None,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        self._flush = flush
        self._coalesce = coalesce
        self._concurrency = concurrency
        self._on_error = on_error
        self._on_idle = on_idle
        self._hot_seconds = coalesce * HOT_FACTOR
        # Insertion order = arrival order; value: due. Each queue has one window, so its
        # dues only grow along it.
        self._queue: dict[Workload, float] = {}
        self._hot: dict[Workload, float] = {}  # rewritten moments ago: the longer window
        self._urgent: dict[Workload, None] = {}  # due now, before the queues
        self._written: dict[Workload, float] = {}  # last write's start, oldest first
        self._in_flight: set[Workload] = set()
        self._again: dict[Workload, bool] = {}  # marked during its write; value: urgent
        self._backoffs: dict[Workload, Backoff] = {}
        self._wake = asyncio.Event()
        self._held = False
        self._allow: Allow | None = None
        self._deferred: dict[Workload, None] = {}  # refused while held, in arrival order
        self._workers: list[asyncio.Task[None]] = []
        self.last_beat = time.monotonic()

    @property
    def backlog(self) -> int:
        return (len(self._urgent) + len(self._queue) + len(self._hot) + len(self._deferred)
                + len(self._in_flight))

    @property
    def due(self) -> int:
        """Findings that could be written now (past their coalescing window, or in flight)."""
        if self._held:
            return len(self._in_flight)
        now = time.monotonic()
        waiting = len(self._urgent)
        for queue in (self._queue, self._hot):
            for due in queue.values():  # in arrival order, so dues only grow
                if due > now:
                    break
                waiting += 1
        return waiting + len(self._in_flight)

    def mark(self, workloads: Iterable[Workload], *, urgent: bool = False) -> None:
        """Write these findings after the coalescing window (`urgent`: at once)."""
        now = time.monotonic()
        for workload in workloads:
            if workload in self._in_flight:
                self._again[workload] = urgent or self._again.get(workload, False)
                continue
            if workload in self._urgent:
                continue
            self._deferred.pop(workload, None)  # looked at again when its turn comes
            if urgent:
                self._queue.pop(workload, None)
                self._hot.pop(workload, None)
                self._urgent[workload] = None
                self._wake.set()
            elif workload not in self._queue and workload not in self._hot:
                written = self._written.get(workload)
                hot = written is not None and now - written < self._hot_seconds
                queue = self._hot if hot else self._queue
                if not queue:
                    self._wake.set()
                queue[workload] = now + (self._hot_seconds if hot else self._coalesce)

    def hold(self, allow: Allow | None = None) -> None:
        """Write nothing (or, with `allow`, only what it accepts) until `release`."""
        self._held = True
        self._allow = allow

    def release(self) -> None:
        """Write everything: what the hold refused first (it arrived first), then the rest."""
        self._held = False
        self._allow = None
        if self._deferred:
            self._urgent = {**self._deferred, **self._urgent}
            self._deferred = {}
        # The end of the start-up listing is a fresh start: what was written during it
        # (with partial pod counts) is corrected now, not a hot window later.
        if self._hot:
            now = time.monotonic()
            self._queue = {**dict.fromkeys(self._hot, now), **self._queue}
            self._hot = {}
        self._written.clear()
        self._wake.set()

    def start(self) -> None:
        self._workers = [
            asyncio.create_task(self._work(), name=f"hostns-writer-{i}")
            for i in range(self._concurrency)
        ]

    def healthy(self) -> bool:
        return bool(self._workers) and all(not w.done() for w in self._workers)

    async def stop(self) -> None:
        await cancel_and_wait(self._workers)
        self._workers = []

    async def drain(self) -> None:
        """Write everything queued now, one after the other (at shutdown)."""
        while not self._held and (self._urgent or self._queue or self._hot):
            queue: dict[Workload, Any] = self._urgent or self._queue or self._hot
            workload = next(iter(queue))
            del queue[workload]
            with contextlib.suppress(Exception):
                await self._flush(workload)

    def _take(self, workload: Workload, *, coalesced: bool) -> bool:
        """Whether a workload whose turn came may be written now (else it is deferred).
        Only a coalesced write heats a finding: the write right after a new detection
        (the rest of its burst) still comes after the normal window."""
        if self._held and self._allow is not None and not self._allow(workload):
            self._deferred[workload] = None
            return False
        self._in_flight.add(workload)
        if not coalesced:
            return True
        now = time.monotonic()
        self._written.pop(workload, None)
        self._written[workload] = now
        cutoff = now - self._hot_seconds
        while self._written:  # oldest first: forget the cold ones from the front
            oldest, at = next(iter(self._written.items()))
            if at > cutoff:
                break
            del self._written[oldest]
        return True

    def _due_queue(self) -> tuple[dict[Workload, float] | None, float | None]:
        """The coalescing queue whose head is due first, and in how long (<= 0: now)."""
        best: dict[Workload, float] | None = None
        first: float | None = None
        for queue in (self._queue, self._hot):
            if queue:
                due = next(iter(queue.values()))
                if first is None or due < first:
                    best, first = queue, due
        return best, None if first is None else first - time.monotonic()

    async def _next(self) -> Workload:
        while True:
            timeout: float | None = None
            writing = not self._held or self._allow is not None
            while writing and self._urgent:
                workload = next(iter(self._urgent))
                del self._urgent[workload]
                if self._take(workload, coalesced=False):
                    return workload
            while writing:
                queue, timeout = self._due_queue()
                if queue is None or (timeout is not None and timeout > 0):
                    break
                timeout = None
                workload = next(iter(queue))
                del queue[workload]
                if self._take(workload, coalesced=True):
                    return workload
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _work(self) -> None:
        while True:
            workload = await self._next()
            self.last_beat = time.monotonic()
            try:
                await self._flush(workload)
                self._backoffs.pop(workload, None)
            except Exception as exc:
                if self._on_error is not None:
                    self._on_error(workload, exc)
                delay = self._backoffs.setdefault(workload, Backoff()).next_delay()
                asyncio.get_running_loop().call_later(delay, self.mark, (workload,))
            finally:
                self._in_flight.discard(workload)
                if workload in self._again:
                    self.mark((workload,), urgent=self._again.pop(workload))
            idle = not (self._urgent or self._queue or self._hot or self._in_flight)
            if idle and self._on_idle is not None:
                self._on_idle()
