"""Property tests of the manifest loader (hypothesis).

The loader composes YAML from the parser's events itself (to bound depth and aliases),
and splits streams on `---` lines as kubectl does; these properties hold it to PyYAML's
own safe loader on everything within the limits, and to "bad input is a ManifestError,
never anything else" on everything at all.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hostns.manifests import Inputs, Limits, ManifestError, _parse, parse_text

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**30), 10**30),
    st.floats(allow_nan=False), st.text(max_size=30),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(st.text(max_size=10), children, max_size=5),
    ),
    max_leaves=20,
)
objects = st.dictionaries(st.text(max_size=10), values, max_size=6).map(
    lambda body: {**body, "kind": "Thing"}
)


def _standard(text: str) -> list[Any]:
    """What PyYAML's safe loader reads, timestamps kept as strings as ours are."""

    return [d for d in yaml.load_all(text, Loader=_StandardLoader) if d is not None]


class _StandardLoader(yaml.CSafeLoader):
    """PyYAML's own C-accelerated safe loader and composer (the reference)."""


_StandardLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def _dump(data: Any, **options: Any) -> str:
    return yaml.dump(data, Dumper=yaml.CSafeDumper, **options)


def _dump_all(documents: list[Any], **options: Any) -> str:
    return yaml.dump_all(documents, Dumper=yaml.CSafeDumper, **options)


@SETTINGS
@given(st.lists(objects, min_size=1, max_size=4), st.sampled_from([None, True, False]))
def test_a_stream_reads_as_pyyaml_safe_load_all_reads_it(documents: list[dict[str, Any]], flow: bool | None) -> None:
    text = _dump_all(documents, default_flow_style=flow, explicit_start=True)
    assert [m.body for m in parse_text(text, "x.yaml")] == _standard(text) == documents


@SETTINGS
@given(objects)
def test_json_reads_as_json_loads_reads_it(document: dict[str, Any]) -> None:
    text = json.dumps(document)
    assert parse_text(text, "x.json")[0].body == json.loads(text)
    assert parse_text(text, "x.yaml")[0].body == json.loads(text)


@SETTINGS
@given(objects, st.integers(1, 6))
def test_shared_anchors_read_as_pyyaml_reads_them(document: dict[str, Any], uses: int) -> None:
    # One anchored value used several times, as hand-written manifests share a block.
    anchored = _dump({"shared": document}, default_flow_style=True).strip()[1:-1]
    text = "kind: Thing\n" + anchored.replace("shared: ", "shared: &s ", 1) + "\n" + "".join(
        f"use{i}: *s\n" for i in range(uses)
    )
    assert [m.body for m in parse_text(text, "x.yaml")] == _standard(text)


@SETTINGS
@given(st.text(max_size=300))
@example("kind: A\n---\n{{ .Values }}: x\n---\nkind: B\n")
@example("!!int ''")
@example("&a [*a]")
@example("a: \"\\ud800\"")
def test_any_text_is_manifests_or_one_line_errors_never_an_exception(text: str) -> None:
    into = Inputs()
    _parse(text, "x.yaml", Limits(), into, None)  # must not raise
    for error in into.errors:
        assert isinstance(error, ManifestError)
        assert "\n" not in str(error) and str(error).startswith("x.yaml")


@SETTINGS
@given(st.lists(objects, min_size=2, max_size=5), st.data())
def test_a_broken_document_hides_none_of_the_others(documents: list[dict[str, Any]], data: st.DataObject) -> None:
    broken = data.draw(st.integers(0, len(documents) - 1))
    parts = [_dump(d) for d in documents]
    parts[broken] = "kind: Broken\n  bad: : yaml\n"
    into = Inputs()
    _parse("---\n".join(parts), "x.yaml", Limits(), into, None)
    assert [m.body for m in into.manifests] == [d for i, d in enumerate(documents) if i != broken]
    assert [e.where.document for e in into.errors] == [broken + 1]  # type: ignore[union-attr]
