"""The facts about a pod that the evaluation needs, extracted from its body.

The operator keeps these small tuples in memory instead of pod bodies, and only
for pods that use a host namespace: a compliant pod is never stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from hostns.core.bodies import field
from hostns.core.images import ImageError, digest_from_image_id, parse_image
from hostns.core.rules import FLAGS
from hostns.core.workloads import Workload, workload_of

# (spec list, status list) per container kind; ephemeral containers count too:
# `kubectl debug` adds one to a running pod, and it must be trusted as well.
CONTAINER_KINDS: tuple[tuple[str, str], ...] = (
    ("initContainers", "initContainerStatuses"),
    ("containers", "containerStatuses"),
    ("ephemeralContainers", "ephemeralContainerStatuses"),
)
_FINISHED_PHASES = frozenset({"Succeeded", "Failed"})


class Container(NamedTuple):
    name: str
    kind: str  # initContainers | containers | ephemeralContainers
    image: str  # as written in the spec
    digest: str | None  # from the spec, else from the kubelet's imageID; None while unknown


class PodFacts(NamedTuple):
    uid: str
    namespace: str
    name: str
    labels: tuple[tuple[str, str], ...]
    flags: frozenset[str]
    containers: tuple[Container, ...]
    workload: Workload
    live: bool  # exists and has not finished (Succeeded/Failed pods hold no namespace)

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


def flag_set(value: Any) -> bool:
    """Is a host-namespace field set? Anything but an explicit false counts (fail closed)."""
    if value is None or value is False:
        return False
    return not (isinstance(value, str) and value.strip().lower() in ("false", ""))


def flags_of(spec: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(flag for flag in FLAGS if flag_set(spec.get(flag)))


def _reported_digest(image: str, status: Mapping[str, Any] | None) -> str | None:
    """The digest the kubelet reports for this container, if it is for this image.

    A status can be stale (the spec's image was just changed), so it is used
    only when the image it reports is the same repository and tag.
    """
    if not status:
        return None
    image_id = status.get("imageID")
    if not isinstance(image_id, str):
        return None
    digest = digest_from_image_id(image_id)
    if digest is None:
        return None
    reported = status.get("image")
    if isinstance(reported, str) and reported:
        try:
            spec_ref, status_ref = parse_image(image), parse_image(reported)
        except ImageError:
            return None
        if status_ref.name != spec_ref.name:
            return None
        if status_ref.digest is None and status_ref.tag != spec_ref.tag:
            return None
        if status_ref.digest is not None and status_ref.digest != digest:
            return None
    return digest


def _container_digest(image: str, status: Mapping[str, Any] | None) -> str | None:
    try:
        ref = parse_image(image)
    except ImageError:
        return None
    return ref.digest if ref.digest is not None else _reported_digest(image, status)


def container_list_problem(spec: Mapping[str, Any], at: str = "spec") -> str | None:
    """Why the container lists of `spec` are not lists of containers, or None when they are.

    `at` is where the pod spec sits in its document (`spec.template.spec` in a
    Deployment), for the message.

    The API server would refuse such a pod; a scanner still meets it in Git, and
    `containers: {}` beside a trusted init container must not read as "no other
    container" (see `containers_of`).
    """
    for spec_key, _ in CONTAINER_KINDS:
        if spec_key not in spec:
            continue
        entries = spec[spec_key]
        if not isinstance(entries, list):
            return f"{at}.{spec_key} must be a list of containers, not {_shape(entries)}"
        for position, entry in enumerate(entries):
            if not isinstance(entry, Mapping):
                where = f"{at}.{spec_key}[{position}]"
                return f"{where} must be a container object, not {_shape(entry)}"
            image = entry.get("image")
            if not isinstance(image, str) or not image:
                return f"{at}.{spec_key}[{position}].image must be a non-empty string"
    return None


def _shape(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"[:60]


def containers_of(spec: Mapping[str, Any], status: Mapping[str, Any]) -> tuple[Container, ...]:
    """Every container of the spec, in the order init, regular, ephemeral.

    Fail closed: a container list that is present but not a list (`null`, `{}`,
    `""`, `0`, `false`) is recorded as one `<unreadable>` container instead of
    being read as empty, so that it can never be trusted.
    """
    containers: list[Container] = []
    for spec_key, status_key in CONTAINER_KINDS:
        entries = spec.get(spec_key, [])
        statuses = status.get(status_key)
        statuses = statuses if isinstance(statuses, list) else []
        # Only well-formed statuses: a non-string name would not even be hashable.
        by_name = {
            s["name"]: s
            for s in statuses
            if isinstance(s, Mapping) and isinstance(s.get("name"), str)
        }
        if not isinstance(entries, list):
            containers.append(Container("?", spec_key, "<unreadable>", None))
            continue
        for entry in entries:
            if not isinstance(entry, Mapping):
                containers.append(Container("?", spec_key, "<unreadable>", None))
                continue
            name = str(entry.get("name") or "?")
            image = entry.get("image")
            image = image if isinstance(image, str) and image else "<missing>"
            digest = _container_digest(image, by_name.get(name))
            containers.append(Container(name, spec_key, image, digest))
    return tuple(containers)


def pod_facts(body: Mapping[str, Any]) -> PodFacts:
    """Extract PodFacts from a pod body; never raises on a strange body."""
    metadata, spec, status = field(body, "metadata"), field(body, "spec"), field(body, "status")
    namespace = str(metadata.get("namespace") or "default")
    raw_labels = metadata.get("labels")
    labels = (
        tuple(sorted((str(k), str(v)) for k, v in raw_labels.items()))
        if isinstance(raw_labels, Mapping)
        else ()
    )
    return PodFacts(
        uid=str(metadata.get("uid") or ""),
        namespace=namespace,
        name=str(metadata.get("name") or ""),
        labels=labels,
        flags=flags_of(spec),
        containers=containers_of(spec, status),
        workload=workload_of(namespace, metadata),
        live=str(status.get("phase")) not in _FINISHED_PHASES,
    )
