"""Reading Kubernetes manifests from files, directories and standard input.

Every document keeps its origin (file, 1-based document index, and the item
index inside a `kind: List`) so that a message can point at the exact place.
Anything that cannot be read raises `ManifestError` with a one-line message;
the caller prints it, never a traceback.

YAML is read as the Kubernetes tooling reads it (sigs.k8s.io/yaml turns YAML
into JSON): timestamps stay strings, so `expiresAt: 2030-01-01T00:00:00Z`
written without quotes is still an RFC 3339 string and not a Python datetime.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

import yaml

STDIN = "-"
STDIN_NAME = "<stdin>"
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
# kustomize's own configuration files are not manifests (they often have no `kind`).
_NOT_MANIFESTS = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})

_BaseLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc]
    """Safe loader (C-accelerated when available) that keeps timestamps as strings."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


@dataclass(frozen=True, slots=True)
class Origin:
    file: str  # as given (or found under a directory); `<stdin>` for `-`
    document: int  # 1-based, counting every document of the file, empty ones too
    item: int | None = None  # 1-based position inside a `kind: List`

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


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        problem = exc.problem or exc.context or "invalid YAML"
        mark = exc.problem_mark or exc.context_mark
        if mark is not None:
            return f"{_one_line(problem)} (line {mark.line + 1}, column {mark.column + 1})"
        return _one_line(problem)
    return _one_line(str(exc)) or "invalid YAML"


def _yaml_documents(text: str, file: str) -> Iterator[tuple[int, Any]]:
    index = 1  # the document being read, also when reading it fails
    loader = _Loader(text)
    try:
        while loader.check_data():
            data = loader.get_data()
            yield index, data
            index += 1
    except yaml.YAMLError as exc:
        raise ManifestError(Origin(file, index), _yaml_problem(exc)) from None
    except RecursionError:
        raise ManifestError(Origin(file, index), "document is nested too deeply") from None
    finally:
        loader.dispose()


def _json_document(text: str, file: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        problem = f"{exc.msg} (line {exc.lineno}, column {exc.colno})"
        raise ManifestError(Origin(file, 1), problem) from None
    except RecursionError:
        raise ManifestError(Origin(file, 1), "document is nested too deeply") from None


def _flatten(origin: Origin, data: Any) -> Iterator[Manifest]:
    if not isinstance(data, Mapping):
        raise ManifestError(origin, f"expected a Kubernetes object (a mapping), got {_shape(data)}")
    kind = data.get("kind")
    if not isinstance(kind, str) or not kind:
        raise ManifestError(origin, "document has no `kind`; is it a Kubernetes manifest?")
    items = data.get("items")
    if kind.endswith("List") and (isinstance(items, list) or (kind == "List" and items is None)):
        for position, item in enumerate(items or [], start=1):
            # A List nested in a List keeps the outer position, which is enough to find it.
            inner = position if origin.item is None else origin.item
            yield from _flatten(Origin(origin.file, origin.document, inner), item)
        return
    if kind == "List":
        raise ManifestError(origin, "`kind: List` needs `items` to be a list")
    yield Manifest(origin, data)


def _shape(data: Any) -> str:
    if isinstance(data, list):
        return "a list"
    if isinstance(data, str):
        return "a string"
    return type(data).__name__


def parse_text(text: str, file: str) -> list[Manifest]:
    """Parse one file's text (YAML, multi-document, or JSON) into manifests.

    `.json` files are read as JSON (exact error positions). Other input that
    starts like JSON is tried as JSON first, then as YAML (of which JSON is a
    subset), so `kubectl get -o json | hostns scan -f -` works. Empty
    documents are skipped; Lists are flattened.
    """
    return _parse(text, file)[0]


def _parse(text: str, file: str) -> tuple[list[Manifest], int]:
    """The manifests in `text`, and how many non-empty documents held them."""
    text = text.removeprefix("\ufeff")
    if file.endswith(".json"):
        if not text.strip():
            return [], 0
        return list(_flatten(Origin(file, 1), _json_document(text, file))), 1
    if text.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            pass  # not one JSON value: a YAML flow mapping or a stream; let YAML decide
        else:
            return list(_flatten(Origin(file, 1), data)), 1
    manifests: list[Manifest] = []
    documents = 0
    for index, data in _yaml_documents(text, file):
        if data is None:
            continue  # an empty document (`---` twice, or comments only)
        documents += 1
        manifests.extend(_flatten(Origin(file, index), data))
    return manifests, documents


def _walk(directory: str) -> Iterator[str]:
    """Manifest files under `directory`, recursively, in a stable (sorted) order.

    Hidden files and directories (`.git`, `.github`) are not manifests and are skipped.
    """
    for root, dirs, files in os.walk(directory, onerror=_raise_walk_error):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or name in _NOT_MANIFESTS:
                continue
            if name.endswith(MANIFEST_SUFFIXES):
                yield os.path.join(root, name)


def _raise_walk_error(exc: OSError) -> None:
    raise ManifestError(str(exc.filename or "?"), _os_problem(exc))


def _os_problem(exc: OSError) -> str:
    return exc.strerror.lower() if exc.strerror else _one_line(str(exc))


def expand_paths(paths: Iterable[str]) -> list[str]:
    """Files to read, in order: each path as given, directories expanded."""
    return [path for path, _ in _inputs(paths)]


def _inputs(paths: Iterable[str]) -> list[tuple[str, bool]]:
    """(file, named explicitly) to read, in order.

    A file reached twice (named twice, or also under a named directory) is
    read once, so its workloads are not reported twice. A directory without
    any manifest file is an error: a mistyped path must not pass a pipeline.
    """
    files: list[tuple[str, bool]] = []
    seen: set[str] = set()
    for path in paths:
        if path == STDIN:
            candidates: list[str] = [STDIN]
        elif os.path.isdir(path):
            candidates = list(_walk(path))
            if not candidates:
                raise ManifestError(path, "no manifest files (*.yaml, *.yml, *.json) in directory")
        elif os.path.exists(path):
            candidates = [path]
        else:
            raise ManifestError(path, "no such file or directory")
        for candidate in candidates:
            key = candidate if candidate == STDIN else os.path.realpath(candidate)
            if key not in seen:
                seen.add(key)
                files.append((candidate, candidate == path))
    return files


def _read_file(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise ManifestError(path, _os_problem(exc)) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(path, f"not UTF-8 text (byte {exc.start + 1})") from None


def read_manifests(paths: Sequence[str], stdin: IO[str] | None = None) -> list[Manifest]:
    """Read every manifest under `paths`; `-` reads `stdin` (once).

    A file named explicitly (or stdin) that holds no document at all is an
    error: in `kustomize build ... | hostns scan -f -` it means the command
    before the pipe failed, and an empty scan must not pass.
    """
    manifests: list[Manifest] = []
    for path, explicit in _inputs(paths):
        if path == STDIN:
            name = STDIN_NAME
            if stdin is None:
                raise ManifestError(name, "standard input is not available")
            try:
                text = stdin.read()
            except UnicodeDecodeError as exc:
                raise ManifestError(name, f"not UTF-8 text (byte {exc.start + 1})") from None
        else:
            name, text = path, _read_file(path)
        found, documents = _parse(text, name)
        if explicit and not documents:
            raise ManifestError(name, "no Kubernetes objects in the input (is it empty?)")
        manifests.extend(found)
    return manifests
