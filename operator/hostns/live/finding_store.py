"""The finding store: this operator's mirror of the HostNamespaceFindings it keeps.

It alone reads and writes findings. `sync` brings one finding in line with a
workload's content and writes only when that content changed (no write for a
timestamp); a finding created meanwhile by someone else (a previous run) is
adopted on conflict, one deleted behind our back is forgotten and recreated on
the next sync. Resolved findings past the retention period are deleted here too.

Whoever follows the mirror (the OpenReports writer) is told which namespace changed
(`on_change`), and reads it back as finding bodies (`by_namespace`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hostns.core.api import VERDICT_LABEL
from hostns.core.bodies import field
from hostns.core.evaluation import Verdict
from hostns.core.exceptions import format_time, parse_time
from hostns.core.findings import Content, finding_body, finding_labels, finding_status, same_content
from hostns.core.workloads import Workload
from hostns.live.kube import Conflict, Kube, NotFound
from hostns.live.metrics import Metrics

logger = logging.getLogger("hostns")


@dataclass(slots=True)
class KnownFinding:
    """What the API server holds for a finding, as far as this operator knows."""

    status: dict[str, Any]
    verdict_label: str | None
    uid: str | None

    @property
    def verdict(self) -> str | None:
        verdict = self.status.get("verdict")
        return verdict if isinstance(verdict, str) else None


@dataclass(frozen=True, slots=True)
class Transition:
    """A finding's verdict changed with the write just made."""

    workload: Workload
    previous: str | None  # None: a new finding
    status: Mapping[str, Any]  # the status written
    uid: str | None  # the finding's uid, for its Event
    now: str


def _workload_of_finding(body: Mapping[str, Any]) -> Workload | None:
    ref = field(field(body, "spec"), "workload")
    namespace = field(body, "metadata").get("namespace")
    parts = (namespace, ref.get("apiVersion"), ref.get("kind"), ref.get("name"))
    if not all(isinstance(part, str) and part for part in parts):
        return None
    return Workload(*parts)  # type: ignore[arg-type]


def _known(body: Mapping[str, Any]) -> KnownFinding:
    metadata = field(body, "metadata")
    return KnownFinding(
        status=dict(field(body, "status")),
        verdict_label=field(metadata, "labels").get(VERDICT_LABEL),
        uid=metadata.get("uid"),
    )


def _without_nones(status: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in status.items() if value is not None}


class FindingStore:
    def __init__(
        self,
        kube: Kube,
        metrics: Metrics,
        clock: Callable[[], datetime],
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self._kube = kube
        self._metrics = metrics
        self._clock = clock
        self._known: dict[Workload, KnownFinding] = {}
        # Told the namespace of every change to the mirror (a write, a finding forgotten).
        self.on_change = on_change

    def _changed(self, workload: Workload) -> None:
        if self.on_change is not None:
            self.on_change(workload.namespace)

    def __len__(self) -> int:
        return len(self._known)

    def __contains__(self, workload: object) -> bool:
        return workload in self._known

    def get(self, workload: Workload) -> KnownFinding | None:
        return self._known.get(workload)

    def workloads(self) -> list[Workload]:
        return list(self._known)

    def verdict(self, workload: Workload) -> str | None:
        known = self._known.get(workload)
        return known.verdict if known is not None else None

    async def load(self, namespaces: Iterable[str | None]) -> None:
        """Read every finding this operator manages (at start, before any write)."""
        for namespace in namespaces:
            for body in await self._kube.list_findings(namespace):
                workload = _workload_of_finding(body)
                if workload is None:
                    name = field(body, "metadata").get("name")
                    logger.warning("ignoring malformed finding %s", name)
                    continue
                self._known[workload] = _known(body)
                self._changed(workload)

    async def sync(self, workload: Workload, content: Content) -> Transition | None:
        """Make the stored finding say `content`; the Transition when its verdict changed.

        Raises the API's error when a write fails (the caller retries later).
        """
        known = self._known.get(workload)
        if known is not None and same_content(content, known.status):
            return None
        if known is None:
            known = await self._create(workload, content)
            if same_content(content, known.status):
                return None
        return await self._write(workload, known, content)

    async def _create(self, workload: Workload, content: Content) -> KnownFinding:
        body = finding_body(workload, content["verdict"])
        try:
            created = await self._kube.create_finding(body)
            self._metrics.api_writes.labels("HostNamespaceFinding", "create").inc()
        except Conflict:
            # Someone (a previous run) already created it: adopt what is stored.
            created = await self._kube.get_finding(workload.namespace, workload.finding_name)
        if not isinstance(created, Mapping):
            created = {}
        if not field(created, "metadata"):
            created = {**created, "metadata": body["metadata"]}
        known = _known(created)
        self._known[workload] = known
        self._changed(workload)
        return known

    async def _write(
        self, workload: Workload, known: KnownFinding, content: Content
    ) -> Transition | None:
        now = format_time(self._clock())
        previous = known.verdict
        status = finding_status(content, known.status, now)
        name = workload.finding_name
        try:
            if known.verdict_label != content["verdict"]:
                # Labels live in metadata, the status in its subresource: two requests.
                patch = {"metadata": {"labels": finding_labels(workload, content["verdict"])}}
                await self._kube.patch_finding(workload.namespace, name, patch)
                self._metrics.api_writes.labels("HostNamespaceFinding", "patch").inc()
                known.verdict_label = content["verdict"]
            await self._kube.patch_finding_status(workload.namespace, name, status)
            self._metrics.api_writes.labels("HostNamespaceFinding", "patch-status").inc()
        except NotFound:
            self._known.pop(workload, None)  # deleted behind our back: recreate on the retry
            self._changed(workload)
            raise
        known.status = _without_nones(status)
        self._changed(workload)
        if previous == content["verdict"]:
            return None
        return Transition(workload, previous, status, known.uid, now)

    async def delete_expired(self, cutoff: datetime, live: set[Workload]) -> list[Workload]:
        """Delete Resolved findings resolved before `cutoff` (none of a live workload)."""
        deleted: list[Workload] = []
        for workload, known in list(self._known.items()):
            if known.verdict != Verdict.RESOLVED or workload in live:
                continue
            try:
                resolved_at = parse_time(str(known.status.get("resolvedAt")))
            except ValueError:
                continue
            if resolved_at > cutoff:
                continue
            try:
                await self._kube.delete_finding(workload.namespace, workload.finding_name)
                self._metrics.api_writes.labels("HostNamespaceFinding", "delete").inc()
            except NotFound:
                pass  # already gone: forget it all the same
            except Exception as exc:
                self._metrics.api_errors.labels("delete_finding").inc()
                logger.warning("could not delete expired finding %s: %s", workload, exc)
                continue
            self._known.pop(workload, None)
            self._changed(workload)
            deleted.append(workload)
            logger.info(
                "finding %s/%s deleted after the retention period",
                workload.namespace, workload.finding_name,
            )
        return deleted

    def by_namespace(self) -> dict[str, list[dict[str, Any]]]:
        """Every finding held, as a body (metadata, spec.workload, status), by namespace."""
        grouped: dict[str, list[dict[str, Any]]] = {}
        for workload, known in self._known.items():
            body = finding_body(workload, known.verdict or "")
            body["status"] = known.status
            grouped.setdefault(workload.namespace, []).append(body)
        return grouped

    def counts(self) -> dict[tuple[str, str], int]:
        """Findings by (verdict, host namespace), for the hostns_findings gauge."""
        counts: dict[tuple[str, str], int] = {}
        for known in self._known.values():
            for entry in known.status.get("hostNamespaces") or []:
                key = (str(known.verdict), str(entry.get("name")))
                counts[key] = counts.get(key, 0) + 1
        return counts

    def covered_by(self) -> dict[str, int]:
        """Open (not Resolved) findings per exception that applied to them."""
        covered: dict[str, int] = {}
        for known in self._known.values():
            if known.verdict in (None, Verdict.RESOLVED):
                continue
            names = {e.get("name") for e in known.status.get("exceptions") or []}
            for name in names:
                if isinstance(name, str):
                    covered[name] = covered.get(name, 0) + 1
        return covered
