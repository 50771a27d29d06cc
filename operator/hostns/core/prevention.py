"""Compile the Active exceptions into the parameter object of the admission policy.

Pure: CompiledExceptions in, one `HostNamespaceAdmissionParams` body out. The
shipped ValidatingAdmissionPolicy (deploy/components/prevention) reads it as
`params` and applies the matching rule of hostns.core.evaluation in CEL, so each
pattern is handed over already taken apart: a lowercase registry host, the
repository and the tag as exact strings, or with `*` as the literal prefix and
suffix around it (plus an anchored RE2 regex when there are several), the
digest. CEL then never parses a pattern, and a pattern means the same at
admission as in the engine because both read it from the same ImagePattern.

Only exceptions Active at `now` are compiled: an Expired or Invalid exception
trusts nothing, so it must leave the object (the writer recompiles at each
expiry). When the Active set does not fit the bounds the CRD sets to keep CEL
within its cost budget, exceptions are left out whole, last names first, and
the status says so: leaving one out can only refuse more (fail closed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from hostns.core.api import PARAMS_KIND, PARAMS_PLURAL
from hostns.core.exceptions import ACTIVE, CompiledException
from hostns.core.findings import API_VERSION, MANAGED_BY, MANAGED_BY_LABEL
from hostns.core.images import ImagePattern
from hostns.core.labels import LabelSelector
from hostns.core.rules import ordered

KIND: Final = PARAMS_KIND
PLURAL: Final = PARAMS_PLURAL
#: The one object the policy binding names in its paramRef.
NAME: Final = "hostns-prevention"

#: Bounds of the CRD (crds/hostnamespaceadmissionparams.yaml). They keep the
#: policy's worst case within the API server's CEL cost budget; bench/README.md
#: has the measurement. Kept here once so the compiler never writes an object
#: the API server would refuse.
MAX_EXCEPTIONS: Final = 256
MAX_PATTERNS: Final = 1024
MAX_REGEX_CHARS: Final = 16384
MAX_KEYS: Final = 512  # distinct repository_key values
MAX_PATTERNS_PER_KEY: Final = 256

OMITTED_TOO_MANY: Final = "TooManyPatterns"

_GLOB_RUN: Final = "[^/]*"  # a `*` in a pattern: any run of characters except '/'


def glob_regex(glob: str) -> str:
    """An anchored RE2 regex for a pattern component with `*` wildcards.

    CEL's `matches` finds a match anywhere, hence the anchors. Only letters,
    digits, `_`, `-` and `/` are left as they are; everything else (`.` in the
    pattern alphabet) is escaped, so the regex never means more than the glob.
    """
    pieces = []
    for ch in glob:
        if ch == "*":
            pieces.append(_GLOB_RUN)
        elif ch.isascii() and (ch.isalnum() or ch in "_-/"):
            pieces.append(ch)
        else:
            pieces.append(re.escape(ch))
    return "^" + "".join(pieces) + "$"


def pattern_tag(text: str) -> str | None:
    """The tag written in a pattern's text, or None.

    Read from the text, as the grammar cuts it (after the last `:` that follows
    the last `/`, before any `@`), not from the engine's private fields.
    """
    name = text.partition("@")[0]
    colon = name.rfind(":")
    return name[colon + 1 :] if colon > name.rfind("/") else None


def _glob(entry: dict[str, str], field: str, glob: str) -> None:
    """A component with `*`: literal prefix and suffix, and a regex only when needed.

    Admission policies compile a regex taken from `params` on every call (only
    constant regexes are compiled once), so the policy checks the literal prefix and
    suffix first and needs no regex at all for the common one-`*` globs
    (`kube-proxy:*`, `acme/agent-*`, `v1.*`): what lies between them only has to be
    free of `/`. Two or more `*` also get the anchored regex.
    """
    pieces = glob.split("*")
    entry[f"{field}Prefix"], entry[f"{field}Suffix"] = pieces[0], pieces[-1]
    if len(pieces) > 2:
        entry[f"{field}Regex"] = glob_regex(glob)


def compile_pattern(pattern: ImagePattern) -> dict[str, str]:
    """What CEL needs of one pattern; the keys are those of the CRD's `images[]`."""
    entry = {"text": pattern.text, "registry": pattern.registry.lower()}
    if "*" in pattern.repository:
        _glob(entry, "repository", pattern.repository)
    else:
        entry["repository"] = pattern.repository
    if pattern.digest is not None:
        # A pin names one image; any tag written beside it proves nothing.
        entry["digest"] = pattern.digest
        return entry
    tag = pattern_tag(pattern.text)
    if tag is not None and "*" in tag:
        _glob(entry, "tag", tag)
    elif tag is not None:
        entry["tag"] = tag
    return entry


def _selector(selector: LabelSelector) -> dict[str, Any]:
    # matchLabels were compiled into `In` requirements with one value: the
    # policy evaluates one form only.
    expressions: list[dict[str, Any]] = []
    for requirement in selector.requirements:
        expression: dict[str, Any] = {"key": requirement.key, "operator": requirement.operator}
        if requirement.operator in ("In", "NotIn"):
            expression["values"] = sorted(requirement.values)
        expressions.append(expression)
    return {"matchExpressions": expressions}


def repository_key(registry: str, repository: str) -> str:
    """The index key of a repository: registry host and first path component.

    That component (the account, or `library`) is never a glob in a pattern (the
    parser refuses `*` there), so every image is compared only with the patterns
    filed under its own key, not with all of them. A pattern that did have a `*`
    there would be filed under the registry alone, which the policy does not look
    up: it would trust nothing at admission (fail closed).
    """
    account = repository.split("/", 1)[0]
    return registry if "*" in account else f"{registry}/{account}"


def compile_exception(exception: CompiledException) -> dict[str, Any]:
    """One entry of `spec.exceptions`: the scope of an Active exception."""
    entry: dict[str, Any] = {
        "name": exception.name,
        "hostNamespaces": list(ordered(exception.flags)),
    }
    if exception.namespaces is not None:
        entry["namespaces"] = sorted(exception.namespaces)
    if exception.selector is not None:
        entry["podSelector"] = _selector(exception.selector)
    return entry


def _regex_chars(images: Iterable[dict[str, Any]]) -> int:
    return sum(
        len(image.get("repositoryRegex", "")) + len(image.get("tagRegex", ""))
        for image in images
    )


@dataclass(frozen=True, slots=True)
class Compiled:
    """The parameter object's body, and what it left out."""

    body: dict[str, Any]
    omitted: tuple[str, ...]  # names of Active exceptions that did not fit


def compile_params(
    exceptions: Iterable[CompiledException], now: datetime, name: str = NAME
) -> Compiled:
    """The body of the parameter object for the exceptions Active at `now`.

    `spec.exceptions` holds each exception's scope; `spec.images` its patterns,
    filed by `repository_key` and pointing back at their exception by index.
    Deterministic (sorted by name, patterns in the exception's order) so that an
    unchanged policy compiles to an equal body and the writer can skip the write.
    """
    held: list[dict[str, Any]] = []
    held_status: list[dict[str, Any]] = []
    left_out: list[dict[str, Any]] = []
    index: dict[str, list[dict[str, Any]]] = {}
    patterns = regex_chars = 0
    for exception in sorted(exceptions, key=lambda e: e.name):
        state = exception.state(now)
        if state != ACTIVE:
            left_out.append(
                {"name": exception.name, "generation": exception.generation, "reason": state}
            )
            continue
        images: list[dict[str, Any]] = [
            {"exception": len(held), **compile_pattern(p)} for p in exception.patterns
        ]
        count, chars = len(images), _regex_chars(images)
        keys = [repository_key(str(i["registry"]), p.repository)
                for p, i in zip(exception.patterns, images, strict=True)]
        filed = {key: len(index.get(key, ())) + keys.count(key) for key in keys}
        if (
            len(held) >= MAX_EXCEPTIONS
            or patterns + count > MAX_PATTERNS
            or regex_chars + chars > MAX_REGEX_CHARS
            or len(index.keys() | filed.keys()) > MAX_KEYS
            or max(filed.values(), default=0) > MAX_PATTERNS_PER_KEY
        ):
            left_out.append({"name": exception.name, "generation": exception.generation,
                             "reason": OMITTED_TOO_MANY})
            continue
        patterns, regex_chars = patterns + count, regex_chars + chars
        for key, image in zip(keys, images, strict=True):
            index.setdefault(key, []).append(image)
        held.append(compile_exception(exception))
        held_status.append({"name": exception.name, "generation": exception.generation})
    body = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": name,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY},
        },
        "spec": {"exceptions": held, "images": dict(sorted(index.items()))},
        "status": {"exceptions": held_status, "omitted": left_out},
    }
    omitted = tuple(e["name"] for e in left_out if e["reason"] == OMITTED_TOO_MANY)
    return Compiled(body, omitted)
