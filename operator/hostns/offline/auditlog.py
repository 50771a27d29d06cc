"""Streaming audit-log reader: files, rotated `.gz`, directories and `-`, in constant memory.

Inputs are read in chunks and split into lines; a line is a JSON document holding
one `audit.k8s.io/v1` Event (the log backend), an `EventList` (a webhook body), or
a document with the event under `kubernetes.audit` (Elastic's layout; also inside
an Elasticsearch hit's `_source`). A file whose first line is only `{` or `[` is a
pretty-printed document and is read whole (bounded by MAX_DOCUMENT).

Most lines of a real log are reads (get/list/watch) and writes of other
resources. Each line is first decoded into `_Head`, a msgspec Struct of only the
fields that decide whether a request is judged (stage, verb, objectRef): msgspec
parses the whole line, escapes and all, but builds nothing for the other fields,
so an irrelevant line costs about a microsecond and the decision is exact — no
byte heuristic to fool. Only lines holding a judged request are decoded whole.
Malformed JSON is caught by the first decode, so every bad line is reported.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Final

import msgspec

from hostns.offline.audit import JUDGED_VERBS, judged_kind_of

STDIN: Final = "-"
STDIN_NAME: Final = "<stdin>"
CHUNK: Final = 1 << 20
MAX_LINE: Final = 64 << 20  # a longer line is reported bad and skipped, not held
MAX_DOCUMENT: Final = 256 << 20  # a pretty-printed document larger than this is refused
_GZIP_MAGIC: Final = b"\x1f\x8b"



class _Ref(msgspec.Struct):
    resource: str | None = None
    subresource: str | None = None
    apiGroup: str | None = None


class _Kubernetes(msgspec.Struct):
    audit: _Head | None = None


class _Head(msgspec.Struct):
    """What decides whether a document holds a judged request, in every layout read."""

    kind: str | None = None
    auditID: str | None = None
    stage: str | None = None
    verb: str | None = None
    objectRef: _Ref | None = None
    items: list[_Head] | None = None  # an EventList
    kubernetes: _Kubernetes | None = None  # Elastic
    flat: _Head | None = msgspec.field(name="kubernetes.audit", default=None)
    source: _Head | None = msgspec.field(name="_source", default=None)  # an Elasticsearch hit

    def holds_judged(self) -> bool:
        ref = self.objectRef
        if ref is not None and judged_kind_of(
            self.stage, self.verb, ref.resource, ref.apiGroup, ref.subresource
        ):
            return True
        if self.items is None and self.kubernetes is None and self.flat is None \
                and self.source is None:
            return False  # a plain Event, not judged: the common case, kept cheap
        nested = [*(self.items or ()), self.flat, self.source,
                  self.kubernetes.audit if self.kubernetes is not None else None]
        return any(inner.holds_judged() for inner in nested if inner is not None)


    def is_audit(self) -> bool:
        """Does this look like an audit document at all (else: a bad line, reported)?

        A JSON line of some other log, or an export layout this reader does not know
        (Kibana's flattened `"kubernetes.audit.verb"` keys), must not pass as an
        audit log in which nothing happened.
        """
        if self.kind in ("Event", "EventList") or self.auditID is not None:
            return True
        if self.source is not None:
            return self.source.is_audit()
        return self.flat is not None or (
            self.kubernetes is not None and self.kubernetes.audit is not None
        )


_HEAD = msgspec.json.Decoder(_Head)
_ANY = msgspec.json.Decoder()
_NOT_AUDIT: Final = "not an audit.k8s.io Event, EventList or kubernetes.audit document"


@dataclass(frozen=True, slots=True)
class BadLine:
    file: str
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.file}: line {self.line}: {self.problem}"


class InputError(Exception):
    """An input that cannot be opened at all (missing file, empty directory): usage error."""


@dataclass(slots=True)
class ReadStats:
    files: int = 0
    bytes: int = 0  # uncompressed bytes read
    lines: int = 0
    skipped: int = 0  # lines holding no judged request: never decoded whole
    decoded: int = 0
    events: int = 0
    bad: int = 0


def _walk(directory: str) -> Iterator[str]:
    """Every regular file under `directory`, recursively, in sorted path order.

    The log backend names rotated files `audit-<time>.log[.gz]` next to the current
    `audit.log`: sorted order reads them oldest first. Hidden entries are skipped.
    """
    def raise_error(exc: OSError) -> None:
        raise InputError(f"{exc.filename or directory}: {exc.strerror or exc}")

    for root, dirs, files in os.walk(directory, onerror=raise_error):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield os.path.join(root, name)


def expand_inputs(paths: Sequence[str]) -> list[str]:
    """Files to read, in order: directories expanded, each file once; InputError if none."""
    files: list[str] = []
    seen: set[str] = set()
    for path in paths:
        if path == STDIN:
            candidates = [STDIN]
        elif os.path.isdir(path):
            candidates = list(_walk(path))
            if not candidates:
                raise InputError(f"{path}: no files in directory")
        elif os.path.exists(path):
            candidates = [path]
        else:
            raise InputError(f"{path}: no such file or directory")
        for candidate in candidates:
            key = candidate if candidate == STDIN else os.path.realpath(candidate)
            if key not in seen:
                seen.add(key)
                files.append(candidate)
    return files


def _gunzip(first: bytes, raw: IO[bytes]) -> Iterator[bytes]:
    """Decompressed chunks of a gzip stream (members one after another, as `cat a.gz b.gz`).

    Decompressed incrementally, so a truncated file (rotated while written, or cut by
    a copy) still yields everything before the cut, then raises EOFError.
    """
    data, inflater = first, zlib.decompressobj(wbits=31)
    while True:
        # Bounded output per call: logs compress tenfold and more.
        out = inflater.decompress(data, CHUNK)
        data = inflater.unconsumed_tail
        if out:
            yield out
        if inflater.eof:
            data = inflater.unused_data
            if not data:
                data = raw.read(CHUNK)
                if not data:
                    return
            inflater = zlib.decompressobj(wbits=31)  # the next member
            continue
        if data or len(out) == CHUNK:
            continue  # input left, or output still pending inside zlib
        data = raw.read(CHUNK)
        if not data:
            tail = inflater.flush()
            if tail:  # an empty chunk would read as the end of the input
                yield tail
            raise EOFError("compressed file ended before the end-of-stream marker")


def _chunks(raw: IO[bytes]) -> Iterator[bytes]:
    """The bytes of `raw`, decompressed when it starts like gzip (whatever its name)."""
    first = raw.read(CHUNK)
    if first[:2] == _GZIP_MAGIC:
        yield from _gunzip(first, raw)
        return
    while first:
        yield first
        first = raw.read(CHUNK)


def _events_of(document: Any) -> Iterator[Mapping[str, Any]] | str:
    """The audit events in one decoded document, or a problem description."""
    if isinstance(document, list):
        return _each(document)
    if not isinstance(document, Mapping):
        return "not a JSON object"
    source = document.get("_source")
    if isinstance(source, Mapping):  # an Elasticsearch search hit
        document = source
    nested = document.get("kubernetes")
    # Elastic also replaces the dots of annotation keys (`authorization_k8s_io/decision`);
    # the judge reads both spellings, so the event is used as it is.
    if isinstance(nested, Mapping) and isinstance(nested.get("audit"), Mapping):
        return iter((nested["audit"],))
    if isinstance(document.get("kubernetes.audit"), Mapping):
        return iter((document["kubernetes.audit"],))
    kind = document.get("kind")
    if kind == "EventList":
        items = document.get("items")
        if not isinstance(items, list):
            return "EventList without items"
        # The items of a list carry no kind/apiVersion of their own (the webhook backend
        # sets them on the EventList only): they are events by their place.
        return (item for item in items if isinstance(item, Mapping)
                and item.get("kind") in (None, "Event"))
    if kind == "Event" and str(document.get("apiVersion", "")).startswith("audit.k8s.io/"):
        return iter((document,))
    return _NOT_AUDIT


def _each(items: list[Any]) -> Iterator[Mapping[str, Any]]:
    for item in items:
        found = _events_of(item)
        if isinstance(found, str):
            continue  # a stray non-event inside a list is not worth failing the line
        yield from found


@dataclass(slots=True)
class AuditLogReader:
    """Reads audit events from paths; counts lines, skips, and bad lines (never raises on one)."""

    stdin: IO[bytes] | None = None
    on_bad: Callable[[BadLine], None] = lambda bad: None
    skip: bool = True  # decode only the lines holding a judged request (off: to measure)
    stats: ReadStats = field(default_factory=ReadStats)

    def read(self, paths: Sequence[str]) -> Iterator[Mapping[str, Any]]:
        for path in expand_inputs(paths):
            yield from self.read_file(path)

    def read_file(self, path: str) -> Iterator[Mapping[str, Any]]:
        self.stats.files += 1
        if path == STDIN:
            if self.stdin is None:
                raise InputError(f"{STDIN_NAME}: standard input is not available")
            yield from self._read_stream(self.stdin, STDIN_NAME)
            return
        try:
            raw = open(path, "rb")  # noqa: SIM115 - closed below, after the generator ends
        except OSError as exc:
            self._bad(path, 0, f"cannot open: {exc.strerror or exc}")
            return
        with raw:
            yield from self._read_stream(raw, path)

    def _bad(self, file: str, line: int, problem: str) -> None:
        self.stats.bad += 1
        self.on_bad(BadLine(file, line, problem))

    def _read_stream(self, raw: IO[bytes], name: str) -> Iterator[Mapping[str, Any]]:
        chunks = _chunks(raw)
        try:
            first = next(chunks, b"")
        except (OSError, EOFError, zlib.error) as exc:
            self._bad(name, 1, f"cannot read: {exc}")
            return
        first = first.removeprefix(b"\xef\xbb\xbf")  # a BOM some Windows tools write
        head = first.lstrip().split(b"\n", 1)[0].strip()
        if head in (b"{", b"["):
            yield from self._read_document(first, chunks, name)
        else:
            yield from self._read_lines(first, chunks, name)

    def _read_lines(
        self, first: bytes, chunks: Iterator[bytes], name: str
    ) -> Iterator[Mapping[str, Any]]:
        stats = self.stats
        number = 0  # lines before the current chunk
        pending = b""  # the unfinished last line of the previous chunk
        too_long = False  # skipping the rest of an over-long line
        chunk = first
        while chunk:
            stats.bytes += len(chunk)
            lines = chunk.split(b"\n")
            if too_long:
                if len(lines) == 1:
                    lines = []  # still inside the over-long line
                else:
                    lines[0], too_long = b"", False  # its tail: already reported
            else:
                lines[0] = pending + lines[0]
            pending = lines.pop() if lines else b""
            if len(pending) > MAX_LINE:
                self._bad(name, number + len(lines) + 1, f"line longer than {MAX_LINE} bytes")
                too_long, pending = True, b""
            decode = self._decode
            for offset, line in enumerate(lines, start=number + 1):
                if line and not line.isspace():
                    events = decode(line, name, offset)
                    if events:
                        yield from events
            number += len(lines)
            stats.lines = number
            try:
                chunk = next(chunks, b"")
            except (OSError, EOFError, zlib.error) as exc:
                # A truncated rotated .gz (it was being written): say so, keep going.
                self._bad(name, number + 1, f"cannot read further: {exc}")
                return
        if pending and not too_long:
            number += 1
            stats.lines = number
            if not pending.isspace():
                yield from self._decode(pending, name, number)  # a list

    def _decode(self, line: bytes, name: str, number: int) -> list[Mapping[str, Any]]:
        """The events of one line: none when it holds no judged request (a list, not a
        generator: this runs once per line, and most lines return at the first test)."""
        try:
            if self.skip:
                try:
                    head = _HEAD.decode(line)
                except msgspec.ValidationError:
                    pass  # valid JSON of another shape (an array, a non-string verb): decode it
                else:
                    # The common case first: a plain event whose verb is never judged
                    # (judged_kind_of's first test, without the call).
                    if head.verb not in JUDGED_VERBS and head.items is None \
                            and head.kubernetes is None and head.flat is None \
                            and head.source is None and head.kind == "Event":
                        self.stats.skipped += 1
                        return []
                    if not head.holds_judged():
                        if head.is_audit():
                            self.stats.skipped += 1
                        else:
                            self._bad(name, number, _NOT_AUDIT)
                        return []
            self.stats.decoded += 1
            document = _ANY.decode(line)
        except (msgspec.DecodeError, RecursionError) as exc:
            self._bad(name, number, _problem(exc))
            return []
        found = _events_of(document)
        if isinstance(found, str):
            self._bad(name, number, found)
            return []
        events = list(found)
        self.stats.events += len(events)
        return events

    def _read_document(
        self, first: bytes, chunks: Iterator[bytes], name: str
    ) -> Iterator[Mapping[str, Any]]:
        parts, size = [first], len(first)
        try:
            for chunk in chunks:
                parts.append(chunk)
                size += len(chunk)
                if size > MAX_DOCUMENT:
                    self._bad(name, 1, f"pretty-printed document larger than {MAX_DOCUMENT} "
                              "bytes; write one event per line (jq -c)")
                    return
        except (OSError, EOFError, zlib.error) as exc:
            self._bad(name, 1, f"cannot read: {exc}")
            return
        data = b"".join(parts)
        self.stats.bytes += size
        self.stats.lines += data.count(b"\n") + 1
        yield from self._decode(data, name, 1)


def _problem(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "document is nested too deeply"
    return "invalid JSON: " + (" ".join(str(exc).split()) or "unreadable")


def read_events(
    paths: Iterable[str], stdin: IO[bytes] | None = None,
    on_bad: Callable[[BadLine], None] = lambda bad: None,
) -> Iterator[Mapping[str, Any]]:
    """Convenience: every event under `paths`, bad lines passed to `on_bad`."""
    return AuditLogReader(stdin, on_bad).read(list(paths))



def batch_head(data: bytes) -> bool | str:
    """Whether a webhook body holds any pod or workload write, or why it is no audit batch.

    The API server's webhook backend POSTs one `EventList` per batch. Cheap: the whole
    body is parsed, but only the `_Head` fields are built.
    """
    try:
        head = _HEAD.decode(data)
    except msgspec.ValidationError as exc:
        return f"not an audit.k8s.io EventList: {' '.join(str(exc).split())}"
    except (msgspec.DecodeError, RecursionError) as exc:
        return _problem(exc)
    if head.kind != "EventList" or head.items is None:
        return "not an audit.k8s.io EventList"
    return head.holds_judged()


def batch_events(data: bytes) -> list[Mapping[str, Any]] | str:
    """The events of one webhook body, decoded whole, or the problem with it."""
    try:
        document = _ANY.decode(data)
    except (msgspec.DecodeError, RecursionError) as exc:
        return _problem(exc)
    found = _events_of(document)
    return found if isinstance(found, str) else list(found)
