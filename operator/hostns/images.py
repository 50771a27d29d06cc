"""Container image references and trusted-image patterns.

One function normalises images (`parse_image`); one parses patterns
(`parse_pattern`). Both follow the container runtimes' reading of a reference:
a first component with a `.` or `:` in it, or `localhost`, is a registry host;
otherwise the image lives on Docker Hub (`docker.io`), and a single-component
Docker Hub name lives under `library/`. Anything that does not parse raises
`ImageError`: callers treat that as "matches nothing" (fail closed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

DOCKER_HUB = "docker.io"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

_HOST = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(?::[0-9]{1,5})?$"
)
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")
# In patterns `*` stands for any run of characters except `/`.
_PATTERN_COMPONENT = re.compile(r"^[a-z0-9*]+(?:(?:[._]|__|-+)[a-z0-9*]+)*$")
_PATTERN_TAG = re.compile(r"^[A-Za-z0-9_*][A-Za-z0-9_.*-]{0,127}$")


class ImageError(ValueError):
    """An image reference or pattern that cannot be used."""


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A normalised image reference: `registry/repository[:tag][@digest]`."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def _split_reference(text: str) -> tuple[str, str | None, str | None]:
    """Split `name[:tag][@digest]` into its three parts, unvalidated."""
    if not text or text != text.strip() or any(ch.isspace() for ch in text):
        raise ImageError(f"invalid image reference {text!r}: empty or contains whitespace")
    name, _, digest = text.partition("@")
    if "@" in text and not digest:
        raise ImageError(f"invalid image reference {text!r}: empty digest")
    tag: str | None = None
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag, (digest or None)


def _is_host(component: str) -> bool:
    """Is this first component of a name a registry host (as runtimes decide)?"""
    return "." in component or ":" in component or component == "localhost"


def _split_name(name: str) -> tuple[str, list[str]]:
    """Return (registry, path components), applying the Docker Hub defaults."""
    parts = name.split("/")
    first = parts[0]
    if len(parts) > 1 and _is_host(first):
        registry, path = first.lower(), parts[1:]
        if not _HOST.match(registry):
            raise ImageError(f"invalid registry host {first!r}")
        if registry in _HUB_ALIASES:
            registry = DOCKER_HUB
    else:
        registry, path = DOCKER_HUB, parts
    if registry == DOCKER_HUB and len(path) == 1:
        path = ["library", *path]
    return registry, path


@lru_cache(maxsize=16384)
def parse_image(text: str) -> ImageRef:
    """Normalise an image as a container runtime pulls it.

    `nginx`, `docker.io/nginx` and `docker.io/library/nginx:latest` are the
    same image; an image with neither tag nor digest is pulled as `:latest`.
    """
    name, tag, digest = _split_reference(text)
    registry, path = _split_name(name)
    for component in path:
        if not _COMPONENT.match(component):
            raise ImageError(f"invalid image reference {text!r}: bad path component {component!r}")
    if tag is not None and not _TAG.match(tag):
        raise ImageError(f"invalid image reference {text!r}: bad tag {tag!r}")
    if digest is not None and not _SHA256.match(digest):
        raise ImageError(f"invalid image reference {text!r}: digest is not sha256:<64 hex>")
    if tag is None and digest is None:
        tag = "latest"
    return ImageRef(registry, "/".join(path), tag, digest)


def digest_from_image_id(image_id: str) -> str | None:
    """The repository digest in a kubelet-reported `imageID`, if there is one.

    Runtimes report `docker.io/library/nginx@sha256:…` (containerd, CRI-O) or
    `docker-pullable://nginx@sha256:…` (dockershim). A bare `sha256:…` is the
    image *config* ID, not the manifest digest a pin names, so it yields None.
    """
    _, at, digest = image_id.rpartition("@")
    if at and _SHA256.match(digest):
        return digest
    return None


def _glob_to_regex(glob: str) -> str:
    return "".join("[^/]*" if ch == "*" else re.escape(ch) for ch in glob)


@dataclass(frozen=True, slots=True)
class ImagePattern:
    """A compiled trusted-image pattern.

    `repository` is either literal (fast dictionary look-up) or, when it holds
    a `*`, matched with `repository_re`. `tag_re` is None when any tag is fine.
    `digest` set means digest-pinned: only that digest matches.
    """

    text: str
    registry: str
    repository: str
    repository_re: re.Pattern[str] | None
    tag_re: re.Pattern[str] | None
    digest: str | None

    @property
    def literal_repository(self) -> bool:
        return self.repository_re is None

    def matches(self, image: ImageRef, digest: str | None) -> bool:
        """Does this pattern trust `image`, whose content digest is `digest`?

        `digest` is the digest in the pod spec, else the one the kubelet
        reported; None while unknown, in which case a pin cannot match.
        """
        if image.registry != self.registry:
            return False
        if self.repository_re is None:
            if image.repository != self.repository:
                return False
        elif not self.repository_re.fullmatch(image.repository):
            return False
        if self.digest is not None:
            return digest == self.digest
        if self.tag_re is None:
            return True
        # A pattern with a tag trusts that tag only; an image named by digest
        # alone has no tag to compare, so it is not trusted by a tag pattern.
        return image.tag is not None and self.tag_re.fullmatch(image.tag) is not None


@lru_cache(maxsize=4096)
def parse_pattern(text: str) -> ImagePattern:
    """Compile a trusted-image pattern, or raise ImageError saying why not.

    Security: a `*` in the first component of a name would let anyone trust
    images from a registry host or Docker Hub namespace they control
    (`*elastic-agent*` matches `evil.example/elastic-agent`), so it is
    refused; so is a wildcard beside a digest, which pins one exact image.
    """
    name, tag, digest = _split_reference(text)
    first = name.split("/", 1)[0]
    if "*" in first:
        raise ImageError(
            f"invalid image pattern {text!r}: '*' is not allowed in the registry host "
            "or first path component"
        )
    if digest is not None:
        if not _SHA256.match(digest):
            raise ImageError(f"invalid image pattern {text!r}: digest is not sha256:<64 hex>")
        if "*" in text:
            raise ImageError(f"invalid image pattern {text!r}: '*' is not allowed with a digest")
    parts = name.split("/")
    if len(parts) > 1 and _is_host(parts[0]) and "*" in parts[1]:
        # On a shared registry the first path component is an account or an
        # organisation: ghcr.io/*/agent would trust anyone's image called agent.
        raise ImageError(
            f"invalid image pattern {text!r}: '*' is not allowed in the first path component "
            "after the registry host (the account or organisation)"
        )
    registry, path = _split_name(name)
    for component in path:
        if not _PATTERN_COMPONENT.match(component):
            raise ImageError(f"invalid image pattern {text!r}: bad path component {component!r}")
    if tag is not None and not _PATTERN_TAG.match(tag):
        raise ImageError(f"invalid image pattern {text!r}: bad tag {tag!r}")
    repository = "/".join(path)
    repository_re = re.compile(_glob_to_regex(repository)) if "*" in repository else None
    tag_re = re.compile(_glob_to_regex(tag)) if tag is not None and digest is None else None
    return ImagePattern(text, registry, repository, repository_re, tag_re, digest)
