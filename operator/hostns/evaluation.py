"""The matching rule: is a pod's use of each host namespace excepted?

Security-critical. A flag F of a pod is excepted only when EVERY container of
the pod (init, regular and ephemeral) is trusted by at least one Active
exception that covers F, the pod's namespace and the pod's labels. The seed
detection rules test `not containers.image: (...)` over an array, which lets
one trusted container vouch for an untrusted sidecar; evaluating each
container on its own closes that bypass. A pod with no readable container is
never excepted (fail closed).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache
from typing import Final, NamedTuple

from hostns.exceptions import ExceptionSet
from hostns.images import ImageError, parse_image
from hostns.pods import Container, PodFacts
from hostns.rules import ordered


class Verdict(StrEnum):
    """A pod's verdict (Compliant, Excepted, Violation); a finding's adds Resolved."""

    COMPLIANT = "Compliant"
    EXCEPTED = "Excepted"
    VIOLATION = "Violation"
    RESOLVED = "Resolved"  # findings only: no live pod of the workload uses a host namespace


COMPLIANT: Final = Verdict.COMPLIANT
EXCEPTED: Final = Verdict.EXCEPTED
VIOLATION: Final = Verdict.VIOLATION


class ImageUse(NamedTuple):
    image: str  # normalised when it parses, else as written
    flags: tuple[str, ...]  # host namespaces this image runs with
    uncovered: tuple[str, ...]  # of those, the ones no exception trusts it for


class PodVerdict(NamedTuple):
    verdict: str  # Compliant | Excepted | Violation
    flags: tuple[str, ...]  # host namespaces in use
    uncovered_flags: tuple[str, ...]
    images: tuple[ImageUse, ...]
    exceptions: tuple[tuple[str, str], ...]  # (name, reason) of exceptions that matched

    @property
    def uncovered_images(self) -> tuple[str, ...]:
        return tuple(use.image for use in self.images if use.uncovered)


@lru_cache(maxsize=16384)
def display_image(image: str) -> str:
    try:
        return str(parse_image(image))
    except ImageError:
        return image


_COMPLIANT = PodVerdict(COMPLIANT, (), (), (), ())


def evaluate(
    namespace: str,
    labels: Mapping[str, str],
    flags: frozenset[str],
    containers: tuple[Container, ...],
    exceptions: ExceptionSet,
) -> PodVerdict:
    if not flags:
        return _COMPLIANT
    flag_order = ordered(flags)
    trusted_by = [exceptions.trusting(c.image, c.digest) for c in containers]
    applicable: dict[int, frozenset[str]] = {}  # exception index -> flags it covers here
    for index in frozenset().union(*trusted_by):
        exception = exceptions.active[index]
        applicable[index] = frozenset(
            f for f in flag_order if exception.applies_to(f, namespace, labels)
        )

    uses: dict[str, set[str]] = {}  # image -> uncovered flags
    matched: set[int] = set()
    for container, indices in zip(containers, trusted_by, strict=True):
        covered: set[str] = set()
        for index in indices:
            if applicable[index]:
                covered |= applicable[index]
                matched.add(index)
        image = display_image(container.image)
        uses.setdefault(image, set()).update(flags - covered)

    uncovered_flags = set().union(*uses.values()) if containers else set(flags)
    images = tuple(
        ImageUse(image, flag_order, ordered(uncovered)) for image, uncovered in sorted(uses.items())
    )
    names = tuple(
        sorted((exceptions.active[i].name, exceptions.active[i].reason) for i in matched)
    )
    verdict = VIOLATION if uncovered_flags else EXCEPTED
    return PodVerdict(verdict, flag_order, ordered(uncovered_flags), images, names)


def evaluate_pod(pod: PodFacts, exceptions: ExceptionSet) -> PodVerdict:
    return evaluate(pod.namespace, pod.label_map, pod.flags, pod.containers, exceptions)
