"""Posting Kubernetes Events: values handed to an engine, posted best effort.

The pod intake and the writer must never wait for an Event: `post` queues the
body and returns. A few workers post them, retrying a throttled or failed
request (429, 5xx) a bounded number of times with back-off. The queue is bounded
too: when the API server cannot keep up, Events are dropped (and counted) rather
than memory growing. The finding is the record; an Event is a notification: while
findings wait to be written (`defer_while`), an Event waits too, up to DEFER_LIMIT,
so that the API server's write capacity goes to the record first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from hostns.backoff import Backoff
from hostns.kube import ApiError, Kube
from hostns.metrics import Metrics
from hostns.tasks import cancel_and_wait

logger = logging.getLogger("hostns")

WORKERS = 4
QUEUE_LIMIT = 10_000
ATTEMPTS = 4
DEFER_LIMIT = 5.0  # seconds an Event may wait for the findings' backlog


class EventPoster:
    def __init__(
        self,
        kube: Kube,
        metrics: Metrics,
        *,
        enabled: bool = True,
        defer_while: Callable[[], bool] | None = None,
    ) -> None:
        self._defer_while = defer_while
        self._kube = kube
        self._metrics = metrics
        self.enabled = enabled
        self._queue: asyncio.Queue[tuple[str, dict[str, Any], str]] = asyncio.Queue(QUEUE_LIMIT)
        self._workers: list[asyncio.Task[None]] = []

    def post(self, namespace: str, body: dict[str, Any], about: str) -> None:
        if not self.enabled:
            return
        try:
            self._queue.put_nowait((namespace, body, about))
        except asyncio.QueueFull:
            self._metrics.api_errors.labels("create_event").inc()
            logger.warning("dropped a %s event in %s: too many Events waiting", about, namespace)

    def start(self) -> None:
        self._workers = [
            asyncio.create_task(self._work(), name=f"hostns-events-{i}") for i in range(WORKERS)
        ]

    async def stop(self, timeout: float = 5.0) -> None:
        """Post what is queued (for at most `timeout`), then stop the workers."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)
        await cancel_and_wait(self._workers)
        self._workers = []

    async def _work(self) -> None:
        while True:
            namespace, body, about = await self._queue.get()
            if self._defer_while is not None:
                waited = 0.0
                while self._defer_while() and waited < DEFER_LIMIT:
                    await asyncio.sleep(0.1)
                    waited += 0.1
            try:
                await self._post(namespace, body, about)
            finally:
                self._queue.task_done()

    async def _post(self, namespace: str, body: dict[str, Any], about: str) -> None:
        backoff = Backoff(first=0.5, limit=8.0)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                await self._kube.create_event(namespace, body)
                self._metrics.api_writes.labels("Event", "create").inc()
                return
            except Exception as exc:
                transient = not isinstance(exc, ApiError) or exc.transient
                if transient and attempt < ATTEMPTS:
                    await asyncio.sleep(backoff.next_delay())
                    continue
                self._metrics.api_errors.labels("create_event").inc()
                logger.warning("could not post %s event in %s: %s", about, namespace, exc)
                return
