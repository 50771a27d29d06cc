"""The operator's in-memory picture of the cluster, with no I/O.

It holds the compiled exceptions and, for pods that use a host namespace only,
a small `PodFacts` tuple and the pod's last verdict: a compliant pod costs no
memory at all. The kopf shell feeds it watch events; it answers which
workloads need their finding rewritten and which pods just turned into a
Violation (for the pod Event). Everything here is synchronous and pure enough
to unit-test without a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hostns.core.evaluation import VIOLATION, PodVerdict, evaluate_pod
from hostns.core.exceptions import CompiledException, ExceptionSet, compile_exception, next_expiry
from hostns.core.findings import Content, finding_content
from hostns.core.pods import PodFacts
from hostns.core.workloads import Workload

# A pod deleted moments ago must not be resurrected by a re-list that was read
# before the deletion: remember deleted uids for this long (seconds).
TOMBSTONE_SECONDS = 600.0


@dataclass(slots=True)
class PodRecord:
    facts: PodFacts
    verdict: PodVerdict
    seen_at: float  # monotonic time of the event or listing that reported it


@dataclass(frozen=True, slots=True)
class Observation:
    """What one pod event changed."""

    workload: Workload | None  # the workload whose finding may need a write
    new_violation: PodVerdict | None  # set when this pod just became a Violation


@dataclass
class ClusterState:
    exceptions: dict[str, CompiledException] = field(default_factory=dict)
    pods: dict[str, PodRecord] = field(default_factory=dict)
    workloads: dict[Workload, set[str]] = field(default_factory=dict)
    # Last known content of workloads whose pods are all gone (for Resolved findings).
    departed: dict[Workload, Content] = field(default_factory=dict)
    tombstones: dict[str, float] = field(default_factory=dict)
    _exception_set: ExceptionSet | None = None
    _valid_until: datetime | None = None

    # --- exceptions -------------------------------------------------------------

    def exception_set(self, now: datetime) -> ExceptionSet:
        """The Active exceptions at `now`, rebuilt when one changes or expires."""
        stale = self._valid_until is not None and now >= self._valid_until
        if self._exception_set is None or stale:
            self._exception_set = ExceptionSet(self.exceptions.values(), now)
            self._valid_until = next_expiry(self.exceptions.values(), now)
        return self._exception_set

    def next_expiry(self, now: datetime) -> datetime | None:
        return next_expiry(self.exceptions.values(), now)

    def set_exception(self, body: dict[str, Any]) -> tuple[CompiledException, bool]:
        """Record an exception; True when its spec changed (a status write is not a change)."""
        compiled = compile_exception(body)
        previous = self.exceptions.get(compiled.name)
        changed = previous is None or previous != compiled
        if changed:
            self.exceptions[compiled.name] = compiled
            self._exception_set = None
        return compiled, changed

    def delete_exception(self, name: str) -> bool:
        if self.exceptions.pop(name, None) is None:
            return False
        self._exception_set = None
        return True

    # --- pods -------------------------------------------------------------------

    def observe_pod(
        self, facts: PodFacts, now: datetime, seen_at: float, *, deleted: bool = False
    ) -> Observation:
        """Apply one pod event (or one listed pod) to the picture."""
        if deleted or not facts.live or not facts.flags:
            return self._remove_pod(facts, now, seen_at, deleted=deleted)
        verdict = evaluate_pod(facts, self.exception_set(now))
        previous = self.pods.get(facts.uid)
        self.pods[facts.uid] = PodRecord(facts, verdict, seen_at)
        if previous is not None and previous.facts.workload != facts.workload:
            self._unlink(previous.facts)
        self.workloads.setdefault(facts.workload, set()).add(facts.uid)
        self.departed.pop(facts.workload, None)
        became_violation = verdict.verdict == VIOLATION and (
            previous is None or previous.verdict.verdict != VIOLATION
        )
        changed = previous is None or previous.facts != facts or previous.verdict != verdict
        return Observation(
            facts.workload if changed else None, verdict if became_violation else None
        )

    def _remove_pod(
        self, facts: PodFacts, now: datetime, seen_at: float, *, deleted: bool
    ) -> Observation:
        if deleted:
            self.tombstones[facts.uid] = seen_at
        record = self.pods.pop(facts.uid, None)
        if record is None:
            if not facts.flags:
                return Observation(None, None)
            # A host-namespace pod we never saw alive (it came and went between
            # two events): it still leaves a finding and a Violation event.
            verdict = evaluate_pod(facts, self.exception_set(now))
            self._remember_departure(facts.workload, facts.name, verdict)
            new_violation = verdict if verdict.verdict == VIOLATION else None
            return Observation(facts.workload, new_violation)
        self._unlink(record.facts)
        self._remember_departure(record.facts.workload, record.facts.name, record.verdict)
        return Observation(record.facts.workload, None)

    def _remember_departure(self, workload: Workload, pod_name: str, verdict: PodVerdict) -> None:
        if not self.workloads.get(workload):
            self.departed[workload] = finding_content({pod_name: verdict})

    def _unlink(self, facts: PodFacts) -> None:
        uids = self.workloads.get(facts.workload)
        if uids is not None:
            uids.discard(facts.uid)
            if not uids:
                del self.workloads[facts.workload]

    def is_tombstoned(self, uid: str) -> bool:
        return uid in self.tombstones

    def expire_tombstones(self, monotonic_now: float) -> None:
        cutoff = monotonic_now - TOMBSTONE_SECONDS
        for uid in [u for u, at in self.tombstones.items() if at < cutoff]:
            del self.tombstones[uid]

    def forget_unlisted(
        self, listed: set[str], listed_since: float, now: datetime,
        namespace: str | None = None,
    ) -> set[Workload]:
        """After a full re-list: drop pods the list no longer has (deleted unseen).

        Only pods last seen before the listing began are dropped; a pod that an
        event reported during the listing is newer than the list. With a
        `namespace`, the listing was of that namespace only.
        """
        gone = [
            record
            for uid, record in self.pods.items()
            if uid not in listed and record.seen_at < listed_since
            and (namespace is None or record.facts.namespace == namespace)
        ]
        touched: set[Workload] = set()
        for record in gone:
            self._remove_pod(record.facts, now, record.seen_at, deleted=False)
            touched.add(record.facts.workload)
        return touched

    # --- evaluation -------------------------------------------------------------

    def reevaluate(self, now: datetime) -> tuple[set[Workload], list[tuple[PodFacts, PodVerdict]]]:
        """Re-evaluate every host-namespace pod after exceptions changed or expired.

        Returns the workloads whose verdicts changed and the pods that just
        became Violations.
        """
        exception_set = self.exception_set(now)
        changed: set[Workload] = set()
        new_violations: list[tuple[PodFacts, PodVerdict]] = []
        for record in self.pods.values():
            verdict = evaluate_pod(record.facts, exception_set)
            if verdict != record.verdict:
                if verdict.verdict == VIOLATION and record.verdict.verdict != VIOLATION:
                    new_violations.append((record.facts, verdict))
                record.verdict = verdict
                changed.add(record.facts.workload)
        return changed, new_violations

    def content_of(self, workload: Workload, previous: Content | None) -> Content | None:
        """The finding content a workload should have now; None if there is nothing to say."""
        uids = self.workloads.get(workload)
        if uids:
            verdicts = {self.pods[uid].facts.name: self.pods[uid].verdict for uid in uids}
            return finding_content(verdicts)
        last = self.departed.get(workload) or previous
        if last is None:
            return None
        return finding_content({}, previous=last)

    def is_violation(self, workload: Workload) -> bool:
        """Whether a pod of the workload is a Violation now (so is its finding)."""
        return any(self.pods[uid].verdict.verdict == VIOLATION
                   for uid in self.workloads.get(workload, ()))

    def forget_departure(self, workload: Workload) -> None:
        """The finding of a departed workload is written (or deleted): nothing to keep."""
        self.departed.pop(workload, None)

    def live_workloads(self) -> set[Workload]:
        return set(self.workloads)
