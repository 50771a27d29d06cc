"""The live operator's wiring: the rooms, and the loops that connect them.

- `PodWatch` (one per watched namespace) streams pods: LIST, and WATCH from the
  first page's version beside the remaining pages.
- `PodIntake` applies them to the `ClusterState` (the picture: compiled
  exceptions, host-namespace pods) and marks workloads dirty.
- `FindingWriter` writes dirty workloads' findings in arrival order, through the
  `FindingStore` (the mirror of stored findings).
- `ExceptionStatuses` keeps exceptions' `status`; `EventPoster` posts Events.
- With `--prevention`, `PreventionWriter` keeps the admission parameter object; with
  `--reports openreports`, `ReportWriter` keeps one OpenReports Report per namespace
  in step with the `FindingStore` (told of each change, after the first listing).
- `Attribution` reads the audit webhook's batches: who wrote each workload's pods
  or template; `flush` writes them into the finding (`status.actors`).

kopf hands exception events to `on_exception_event`. The loops here re-evaluate
on a policy change or an exception's expiry, refresh exception statuses,
re-list pods periodically and delete Resolved findings after the retention.

Nothing here writes to a pod: the only pod calls are LIST and WATCH (kube.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from hostns.core.actors import actor_phrase, is_controller, latest_person, with_actors
from hostns.core.bodies import field
from hostns.core.evaluation import Verdict
from hostns.core.exceptions import format_time
from hostns.core.findings import violation_message
from hostns.core.workloads import Workload
from hostns.live.attribution import Attribution
from hostns.live.backoff import Backoff
from hostns.live.config import Config
from hostns.live.events import actor_event, finding_event
from hostns.live.exception_statuses import ExceptionStatuses
from hostns.live.finding_store import FindingStore, Transition
from hostns.live.intake import PodIntake
from hostns.live.kube import ApiError, Kube
from hostns.live.metrics import Metrics
from hostns.live.podwatch import PodWatch
from hostns.live.posting import EventPoster
from hostns.live.prevention_writer import KubeParamsClient, PreventionWriter
from hostns.live.report_writer import ReportWriter
from hostns.live.state import ClusterState
from hostns.live.tasks import cancel_and_wait
from hostns.live.writer import FindingWriter

logger = logging.getLogger("hostns")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Controller:
    def __init__(
        self,
        kube: Kube,
        config: Config,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.kube = kube
        self.config = config
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.state = ClusterState()
        self.findings = FindingStore(kube, self.metrics, clock)
        self.statuses = ExceptionStatuses(kube, self.metrics, clock)
        self.writer = FindingWriter(
            self.flush, coalesce=config.coalesce_seconds, on_error=self._write_failed
        )
        self.poster = EventPoster(
            kube, self.metrics, enabled=config.events,
            defer_while=lambda: self.writer.due > 0,
        )
        self.intake = PodIntake(
            self.state, self.findings, self.poster, self.writer.mark, self.metrics, clock,
            settle_seconds=config.coalesce_seconds,
        )
        self.attribution = Attribution(
            self.metrics, on_actor=self._on_actor,
            tracked=lambda w: w in self.findings or w in self.state.workloads,
            namespaces=frozenset(config.namespaces),
        )
        self.watches = [
            PodWatch(kube, namespace, self.intake, self.metrics) for namespace in self.namespaces
        ]
        # --prevention: the admission policy's parameter object follows the exceptions.
        self.prevention = (
            PreventionWriter(KubeParamsClient(kube), clock=clock) if config.prevention else None
        )
        # --reports openreports: one Report per namespace follows the finding store.
        self.reports = ReportWriter(
            kube, self.metrics, self.findings.by_namespace, namespaces=self.namespaces,
            coalesce_seconds=config.coalesce_seconds, defer_while=lambda: self.writer.due > 0,
            resync_seconds=config.resync_seconds,
        ) if config.reports == "openreports" else None
        if self.reports is not None:
            self.findings.on_change = self.reports.mark
        self._policy_changed = asyncio.Event()
        self._statuses_due = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._watch_tasks: list[asyncio.Task[None]] = []
        self._startup: asyncio.Task[None] | None = None
        self._ready = False

    @property
    def namespaces(self) -> list[str | None]:
        return list(self.config.namespaces) or [None]

    # --- lifecycle --------------------------------------------------------------

    async def start(self) -> None:
        """Load exceptions and findings, then start the pod watches and the loops.

        Exceptions come first: evaluating pods before they are known would report
        every trusted pod as a Violation for a moment. Until every watch has
        completed its first listing the picture is partial: a finding of a
        workload not listed yet would look Resolved, one whose uncovered pod is
        not listed yet would look Excepted. So the writer is held until then, but
        for new detections: a workload with one uncovered pod is a Violation
        whatever its other pods, so a finding that does not say Violation yet is
        written at once (its pod count is corrected after the listing, when every
        stored finding is looked at); one that already says so waits, so that a
        restart does not rewrite findings page by page with partial pod counts.
        A standby that kept its watches warm (`watch_standby`) lists nothing again:
        its picture is re-evaluated with the exceptions as they are now, and the
        writer starts on what it holds.
        """
        await self._retrying("start-up reconciliation", self._load)
        self.writer.hold(allow=self._new_detection)
        self.writer.start()
        self.poster.start()
        if not self._watch_tasks:
            self._start_watches()
        else:
            self.intake.take_over(self.config.leader_elect_seconds * 2)
            self.reevaluate()
        # One-shot, so not among the loops that liveness watches.
        self._startup = asyncio.create_task(self._when_listed(), name="hostns-startup")
        self._tasks = [
            *self._watch_tasks,
            asyncio.create_task(self._policy_loop(), name="hostns-policy"),
            asyncio.create_task(self._status_loop(), name="hostns-statuses"),
            asyncio.create_task(self._gc_loop(), name="hostns-retention"),
            asyncio.create_task(self.attribution.run(), name="hostns-attribution"),
        ]
        if self.prevention is not None:
            self._tasks.append(asyncio.create_task(self.prevention.run(), name="hostns-prevention"))
        if self.reports is not None:
            self._tasks.append(asyncio.create_task(self.reports.run(), name="hostns-reports"))
        if self.config.resync_seconds > 0:
            self._tasks.append(asyncio.create_task(self._resync_loop(), name="hostns-resync"))

    async def watch_standby(self) -> None:
        """Stand by warm: watch pods and keep the picture, write nothing, post nothing.

        Exceptions are read once here (a standby does not watch them); `start`
        reads them again when this replica takes over.
        """
        self.intake.standby = True
        await self._retrying("standby start-up", self._load_exceptions)
        self._start_watches()

    def _start_watches(self) -> None:
        self._watch_tasks = [
            asyncio.create_task(w.run(), name=f"hostns-pods-{w.namespace or 'all'}")
            for w in self.watches
        ]

    async def _retrying(self, what: str, load: Callable[[], Awaitable[None]]) -> None:
        """API errors at start (an API server still initialising a new CRD's storage
        answers 429; a network blip) are retried with a bounded back-off."""
        backoff = Backoff(first=0.5, limit=10.0)
        while True:
            try:
                await load()
                return
            except (TimeoutError, ApiError, OSError) as exc:
                self.metrics.api_errors.labels("startup").inc()
                delay = backoff.next_delay()
                logger.warning("%s failed, retrying in %.1fs: %s", what, delay, exc)
                await asyncio.sleep(delay)

    async def _load(self) -> None:
        await self._load_exceptions()
        await self.findings.load(self.namespaces)

    async def _load_exceptions(self) -> None:
        listed = await self.kube.list_exceptions()
        names = {field(body, "metadata").get("name") for body in listed}
        for body in listed:
            await self.on_exception_event(None, body)
        for name in set(self.state.exceptions) - names:  # deleted while standing by
            await self.on_exception_event("DELETED", {"metadata": {"name": name}})
        self._policy_changed.clear()
        # Also with no exception at all: the writer writes nothing until it is told the
        # whole set once, and an empty set is a set (every host-namespace pod refused).
        self._update_prevention()

    def _update_prevention(self) -> None:
        if self.prevention is not None:
            self.prevention.update(self.state.exceptions.values())

    def _new_detection(self, workload: Workload) -> bool:
        """During the start-up listing: a Violation its stored finding does not say yet."""
        return self.findings.verdict(workload) != Verdict.VIOLATION \
            and self.state.is_violation(workload)

    async def _when_listed(self) -> None:
        await asyncio.gather(*(w.listed.wait() for w in self.watches))
        # Reconcile: every stored finding is looked at once (gone workloads resolve).
        self.intake.starting = False
        self.writer.mark(self.findings.workloads())
        self.writer.release()
        if self.reports is not None:
            self.reports.release()
        self._statuses_due.set()
        self._ready = True
        logger.info(
            "pod picture complete: %d host-namespace pods in %d workloads",
            len(self.state.pods), len(self.state.workloads),
        )

    async def stop(self) -> None:
        startup = [self._startup] if self._startup is not None else []
        await cancel_and_wait([*self._tasks, *self._watch_tasks, *startup])
        self._tasks, self._watch_tasks, self._startup = [], [], None
        await self.writer.stop()
        if not self.kube.fenced:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.writer.drain(), 10)
        await self.poster.stop()

    def healthy(self) -> bool:
        """Liveness: every loop runs (the pod watches, policy, statuses, retention...)."""
        return bool(self._tasks) and all(not t.done() for t in self._tasks) \
            and self.writer.healthy()

    def ready(self) -> bool:
        """Readiness: the first complete pod listing is handled and the watches run
        (for a standby too: its picture is warm)."""
        watching = bool(self._watch_tasks) and all(not t.done() for t in self._watch_tasks) \
            and all(w.listed.is_set() for w in self.watches)
        if not self._tasks:
            return watching and self.intake.standby
        return watching and self._ready and self.healthy()

    # --- watch events -------------------------------------------------------------

    async def on_pod_event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """One decoded pod body (the stream hands raw JSON to the intake directly)."""
        self.intake.on_body(event_type, body)

    async def on_exception_event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        try:
            name = field(body, "metadata").get("name")
            if not isinstance(name, str) or not name:
                logger.warning("ignoring an exception event without a name")
                return
            if event_type == "DELETED":
                changed = self.state.delete_exception(name)
                self.statuses.forget(name)
            else:
                compiled, changed = self.state.set_exception(dict(body))
                self.statuses.seen(name, field(body, "status"))
                if changed and compiled.error is not None:
                    logger.warning("HostNamespaceException %s is Invalid: %s", name, compiled.error)
        except Exception:
            logger.exception("failed to handle exception event")
            return
        # Status writes come back as events too; only a spec change re-evaluates.
        if changed:
            self._policy_changed.set()
            self._update_prevention()
        self._statuses_due.set()  # maybe the exception's status needs a refresh

    # --- findings -------------------------------------------------------------------

    async def flush(self, workload: Workload) -> None:
        """Bring one finding in line with the picture; write only what changed."""
        known = self.findings.get(workload)
        stored = known.status if known else None
        content = self.state.content_of(workload, stored)
        if content is None:
            return
        content = with_actors(content, self.attribution.actors(workload), stored)
        before = {a.get("auditID") for a in (stored or {}).get("actors") or []}
        transition = await self.findings.sync(workload, content)
        self.state.forget_departure(workload)
        if transition is not None:
            self._on_transition(transition)
        elif content["verdict"] == Verdict.VIOLATION:
            self._announce_actor(workload, content, before)

    def _on_actor(self, workload: Workload) -> None:
        """An audit event named who wrote this workload: its finding should say so."""
        if not self.intake.standby:
            self.writer.mark([workload])

    def _announce_actor(
        self, workload: Workload, content: Mapping[str, Any], before: set[Any]
    ) -> None:
        """A Violation whose writer became known after its Event (audit batches come
        later than the pod watch): one more Event on the finding names them."""
        person = latest_person(content.get("actors") or [])
        if person is None or is_controller(person) or person.get("auditID") in before:
            return  # nobody new; a controller's writes are recorded, never announced
        known = self.findings.get(workload)
        event = actor_event(workload, actor_phrase(person), format_time(self.clock()),
                            known.uid if known else None)
        self.poster.post(workload.namespace, event, "finding")

    def _write_failed(self, workload: Workload, exc: Exception) -> None:
        self.metrics.api_errors.labels("write_finding").inc()
        logger.warning(
            "could not write the finding of %s %s/%s (will retry): %s",
            workload.kind, workload.namespace, workload.name, exc,
            exc_info=not isinstance(exc, ApiError),
        )

    def _on_transition(self, transition: Transition) -> None:
        workload, status, old = transition.workload, transition.status, transition.previous
        verdict = status["verdict"]
        self.metrics.transitions.labels(verdict).inc()
        self._statuses_due.set()
        uncovered = [i["image"] for i in status.get("images", []) if i.get("uncovered")]
        logger.info(
            "finding %s/%s: %s -> %s (%s %s, host namespaces %s%s)",
            workload.namespace, workload.finding_name, old or "new", verdict,
            workload.kind, workload.name, status.get("summary") or "-",
            f"; uncovered images {', '.join(uncovered)}" if verdict == Verdict.VIOLATION else "",
            extra={
                "finding": workload.finding_name,
                "namespace": workload.namespace,
                "verdict": verdict,
                "previous_verdict": old,
            },
        )
        message = status["conditions"][0]["message"]
        person = latest_person(status.get("actors") or [])
        if person is not None:
            message += f"; last written by {actor_phrase(person)}"
        event = finding_event(workload, verdict, message, transition.now, transition.uid)
        self.poster.post(workload.namespace, event, "finding")

    # --- exceptions: re-evaluation, expiry, status ------------------------------

    async def _policy_loop(self) -> None:
        """Re-evaluate on every exception change and exactly when one expires."""
        while True:
            now = self.clock()
            expiry = self.state.next_expiry(now)
            timeout = None if expiry is None else max((expiry - now).total_seconds(), 0) + 0.05
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._policy_changed.wait(), timeout)
            self._policy_changed.clear()
            self.reevaluate()

    def reevaluate(self) -> None:
        changed, new_violations = self.state.reevaluate(self.clock())
        for facts, verdict in new_violations:
            self.intake.report_violation(facts, violation_message(verdict))
            self.intake.mark(facts.workload, new_violation=True)
        self.writer.mark(changed)
        self._statuses_due.set()  # expired exceptions' statuses change

    async def _status_loop(self) -> None:
        """Exception statuses and finding gauges, refreshed after changes (coalesced)."""
        while True:
            await self._statuses_due.wait()
            await asyncio.sleep(max(self.config.coalesce_seconds, 0.05))
            self._statuses_due.clear()
            if not self._ready:
                continue  # coverage counts are partial until the first listing is done
            await self.statuses.update(self.state.exceptions, self.findings.covered_by())
            self.metrics.set_findings(self.findings.counts())

    # --- re-list and retention --------------------------------------------------

    async def resync(self) -> None:
        """List every watched namespace now and reconcile (raises when a list fails)."""
        for watch in self.watches:
            await watch.list_all()

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.resync_seconds)
            for watch in self.watches:
                watch.relist()

    async def collect_garbage(self) -> None:
        """Delete Resolved findings older than the retention period."""
        cutoff = self.clock() - timedelta(seconds=self.config.retention_seconds)
        for workload in await self.findings.delete_expired(cutoff, self.state.live_workloads()):
            self.state.forget_departure(workload)
        self.metrics.set_findings(self.findings.counts())

    async def _gc_loop(self) -> None:
        period = min(60.0, max(self.config.retention_seconds / 4, 1.0))
        while True:
            await asyncio.sleep(period)
            await self.collect_garbage()


__all__ = ["Controller", "utcnow"]
