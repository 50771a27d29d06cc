"""Why is this pod still a Violation? The matching rule, explained per container.

For every container and every host namespace the pod uses, each exception gets
one answer: it covers the container, or the first reason it does not, in the
order the matching rule checks them (invalid, expired, flag, namespace,
selector, image). The answers come from the same functions the verdict does
(`CompiledException.state`, `applies_to`, `ImagePattern.matches`), so an
explanation cannot disagree with the verdict; `explain` asserts as much.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hostns.evaluation import PodVerdict, display_image, evaluate
from hostns.exceptions import EXPIRED, INVALID, CompiledException, ExceptionSet
from hostns.images import ImageError, ImagePattern, ImageRef, parse_image
from hostns.pods import Container
from hostns.rules import ordered


class Answer(StrEnum):
    """One exception's answer for one container and one host namespace."""

    COVERS = "covers"
    INVALID = "invalid"
    EXPIRED = "expired"
    FLAG = "other host namespaces"
    NAMESPACE = "other namespaces"
    SELECTOR = "selector"
    DIGEST_UNKNOWN = "digest not yet reported"
    DIGEST_MISMATCH = "other digest"
    TAG_WITH_DIGEST = "tag beside a digest"
    PATTERN = "no pattern matches"
    IMAGE_INVALID = "image does not parse"


@dataclass(frozen=True, slots=True)
class ExceptionAnswer:
    exception: str
    answer: Answer
    detail: str  # one sentence for a person


@dataclass(frozen=True, slots=True)
class FlagExplanation:
    flag: str
    covered: bool
    answers: tuple[ExceptionAnswer, ...]  # one per exception, in name order


@dataclass(frozen=True, slots=True)
class ContainerExplanation:
    container: Container
    image: str  # normalised when it parses
    flags: tuple[FlagExplanation, ...]


@dataclass(frozen=True, slots=True)
class Explanation:
    verdict: PodVerdict
    containers: tuple[ContainerExplanation, ...]


def _scope_answer(
    exception: CompiledException, flag: str, namespace: str, labels: Mapping[str, str],
    now: datetime,
) -> ExceptionAnswer | None:
    """The reason this exception does not apply here at all, or None when it does."""
    name = exception.name
    state = exception.state(now)
    if state == INVALID:
        return ExceptionAnswer(name, Answer.INVALID, f"is Invalid and ignored: {exception.error}")
    if state == EXPIRED:
        expired = exception.expires_at.isoformat() if exception.expires_at else "?"
        return ExceptionAnswer(name, Answer.EXPIRED, f"expired at {expired}")
    if flag not in exception.flags:
        covers = ", ".join(ordered(exception.flags))
        return ExceptionAnswer(name, Answer.FLAG, f"covers {covers}, not {flag}")
    if exception.namespaces is not None and namespace not in exception.namespaces:
        where = ", ".join(sorted(exception.namespaces))
        return ExceptionAnswer(name, Answer.NAMESPACE, f"applies in {where}, not in {namespace}")
    if exception.selector is not None and not exception.selector.matches(labels):
        return ExceptionAnswer(name, Answer.SELECTOR, "its podSelector does not select the pod")
    assert exception.applies_to(flag, namespace, labels)  # the same checks, in the same order
    return None


def _pattern_answer(pattern: ImagePattern, ref: ImageRef, digest: str | None) -> Answer:
    """Why `pattern` does not trust `ref`: the closest miss, for the message."""
    if pattern.digest is not None and pattern.matches(ref, pattern.digest):
        # The name is right; only the digest is missing or different.
        return Answer.DIGEST_UNKNOWN if digest is None else Answer.DIGEST_MISMATCH
    without_digest = dataclasses.replace(ref, digest=None)
    if ref.digest is not None and ref.tag is not None and pattern.matches(without_digest, None):
        return Answer.TAG_WITH_DIGEST  # trusts the tag, and only the digest beside it is in the way
    return Answer.PATTERN


_CLOSENESS = (Answer.DIGEST_UNKNOWN, Answer.DIGEST_MISMATCH, Answer.TAG_WITH_DIGEST, Answer.PATTERN)


def _image_answer(
    exception: CompiledException, ref: ImageRef, digest: str | None
) -> ExceptionAnswer:
    name = exception.name
    matching = [p for p in exception.patterns if p.matches(ref, digest)]
    if matching:
        return ExceptionAnswer(name, Answer.COVERS, f"trusts it by {matching[0].text}")
    misses = sorted(
        ((_pattern_answer(p, ref, digest), p) for p in exception.patterns),
        key=lambda miss: _CLOSENESS.index(miss[0]),
    )
    answer, pattern = misses[0]
    details = {
        Answer.DIGEST_UNKNOWN: f"{pattern.text} pins a digest, and the container's digest is "
        "not known yet (the pod spec names a tag and the kubelet has not reported the digest)",
        Answer.DIGEST_MISMATCH: f"{pattern.text} pins {pattern.digest}, the container runs "
        f"{digest}",
        Answer.TAG_WITH_DIGEST: f"{pattern.text} trusts a tag, and the image also names a "
        "digest, which is what runs: a tag pattern does not vouch for it",
        Answer.PATTERN: "no pattern matches: " + ", ".join(p.text for p in exception.patterns),
    }
    return ExceptionAnswer(name, answer, details[answer])


def explain(
    namespace: str,
    labels: Mapping[str, str],
    flags: frozenset[str],
    containers: Sequence[Container],
    exceptions: Sequence[CompiledException],
    now: datetime,
) -> Explanation:
    """Per container and per flag in use, every exception's answer, and the verdict."""
    verdict = evaluate(namespace, labels, flags, tuple(containers), ExceptionSet(exceptions, now))
    by_name = sorted(exceptions, key=lambda e: e.name)
    explained: list[ContainerExplanation] = []
    for container in containers:
        try:
            ref: ImageRef | None = parse_image(container.image)
            problem = ""
        except ImageError as exc:
            ref, problem = None, str(exc)
        per_flag: list[FlagExplanation] = []
        for flag in ordered(flags):
            answers: list[ExceptionAnswer] = []
            for exception in by_name:
                scope = _scope_answer(exception, flag, namespace, labels, now)
                if scope is not None:
                    answers.append(scope)
                elif ref is None:
                    answers.append(ExceptionAnswer(exception.name, Answer.IMAGE_INVALID,
                                                   f"matches nothing: {problem}"))
                else:
                    answers.append(_image_answer(exception, ref, container.digest))
            covered = any(a.answer == Answer.COVERS for a in answers)
            per_flag.append(FlagExplanation(flag, covered, tuple(answers)))
        explained.append(
            ContainerExplanation(container, display_image(container.image), tuple(per_flag))
        )
    result = Explanation(verdict, tuple(explained))
    _check_agreement(result)
    return result


def _check_agreement(result: Explanation) -> None:
    """The explanation and the verdict come from one rule: say so loudly if not."""
    uncovered = {f.flag for c in result.containers for f in c.flags if not f.covered}
    if not result.containers:
        uncovered = set(result.verdict.flags)
    if ordered(uncovered) != result.verdict.uncovered_flags:
        raise AssertionError(
            f"explanation ({sorted(uncovered)}) disagrees with the verdict "
            f"({list(result.verdict.uncovered_flags)})"
        )



def format_explanation(title: str, result: Explanation) -> str:
    """Plain text for a terminal: the verdict, then each container and flag."""
    verdict = result.verdict
    head = f"{title}: {verdict.verdict}"
    if verdict.uncovered_flags:
        head += f" ({', '.join(verdict.uncovered_flags)} not covered)"
    elif not verdict.flags:
        head += " (uses no host namespace)"
    lines = [head]
    for item in result.containers:
        c = item.container
        lines.append(f"  {c.kind[:-1]} {c.name}: {item.image}")
        for flag in item.flags:
            lines.append(f"    {flag.flag}: {'covered' if flag.covered else 'NOT covered'}")
            if not flag.answers:
                lines.append("      (no HostNamespaceException exists)")
            for answer in flag.answers:
                mark = "+" if answer.answer == Answer.COVERS else "-"
                lines.append(f"      {mark} {answer.exception}: {answer.detail}")
    return "\n".join(lines) + "\n"
