"""The live operator's imperative shell: watch events in, findings and Events out.

kopf hands pod and exception events to `Controller.on_pod_event` and
`Controller.on_exception_event`; those update the in-memory `ClusterState`
and mark workloads dirty. One writer task coalesces dirty workloads (a
DaemonSet rolling out is one write per finding, not one per pod) and writes a
finding only when its content changed. Background loops re-evaluate on
exception expiry, re-list pods to catch deletions missed by a broken watch,
and delete Resolved findings after the retention period.

Nothing here writes to a pod: the only pod calls are LIST (see kube.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hostns.bodies import field
from hostns.config import Config
from hostns.evaluation import VIOLATION, PodVerdict
from hostns.events import finding_event, pod_violation_event
from hostns.exceptions import ACTIVE, EXPIRED, CompiledException, parse_time
from hostns.findings import (
    RESOLVED,
    VERDICT_LABEL,
    Content,
    finding_body,
    finding_labels,
    finding_status,
    same_content,
    violation_message,
)
from hostns.kube import ApiError, Kube
from hostns.metrics import Metrics
from hostns.pods import PodFacts, flags_of, pod_facts
from hostns.state import ClusterState
from hostns.workloads import Workload

logger = logging.getLogger("hostns")

WRITE_CONCURRENCY = 8
RETRY_SECONDS = 5.0


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class KnownFinding:
    """What the API server holds for a finding, as far as this operator knows."""

    status: dict[str, Any]
    verdict_label: str | None
    uid: str | None


def _workload_of_finding(body: Mapping[str, Any]) -> Workload | None:
    ref = field(field(body, "spec"), "workload")
    namespace = field(body, "metadata").get("namespace")
    parts = (namespace, ref.get("apiVersion"), ref.get("kind"), ref.get("name"))
    if not all(isinstance(part, str) and part for part in parts):
        return None
    return Workload(*parts)  # type: ignore[arg-type]


def _without_nones(status: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in status.items() if value is not None}


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
        self.findings: dict[Workload, KnownFinding] = {}
        self.dirty: set[Workload] = set()
        self._exception_status_seen: dict[str, dict[str, Any]] = {}
        self._wake_writer = asyncio.Event()
        self._policy_changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._starting = False
        self.last_loop_beat = time.monotonic()

    # --- lifecycle --------------------------------------------------------------

    @property
    def namespaces(self) -> list[str | None]:
        return list(self.config.namespaces) or [None]

    async def start(self) -> None:
        """Reconcile findings with reality, then start the background loops.

        API errors here (an API server still initialising a new CRD's storage
        answers 429; a network blip) are retried with a short backoff rather
        than failing the start-up.
        """
        delay = 0.5
        while True:
            try:
                await self._reconcile_at_start()
                break
            except (TimeoutError, ApiError, OSError) as exc:
                self.metrics.api_errors.labels("startup").inc()
                logger.warning("start-up reconciliation failed, retrying in %.1fs: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        self._tasks = [
            asyncio.create_task(self._writer_loop(), name="hostns-writer"),
            asyncio.create_task(self._policy_loop(), name="hostns-policy"),
            asyncio.create_task(self._gc_loop(), name="hostns-retention"),
        ]
        if self.config.resync_seconds > 0:
            self._tasks.append(asyncio.create_task(self._resync_loop(), name="hostns-resync"))

    async def _reconcile_at_start(self) -> None:
        self._starting = True
        try:
            # Exceptions first: evaluating pods before they are known would
            # report every trusted pod as a Violation for a moment.
            for body in await self.kube.list_exceptions():
                await self.on_exception_event(None, body)
            self._policy_changed.clear()
            await self._load_findings()
            await self.resync()
            self.dirty.update(self.findings)
            await self._flush_dirty()
        finally:
            self._starting = False

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        with contextlib.suppress(Exception):
            await self._flush_dirty()

    def healthy(self) -> bool:
        return all(not task.done() for task in self._tasks)

    async def _load_findings(self) -> None:
        for namespace in self.namespaces:
            for body in await self.kube.list_findings(namespace):
                workload = _workload_of_finding(body)
                if workload is None:
                    name = field(body, "metadata").get("name")
                    logger.warning("ignoring malformed finding %s", name)
                    continue
                metadata = field(body, "metadata")
                self.findings[workload] = KnownFinding(
                    status=dict(field(body, "status")),
                    verdict_label=field(metadata, "labels").get(VERDICT_LABEL),
                    uid=metadata.get("uid"),
                )

    # --- watch events (from kopf) ----------------------------------------------

    async def on_pod_event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """One pod watch event. Never raises: a strange pod is logged and skipped."""
        started = time.perf_counter()
        try:
            # The hot path: most pods use no host namespace and were never stored.
            uid = field(body, "metadata").get("uid")
            if not flags_of(field(body, "spec")) and uid not in self.state.pods:
                return
            facts = pod_facts(body)
            if not facts.uid:
                logger.warning(
                    "ignoring a pod event without a uid: %s/%s", facts.namespace, facts.name
                )
                return
            deleted = event_type == "DELETED"
            if not deleted and self.state.is_tombstoned(facts.uid):
                return  # a stale listing of a pod already deleted
            observation = self.state.observe_pod(
                facts, self.clock(), time.monotonic(), deleted=deleted
            )
        except Exception:
            logger.exception("failed to evaluate pod event %s", field(body, "metadata").get("name"))
            return
        finally:
            self.metrics.pods_evaluated.inc()
            self.metrics.evaluation_seconds.observe(time.perf_counter() - started)
        if observation.new_violation is not None:
            await self._report_pod_violation(facts, observation.new_violation)
        if observation.workload is not None:
            self._mark_dirty({observation.workload})

    async def on_exception_event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        try:
            name = field(body, "metadata").get("name")
            if not isinstance(name, str) or not name:
                logger.warning("ignoring an exception event without a name")
                return
            if event_type == "DELETED":
                changed = self.state.delete_exception(name)
                self._exception_status_seen.pop(name, None)
            else:
                compiled, changed = self.state.set_exception(dict(body))
                self._exception_status_seen[name] = dict(field(body, "status"))
                if changed and compiled.error is not None:
                    logger.warning("HostNamespaceException %s is Invalid: %s", name, compiled.error)
        except Exception:
            logger.exception("failed to handle exception event")
            return
        # Status writes come back as events too; only a spec change re-evaluates.
        if changed:
            self._policy_changed.set()
        else:
            self._wake_writer.set()  # maybe the exception's status needs a refresh

    # --- pod violation events ---------------------------------------------------

    def _already_reported(self, facts: PodFacts) -> bool:
        """During start-up, a pod of a workload whose finding already says Violation
        was reported by the previous run (at its own transition, or when the finding
        turned). A pod created while no operator ran is in the finding, but gets no
        Event of its own: one Event too few is better than a storm on every restart."""
        if not self._starting:
            return False
        known = self.findings.get(facts.workload)
        return known is not None and known.status.get("verdict") == VIOLATION

    async def _report_pod_violation(self, facts: PodFacts, verdict: PodVerdict) -> None:
        if not self.config.events or self._already_reported(facts):
            return
        message = f"Pod {violation_message(verdict)}"
        now = iso(self.clock())
        event = pod_violation_event(facts.namespace, facts.name, facts.uid, message, now)
        await self._post_event(facts.namespace, event, "pod")

    async def _post_event(self, namespace: str, event: dict[str, Any], about: str) -> None:
        try:
            await self.kube.create_event(namespace, event)
            self.metrics.api_writes.labels("Event", "create").inc()
        except Exception as exc:  # an Event is best effort; the finding is the record
            self.metrics.api_errors.labels("create_event").inc()
            logger.warning("could not post %s event in %s: %s", about, namespace, exc)

    # --- writer -----------------------------------------------------------------

    def _mark_dirty(self, workloads: set[Workload]) -> None:
        if workloads:
            self.dirty.update(workloads)
            self._wake_writer.set()

    async def _writer_loop(self) -> None:
        while True:
            await self._wake_writer.wait()
            # Coalesce: a burst of pod events for one workload becomes one write.
            await asyncio.sleep(self.config.coalesce_seconds)
            self._wake_writer.clear()
            self.last_loop_beat = time.monotonic()
            await self._flush_dirty()

    async def _flush_dirty(self) -> None:
        batch, self.dirty = self.dirty, set()
        semaphore = asyncio.Semaphore(WRITE_CONCURRENCY)

        async def flush_one(workload: Workload) -> None:
            async with semaphore:
                try:
                    await self.flush(workload)
                except Exception as exc:
                    self.metrics.api_errors.labels("write_finding").inc()
                    logger.warning(
                        "could not write the finding of %s %s/%s (will retry): %s",
                        workload.kind, workload.namespace, workload.name, exc,
                        exc_info=not isinstance(exc, ApiError),
                    )
                    asyncio.get_running_loop().call_later(
                        RETRY_SECONDS, self._mark_dirty, {workload}
                    )

        await asyncio.gather(*(flush_one(w) for w in sorted(batch)))
        await self._update_exception_statuses()
        self._update_finding_metrics()

    async def flush(self, workload: Workload) -> None:
        """Bring one finding in line with the state; write only what changed."""
        known = self.findings.get(workload)
        content = self.state.content_of(workload, known.status if known else None)
        if content is None:
            return
        if known is not None and same_content(content, known.status):
            self.state.departed.pop(workload, None)
            return
        if known is None:
            known = await self._create_finding(workload, content)
            if same_content(content, known.status):
                self.state.departed.pop(workload, None)
                return
        await self._write_finding(workload, known, content)

    async def _create_finding(self, workload: Workload, content: Content) -> KnownFinding:
        body = finding_body(workload, content["verdict"])
        try:
            created = await self.kube.create_finding(body)
            self.metrics.api_writes.labels("HostNamespaceFinding", "create").inc()
        except ApiError as exc:
            if exc.status != 409:
                raise
            # Someone (a previous run) already created it: adopt what is stored.
            created = await self.kube.get_finding(workload.namespace, workload.finding_name)
        metadata = field(created, "metadata") or body["metadata"]
        known = KnownFinding(
            status=dict(field(created, "status")),
            verdict_label=field(metadata, "labels").get(VERDICT_LABEL),
            uid=metadata.get("uid"),
        )
        self.findings[workload] = known
        return known

    async def _write_finding(
        self, workload: Workload, known: KnownFinding, content: Content
    ) -> None:
        now = iso(self.clock())
        previous_verdict = known.status.get("verdict")
        status = finding_status(content, known.status, now)
        name = workload.finding_name
        try:
            if known.verdict_label != content["verdict"]:
                patch = {"metadata": {"labels": finding_labels(workload, content["verdict"])}}
                await self.kube.patch_finding(workload.namespace, name, patch)
                self.metrics.api_writes.labels("HostNamespaceFinding", "patch").inc()
                known.verdict_label = content["verdict"]
            await self.kube.patch_finding_status(workload.namespace, name, status)
            self.metrics.api_writes.labels("HostNamespaceFinding", "patch-status").inc()
        except ApiError as exc:
            if exc.status == 404:  # deleted behind our back: recreate on the retry
                self.findings.pop(workload, None)
            raise
        known.status = _without_nones(status)
        self.state.departed.pop(workload, None)
        if previous_verdict != content["verdict"]:
            self._on_transition(workload, known, previous_verdict, status)
            if self.config.events:
                message = status["conditions"][0]["message"]
                event = finding_event(workload, content["verdict"], message, now, known.uid)
                await self._post_event(workload.namespace, event, "finding")

    def _on_transition(
        self, workload: Workload, known: KnownFinding, old: Any, status: Mapping[str, Any]
    ) -> None:
        self.metrics.transitions.labels(status["verdict"]).inc()
        uncovered = [i["image"] for i in status.get("images", []) if i.get("uncovered")]
        logger.info(
            "finding %s/%s: %s -> %s (%s %s, host namespaces %s%s)",
            workload.namespace, workload.finding_name, old or "new", status["verdict"],
            workload.kind, workload.name, status.get("summary") or "-",
            f"; uncovered images {', '.join(uncovered)}" if status["verdict"] == VIOLATION else "",
            extra={
                "finding": workload.finding_name,
                "namespace": workload.namespace,
                "verdict": status["verdict"],
                "previous_verdict": old,
            },
        )

    def _update_finding_metrics(self) -> None:
        counts: dict[tuple[str, str], int] = {}
        for known in self.findings.values():
            verdict = known.status.get("verdict")
            for entry in known.status.get("hostNamespaces") or []:
                key = (str(verdict), str(entry.get("name")))
                counts[key] = counts.get(key, 0) + 1
        self.metrics.set_findings(counts)

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
            await self.reevaluate()

    async def reevaluate(self) -> None:
        changed, new_violations = self.state.reevaluate(self.clock())
        for facts, verdict in new_violations:
            await self._report_pod_violation(facts, verdict)
        self._mark_dirty(changed)
        self._wake_writer.set()  # exception statuses may need a refresh

    def _exception_status(self, exception: CompiledException, now: datetime) -> dict[str, Any]:
        state = exception.state(now)
        if state == ACTIVE:
            status, reason, message = "True", "Active", "the exception applies"
        elif state == EXPIRED:
            status, reason = "False", "Expired"
            message = f"expired at {iso(exception.expires_at or now)}"
        else:
            status, reason, message = "False", "Invalid", exception.error or "invalid"
        covered = sum(
            1
            for known in self.findings.values()
            if known.status.get("verdict") not in (None, RESOLVED)
            and any(e.get("name") == exception.name for e in known.status.get("exceptions") or [])
        )
        return {
            "observedGeneration": exception.generation,
            "coveredWorkloads": covered,
            "conditions": [
                {
                    "type": "Active",
                    "status": status,
                    "reason": reason,
                    "message": message,
                    "observedGeneration": exception.generation,
                }
            ],
        }

    async def _update_exception_statuses(self) -> None:
        now = self.clock()
        states = {ACTIVE: 0, EXPIRED: 0, "Invalid": 0}
        for name, exception in list(self.state.exceptions.items()):
            states[exception.state(now)] += 1
            desired = self._exception_status(exception, now)
            seen = self._exception_status_seen.get(name, {})
            if _exception_status_matches(desired, seen):
                continue
            seen_conditions = seen.get("conditions") or []
            old = seen_conditions[0] if seen_conditions else {}
            condition = desired["conditions"][0]
            same_state = (old.get("status"), old.get("reason")) == (
                condition["status"], condition["reason"]
            )
            condition["lastTransitionTime"] = (
                old.get("lastTransitionTime") if same_state and old.get("lastTransitionTime")
                else iso(now)
            )
            try:
                await self.kube.patch_exception_status(name, desired)
                self.metrics.api_writes.labels("HostNamespaceException", "patch-status").inc()
                self._exception_status_seen[name] = desired
            except Exception as exc:
                self.metrics.api_errors.labels("write_exception_status").inc()
                logger.warning("could not update the status of exception %s: %s", name, exc)
        for state, count in states.items():
            self.metrics.exceptions.labels(state).set(count)

    # --- re-list and retention --------------------------------------------------

    async def resync(self) -> None:
        """Re-list pods to reconcile: pods deleted while a watch was broken go away."""
        listed: set[str] = set()
        since = time.monotonic()
        for namespace in self.namespaces:
            async for page in self.kube.list_pod_pages(namespace):
                for body in page:
                    uid = field(body, "metadata").get("uid")
                    if not isinstance(uid, str) or self.state.is_tombstoned(uid):
                        continue
                    listed.add(uid)
                    if uid in self.state.pods:
                        continue  # watch events already keep it current
                    await self.on_pod_event(None, body)
        touched = self.state.forget_unlisted(listed, since, self.clock())
        self.state.expire_tombstones(time.monotonic())
        self._mark_dirty(touched)

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.resync_seconds)
            try:
                await self.resync()
            except Exception as exc:
                self.metrics.api_errors.labels("resync").inc()
                logger.warning("pod re-list failed (will retry next period): %s", exc)

    async def collect_garbage(self) -> None:
        """Delete Resolved findings older than the retention period."""
        cutoff = self.clock() - timedelta(seconds=self.config.retention_seconds)
        live = self.state.live_workloads()
        for workload, known in list(self.findings.items()):
            if known.status.get("verdict") != RESOLVED or workload in live:
                continue
            try:
                resolved_at = parse_time(str(known.status.get("resolvedAt")))
            except ValueError:
                continue
            if resolved_at > cutoff:
                continue
            try:
                await self.kube.delete_finding(workload.namespace, workload.finding_name)
                self.metrics.api_writes.labels("HostNamespaceFinding", "delete").inc()
            except ApiError as exc:
                if exc.status != 404:
                    logger.warning("could not delete expired finding %s: %s", workload, exc)
                    continue
            self.findings.pop(workload, None)
            self.state.departed.pop(workload, None)
            logger.info(
                "finding %s/%s deleted after the retention period",
                workload.namespace, workload.finding_name,
            )
        self._update_finding_metrics()

    async def _gc_loop(self) -> None:
        period = min(60.0, max(self.config.retention_seconds / 4, 1.0))
        while True:
            await asyncio.sleep(period)
            await self.collect_garbage()


def _exception_status_matches(desired: Mapping[str, Any], seen: Mapping[str, Any]) -> bool:
    if desired.get("observedGeneration") != seen.get("observedGeneration"):
        return False
    if desired.get("coveredWorkloads") != seen.get("coveredWorkloads"):
        return False
    seen_conditions = seen.get("conditions") or []
    if not seen_conditions:
        return False
    want, have = desired["conditions"][0], seen_conditions[0]
    return all(have.get(k) == want[k] for k in ("type", "status", "reason", "message"))
