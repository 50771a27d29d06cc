"""Reading Kubernetes manifests from files, directories and standard input.

Every document keeps its origin (file, 1-based document index, and the item
index inside a `kind: List`) so that a message can point at the exact place.
Anything that cannot be read becomes a `ManifestError` with a one-line
message; the caller prints it, never a traceback. One bad document does not
hide the rest: `read_inputs` collects every error and goes on.

YAML is read as the Kubernetes tooling reads it (sigs.k8s.io/yaml turns YAML
into JSON): timestamps stay strings, so `expiresAt: 2030-01-01T00:00:00Z`
written without quotes is still an RFC 3339 string and not a Python datetime.

The input is hostile until proven otherwise (whoever edits a manifest is the
one the scan judges), so reading is bounded: only regular files (or a stream
named on purpose), at most `max_input_size` bytes each, and YAML documents
within `Limits` of depth, nodes and alias expansion (see `_compose`).
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Final

import yaml
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

STDIN = "-"
STDIN_NAME = "<stdin>"
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
# kustomize's own configuration files are not manifests (they often have no `kind`).
_NOT_MANIFESTS = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})

MIB: Final = 1024 * 1024
#: Large enough for a real rendered chart (a full kube-prometheus or Calico
#: install is a few MiB); anything bigger is refused before it is parsed.
DEFAULT_MAX_INPUT_SIZE: Final = 64 * MIB
_READ_CHUNK: Final = MIB


@dataclass(frozen=True, slots=True)
class Limits:
    """What one YAML or JSON document may cost. Exceeding any is bad input.

    The defaults are far above real manifests (the deepest document of the
    regression corpus, Calico's CRDs, is 25 levels deep and has 1,587 nodes;
    none uses an alias) and far below what hurts: Python's recursion limit
    (about 1,000 frames) for the depth, a few hundred MiB for the nodes.
    """

    max_depth: int = 256  # nesting levels, counted after alias expansion
    max_nodes: int = 2_000_000  # nodes written in one document
    max_aliases: int = 10_000  # alias uses (`*name`, `<<: *name`) in one document
    #: Nodes plus scalar characters that aliases add to one document: a
    #: "billion laughs" reaches it after a few dozen aliases, long before the
    #: expansion costs memory anywhere (a label value turned into a string,
    #: two exceptions compared).
    max_alias_expansion: int = 1_000_000
    #: Documents in one input: a real 64 MiB render has a few thousand; five million tiny
    #: ones would take many minutes of per-document overhead.
    max_documents: int = 100_000


DEFAULT_LIMITS: Final = Limits()


class _Loader(yaml.CSafeLoader):
    """Safe loader (C scanner) that keeps timestamps as strings and bad values one line.

    A value its tag cannot read (`!!int ""`, `!!bool maybe`, an integer of
    5,000 digits, which Python refuses to convert) raises whatever the
    constructor's code happens to raise (IndexError, KeyError, ValueError);
    here it becomes a YAML error at the node's position.
    """

    #: 0-based line of the document being composed, once its start is read (see `_compose`).
    document_line: int | None = None

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, _bad_value(node, exc), node.start_mark
            ) from None


_Loader.add_constructor(
    "tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str  # type: ignore[type-var]
)


def _bad_value(node: Node, exc: Exception) -> str:
    tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
    if not isinstance(node, ScalarNode):
        return f"cannot read this {tag} node"
    value = str(node.value)
    shown = repr(value[:20]) + (f"... ({len(value)} characters)" if len(value) > 20 else "")
    detail = str(exc).split(";")[0] if isinstance(exc, ValueError) else ""
    return f"cannot read {shown} as {tag}" + (f": {_one_line(detail)}" if detail else "")


@dataclass(frozen=True, slots=True)
class Origin:
    file: str  # as given (or found under a directory); `<stdin>` for `-`
    document: int  # 1-based, counting every document of the file, empty ones too
    item: int | None = None  # 1-based position inside a `kind: List`
    # 1-based line where the document starts (for SARIF and editors); not part of
    # the identity, and not printed: messages name the document.
    line: int | None = field(default=None, compare=False)

    def __str__(self) -> str:
        text = f"{self.file}: document {self.document}"
        return text if self.item is None else f"{text}: item {self.item}"


class ManifestError(Exception):
    """Bad input: the message is one line and names the file (and document)."""

    def __init__(self, where: Origin | str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Manifest:
    origin: Origin
    body: Mapping[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body["kind"])


@dataclass(slots=True)
class Inputs:
    """What reading produced: the manifests kept, every error, and notes (skipped files)."""

    manifests: list[Manifest] = field(default_factory=list)
    errors: list[ManifestError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _one_line(text: str) -> str:
    return " ".join(text.split())


# -- YAML ------------------------------------------------------------------------------

class _LimitError(Exception):
    """A document over one of the `Limits`; `mark` is where it was noticed."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem)
        self.problem = problem
        self.mark = mark


@dataclass(slots=True)
class _Open:
    """A collection being composed: its node, and what it has cost so far."""

    node: SequenceNode | MappingNode
    anchor: str | None
    cost_before: int  # the document's expanded cost when it opened
    height: int = 0  # levels below it, aliases expanded
    key: Node | None = None  # a mapping's key awaiting its value


def _compose(loader: _Loader, limits: Limits) -> Node | None:
    """The next document's node graph, built from the C parser's events within `limits`.

    PyYAML's own composers (the C one and the Python one) recurse once per
    nesting level (200 KB of `[` crash the C one with a segmentation fault) and
    share an aliased node without counting what sharing will cost once the data
    is walked. This one keeps an explicit stack and, for every node, what it
    costs when aliases are expanded (nodes + scalar characters) and how deep it
    goes, so a billion-laughs document is refused after a few dozen aliases,
    before anything is expanded. It stops at the first event over a limit, so
    libyaml's own cost (it grows with the nesting depth) stays bounded too.
    Path resolvers (never registered by the safe loader) are not supported.
    """
    if loader.check_event(StreamStartEvent):
        loader.get_event()
    if loader.check_event(StreamEndEvent):
        return None
    loader.document_line = None
    start: Any = loader.get_event()  # DocumentStartEvent
    loader.document_line = start.start_mark.line
    anchors: dict[str, tuple[Node, int, int] | None] = {}  # None: still open (recursive)
    stack: list[_Open] = []
    cost = nodes = aliases = expansion = 0
    root: Node | None = None

    def attach(node: Node, height: int) -> Node | None:
        if not stack:
            return node
        top = stack[-1]
        top.height = max(top.height, height)
        if isinstance(top.node, SequenceNode):
            top.node.value.append(node)
        elif top.key is None:
            top.key = node
        else:
            top.node.value.append((top.key, node))
            top.key = None
        return None

    resolve: Any = loader.resolve  # untyped in the stubs
    while root is None:
        event: Any = loader.get_event()
        anchor = getattr(event, "anchor", None)
        # Dispatch on the exact type (libyaml's events are never subclassed): keeps `event` Any.
        event_type = type(event)
        if event_type is AliasEvent:
            if anchor not in anchors:
                raise yaml.composer.ComposerError(
                    None, None, f"found undefined alias {anchor!r}", event.start_mark
                )
            target = anchors[anchor]
            if target is None:
                raise _LimitError(f"alias *{anchor} refers to a node that contains it",
                                  event.start_mark)
            node, weight, height = target
            aliases += 1
            expansion += weight
            cost += weight
            if aliases > limits.max_aliases:
                raise _LimitError(f"more than {limits.max_aliases} aliases", event.start_mark)
            if expansion > limits.max_alias_expansion:
                raise _LimitError(
                    f"aliases expand to more than {limits.max_alias_expansion} nodes and "
                    "characters (a \"billion laughs\" document?)", event.start_mark,
                )
            if len(stack) + height > limits.max_depth:
                raise _LimitError(f"nested more than {limits.max_depth} levels deep "
                                  "once aliases are expanded", event.start_mark)
            root = attach(node, height)
            continue
        if anchor is not None and anchor in anchors:
            raise yaml.composer.ComposerError(
                None, None, f"found duplicate anchor {anchor!r}", event.start_mark
            )
        if event_type in (SequenceEndEvent, MappingEndEvent):
            done = stack.pop()
            done.node.end_mark = event.end_mark
            height = done.height + 1
            if done.anchor is not None:
                anchors[done.anchor] = (done.node, cost - done.cost_before, height)
            root = attach(done.node, height)
            continue
        nodes += 1
        if nodes > limits.max_nodes:
            raise _LimitError(f"more than {limits.max_nodes} nodes in one document",
                              event.start_mark)
        if len(stack) >= limits.max_depth:
            raise _LimitError(f"nested more than {limits.max_depth} levels deep",
                              event.start_mark)
        tag = event.tag
        if event_type is ScalarEvent:
            if tag is None or tag == "!":
                tag = resolve(ScalarNode, event.value, event.implicit)
            scalar = ScalarNode(tag, event.value, event.start_mark, event.end_mark,
                                style=event.style)
            weight = 1 + len(event.value)
            cost += weight
            if anchor is not None:
                anchors[anchor] = (scalar, weight, 1)
            root = attach(scalar, 1)
        elif event_type in (SequenceStartEvent, MappingStartEvent):
            kind = SequenceNode if event_type is SequenceStartEvent else MappingNode
            if tag is None or tag == "!":
                tag = resolve(kind, None, event.implicit)
            collection = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
            cost += 1
            if anchor is not None:
                anchors[anchor] = None
            stack.append(_Open(collection, anchor, cost - 1))
        else:  # pragma: no cover - libyaml emits nothing else inside a document
            raise yaml.composer.ComposerError(
                None, None, f"unexpected {type(event).__name__}", event.start_mark
            )
    loader.get_event()  # DocumentEndEvent
    return root


def _yaml_problem(exc: yaml.YAMLError, line_offset: int) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        problem = exc.problem or exc.context or "invalid YAML"
        mark = exc.problem_mark or exc.context_mark
        return _one_line(problem) + _at(mark, line_offset)
    return _one_line(str(exc)) or "invalid YAML"


def _at(mark: Any, line_offset: int) -> str:
    if mark is None:
        return ""
    return f" (line {mark.line + 1 + line_offset}, column {mark.column + 1})"


# A line that separates documents, as kubectl's YAML reader (and kustomize's)
# splits a stream before parsing each document: `---`, alone or with a comment.
_SEPARATOR = re.compile(r"^---[ \t]*(?:#[^\n]*)?\r?$", re.MULTILINE)
# Before the first separator, only comments, blank lines and directives: no document.
_PREAMBLE = re.compile(r"(?:[ \t]*(?:[#%][^\n]*)?\r?\n)*[ \t]*(?:[#%][^\n]*)?\r?")


def _chunks(text: str) -> Iterator[tuple[int, str]]:
    """(first line, text) of each part of the stream that starts at a separator.

    After a document that does not parse (a template with `{{ }}` in key
    position), the parts after it are parsed each on its own, so it does not
    hide the documents that follow: the same split kubectl makes. A part
    starts with its separator line, which keeps the document count equal to
    YAML's.
    """
    start = line = 0
    for match in _SEPARATOR.finditer(text):
        if match.start() == start or (start == 0 and _PREAMBLE.fullmatch(text, 0, match.start())):
            continue  # nothing before it but comments or directives: same part
        yield line, text[start:match.start()]
        line += text.count("\n", start, match.start())
        start = match.start()
    yield line, text[start:]


def _yaml_documents(
    text: str, file: str, limits: Limits
) -> Iterator[tuple[int, Any, int] | ManifestError]:
    """(index, data, first line) of every document, or the error that one document is.

    The stream is parsed whole (one parser: the per-document cost of a
    stream of small documents stays low). After a document fails, the rest
    of the stream is split on `---` lines and parsed part by part, so the
    documents after the bad one are still read.
    """
    index = 0  # documents seen so far, also the ones that failed
    parts: Iterator[tuple[int, str]] = iter([(0, text)])
    rest: Iterator[tuple[int, str]] | None = None  # the split, made once: linear in the text
    while (part := next(parts, None)) is not None:
        line_offset, chunk = part
        loader = _Loader(chunk)
        problem: str | None = None
        try:
            while True:
                index += 1  # before composing: an error belongs to this document
                if index > limits.max_documents:
                    yield ManifestError(file, f"more than {limits.max_documents} documents; "
                                        "the rest is not read")
                    return
                node = _compose(loader, limits)
                if node is None:
                    index -= 1  # the end of the part, not a document
                    break
                yield index, loader.construct_document(node), line_offset + node.start_mark.line + 1
        except yaml.YAMLError as exc:
            problem = _yaml_problem(exc, line_offset)
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        except _LimitError as exc:
            problem, mark = exc.problem + _at(exc.mark, line_offset), exc.mark
        except RecursionError:
            problem, mark = "document is nested too deeply", None
        finally:
            loader.dispose()
        if problem is None:
            continue
        yield ManifestError(Origin(file, index), problem)
        # Go on after the bad document: with the parts that start below where it started.
        line = loader.document_line if loader.document_line is not None else (
            mark.line if mark is not None else None
        )
        if line is None:
            return
        after = line_offset + line
        rest = _chunks(text) if rest is None else rest
        parts = (p for p in rest if p[0] > after)


# -- JSON --------------------------------------------------------------------------------

# `\ud800`-`\udfff` written as an escape: a UTF-16 surrogate, which needs a pair.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _json_document(text: str, file: str, limits: Limits) -> Any:
    where = Origin(file, 1)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = f"{exc.msg} (line {exc.lineno}, column {exc.colno})"
        raise ManifestError(where, problem) from None
    except ValueError as exc:  # an integer Python will not convert (over 4,300 digits)
        raise ManifestError(where, _one_line(str(exc).split(";")[0])) from None
    except RecursionError:
        raise ManifestError(where, f"nested more than {limits.max_depth} levels deep") from None
    _check_json(data, where, limits, surrogates=_SURROGATE_ESCAPE.search(text) is not None)
    return data


def _check_json(data: Any, where: Origin, limits: Limits, surrogates: bool) -> None:
    """Depth within the limit; no lone surrogate (Python's json accepts `"\\ud800"`; UTF-8 cannot
    carry it, and Go's decoder turns it into U+FFFD: we would judge a string no one else sees)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if surrogates and not _is_unicode(value):
                raise ManifestError(where, f"string {value[:40]!r} holds an unpaired UTF-16 "
                                    "surrogate escape: not Unicode text")
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth > limits.max_depth:
            raise ManifestError(where, f"nested more than {limits.max_depth} levels deep")
        children: Iterable[Any] = value if isinstance(value, list) else (
            item for pair in value.items() for item in pair
        )
        stack.extend((child, depth + 1) for child in children)


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- documents to manifests --------------------------------------------------------------

def _flatten(origin: Origin, data: Any) -> Iterator[Manifest]:
    if not isinstance(data, Mapping):
        raise ManifestError(origin, f"expected a Kubernetes object (a mapping), got {_shape(data)}")
    kind = data.get("kind")
    if not isinstance(kind, str) or not kind:
        raise ManifestError(origin, "document has no `kind`; is it a Kubernetes manifest?")
    if kind.endswith("List"):
        items = data.get("items")
        if items is None and (kind == "List" or "items" in data):
            items = []  # `items: null` is an empty list, as the API server reads it
        if items is not None:
            if not isinstance(items, list):
                # A PodList whose items are a mapping must not be read as one unknown object
                # that hides its pods: refuse it, as the API server would.
                raise ManifestError(origin, f"`kind: {kind}` needs `items` to be a list, "
                                    f"got {_shape(items)}")
            for position, item in enumerate(items, start=1):
                # A List nested in a List keeps the outer position, which is enough to find it.
                inner = position if origin.item is None else origin.item
                yield from _flatten(Origin(origin.file, origin.document, inner, origin.line), item)
            return
    yield Manifest(origin, data)


def _shape(data: Any) -> str:
    if isinstance(data, list):
        return "a list"
    if isinstance(data, str):
        return "a string"
    if isinstance(data, Mapping):
        return "a mapping"
    return type(data).__name__


def parse_text(text: str, file: str, limits: Limits = DEFAULT_LIMITS) -> list[Manifest]:
    """Parse one file's text (YAML, multi-document, or JSON) into manifests; raise the first error.

    `.json` files are read as JSON (exact error positions). Other input that
    starts like JSON is tried as JSON first, then as YAML (of which JSON is a
    subset), so `kubectl get -o json | hostns scan -f -` works. Empty
    documents are skipped; Lists are flattened.
    """
    inputs = Inputs()
    _parse(text, file, limits, inputs, None)
    if inputs.errors:
        raise inputs.errors[0]
    return inputs.manifests


Keep = Callable[[Manifest], bool]


def _parse(text: str, file: str, limits: Limits, into: Inputs, keep: Keep | None) -> int:
    """Add the manifests of `text` (those `keep` wants) and its errors to `into`.

    Returns how many documents were not empty (bad ones included).
    """
    text = text.removeprefix("\ufeff")

    def add(origin: Origin, data: Any) -> None:
        try:
            into.manifests.extend(m for m in _flatten(origin, data) if keep is None or keep(m))
        except ManifestError as exc:
            into.errors.append(exc)

    if file.endswith(".json"):
        if not text.strip():
            return 0
        try:
            add(Origin(file, 1, line=1), _json_document(text, file, limits))
        except ManifestError as exc:
            into.errors.append(exc)
        return 1
    if text.lstrip().startswith(("{", "[")):
        try:
            data = _json_document(text, file, limits)
        except ManifestError:
            pass  # not one good JSON value: a YAML flow mapping or a stream; let YAML decide
        else:
            add(Origin(file, 1, line=1), data)
            return 1
    documents = 0
    for result in _yaml_documents(text, file, limits):
        if isinstance(result, ManifestError):
            into.errors.append(result)
            documents += 1
            continue
        index, data, line = result
        if data is None:
            continue  # an empty document (`---` twice, or comments only)
        documents += 1
        add(Origin(file, index, line=line), data)
    return documents


# -- files -------------------------------------------------------------------------------

def _walk(directory: str) -> Iterator[str | ManifestError]:
    """Manifest files under `directory`, recursively, in a stable (sorted) order.

    Hidden files and directories (`.git`, `.github`) are not manifests and are skipped.
    A directory that cannot be listed is an error, in its place in the order.
    """
    unreadable: list[ManifestError] = []

    def note(exc: OSError) -> None:
        unreadable.append(ManifestError(str(exc.filename or "?"), _os_problem(exc)))

    for root, dirs, files in os.walk(directory, onerror=note):
        yield from unreadable
        unreadable.clear()
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or name in _NOT_MANIFESTS:
                continue
            if name.endswith(MANIFEST_SUFFIXES):
                yield os.path.join(root, name)
    yield from unreadable


def _os_problem(exc: OSError) -> str:
    return exc.strerror.lower() if exc.strerror else _one_line(str(exc))


def expand_paths(paths: Iterable[str]) -> list[str]:
    """Files to read, in order: each path as given, directories expanded; raise the first error."""
    files: list[str] = []
    for entry in _inputs(paths):
        if isinstance(entry, ManifestError):
            raise entry
        files.append(entry[0])
    return files


def _inputs(paths: Iterable[str]) -> Iterator[tuple[str, bool] | ManifestError]:
    """(file, named explicitly) to read, in order, and in their place what cannot be listed.

    A file reached twice (named twice, or also under a named directory) is
    read once, so its workloads are not reported twice. A directory without
    any manifest file is an error: a mistyped path must not pass a pipeline.
    """
    seen: set[str] = set()
    for path in paths:
        if path == STDIN:
            candidates: list[str | ManifestError] = [STDIN]
        elif os.path.isdir(path):
            candidates = list(_walk(path))
            if not any(isinstance(c, str) for c in candidates):
                candidates.append(
                    ManifestError(path, "no manifest files (*.yaml, *.yml, *.json) in directory")
                )
        elif os.path.lexists(path):
            candidates = [path]
        else:
            candidates = [ManifestError(path, "no such file or directory")]
        for candidate in candidates:
            if isinstance(candidate, ManifestError):
                yield candidate
                continue
            key = candidate if candidate == STDIN else os.path.realpath(candidate)
            if key not in seen:
                seen.add(key)
                yield candidate, candidate == path


_FILE_TYPES: Final = {
    stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a directory",
}


def _size(limit: int) -> str:
    return f"{limit // MIB} MiB" if limit % MIB == 0 else f"{limit} bytes"


def _read_bounded(read: Callable[[int], bytes | str], name: str, limit: int) -> bytes:
    """At most `limit` bytes from `read`, in chunks: a stream that never ends is refused."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = read(min(_READ_CHUNK, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        if isinstance(chunk, str):  # a text stream: its bytes, surrogates kept to be refused
            chunk = chunk.encode("utf-8", "surrogatepass")
        total += len(chunk)
        if total > limit:
            raise ManifestError(name, f"larger than {_size(limit)} (raise --max-input-size "
                                "if this input is real)")
        chunks.append(chunk)


def _read_file(path: str, explicit: bool, limit: int, notes: list[str]) -> bytes | None:
    """The bytes of `path`, or None when it is skipped (noted): not a regular file in a directory.

    A FIFO or a device (a symlink to /dev/zero named `x.yaml`) would hang the
    scan or never end. Only a FIFO named on the command line is read, like
    standard input (`-f <(helm template ...)`), and within the size limit.
    """
    try:
        kind = stat.S_IFMT(os.stat(path).st_mode)
    except OSError as exc:
        raise ManifestError(path, _os_problem(exc)) from None
    if kind != stat.S_IFREG and not (explicit and kind == stat.S_IFIFO):
        what = f"not a regular file ({_FILE_TYPES.get(kind, 'special file')})"
        if explicit:
            raise ManifestError(path, what)
        notes.append(f"{path}: {what}; skipped")
        return None
    # O_NONBLOCK: should a FIFO replace the file after the stat, opening it does not wait.
    flags = os.O_RDONLY | os.O_CLOEXEC | (os.O_NONBLOCK if kind == stat.S_IFREG else 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ManifestError(path, _os_problem(exc)) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if stat.S_IFMT(info.st_mode) != kind:
            raise ManifestError(path, "changed while it was being opened")
        if kind == stat.S_IFREG and info.st_size > limit:
            raise ManifestError(path, f"larger than {_size(limit)} (raise --max-input-size "
                                "if this input is real)")
        try:
            return _read_bounded(handle.read, path, limit)
        except OSError as exc:
            raise ManifestError(path, _os_problem(exc)) from None


def _decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(name, f"not UTF-8 text (byte {exc.start + 1})") from None


def read_inputs(
    paths: Sequence[str],
    stdin: IO[bytes] | IO[str] | None = None,
    *,
    max_input_size: int = DEFAULT_MAX_INPUT_SIZE,
    limits: Limits = DEFAULT_LIMITS,
    keep: Keep | None = None,
) -> Inputs:
    """Read every manifest under `paths`; `-` reads `stdin` (once). Errors are collected.

    `keep` chooses the manifests worth holding in memory (the others are
    dropped as soon as they are read). A file named explicitly (or stdin)
    that holds no document at all is an error: in
    `kustomize build ... | hostns scan -f -` it means the command before the
    pipe failed, and an empty scan must not pass.
    """
    inputs = Inputs()
    for entry in _inputs(paths):
        if isinstance(entry, ManifestError):
            inputs.errors.append(entry)
            continue
        path, explicit = entry
        name = STDIN_NAME if path == STDIN else path
        try:
            if path == STDIN:
                if stdin is None:
                    raise ManifestError(name, "standard input is not available")
                raw: bytes | None = _read_bounded(stdin.read, name, max_input_size)
            else:
                raw = _read_file(path, explicit, max_input_size, inputs.notes)
            if raw is None:
                continue
            documents = _parse(_decode(raw, name), name, limits, inputs, keep)
            if explicit and not documents:
                raise ManifestError(name, "no Kubernetes objects in the input (is it empty?)")
        except ManifestError as exc:
            inputs.errors.append(exc)
    return inputs


def read_manifests(
    paths: Sequence[str], stdin: IO[bytes] | IO[str] | None = None
) -> list[Manifest]:
    """Every manifest under `paths`; raise the first error (see `read_inputs`)."""
    inputs = read_inputs(paths, stdin)
    if inputs.errors:
        raise inputs.errors[0]
    return inputs.manifests
