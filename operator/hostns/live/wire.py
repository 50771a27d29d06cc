"""Pods as the API server serves them: decode only what a decision needs.

Almost every pod in a cluster uses no host namespace, and its flags cannot change
(the API server refuses an update of hostNetwork, hostPID or hostIPC). Such a pod,
unless the operator already tracks it, needs nothing but its uid, its
resourceVersion and the three flags. `PodHead` decodes exactly those from the raw
JSON (msgspec skips the rest of the ~10 KB body without building Python objects);
`PodPage` and `WatchLine` keep list items and watch objects as raw JSON, and only
pods that need a full look are decoded into dicts (`full`).

This is a real JSON decode, not a byte search: escapes (`"host\\u004eetwork"`),
whitespace and key order cannot hide a flag from it (a duplicated key reads as its
last value, as in the full decode and in the API server's own Go decoder). The flags
are decoded as any JSON value and judged by `flag_set` (anything but an explicit
false counts), and a body whose shape is unexpected (a spec or metadata that is not
an object) fails the head decode and takes the full path: fail closed.
"""

from __future__ import annotations

from typing import Any

import msgspec

from hostns.core.pods import flag_set
from hostns.core.rules import FLAGS


def _text(value: Any) -> str | None:
    """A non-empty string, else None (a strange value reads as absent)."""
    return value if isinstance(value, str) and value else None


class _Meta(msgspec.Struct):
    uid: Any = None
    resourceVersion: Any = None  # the API's field names, in camelCase


class _Spec(msgspec.Struct):
    hostNetwork: Any = None
    hostPID: Any = None
    hostIPC: Any = None


class PodHead(msgspec.Struct):
    metadata: _Meta = msgspec.field(default_factory=_Meta)
    spec: _Spec = msgspec.field(default_factory=_Spec)

    @property
    def uid(self) -> str | None:
        return _text(self.metadata.uid)

    @property
    def resource_version(self) -> str | None:
        return _text(self.metadata.resourceVersion)

    @property
    def uses_host_namespace(self) -> bool:
        spec = self.spec
        return flag_set(spec.hostNetwork) or flag_set(spec.hostPID) or flag_set(spec.hostIPC)


assert set(PodHead.__struct_fields__) == {"metadata", "spec"}
assert set(_Spec.__struct_fields__) == set(FLAGS), "the head must decode every flag"

_head_decoder = msgspec.json.Decoder(PodHead)
_any_decoder = msgspec.json.Decoder()


def pod_head(raw: bytes | msgspec.Raw) -> PodHead | None:
    """The head of a pod, or None when its shape is unexpected (then decode it fully)."""
    try:
        return _head_decoder.decode(raw)
    except msgspec.DecodeError:
        return None


def full(raw: bytes | msgspec.Raw) -> Any:
    """The whole JSON value as plain Python objects (dicts, lists...)."""
    return _any_decoder.decode(raw)


class _ListMeta(msgspec.Struct):
    resourceVersion: Any = None
    # `continue` is a Python keyword.
    continue_: Any = msgspec.field(default=None, name="continue")


class PodPage(msgspec.Struct):
    """One page of a pod LIST; `items` stay raw JSON until looked at."""

    items: list[msgspec.Raw]
    metadata: _ListMeta = msgspec.field(default_factory=_ListMeta)

    @property
    def resource_version(self) -> str | None:
        return _text(self.metadata.resourceVersion)

    @property
    def continue_token(self) -> str | None:
        return _text(self.metadata.continue_)


_page_decoder = msgspec.json.Decoder(PodPage)


class WireError(ValueError):
    """A response that is not what the API server sends (fail closed: an error)."""


def decode_page(raw: bytes) -> PodPage:
    """A pod list page. Without `items` it is not a list: an error, never "no pods"."""
    try:
        return _page_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise WireError(f"unreadable pod list page: {exc}") from None


class WatchLine(msgspec.Struct):
    """One line of a watch stream: ADDED, MODIFIED, DELETED, BOOKMARK or ERROR."""

    type: str
    object: msgspec.Raw


_line_decoder = msgspec.json.Decoder(WatchLine)


def decode_line(raw: bytes) -> WatchLine:
    try:
        return _line_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise WireError(f"unreadable watch event: {exc}: {bytes(raw[:200])!r}") from None


class LineSplitter:
    """Newline-delimited lines from arbitrary pieces of a body (no length limit)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def feed(self, piece: bytes) -> list[bytes]:
        if b"\n" not in piece:
            if piece:
                self._parts.append(piece)
            return []
        *lines, rest = (b"".join(self._parts) + piece if self._parts else piece).split(b"\n")
        self._parts = [rest] if rest else []
        return [line for line in lines if line.strip()]

    def rest(self) -> bytes | None:
        """The last line, when the body did not end with a newline."""
        rest = b"".join(self._parts)
        self._parts = []
        return rest if rest.strip() else None
