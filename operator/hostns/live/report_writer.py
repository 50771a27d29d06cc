"""The room that owns the OpenReports Reports (SPEC 8, `hostns run --reports openreports`).

One `openreports.io/v1alpha1` Report named `hostns-operator` per namespace, built by
`hostns.core.reports` from the finding store's mirror, so Policy Reporter and other
report consumers show what the findings say:

- Written only on change: the Report built is compared with the one stored (read by a
  LIST when the writer starts, then what each write returned); equal means no request.
  A write is a create, or a replace carrying the resourceVersion read (a 409 reads it
  again); never a patch, so a hand edit is overwritten whole.
- Coalesced: the finding store says which namespace changed (`mark`); the writer waits
  `coalesce_seconds`, and while findings are still being written (`defer_while`, up to
  DEFER_LIMIT), then writes each marked namespace once. A DaemonSet rolling out is one
  Report write, not one per finding write.
- No stale result: a namespace whose findings are all Resolved or gone has no Report
  (deleted, not emptied: Policy Reporter drops a deleted Report's results, and an
  empty Report per namespace that once had a finding is only clutter). Reports of a
  previous run in namespaces without findings are found by the first LIST and deleted.
- Fail soft, never in the way: a missing Report CRD, a 403 or any API error is one log
  line (again only when the reason changes), `hostns_api_errors_total{operation=
  "write_report"}` and `hostns_reports_failing` 1, then a retry with back-off that
  LISTs again. The findings never wait for a Report.

It runs only while this replica leads: the controller starts it with its other loops
(`start`), and holds it until the first complete pod listing (`release`), before
which the findings are not reconciled yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from hostns.core.api import MANAGED_BY, MANAGED_BY_LABEL, REPORT_KIND
from hostns.core.bodies import field
from hostns.core.reports import REPORT_NAME, namespace_report
from hostns.live.backoff import Backoff
from hostns.live.kube import ApiError, Conflict, Kube, NotFound
from hostns.live.metrics import Metrics

logger = logging.getLogger("hostns")

ATTEMPTS: Final = 5  # conflicts in a row on one Report before giving up this round
DEFER_LIMIT: Final = 5.0  # seconds a Report may wait for the findings' backlog

#: Everything of a Report body but its identity: what "changed" compares.
_IDENTITY = frozenset({"apiVersion", "kind", "metadata"})

FindingsByNamespace = Callable[[], Mapping[str, Sequence[Mapping[str, Any]]]]


class ReportsUnavailable(Exception):
    """Reports cannot be listed: the CRD is missing, or the operator may not read them."""


def _content(body: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    labels = field(field(body, "metadata"), "labels")
    return {"managed-by": labels.get(MANAGED_BY_LABEL),
            **{key: body.get(key) for key in keys}}


def _same(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    keys = [key for key in wanted if key not in _IDENTITY]
    return _content(stored, keys) == _content(wanted, keys)


def describe(exc: BaseException) -> str:
    """One line saying what is wrong and what fixes it."""
    cause = exc.__cause__ if isinstance(exc, ReportsUnavailable) else exc
    if isinstance(exc, ReportsUnavailable) and isinstance(cause, NotFound):
        return (f"the {REPORT_KIND} CRD (reports.openreports.io) is not installed: install "
                "it from github.com/openreports/reports-api (docs/deploy.md)")
    if isinstance(cause, ApiError) and cause.status == 403:
        return ("forbidden: the operator's ServiceAccount may not read or write "
                "reports.openreports.io (deploy/components/openreports, or the chart's "
                f"reports.openreports.enabled): {cause}")
    return str(cause or exc)


class ReportWriter:
    def __init__(
        self,
        kube: Kube,
        metrics: Metrics,
        findings: FindingsByNamespace,
        *,
        namespaces: Sequence[str | None] = (None,),
        coalesce_seconds: float = 0.5,
        defer_while: Callable[[], bool] | None = None,
        resync_seconds: float | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self._kube = kube
        self._metrics = metrics
        self._findings = findings
        self._namespaces = list(namespaces)
        self._coalesce = max(coalesce_seconds, 0.01)
        self._defer_while = defer_while
        self._resync = resync_seconds if resync_seconds else None
        self._backoff = backoff or Backoff(first=1.0, limit=60.0)
        self._stored: dict[str, dict[str, Any]] = {}  # namespace -> the Report held there
        self._listed = False  # _stored is known (a LIST succeeded since the last failure)
        self._dirty: set[str] = set()
        self._due = asyncio.Event()
        self._released = asyncio.Event()
        self._failing: str | None = None  # the reason last logged, while failing
        self.writes = 0

    def mark(self, namespace: str) -> None:
        """The findings of this namespace changed: bring its Report in line (coalesced)."""
        self._dirty.add(namespace)
        self._due.set()

    def release(self) -> None:
        """The picture is complete: start writing."""
        self._released.set()
        self._due.set()

    @property
    def failing(self) -> str | None:
        return self._failing

    async def sync(self) -> None:
        """Bring every marked namespace's Report in line; raises when one could not be.

        The first sync (and the first after a failure) LISTs the Reports this operator
        manages, and then looks at every namespace with a finding or a Report.
        """
        groups = self._findings()
        if not self._listed:
            stored = await self._list()
            self._dirty |= set(stored) | set(self._stored) | set(groups)
            self._stored, self._listed = stored, True
        todo, self._dirty = self._dirty, set()
        failed: list[str] = []
        error: Exception | None = None
        for namespace in sorted(todo):
            try:
                await self._sync_namespace(namespace, groups.get(namespace, ()))
            except Exception as exc:  # one namespace (being deleted, say) must not stop the rest
                failed.append(namespace)
                error = error or exc
        if error is not None:
            self._dirty |= set(failed)
            raise error

    async def _list(self) -> dict[str, dict[str, Any]]:
        stored: dict[str, dict[str, Any]] = {}
        for scope in self._namespaces:
            try:
                items = await self._kube.list_reports(scope)
            except ApiError as exc:
                raise ReportsUnavailable(str(exc)) from exc
            for body in items:
                metadata = field(body, "metadata")
                namespace = metadata.get("namespace")
                if metadata.get("name") == REPORT_NAME and isinstance(namespace, str):
                    stored[namespace] = dict(body)
        return stored

    async def _sync_namespace(
        self, namespace: str, findings: Iterable[Mapping[str, Any]]
    ) -> None:
        wanted = namespace_report(namespace, findings)
        stored = self._stored.get(namespace)
        if wanted is None:
            if stored is not None:
                await self._delete(namespace)
            return
        if stored is not None and _same(stored, wanted):
            return
        for _attempt in range(ATTEMPTS):
            try:
                if stored is None:
                    written = await self._kube.create_report(wanted)
                    verb = "create"
                else:
                    written = await self._kube.replace_report(
                        namespace, REPORT_NAME, _over(stored, wanted))
                    verb = "update"
            except Conflict:  # created meanwhile, or changed since read: read it again
                stored = await self._kube.get_report(namespace, REPORT_NAME)
                if stored is not None and _same(stored, wanted):
                    self._stored[namespace] = stored
                    return
                continue
            except NotFound:
                if stored is None:
                    raise  # a create: the CRD or the namespace is gone
                stored = None  # deleted since read: create it
                continue
            self._metrics.api_writes.labels(REPORT_KIND, verb).inc()
            self._stored[namespace] = written if isinstance(written, dict) else dict(wanted)
            self.writes += 1
            results = wanted["summary"]
            logger.info("report %s/%s: %s (fail %d, skip %d)", namespace, REPORT_NAME,
                        "created" if verb == "create" else "updated",
                        results["fail"], results["skip"])
            return
        raise Conflict(409, f"Report {namespace}/{REPORT_NAME}: still conflicting after "
                            f"{ATTEMPTS} attempts")

    async def _delete(self, namespace: str) -> None:
        with contextlib.suppress(NotFound):  # already gone: the same outcome
            await self._kube.delete_report(namespace, REPORT_NAME)
            self._metrics.api_writes.labels(REPORT_KIND, "delete").inc()
            self.writes += 1
            logger.info("report %s/%s: deleted (no open finding left)", namespace, REPORT_NAME)
        self._stored.pop(namespace, None)

    async def _settle(self) -> None:
        """Wait out the coalescing window, and the findings' own backlog (bounded)."""
        await asyncio.sleep(self._coalesce)
        waited = 0.0
        while self._defer_while is not None and self._defer_while() and waited < DEFER_LIMIT:
            await asyncio.sleep(0.1)
            waited += 0.1

    async def run(self) -> None:
        """Sync after each mark (coalesced), every `resync_seconds` (LIST again), and
        after a failure with back-off."""
        self._listed = False
        await self._released.wait()
        while True:
            try:
                await asyncio.wait_for(self._due.wait(), self._resync)
            except TimeoutError:
                self._listed = False  # a periodic re-read puts back a Report edited by hand
            await self._settle()
            self._due.clear()
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._retry_after(exc)
                continue
            self._backoff.reset()
            if self._failing is not None:
                logger.info("reports: in step with the findings again")
            self._failing = None
            self._metrics.reports_failing.set(0)

    async def _retry_after(self, exc: Exception) -> None:
        self._metrics.api_errors.labels("write_report").inc()
        self._metrics.reports_failing.set(1)
        self._listed = False
        delay = self._backoff.next_delay()
        reason = describe(exc)
        if reason != self._failing:
            logger.warning("reports: cannot keep the OpenReports Reports in step (retrying "
                           "with back-off, findings are not affected): %s", reason,
                           exc_info=not isinstance(exc, (ApiError, ReportsUnavailable)))
        else:
            logger.debug("reports: still failing, next attempt in %.1fs: %s", delay, reason)
        self._failing = reason
        await asyncio.sleep(delay)
        self._due.set()


def _over(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """`wanted` to replace `stored`: its resourceVersion, and other tools' labels kept."""
    metadata = field(stored, "metadata")
    labels = {**field(metadata, "labels"), MANAGED_BY_LABEL: MANAGED_BY,
              **field(wanted["metadata"], "labels")}
    return {**wanted, "metadata": {**wanted["metadata"], "labels": labels,
                                   "resourceVersion": metadata.get("resourceVersion")}}
