"""HostNamespaceException resources, compiled into in-memory matchers.

An exception that passes the CRD schema but still cannot be used (a pattern
the engine refuses, a selector it cannot evaluate, an unreadable expiry) is
compiled as Invalid and matches nothing: fail closed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from hostns.core.bodies import field
from hostns.core.conditions import set_condition
from hostns.core.images import ImageError, ImagePattern, parse_image, parse_pattern
from hostns.core.labels import LabelSelector, SelectorError, parse_selector
from hostns.core.rules import FLAGS


class ExceptionState(StrEnum):
    """The `Active` condition of an exception: True when ACTIVE, else the reason."""

    ACTIVE = "Active"
    EXPIRED = "Expired"
    INVALID = "Invalid"


ACTIVE: Final = ExceptionState.ACTIVE
EXPIRED: Final = ExceptionState.EXPIRED
INVALID: Final = ExceptionState.INVALID

_CACHE_LIMIT = 65536


def parse_time(value: str) -> datetime:
    """Parse an RFC 3339 timestamp (with `Z` or an offset) into an aware UTC datetime.

    Raises ValueError for anything unusable, including a valid RFC 3339 time
    that falls outside 0001-01-01..9999-12-31 once converted to UTC
    (`9999-12-31T23:00:00-05:00`): Python cannot represent it.
    """
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no time zone")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            f"timestamp {value!r} is outside 0001-01-01T00:00:00Z..9999-12-31T23:59:59Z in UTC"
        ) from None


@dataclass(frozen=True, slots=True)
class CompiledException:
    name: str
    reason: str
    patterns: tuple[ImagePattern, ...]
    flags: frozenset[str]
    namespaces: frozenset[str] | None  # None: every namespace
    selector: LabelSelector | None  # None: every pod
    expires_at: datetime | None
    generation: int
    error: str | None = None  # set: Invalid, and the message says why

    def state(self, now: datetime) -> ExceptionState:
        if self.error is not None:
            return INVALID
        if self.expires_at is not None and now >= self.expires_at:
            return EXPIRED
        return ACTIVE

    def applies_to(self, flag: str, namespace: str, labels: Mapping[str, str]) -> bool:
        """Does this exception cover `flag` for a pod in `namespace` with `labels`?"""
        if flag not in self.flags:
            return False
        if self.namespaces is not None and namespace not in self.namespaces:
            return False
        return self.selector is None or self.selector.matches(labels)


def _invalid(name: str, reason: str, generation: int, error: str) -> CompiledException:
    return CompiledException(
        name, reason, (), frozenset(), frozenset(), None, None, generation, error
    )


def _string_list(spec: Mapping[str, Any], field: str) -> list[str] | None:
    value = spec.get(field)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"spec.{field} must be a list of strings")
    return value


def compile_exception(body: Mapping[str, Any]) -> CompiledException:
    """Compile an exception body. Never raises: problems make it Invalid.

    Security: whatever goes wrong while compiling, the result is an Invalid
    exception that trusts nothing. Were an error to escape, the caller would
    keep the previously compiled spec, and an exception edited to a value we
    cannot read would go on trusting what its old spec trusted.
    """
    name, generation = _identity(body)
    try:
        return _compile(body, name, generation)
    except Exception as exc:  # any failure at all must withdraw trust
        return _invalid(name, "", generation, f"cannot be compiled: {type(exc).__name__}: {exc}")


def _identity(body: Mapping[str, Any]) -> tuple[str, int]:
    metadata = field(body, "metadata")
    name = metadata.get("name")
    generation = metadata.get("generation")
    return (
        name if isinstance(name, str) else "",
        generation if isinstance(generation, int) and not isinstance(generation, bool) else 0,
    )


def _compile(body: Mapping[str, Any], name: str, generation: int) -> CompiledException:
    spec = body.get("spec")
    if not isinstance(spec, Mapping):
        return _invalid(name, "", generation, "spec is missing")
    reason = spec.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        return _invalid(name, "", generation, "spec.reason must be a non-empty string")
    try:
        images = _string_list(spec, "images")
        if not images:
            raise ValueError("spec.images must list at least one image pattern")
        patterns = tuple(parse_pattern(text) for text in images)
        flag_list = _string_list(spec, "hostNamespaces")
        if flag_list is not None:
            unknown = sorted(set(flag_list) - set(FLAGS))
            if unknown:
                raise ValueError(f"spec.hostNamespaces: unknown host namespace(s) {unknown}")
            if not flag_list:
                raise ValueError("spec.hostNamespaces must not be empty (omit it for all three)")
        flags = frozenset(flag_list) if flag_list is not None else frozenset(FLAGS)
        namespace_list = _string_list(spec, "namespaces")
        namespaces = frozenset(namespace_list) if namespace_list is not None else None
        raw_selector = spec.get("podSelector")
        selector = parse_selector(raw_selector) if raw_selector is not None else None
        raw_expiry = spec.get("expiresAt")
        if raw_expiry is not None and not isinstance(raw_expiry, str):
            raise ValueError("spec.expiresAt must be an RFC 3339 timestamp")
        expires_at = parse_time(raw_expiry) if raw_expiry is not None else None
    except (ImageError, SelectorError, ValueError) as exc:
        return _invalid(name, reason, generation, str(exc))
    return CompiledException(
        name, reason, patterns, flags, namespaces, selector, expires_at, generation
    )


class ExceptionSet:
    """The exceptions that are Active at `now`, indexed for fast image matching.

    Patterns with a literal repository sit in a dictionary keyed by
    (registry, repository); wildcard patterns are grouped per registry (hosts
    lower-cased: they are case-insensitive). Which
    exceptions trust a given (image, digest) is cached: pods repeat images.
    """

    def __init__(self, exceptions: Iterable[CompiledException], now: datetime) -> None:
        self.active: tuple[CompiledException, ...] = tuple(
            sorted((e for e in exceptions if e.state(now) == ACTIVE), key=lambda e: e.name)
        )
        self._literal: dict[tuple[str, str], list[tuple[ImagePattern, int]]] = {}
        self._wildcard: dict[str, list[tuple[ImagePattern, int]]] = {}
        for index, exception in enumerate(self.active):
            for pattern in exception.patterns:
                if pattern.literal_repository:
                    key = (pattern.registry_key, pattern.repository)
                    self._literal.setdefault(key, []).append((pattern, index))
                else:
                    self._wildcard.setdefault(pattern.registry_key, []).append((pattern, index))
        self._cache: dict[tuple[str, str | None], frozenset[int]] = {}

    def __len__(self) -> int:
        return len(self.active)

    def trusting(self, image: str, digest: str | None) -> frozenset[int]:
        """Indices (into `active`) of the exceptions with a pattern matching this image."""
        key = (image, digest)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        try:
            ref = parse_image(image)
        except ImageError:
            result: frozenset[int] = frozenset()  # unparseable: trusted by nothing
        else:
            candidates = self._literal.get((ref.registry_key, ref.repository), [])
            wildcards = self._wildcard.get(ref.registry_key, [])
            result = frozenset(
                index
                for pattern, index in (*candidates, *wildcards)
                if pattern.matches(ref, digest)
            )
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = result
        return result


def next_expiry(exceptions: Iterable[CompiledException], now: datetime) -> datetime | None:
    """The earliest future expiry among still-active exceptions, for the expiry timer."""
    future = [
        e.expires_at
        for e in exceptions
        if e.error is None and e.expires_at is not None and e.expires_at > now
    ]
    return min(future, default=None)


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC to the second, as the API server writes them (`parse_time`'s inverse)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def exception_status(
    exception: CompiledException,
    covered_workloads: int,
    now: datetime,
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The status an exception should have: its `Active` condition and what it covers.

    `previous` is the stored status: its condition's lastTransitionTime is kept
    while the state is unchanged (one rule, in hostns.core.conditions).
    """
    state = exception.state(now)
    if state == ACTIVE:
        status, message = "True", "the exception applies"
    elif state == EXPIRED:
        status, message = "False", f"expired at {format_time(exception.expires_at or now)}"
    else:
        status, message = "False", exception.error or "invalid"
    condition = {
        "type": "Active",
        "status": status,
        "reason": str(state),
        "message": message,
        "observedGeneration": exception.generation,
    }
    stored = (previous or {}).get("conditions")
    return {
        "observedGeneration": exception.generation,
        "coveredWorkloads": covered_workloads,
        "conditions": set_condition(stored if isinstance(stored, list) else None, condition,
                                    format_time(now)),
    }


def same_exception_status(desired: Mapping[str, Any], stored: Mapping[str, Any]) -> bool:
    """Does the stored status already say this (timestamps aside)? Then no write."""
    for key in ("observedGeneration", "coveredWorkloads"):
        if desired.get(key) != stored.get(key):
            return False
    stored_conditions = stored.get("conditions") or []
    if not stored_conditions or not isinstance(stored_conditions, list):
        return False
    want, have = desired["conditions"][0], stored_conditions[0]
    return isinstance(have, Mapping) and all(
        have.get(k) == want[k] for k in ("type", "status", "reason", "message")
    )
