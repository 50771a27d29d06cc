"""Kubernetes audit events judged with the seed rules, and their known gaps closed.

Pure: an `audit.k8s.io/v1` Event (a mapping) in, an `AuditResult` out; reading
files is `auditlog`'s job. The engine is the one `scan` and the operator use
(`pods`, `exceptions`, `evaluation`, `workloads`), so a pod is judged the same
way whether it is seen live, in a manifest or in an audit log.

Where this differs from the seed rules (each difference is tested and listed in
docs/audit.md):

- every container (init, regular, ephemeral) must be trusted, not "some
  container image is on the list";
- `pods/ephemeralcontainers` (what `kubectl debug` writes) is a pod change;
- the object judged is the stored one (`responseObject`) when the audit level
  recorded it; a patch's `requestObject` is only a fragment, so a patch without a
  response object is `Unknown`, never read as a whole pod and never Compliant;
- workload writes are judged on their pod template: a controller-made pod's audit
  actor is the controller's ServiceAccount, the human is the workload's writer;
- forbidden and failed requests are attempts worth listing (`Denied`, `Rejected`);
- exceptions are judged at the event's `requestReceivedTimestamp`;
- a server-side dry run (`?dryRun=All`) persisted nothing: an allowed, successful one
  is counted as `DryRun`, never a Violation (a refused one is still an attempt).

`written` also serves the operator's live attribution (spec §6.4): which workload an
allowed, successful write changed, so its finding can name the writer.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from hostns.core.bodies import field as sub
from hostns.core.bodies import mapping
from hostns.core.evaluation import COMPLIANT, EXCEPTED, VIOLATION, PodVerdict, evaluate
from hostns.core.exceptions import CompiledException, ExceptionSet, parse_time
from hostns.core.findings import flag_entries  # one shape for flag metadata
from hostns.core.pods import containers_of, flags_of
from hostns.core.workloads import Workload, workload_of
from hostns.offline.scan import DEFAULT_NAMESPACE, POD_BEARING


class Verdict(StrEnum):
    VIOLATION = VIOLATION
    EXCEPTED = EXCEPTED
    DENIED = "Denied"  # the authorizer refused the write: an attempt, object unknown
    REJECTED = "Rejected"  # allowed, then failed (admission, validation): an attempt
    UNKNOWN = "Unknown"  # written, but the log does not hold the whole object
    COMPLIANT = COMPLIANT  # sets no host namespace: counted, never listed
    DRY_RUN = "DryRun"  # allowed and answered, but `dryRun=All`: nothing was written


#: Listed verdicts, most urgent first (table order and the summary line).
LISTED: Final[tuple[Verdict, ...]] = (
    Verdict.VIOLATION, Verdict.DENIED, Verdict.REJECTED, Verdict.UNKNOWN, Verdict.EXCEPTED,
)
#: Verdicts counted, never listed.
QUIET: Final = frozenset({Verdict.COMPLIANT, Verdict.DRY_RUN})
#: Verdicts that make `hostns audit` exit 1.
FAILING: Final = frozenset({Verdict.VIOLATION, Verdict.DENIED, Verdict.REJECTED})

JUDGED_VERBS: Final = frozenset({"create", "update", "patch"})
JUDGED_STAGES: Final = frozenset({"ResponseComplete", "Panic"})
EPHEMERAL_CONTAINERS: Final = "ephemeralcontainers"

#: Resource (URL plural) -> kind, for every pod-bearing kind of `scan`. Each of
#: these kinds has the regular plural `<kind lowercase>s`.
RESOURCES: Final[dict[str, str]] = {kind.lower() + "s": kind for kind in POD_BEARING}

DECISION_KEY: Final = "authorization.k8s.io/decision"
# Elastic's Kubernetes integration stores annotation keys with their dots replaced.
_DECISION_KEYS: Final = (DECISION_KEY, DECISION_KEY.replace(".", "_"))
ALLOW, FORBID = "allow", "forbid"

# An event without a readable time is judged as if every expiring exception had
# expired: only the exceptions that never expire can cover it (fail closed).
_NO_TIME: Final = datetime.max.replace(tzinfo=UTC)


class ExceptionTimeline:
    """The ExceptionSet in force at any instant, built once per interval between expiries.

    An audit log spans hours or days, and exceptions expire in between; but which
    exceptions are active changes only at an `expiresAt`, so there are at most
    (number of expiries + 1) distinct sets, each compiled on first use.
    """

    def __init__(self, exceptions: Iterable[CompiledException]) -> None:
        self._exceptions = tuple(exceptions)
        self._boundaries = sorted(
            {e.expires_at for e in self._exceptions if e.error is None and e.expires_at}
        )
        self._sets: dict[int, ExceptionSet] = {}

    def at(self, when: datetime | None) -> ExceptionSet:
        when = _NO_TIME if when is None else when
        # `state()` counts an exception as Expired from `expiresAt` on: bisect_right
        # puts an instant equal to a boundary in the interval after it.
        interval = bisect_right(self._boundaries, when)
        found = self._sets.get(interval)
        if found is None:
            found = self._sets[interval] = ExceptionSet(self._exceptions, when)
        return found


@dataclass(frozen=True, slots=True)
class AuditResult:
    """One judged request. `verdict` is a flag-level result only for a judged object."""

    verdict: Verdict
    event: Mapping[str, Any]  # the audit event, for the fields read from it
    kind: str
    namespace: str | None
    name: str | None
    workload: Workload | None
    pod: PodVerdict | None  # None: the object was not recorded (Denied, Unknown...)

    @property
    def listed(self) -> bool:
        return self.verdict not in QUIET

    @property
    def host_namespaces(self) -> tuple[str, ...] | None:
        return None if self.pod is None else self.pod.flags

    def to_json(self) -> dict[str, Any]:
        """The documented JSON shape (docs/audit.md): every key always present."""
        event, ref = self.event, sub(self.event, "objectRef")
        pod = self.pod
        uncovered = set(pod.uncovered_flags) if pod is not None else set()
        return {
            "time": _string(event.get("requestReceivedTimestamp")),
            "auditID": _string(event.get("auditID")),
            "verb": _string(event.get("verb")),
            "resource": _string(ref.get("resource")),
            "subresource": _string(ref.get("subresource")),
            "namespace": self.namespace,
            "name": self.name,
            "kind": self.kind,
            "workload": self.workload.as_ref() if self.workload is not None else None,
            "user": _user(event.get("user")),
            "impersonatedUser": _user(event["impersonatedUser"])
            if isinstance(event.get("impersonatedUser"), Mapping) else None,
            "sourceIPs": _strings(event.get("sourceIPs")),
            "userAgent": _string(event.get("userAgent")),
            "decision": decision_of(event),
            "code": code_of(event),
            "dryRun": is_dry_run(event),
            "hostNamespaces": flag_entries(pod.flags, uncovered) if pod is not None else None,
            "verdict": str(self.verdict),
            "uncovered": [
                {"image": use.image, "hostNamespaces": list(use.uncovered)}
                for use in (pod.images if pod is not None else ())
                if use.uncovered
            ],
            "exceptions": [
                {"name": name, "reason": reason}
                for name, reason in (pod.exceptions if pod is not None else ())
            ],
        }


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _strings(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _user(value: Any) -> dict[str, Any]:
    user = mapping(value)
    return {
        "username": _string(user.get("username")),
        "uid": _string(user.get("uid")),
        "groups": _strings(user.get("groups")),
    }


def decision_of(event: Mapping[str, Any]) -> str | None:
    annotations = sub(event, "annotations")
    for key in _DECISION_KEYS:
        value = annotations.get(key)
        if isinstance(value, str):
            return value
    return None


def code_of(event: Mapping[str, Any]) -> int | None:
    code = sub(event, "responseStatus").get("code")
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def is_dry_run(event: Mapping[str, Any]) -> bool:
    """Was this a server-side dry run? The audit event says so only in `requestURI`.

    Only the one value the API server accepts counts (`dryRun=All`; any other value is
    refused with 400): a real write is never mistaken for a dry run (fail closed).
    """
    uri = event.get("requestURI")
    if not isinstance(uri, str) or "?" not in uri:
        return False
    query = uri.split("?", 1)[1].split("#", 1)[0]
    return any(part == "dryRun=All" for part in query.split("&"))


def time_of(event: Mapping[str, Any]) -> datetime | None:
    value = event.get("requestReceivedTimestamp")
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def judged_kind(event: Mapping[str, Any]) -> str | None:
    """The pod-bearing kind this request writes, or None when it is not judged."""
    ref = sub(event, "objectRef")
    return judged_kind_of(
        event.get("stage"), event.get("verb"),
        ref.get("resource"), ref.get("apiGroup"), ref.get("subresource"),
    )


def judged_kind_of(
    stage: Any, verb: Any, resource: Any, api_group: Any, subresource: Any
) -> str | None:
    """`judged_kind` on the five fields that decide it (the reader's skip uses it too)."""
    if stage not in JUDGED_STAGES or verb not in JUDGED_VERBS:
        return None
    kind = RESOURCES.get(resource) if isinstance(resource, str) else None
    if kind is None:
        return None
    if (api_group or "") not in POD_BEARING[kind].groups:
        return None  # a `jobs` resource of some CRD's group has another shape
    # `status`, `scale`, `binding`, `eviction`... do not change the pod spec; the
    # ephemeral containers `kubectl debug` adds run in the pod's namespaces.
    if subresource and not (kind == "Pod" and subresource == EPHEMERAL_CONTAINERS):
        return None
    return kind


def _recorded_object(event: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    """The whole object the request wrote, as the log recorded it, or None.

    The stored object (`responseObject`) is preferred: it is what runs, after
    defaulting and mutating admission. A create's or update's `requestObject` is a
    whole object too; a patch's is only the patch.
    """
    response = event.get("responseObject")
    if isinstance(response, Mapping) and response.get("kind") == kind:
        return response
    request = event.get("requestObject")
    if event.get("verb") in ("create", "update") and isinstance(request, Mapping):
        request_kind = request.get("kind")
        # A create may omit kind/apiVersion in its body (the URL says what it is).
        if request_kind in (kind, None):
            return request
    return None


def _template(body: Mapping[str, Any], kind: str) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """(metadata, spec) of the pod template at the kind's path (scan's table)."""
    node: Any = body
    for key in POD_BEARING[kind].template:
        node = mapping(node).get(key)
    return sub(node, "metadata"), sub(node, "spec")


def _workload(kind: str, namespace: str, name: str | None, body: Mapping[str, Any]) -> Workload:
    metadata = sub(body, "metadata")
    if kind == "Pod":
        return workload_of(namespace, metadata)
    derived = workload_of(namespace, metadata)
    if derived.kind != "Pod":  # owned: a Deployment's ReplicaSet, a CronJob's Job
        return derived
    api_version = body.get("apiVersion")
    return Workload(
        namespace, api_version if isinstance(api_version, str) else "", kind, name or ""
    )


def judge(event: Mapping[str, Any], timeline: ExceptionTimeline) -> AuditResult | None:
    """The verdict on one audit event, or None when it is not a judged request."""
    kind = judged_kind(event)
    if kind is None:
        return None
    ref = sub(event, "objectRef")
    ref_namespace, ref_name = _string(ref.get("namespace")), _string(ref.get("name"))

    def attempt(verdict: Verdict) -> AuditResult:
        return AuditResult(verdict, event, kind, ref_namespace, ref_name, None, None)

    if decision_of(event) == FORBID:
        return attempt(Verdict.DENIED)
    code = code_of(event)
    failed = (code is not None and code >= 400) or (
        code is None and event.get("stage") == "Panic"
    )
    if is_dry_run(event) and not failed:
        return attempt(Verdict.DRY_RUN)  # a probe of admission at most: nothing was written
    body = _recorded_object(event, kind)
    if body is None:
        # A failed write without its object may have been anything: list it.
        return attempt(Verdict.REJECTED if failed else Verdict.UNKNOWN)

    metadata = sub(body, "metadata")
    # The URL's namespace is authoritative: a body claiming another one is refused by
    # the API server, and a refused body must not be judged where an exception applies.
    namespace = ref_namespace or _string(metadata.get("namespace")) or DEFAULT_NAMESPACE
    name = ref_name or _string(metadata.get("name")) or _string(metadata.get("generateName"))
    template_metadata, spec = _template(body, kind)
    raw_labels = template_metadata.get("labels")
    labels = (
        {str(k): str(v) for k, v in raw_labels.items()} if isinstance(raw_labels, Mapping) else {}
    )
    # Only a Pod has a kubelet status, whose imageIDs can satisfy a digest pin.
    status = sub(body, "status") if kind == "Pod" else {}
    verdict = evaluate(
        namespace, labels, flags_of(spec), containers_of(spec, status),
        timeline.at(time_of(event)),
    )
    outcome = Verdict(verdict.verdict)
    if failed:
        # A failed write changed nothing; it is a probe worth listing when what it
        # tried would have been a Violation. A trusted agent's retried create is not.
        outcome = Verdict.REJECTED if outcome == Verdict.VIOLATION else Verdict.COMPLIANT
    return AuditResult(
        outcome, event, kind, namespace, name, _workload(kind, namespace, name, body), verdict
    )


@dataclass(frozen=True, slots=True)
class Written:
    """An allowed, successful, real write of a pod or a pod template (live attribution)."""

    kind: str
    namespace: str
    name: str | None
    #: The finding's workload; None when the event holds no object to derive it from
    #: (a Metadata-level pod write: its owner is unknown).
    workload: Workload | None
    #: Host namespaces the written object uses; None when the object was not recorded.
    flags: frozenset[str] | None


def written(event: Mapping[str, Any]) -> Written | None:
    """What a `ResponseComplete` event wrote, when it changed a pod or a pod template.

    Not a write: another stage (a Panic wrote nothing known), a refused or failed
    request, a dry run. The workload is derived as `judge` and the findings derive it.
    """
    if event.get("stage") != "ResponseComplete":
        return None
    kind = judged_kind(event)
    code = code_of(event)
    if kind is None or decision_of(event) == FORBID or code is None or code >= 400 \
            or is_dry_run(event):
        return None
    ref = sub(event, "objectRef")
    ref_namespace, ref_name = _string(ref.get("namespace")), _string(ref.get("name"))
    body = _recorded_object(event, kind)
    if body is None:
        namespace = ref_namespace or DEFAULT_NAMESPACE
        workload = None
        if kind != "Pod" and ref_name:
            # A workload with no object recorded: keyed as itself (its controller unknown).
            group = _string(ref.get("apiGroup"))
            version = _string(ref.get("apiVersion")) or "v1"
            workload = Workload(namespace, f"{group}/{version}" if group else version,
                                kind, ref_name)
        return Written(kind, namespace, ref_name, workload, None)
    metadata = sub(body, "metadata")
    namespace = ref_namespace or _string(metadata.get("namespace")) or DEFAULT_NAMESPACE
    name = ref_name or _string(metadata.get("name"))
    _, spec = _template(body, kind)
    return Written(kind, namespace, name, _workload(kind, namespace, name, body), flags_of(spec))


class RecentIDs:
    """The auditIDs seen most recently, bounded: one result per request, constant memory.

    The same request logged twice at a judged stage (both `ResponseComplete` and
    `Panic`, or an overlapping export and log) is counted once. Duplicates sit close
    together in a log, so remembering the last `limit` judged requests suffices.
    """

    def __init__(self, limit: int = 50_000) -> None:  # 8.5 MiB at most, the IDs included
        self._limit = limit
        self._seen: OrderedDict[str, None] = OrderedDict()

    def first_time(self, audit_id: Any) -> bool:
        if not isinstance(audit_id, str) or not audit_id:
            return True  # nothing to deduplicate on: judge it
        if audit_id in self._seen:
            return False
        self._seen[audit_id] = None
        if len(self._seen) > self._limit:
            self._seen.popitem(last=False)
        return True


@dataclass(slots=True)
class Tally:
    """What a run judged, by verdict, plus the requests seen again."""

    verdicts: dict[str, int] = field(default_factory=lambda: {str(v): 0 for v in Verdict})
    duplicates: int = 0

    @property
    def judged(self) -> int:
        """Writes judged; dry runs, which wrote nothing, are counted apart."""
        return sum(self.verdicts.values()) - self.verdicts[str(Verdict.DRY_RUN)]

    @property
    def failing(self) -> bool:
        return any(self.verdicts[str(v)] for v in FAILING)


def audit(
    events: Iterable[Mapping[str, Any]], timeline: ExceptionTimeline, tally: Tally,
    recent: RecentIDs | None = None,
) -> Iterator[AuditResult]:
    """The listed results of `events`, in input order; `tally` counts every judged one."""
    recent = RecentIDs() if recent is None else recent
    for event in events:
        result = judge(event, timeline)
        if result is None:
            continue
        if not recent.first_time(event.get("auditID")):
            tally.duplicates += 1
            continue
        tally.verdicts[str(result.verdict)] += 1
        if result.listed:
            yield result
