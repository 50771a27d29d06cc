"""The pod intake: every listed or watched pod, applied to the picture.

The cheap path is the common one: a pod that uses no host namespace and is not
tracked costs a head decode (hostns.live.wire) and two dictionary look-ups, then is
dropped — its flags cannot change, so it can never matter. Anything else (a flag
set, a tracked uid, a head that did not decode) is decoded in full and applied
to the `ClusterState`; the workloads it changes go to the writer, and a pod that
turns into a Violation gets its Event through the poster. Nothing here awaits:
the stream is never held up by the API's writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

import msgspec

from hostns.core.bodies import field
from hostns.core.evaluation import Verdict
from hostns.core.exceptions import format_time
from hostns.core.findings import violation_message
from hostns.core.pods import PodFacts, flags_of, pod_facts
from hostns.core.workloads import Workload
from hostns.live.events import pod_violation_event
from hostns.live.finding_store import FindingStore
from hostns.live.metrics import Metrics
from hostns.live.posting import EventPoster
from hostns.live.state import ClusterState
from hostns.live.wire import PodHead, full

logger = logging.getLogger("hostns")

PENDING_LIMIT = 10_000  # Violations a standby remembers for its take-over


class MarkDirty(Protocol):
    """The writer's `mark`: these findings need a write (`urgent`: at once)."""

    def __call__(self, workloads: Iterable[Workload], *, urgent: bool = False) -> None: ...



class PodIntake:
    def __init__(
        self,
        state: ClusterState,
        findings: FindingStore,
        poster: EventPoster,
        mark_dirty: MarkDirty,
        metrics: Metrics,
        clock: Callable[[], datetime],
        settle_seconds: float = 0.5,
    ) -> None:
        # A pod's Violation Event waits `settle_seconds` (the writer's coalescing
        # window) and is posted only if the pod is still a Violation then, or gone:
        # exceptions and pods come through separate watches with no order between
        # them, so an exception created just before its pod may arrive just after it.
        self._settle_seconds = settle_seconds
        self._state = state
        self._findings = findings
        self._poster = poster
        self._mark_dirty = mark_dirty
        self._metrics = metrics
        self._clock = clock
        # True until the start-up listing is complete: see `_already_reported`.
        self.starting = True
        # A standby posts nothing: Violations it sees wait here for a take-over.
        self.standby = False
        self._pending: dict[str, tuple[PodFacts, str, float]] = {}

    # --- from the pod stream ------------------------------------------------------

    def on_pod(self, event_type: str | None, head: PodHead | None, raw: msgspec.Raw) -> bool:
        """One pod as served; True when it is tracked afterwards. Never raises."""
        started = time.perf_counter()
        try:
            if not self.wants(head):
                return False  # the cheap path: nothing to track, ever
            try:
                body = full(raw)
            except msgspec.DecodeError as exc:
                logger.warning("ignoring an unreadable pod: %s", exc)
                return False
            return self._apply(event_type, body)
        finally:
            self._metrics.pods_evaluated.inc()
            self._metrics.evaluation_seconds.observe(time.perf_counter() - started)

    def wants(self, head: PodHead | None) -> bool:
        """Whether a pod needs a full look: it uses a host namespace, is tracked, or
        its head did not decode. Only reads state: the watch's reader thread calls it."""
        if head is None:
            return True
        uid = head.uid
        return uid is None or head.uses_host_namespace or uid in self._state.pods

    def on_skipped(self, count: int) -> None:
        """Watched pods the reader thread dropped (`wants` was False): counted as handled."""
        self._metrics.pods_evaluated.inc(count)

    def on_listed(self, namespace: str | None, tracked: set[str], since: float) -> None:
        """A complete listing: pods it no longer has were deleted while unseen."""
        touched = self._state.forget_unlisted(tracked, since, self._clock(), namespace)
        self._state.expire_tombstones(time.monotonic())
        self._mark_dirty(touched)

    # --- a decoded pod --------------------------------------------------------------

    def on_body(self, event_type: str | None, body: Mapping[str, Any]) -> bool:
        """One pod body (already decoded); True when it is tracked afterwards."""
        started = time.perf_counter()
        try:
            uid = field(body, "metadata").get("uid")
            if not flags_of(field(body, "spec")) and uid not in self._state.pods:
                return False
            return self._apply(event_type, body)
        finally:
            self._metrics.pods_evaluated.inc()
            self._metrics.evaluation_seconds.observe(time.perf_counter() - started)

    def _apply(self, event_type: str | None, body: Any) -> bool:
        try:
            facts = pod_facts(body)
            if not facts.uid:
                logger.warning(
                    "ignoring a pod event without a uid: %s/%s", facts.namespace, facts.name
                )
                return False
            deleted = event_type == "DELETED"
            if not deleted and self._state.is_tombstoned(facts.uid):
                return False  # a stale listing of a pod already deleted
            observation = self._state.observe_pod(
                facts, self._clock(), time.monotonic(), deleted=deleted
            )
        except Exception:
            logger.exception("failed to evaluate pod event %s", field(body, "metadata").get("name"))
            return False
        if observation.new_violation is not None:
            self._report_violation(facts, violation_message(observation.new_violation))
        if observation.workload is not None:
            self.mark(observation.workload, new_violation=observation.new_violation is not None)
        return facts.uid in self._state.pods

    def mark(self, workload: Workload, *, new_violation: bool) -> None:
        """Hand a changed workload to the writer. A new detection — a pod just turned
        into a Violation, and the finding does not say Violation yet — is written at
        once; every other change waits out the coalescing window."""
        urgent = new_violation and self._findings.verdict(workload) != Verdict.VIOLATION
        self._mark_dirty((workload,), urgent=urgent)

    # --- pod Events -------------------------------------------------------------------

    def _already_reported(self, facts: PodFacts) -> bool:
        """During start-up, a pod of a workload whose finding already says Violation
        was reported by the previous run (at its own transition, or when the finding
        turned). A pod created while no operator ran is in the finding, but gets no
        Event of its own: one Event too few is better than a storm on every restart."""
        return self.starting and self._findings.verdict(facts.workload) == Verdict.VIOLATION

    def report_violation(self, facts: PodFacts, message: str) -> None:
        """A pod turned into a Violation (on a pod event, or after a policy change)."""
        self._report_violation(facts, message)

    def take_over(self, window: float) -> None:
        """This replica leads now: report the Violations it saw in the last `window`
        seconds while standing by (the old leader may have died without reporting
        them; at worst one is reported twice, none is missed)."""
        self.standby = False
        since = time.monotonic() - window
        pending, self._pending = self._pending, {}
        for facts, message, seen_at in pending.values():
            if seen_at >= since:
                self._report_violation(facts, message)

    def _report_violation(self, facts: PodFacts, message: str) -> None:
        if self.standby:
            if len(self._pending) >= PENDING_LIMIT:
                del self._pending[next(iter(self._pending))]  # the oldest
            self._pending[facts.uid] = (facts, message, time.monotonic())
            return
        if self._already_reported(facts) or not self._poster.enabled:
            return
        with contextlib.suppress(RuntimeError):  # no running loop: a synchronous test
            asyncio.get_running_loop().call_later(
                self._settle_seconds, self._post_if_still_violating, facts, message
            )

    def _post_if_still_violating(self, facts: PodFacts, message: str) -> None:
        record = self._state.pods.get(facts.uid)
        if record is not None:
            if record.verdict.verdict != Verdict.VIOLATION:
                return  # an exception arrived meanwhile
            message = violation_message(record.verdict)
        event = pod_violation_event(
            facts.namespace, facts.name, facts.uid, f"Pod {message}", format_time(self._clock())
        )
        self._poster.post(facts.namespace, event, "pod")
