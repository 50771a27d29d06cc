"""The offline scan: manifests in, one verdict per workload out.

It runs the operator's engine (`pods`, `exceptions`, `evaluation`) on pod
templates instead of live pods. There is no kubelet offline, so a container's
digest is known only when the manifest writes the image with `@sha256:`; a
digest-pinned exception therefore never trusts an image named by tag alone
(fail closed, as the operator does until the kubelet reports the digest).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

from hostns.core.bodies import field, mapping
from hostns.core.evaluation import COMPLIANT, EXCEPTED, VIOLATION, PodVerdict, evaluate
from hostns.core.exceptions import (
    EXPIRED,
    CompiledException,
    ExceptionSet,
    compile_exception,
    format_time,
)
from hostns.core.findings import API_VERSION, GROUP
from hostns.core.pods import Container, container_list_problem, containers_of, flags_of
from hostns.offline.columns import aligned
from hostns.offline.manifests import Manifest, ManifestError, Origin

EXCEPTION_KIND: Final = "HostNamespaceException"
DEFAULT_NAMESPACE: Final = "default"

VERDICT_ORDER: Final[tuple[str, ...]] = (VIOLATION, EXCEPTED, COMPLIANT)


class PodBearing(NamedTuple):
    groups: frozenset[str]  # API groups of the built-in kind ("" is the core group)
    template: tuple[str, ...]  # path to the pod template (metadata + spec); () for a Pod


_CORE, _APPS, _BATCH = frozenset({""}), frozenset({"apps", "extensions"}), frozenset({"batch"})

#: The kinds that carry a pod spec, and where their pod template sits.
POD_BEARING: Final[dict[str, PodBearing]] = {
    "Pod": PodBearing(_CORE, ()),
    "PodTemplate": PodBearing(_CORE, ("template",)),
    "ReplicationController": PodBearing(_CORE, ("spec", "template")),
    "Deployment": PodBearing(_APPS, ("spec", "template")),
    "ReplicaSet": PodBearing(_APPS, ("spec", "template")),
    "DaemonSet": PodBearing(_APPS, ("spec", "template")),
    "StatefulSet": PodBearing(_APPS, ("spec", "template")),
    "Job": PodBearing(_BATCH, ("spec", "template")),
    "CronJob": PodBearing(_BATCH, ("spec", "jobTemplate", "spec", "template")),
}


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


@dataclass(frozen=True, slots=True)
class WorkloadResult:
    kind: str
    namespace: str
    name: str
    api_version: str
    verdict: PodVerdict
    origin: Origin

    def sort_key(self) -> tuple[int, str, str, str, str, int, int]:
        return (
            VERDICT_ORDER.index(self.verdict.verdict),
            self.namespace, self.kind, self.name,
            self.origin.file, self.origin.document, self.origin.item or 0,
        )

    def to_json(self) -> dict[str, Any]:
        """The documented JSON shape (docs/scan.md): every key always present."""
        v = self.verdict
        return {
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "apiVersion": self.api_version,
            "hostNamespaces": list(v.flags),
            "verdict": v.verdict,
            "exceptions": [{"name": name, "reason": reason} for name, reason in v.exceptions],
            "uncovered": [
                {"image": use.image, "hostNamespaces": list(use.uncovered)}
                for use in v.images
                if use.uncovered
            ],
            "images": [
                {"image": use.image, "hostNamespaces": list(use.flags),
                 "uncovered": list(use.uncovered)}
                for use in v.images
            ],
            "source": {"file": self.origin.file, "document": self.origin.document},
        }


@dataclass(frozen=True, slots=True)
class ScanReport:
    results: tuple[WorkloadResult, ...]  # sorted: most severe verdict first
    notes: tuple[str, ...]  # worth telling the user, not errors (an expired exception)
    #: Bad input (one line each, naming file and document). The documents that
    #: could be judged are still in `results`; the scan as a whole is not a pass.
    errors: tuple[str, ...] = ()

    @property
    def violations(self) -> int:
        return sum(1 for r in self.results if r.verdict.verdict == VIOLATION)

    @property
    def exit_code(self) -> int:
        if self.errors:
            return 2
        return 1 if self.violations else 0

    def to_json(self) -> list[dict[str, Any]]:
        return [result.to_json() for result in self.results]

    def summary(self) -> str:
        counts = [
            f"{sum(1 for r in self.results if r.verdict.verdict == verdict)} {verdict}"
            for verdict in VERDICT_ORDER
        ]
        noun = "workload" if len(self.results) == 1 else "workloads"
        return f"{len(self.results)} {noun}: {', '.join(counts)}"


def is_exception(manifest: Manifest) -> bool:
    """Is this one of our HostNamespaceException documents? Raise on a version we cannot read."""
    if manifest.kind != EXCEPTION_KIND:
        return False
    api_version = manifest.body.get("apiVersion")
    if api_version == API_VERSION:
        return True
    if not isinstance(api_version, str) or _group(api_version) == GROUP:
        raise ManifestError(
            manifest.origin,
            f"{EXCEPTION_KIND} with apiVersion {api_version!r}: "
            f"this version of hostns reads {API_VERSION}",
        )
    return False  # the same kind name in someone else's API group


def worth_keeping(manifest: Manifest) -> bool:
    """Does the scan need this manifest (a workload or an exception)? Others are dropped on read."""
    return manifest.kind == EXCEPTION_KIND or _pod_bearing_kind(manifest) is not None


def is_exception_kind(manifest: Manifest) -> bool:
    """Worth keeping from an `--exceptions` path: other kinds there are neither scanned nor used."""
    return manifest.kind == EXCEPTION_KIND


@dataclass(slots=True)
class Policy:
    """The exceptions to apply, and what compiling them had to say."""

    exceptions: list[CompiledException]
    notes: list[str]
    errors: list[str]


def compile_exceptions(manifests: Iterable[Manifest], now: datetime) -> Policy:
    """Compile the exception documents; an Invalid one is bad input, and not applied.

    The operator ignores an Invalid exception and marks it in its status; a
    pipeline should fail instead, before the exception reaches the cluster.
    Two different exceptions with one name are both bad input, and neither is
    applied: which one the cluster would hold depends on the order of apply.
    """
    compiled: dict[str, tuple[Manifest, CompiledException]] = {}
    conflicting: set[str] = set()
    policy = Policy([], [], [])
    for manifest in manifests:
        try:
            if not is_exception(manifest):
                continue
            # Never raises: any failure is an Invalid exception, reported just below.
            exception = compile_exception(manifest.body)
            if not exception.name:
                raise ManifestError(manifest.origin, f"{EXCEPTION_KIND} has no metadata.name")
            if exception.error is not None:
                raise ManifestError(
                    manifest.origin,
                    f"{EXCEPTION_KIND} {exception.name} is invalid: {exception.error}",
                )
            first = compiled.get(exception.name)
            if first is not None:
                if dict(first[0].body.get("spec") or {}) != dict(manifest.body.get("spec") or {}):
                    conflicting.add(exception.name)
                    raise ManifestError(
                        manifest.origin,
                        f"{EXCEPTION_KIND} {exception.name} is also defined, differently, "
                        f"in {first[0].origin}; neither is applied",
                    )
                continue  # the same exception read twice
        except ManifestError as exc:
            policy.errors.append(str(exc))
            continue
        compiled[exception.name] = (manifest, exception)
    for name, (_, exception) in compiled.items():
        if name in conflicting:
            continue
        policy.exceptions.append(exception)
        if exception.state(now) == EXPIRED and exception.expires_at is not None:
            expired = format_time(exception.expires_at)
            policy.notes.append(f"exception {exception.name} expired at {expired}; not applied")
    return policy


def _template(manifest: Manifest, kind: str) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """(spec, labels) of the manifest's pod template.

    ManifestError when there is none, or when its container lists are not lists
    of containers: the API server would refuse it, and reading `containers: {}`
    as empty would let a trusted container beside it vouch for the pod.
    """
    path = POD_BEARING[kind].template
    node: Any = manifest.body
    for key in path:
        node = mapping(node).get(key)
    spec = mapping(node).get("spec")
    where = ".".join((*path, "spec"))
    if not isinstance(spec, Mapping):
        raise ManifestError(manifest.origin, f"{kind} has no pod spec at `{where}`")
    problem = container_list_problem(spec, where)
    if problem is not None:
        raise ManifestError(manifest.origin, f"{kind}: {problem}")
    labels = field(node, "metadata").get("labels")
    return spec, mapping(labels)


def _pod_bearing_kind(manifest: Manifest) -> str | None:
    kind = manifest.kind
    bearing = POD_BEARING.get(kind)
    if bearing is None:
        return None
    api_version = manifest.body.get("apiVersion")
    # Without an apiVersion, assume the built-in kind (fail closed: scan it).
    if isinstance(api_version, str) and _group(api_version) not in bearing.groups:
        return None  # e.g. a Job of another API group, with another shape
    return kind


class TemplateFacts(NamedTuple):
    """What the engine needs of a pod-bearing manifest's pod template."""

    kind: str
    api_version: str
    namespace: str
    name: str
    labels: dict[str, str]
    flags: frozenset[str]
    containers: tuple[Container, ...]


def template_facts(manifest: Manifest) -> TemplateFacts | None:
    """The pod template's facts, or None when the manifest does not carry a pod.

    No status offline: digests come only from images written `@sha256:` in the spec.
    """
    kind = _pod_bearing_kind(manifest)
    if kind is None:
        return None
    metadata = field(manifest.body, "metadata")
    name = metadata.get("name") or metadata.get("generateName")
    if not isinstance(name, str) or not name:
        raise ManifestError(manifest.origin, f"{kind} has no metadata.name")
    namespace = metadata.get("namespace") or DEFAULT_NAMESPACE
    spec, raw_labels = _template(manifest, kind)
    api_version = manifest.body.get("apiVersion")
    return TemplateFacts(
        kind=kind,
        api_version=api_version if isinstance(api_version, str) else "",
        namespace=str(namespace),
        name=name,
        labels={str(key): str(value) for key, value in raw_labels.items()},
        flags=flags_of(spec),
        containers=containers_of(spec, {}),
    )


def evaluate_manifest(manifest: Manifest, exceptions: ExceptionSet) -> WorkloadResult | None:
    """The verdict for one manifest, or None when it does not carry a pod."""
    facts = template_facts(manifest)
    if facts is None:
        return None
    verdict = evaluate(facts.namespace, facts.labels, facts.flags, facts.containers, exceptions)
    return WorkloadResult(
        kind=facts.kind,
        namespace=facts.namespace,
        name=facts.name,
        api_version=facts.api_version,
        verdict=verdict,
        origin=manifest.origin,
    )


def scan(
    manifests: Sequence[Manifest],
    exception_manifests: Sequence[Manifest] = (),
    now: datetime | None = None,
    *,
    trust_manifest_exceptions: bool = False,
) -> ScanReport:
    """Evaluate every pod-bearing manifest against the exceptions of `exception_manifests`.

    Exceptions come from the policy input only. A `HostNamespaceException`
    among the scanned `manifests` is checked (an invalid one is bad input: it
    is on its way to the cluster) and reported in a note, never applied —
    otherwise whoever edits the manifests could ship an exception for their
    own pod and pass, which the operator (cluster-scoped exceptions, an
    administrator's act) does not allow either. `trust_manifest_exceptions`
    applies them anyway, for a repository where the policy lives with the
    manifests under the same review.

    Kinds that carry no pod (Service, ConfigMap...) are ignored. Documents in
    `exception_manifests` that are not exceptions are ignored as well. Bad
    documents are reported in `errors`; every other one is still judged.
    """
    now = datetime.now(UTC) if now is None else now
    errors: list[str] = []
    scanned: list[Manifest] = []
    found: list[Manifest] = []  # exceptions among the scanned manifests
    for manifest in manifests:
        try:
            (found if is_exception(manifest) else scanned).append(manifest)
        except ManifestError as exc:
            errors.append(str(exc))
    if trust_manifest_exceptions:
        policy = compile_exceptions((*found, *exception_manifests), now)
    else:
        policy = compile_exceptions(exception_manifests, now)
        # Never applied, still checked: an invalid one is bad input on its way to the cluster.
        invalid = compile_exceptions(found, now).errors
        policy.errors.extend(invalid)
        for manifest in found:
            if any(error.startswith(f"{manifest.origin}: ") for error in invalid):
                continue
            name = field(manifest.body, "metadata").get("name")
            policy.notes.append(
                f"{manifest.origin}: {EXCEPTION_KIND} {name} is among the scanned manifests: "
                "not applied (exceptions come from --exceptions only; "
                "--trust-manifest-exceptions applies these)"
            )
    errors = [*policy.errors, *errors]
    exception_set = ExceptionSet(policy.exceptions, now)
    results: list[WorkloadResult] = []
    for manifest in scanned:
        try:
            result = evaluate_manifest(manifest, exception_set)
        except ManifestError as exc:
            errors.append(str(exc))
            continue
        if result is not None:
            results.append(result)
    results.sort(key=WorkloadResult.sort_key)
    return ScanReport(tuple(results), tuple(policy.notes), tuple(errors))


TABLE_HEADER: Final = (
    "KIND", "NAMESPACE", "NAME", "HOST-NAMESPACES", "VERDICT", "EXCEPTIONS", "UNCOVERED",
)


def _row(result: WorkloadResult) -> tuple[str, ...]:
    v = result.verdict
    uncovered = ", ".join(
        f"{use.image} ({','.join(use.uncovered)})" for use in v.images if use.uncovered
    )
    return (
        result.kind,
        result.namespace,
        result.name,
        ",".join(v.flags) or "-",
        v.verdict,
        ",".join(name for name, _ in v.exceptions) or "-",
        uncovered or "-",
    )


def format_table(results: Iterable[WorkloadResult]) -> str:
    """Aligned columns, like `kubectl get`; the last column is not padded."""
    return aligned(TABLE_HEADER, (_row(result) for result in results))
