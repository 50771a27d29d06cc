"""Exception statuses: the one room that writes HostNamespaceException `status`.

It remembers the status last seen on each exception (from its watch events, or
its own writes) and writes only when the desired status differs. The status
itself is built by the pure `exception_status`; `spec` is never written (GitOps
tools own it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from hostns.core.exceptions import (
    CompiledException,
    ExceptionState,
    exception_status,
    same_exception_status,
)
from hostns.live.kube import Kube
from hostns.live.metrics import Metrics

logger = logging.getLogger("hostns")


class ExceptionStatuses:
    def __init__(self, kube: Kube, metrics: Metrics, clock: Callable[[], datetime]) -> None:
        self._kube = kube
        self._metrics = metrics
        self._clock = clock
        self._seen: dict[str, dict[str, Any]] = {}

    def seen(self, name: str, status: Mapping[str, Any]) -> None:
        """The status an exception's watch event carried."""
        self._seen[name] = dict(status)

    def forget(self, name: str) -> None:
        self._seen.pop(name, None)

    async def update(
        self, exceptions: Mapping[str, CompiledException], covered: Mapping[str, int]
    ) -> int:
        """Write every status that differs from the desired one; returns the writes made."""
        now = self._clock()
        states = dict.fromkeys(ExceptionState, 0)
        writes = 0
        for name, exception in list(exceptions.items()):
            states[exception.state(now)] += 1
            seen = self._seen.get(name, {})
            desired = exception_status(exception, covered.get(name, 0), now, seen)
            if same_exception_status(desired, seen):
                continue
            try:
                await self._kube.patch_exception_status(name, desired)
                self._metrics.api_writes.labels("HostNamespaceException", "patch-status").inc()
                self._seen[name] = desired
                writes += 1
            except Exception as exc:
                self._metrics.api_errors.labels("write_exception_status").inc()
                logger.warning("could not update the status of exception %s: %s", name, exc)
        for state, count in states.items():
            self._metrics.exceptions.labels(str(state)).set(count)
        self._metrics.per_exception.set(exceptions, covered, self._clock)
        return writes
