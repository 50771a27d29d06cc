"""Container image references and trusted-image patterns.

One function normalises images (`parse_image`); one parses patterns
(`parse_pattern`). Both implement the reference grammar of the distribution
project (github.com/distribution/reference v0.6.0, `ParseNormalizedNamed`),
which containerd and the kubelet use, rule for rule:

- ASCII only. A look-alike letter (Cyrillic `\u0435`, the Kelvin sign, fullwidth
  forms) is not folded to ASCII: the reference is invalid.
- The first `/`-separated component is the registry host when it contains a
  `.` or a `:`, is `localhost`, or has an uppercase letter (Docker Hub names
  are lowercase); `index.docker.io` is Docker Hub. Otherwise the image is on
  Docker Hub (`docker.io`), and a one-component Docker Hub name is under
  `library/`. A name with no `/` at all is always a Docker Hub name:
  `registry.k8s.io:v1` is `docker.io/library/registry.k8s.io`, tag `v1`.
- A first component that looks like a host but is not a valid one
  (`a_b.io/x`) makes the whole name a path with no registry host.
- The repository path is at most 255 characters (after `library/` is added),
  a tag at most 128; a digest is `sha256:` + 64, `sha384:` + 96 or `sha512:`
  + 128 lowercase hex characters.

Anything the grammar rejects raises `ImageError`: callers treat an image that
does not parse as "matches nothing" (fail closed) and refuse such a pattern.
hack/refprobe is the Go parser itself, and tests/unit/test_reference_differential.py
checks this module against it.

Every regular expression here is possessive or unambiguous (each character has
one way to be consumed), and wildcard matching uses no regular expression at
all, so the time to parse or match is linear in the input whatever it holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

DOCKER_HUB = "docker.io"
_LEGACY_HUB = "index.docker.io"  # the grammar's only alias of docker.io
_LOCALHOST = "localhost"
_OFFICIAL = "library/"
REPOSITORY_MAX = 255  # distribution/reference RepositoryNameTotalLengthMax, counted on the path
WILDCARD = "*"

_IDENTIFIER = re.compile(r"[a-f0-9]{64}")
_LABEL = r"[A-Za-z0-9]++(?:-++[A-Za-z0-9]++)*+"
_HOST = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*+|\[[A-Fa-f0-9:]++\])(?::[0-9]++)?+")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128}")
_SHA256 = re.compile(r"sha256:[a-f0-9]{64}")


def _path_regex(alnum: str) -> re.Pattern[str]:
    component = rf"[{alnum}]++(?:(?:\.|__?|-++)[{alnum}]++)*+"
    return re.compile(rf"{component}(?:/{component})*+")


class _Grammar(NamedTuple):
    """Path and tag rules: the image grammar, or that of patterns, where `*` counts as a letter."""

    path: re.Pattern[str]
    tag: re.Pattern[str]
    what: str


_IMAGE = _Grammar(_path_regex("a-z0-9"), re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"), "image")
# A `*` is checked as if it were one letter: a component or tag that is invalid
# that way is invalid whatever the `*` stands for, so the pattern could match nothing.
_PATTERN = _Grammar(
    _path_regex("a-z0-9*"), re.compile(r"[A-Za-z0-9_*][A-Za-z0-9_.*-]{0,127}"), "image pattern"
)


class ImageError(ValueError):
    """An image reference or pattern that cannot be used."""


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A normalised image reference: `registry/repository[:tag][@digest]`.

    `registry` and `repository` are the grammar's domain and path as written;
    hosts keep their case (compare them with `registry_key`).
    """

    registry: str
    repository: str
    tag: str | None
    digest: str | None
    # The host as compared: lower-cased (computed once; images are matched often).
    registry_key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "registry_key", self.registry.lower())

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


class _Parts(NamedTuple):
    registry: str
    repository: str
    tag: str | None
    digest: str | None
    host_by_case: bool  # the first component is a host only because it has uppercase letters


def _refuse(text: str, what: str, why: str) -> ImageError:
    return ImageError(f"invalid {what} {text!r}: {why}")


def _check_characters(text: str, what: str) -> None:
    if not text:
        raise _refuse(text, what, "empty")
    if not text.isascii():
        at, char = next((i, c) for i, c in enumerate(text) if not c.isascii())
        raise _refuse(
            text,
            what,
            f"non-ASCII character {char!r} (U+{ord(char):04X}) at position {at}: references "
            "are ASCII only, and a look-alike letter names another registry or repository",
        )
    # ASCII by now: isprintable() refuses control characters and every
    # whitespace but the space.
    if not text.isprintable() or " " in text:
        raise _refuse(text, what, "contains whitespace or a control character")


def _split_docker_domain(text: str) -> tuple[str, str, bool]:
    """The grammar's choice of (domain, remainder) before validation, and whether
    the domain was chosen for its uppercase letters only."""
    first, slash, rest = text.partition("/")
    if not slash:
        # A name with no '/' is a Docker Hub name, even `localhost:5000`.
        return DOCKER_HUB, _OFFICIAL + text, False
    by_case = False
    if first == _LOCALHOST:
        domain, remainder = first, rest
    elif first == _LEGACY_HUB:
        domain, remainder = DOCKER_HUB, rest
    elif "." in first or ":" in first:
        domain, remainder = first, rest
    elif first.lower() != first:  # ASCII here: lower() folds A-Z only
        domain, remainder, by_case = first, rest, True
    else:
        domain, remainder = DOCKER_HUB, text
    if domain == DOCKER_HUB and "/" not in remainder:
        remainder = _OFFICIAL + remainder
    return domain, remainder, by_case


def _parse(text: str, grammar: _Grammar) -> _Parts:
    """distribution/reference's ParseNormalizedNamed, returning its parts."""
    what = grammar.what
    _check_characters(text, what)
    if _IDENTIFIER.fullmatch(text):
        raise _refuse(text, what, "64 hex characters are an image ID, not a repository name")
    domain, remainder, by_case = _split_docker_domain(text)
    remote = remainder.partition(":")[0]
    if remote.lower() != remote:
        raise _refuse(text, what, f"repository path {remote!r} must be lowercase")
    # The grammar proper, on domain/remainder. '@' and ':' cannot occur in a
    # tag, a path or a digest's hex, so the cuts below are the only readings.
    name, at, digest = f"{domain}/{remainder}".partition("@")
    if at and not _DIGEST.fullmatch(digest):
        raise _refuse(
            text,
            what,
            f"bad digest {digest!r}: expected sha256:, sha384: or sha512: and "
            "64, 96 or 128 lowercase hex characters",
        )
    tag: str | None = None
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1 :]
        if not grammar.tag.fullmatch(tag):
            raise _refuse(
                text,
                what,
                f"bad tag {tag!r}: 1 to 128 of A-Z a-z 0-9 _ . -, not starting with . or -",
            )
    host, slash, path = name.partition("/")
    if slash and _HOST.fullmatch(host) and grammar.path.fullmatch(path):
        registry = host
    elif grammar.path.fullmatch(name):
        # A first component that is not a valid host but is a valid path
        # component (`a_b.io/x`): the grammar reads it all as a path.
        registry, path = "", name
    else:
        raise _refuse(
            text,
            what,
            "bad registry host or repository path (a host is DNS labels of A-Z a-z 0-9 -, "
            "an IPv4 address or a bracketed IPv6 address, with an optional :port; a path "
            "is lowercase components of a-z 0-9 joined by '.', '_', '__' or '-', "
            "separated by single '/')",
        )
    if len(path) > REPOSITORY_MAX:
        raise _refuse(
            text, what, f"repository path is {len(path)} characters, more than {REPOSITORY_MAX}"
        )
    return _Parts(registry, path, tag, digest if at else None, by_case and registry == host)


@lru_cache(maxsize=16384)
def parse_image(text: str) -> ImageRef:
    """Normalise an image as a container runtime pulls it.

    `nginx`, `docker.io/nginx` and `docker.io/library/nginx:latest` are the
    same image; an image with neither tag nor digest is pulled as `:latest`.
    """
    parts = _parse(text, _IMAGE)
    tag = "latest" if parts.tag is None and parts.digest is None else parts.tag
    return ImageRef(parts.registry, parts.repository, tag, parts.digest)


def digest_from_image_id(image_id: str) -> str | None:
    """The repository digest in a kubelet-reported `imageID`, if there is one.

    Runtimes report `docker.io/library/nginx@sha256:…` (containerd, CRI-O) or
    `docker-pullable://nginx@sha256:…` (dockershim). A bare `sha256:…` is the
    image *config* ID, not the manifest digest a pin names, so it yields None.
    """
    _, at, digest = image_id.rpartition("@")
    if at and _SHA256.fullmatch(digest):
        return digest
    return None


@dataclass(frozen=True, slots=True)
class Glob:
    """A `*` wildcard over text without `/`, matched in linear time.

    The text is cut at each `*` into literal pieces. The first piece must be a
    prefix, the last a suffix, and each middle piece is found at its leftmost
    place after the previous one: taking the leftmost place never loses a match
    (any later placement leaves less room for the rest), so there is nothing
    to backtrack. Each `str.find` resumes where the last one stopped, so the
    cost is at most O(len(text) x len(pattern)), linear in the text for a given
    pattern, unlike a backtracking regex (`a*a*a*a*b` is cubic and worse there).
    """

    first: str
    middle: tuple[str, ...]
    last: str

    @classmethod
    def compile(cls, glob: str) -> Glob:
        first, *middle, last = glob.split(WILDCARD)  # at least one `*`: two pieces
        return cls(first, tuple(middle), last)

    def matches(self, text: str) -> bool:
        first, last = self.first, self.last
        end = len(text) - len(last)
        if end < len(first) or not text.startswith(first) or not text.endswith(last):
            return False
        position = len(first)
        for piece in self.middle:
            found = text.find(piece, position, end)
            if found < 0:
                return False
            position = found + len(piece)
        return True


def _compile_path(repository: str) -> tuple[Glob | str, ...] | None:
    """Per `/`-component: a literal string or a Glob. None when fully literal."""
    if WILDCARD not in repository:
        return None
    return tuple(
        Glob.compile(part) if WILDCARD in part else part for part in repository.split("/")
    )


@dataclass(frozen=True, slots=True)
class ImagePattern:
    """A compiled trusted-image pattern.

    `repository` is either literal (fast dictionary look-up) or, when it holds
    a `*`, matched component by component with `repository_glob` (a `*` never
    crosses a `/`). `tag` None means any tag; `digest` set means digest-pinned.
    """

    text: str
    registry: str
    repository: str
    repository_glob: tuple[Glob | str, ...] | None
    tag: str | None
    tag_glob: Glob | None
    digest: str | None
    registry_key: str = field(init=False, repr=False, compare=False)  # as ImageRef's
    # The repository up to its first `*`: most images fail this one C-speed check.
    _prefix: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "registry_key", self.registry.lower())
        object.__setattr__(self, "_prefix", self.repository.partition(WILDCARD)[0])

    @property
    def literal_repository(self) -> bool:
        return self.repository_glob is None

    def _repository_matches(self, repository: str) -> bool:
        globs = self.repository_glob
        if globs is None:
            return repository == self.repository
        if not repository.startswith(self._prefix):
            return False
        parts = repository.split("/")
        if len(parts) != len(globs):
            return False
        for glob, part in zip(globs, parts, strict=True):
            if isinstance(glob, str):
                if glob != part:
                    return False
            elif not glob.matches(part):
                return False
        return True

    def matches(self, image: ImageRef, digest: str | None) -> bool:
        """Does this pattern trust `image`, whose content digest is `digest`?

        `digest` is the digest in the pod spec, else the one the kubelet
        reported; None while unknown, in which case a pin cannot match.
        """
        # Host names are case-insensitive (DNS, TLS): the grammar keeps the
        # case as written, both sides are ASCII, so lower() is exact.
        if image.registry_key != self.registry_key:
            return False
        if self.repository_glob is None:
            if image.repository != self.repository:
                return False
        elif not self._repository_matches(image.repository):
            return False
        if self.digest is not None:
            return digest == self.digest
        if self.tag is None:
            # Any tag and any digest of the repository: the repository is what
            # is trusted, and it holds whatever the reference names in it.
            return True
        # A tag is a mutable label; it is what runs only when the reference
        # names no digest. `repo:1.25@sha256:X` makes the runtime pull X and
        # ignore the tag, so anyone who can write a pod could pair a trusted tag
        # with any digest pushed to the repository (a debug build, an old
        # vulnerable release). A tag pattern cannot tell whether X is what the
        # tag names, so it does not match; a pin on X or a tag-less pattern
        # does. A digest-only reference has no tag to compare either.
        if image.digest is not None or image.tag is None:
            return False
        if self.tag_glob is None:
            return image.tag == self.tag
        return self.tag_glob.matches(image.tag)


def _host_mistake(text: str) -> str | None:
    """A hint when a pattern names a registry host and no repository.

    `registry.k8s.io:*` has no `/`, so the grammar reads it as the Docker Hub
    image docker.io/library/registry.k8s.io with tag `*`: it would trust
    nothing the administrator meant, silently.
    """
    name = text.partition("@")[0]
    if "/" in name:
        return None
    head, colon, rest = name.partition(":")
    if "." not in head and head != _LOCALHOST:
        return None
    if colon and rest.isdigit():
        meant = f"{head}:{rest}/<repository>"  # a port, most likely
    elif colon:
        meant = f"{head}/<repository>:{rest}"
    else:
        meant = f"{head}/<repository>"
    return (
        f"without a '/' this names the Docker Hub image docker.io/library/{head}, not a "
        f"repository on the registry {head}: did you mean {meant}?"
    )


@lru_cache(maxsize=4096)
def parse_pattern(text: str) -> ImagePattern:
    """Compile a trusted-image pattern, or raise ImageError saying why not.

    A pattern must be valid in the reference grammar (a `*` counting as a
    letter), and the project adds stricter rules. Security: a `*` in the first
    component of a name would let anyone trust images from a registry host or
    Docker Hub account they control (`*elastic-agent*` matches
    `evil.example/elastic-agent`), so it is refused, as is one in the first
    path component after a host (an account on a shared registry); so is a
    wildcard beside a digest, which pins one exact image.
    """
    what = _PATTERN.what
    _check_characters(text, what)
    name = text.partition("@")[0]
    head = name.partition("/")[0] if "/" in name else name.partition(":")[0]
    if WILDCARD in head:
        raise _refuse(
            text, what, "'*' is not allowed in the registry host or first path component"
        )
    hint = _host_mistake(text)
    if hint is not None:
        raise _refuse(text, what, hint)
    if "@" in text and WILDCARD in text:
        raise _refuse(text, what, "'*' is not allowed with a digest, which pins one image")
    parts = _parse(text, _PATTERN)
    if not parts.registry:
        raise _refuse(
            text,
            what,
            f"{head!r} is not a valid registry host (the grammar would read it as part of "
            "the repository path); a pattern names its registry explicitly",
        )
    if parts.host_by_case:
        raise _refuse(
            text,
            what,
            f"{head!r} is read as a registry host because it has uppercase letters; Docker "
            f"Hub accounts are lowercase: did you mean {head.lower()}/...?",
        )
    # The account is the component after a host written in the pattern (also
    # docker.io/*, which the grammar reads as library/*), or the normalised
    # path's first component.
    host_written = "/" in name and (head == _LOCALHOST or "." in head or ":" in head)
    account = name.partition("/")[2].partition("/")[0].partition(":")[0] if host_written else ""
    if WILDCARD in account or WILDCARD in parts.repository.partition("/")[0]:
        # On a shared registry the first path component is an account or an
        # organisation: ghcr.io/*/agent would trust anyone's image called agent.
        raise _refuse(
            text,
            what,
            "'*' is not allowed in the first path component after the registry host "
            "(the account or organisation)",
        )
    if parts.digest is not None and not _SHA256.fullmatch(parts.digest):
        raise _refuse(text, what, "a digest pin must be sha256:<64 lowercase hex>")
    tag = parts.tag if parts.digest is None else None  # with a pin, the digest decides
    return ImagePattern(
        text=text,
        registry=parts.registry,
        repository=parts.repository,
        repository_glob=_compile_path(parts.repository),
        tag=tag,
        tag_glob=Glob.compile(tag) if tag is not None and WILDCARD in tag else None,
        digest=parts.digest,
    )
