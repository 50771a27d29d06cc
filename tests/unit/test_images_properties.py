"""Properties of image parsing and pattern matching, checked with hypothesis.

The tables in test_images.py state the rules case by case; these check that
they hold for every input hypothesis can find: normalisation is stable, a
pattern never reaches another registry, `*` never crosses `/`, and the linear
wildcard matcher agrees with a regular expression on everything it is given.
"""

from __future__ import annotations

import re

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hostns.images import Glob, ImageError, ImagePattern, ImageRef, parse_image, parse_pattern

HEX = "0123456789abcdef" * 4

_alnum = st.text(alphabet="abz09", min_size=1, max_size=5)
_component = st.builds(
    lambda head, separator, tail: head + separator + tail if tail else head,
    _alnum,
    st.sampled_from([".", "_", "__", "-", "--"]),
    st.one_of(st.just(""), _alnum),
)
_hosts = st.sampled_from(
    ["", "docker.io/", "index.docker.io/", "ghcr.io/", "GHCR.io/", "localhost/", "localhost:5000/",
     "registry.k8s.io/", "10.0.0.1:5000/", "[::1]:5000/", "a_b.io/", "Reg/"]
)
_tags = st.one_of(
    st.just(""),
    st.builds(lambda first, rest: f":{first}{rest}", st.sampled_from("aZ9_"), st.text("aZ9_.-", max_size=6)),
)
_digests = st.sampled_from(["", "", "@sha256:" + HEX, "@sha256:" + HEX[::-1]])


@st.composite
def images(draw: st.DrawFn) -> str:
    path = "/".join(draw(st.lists(_component, min_size=1, max_size=3)))
    return draw(_hosts) + path + draw(_tags) + draw(_digests)


def _star(draw: st.DrawFn, text: str) -> str:
    """Replace a random slice of `text` with `*` (or leave it)."""
    if not text or not draw(st.booleans()):
        return text
    start = draw(st.integers(0, len(text) - 1))
    end = draw(st.integers(start, len(text)))
    return text[:start] + "*" + text[end:]


@st.composite
def pairs(draw: st.DrawFn) -> tuple[str, str]:
    """An image and a pattern made from the same parts: some stars, sometimes another
    host, part or tag, so that both matches and near misses are common."""
    host = draw(_hosts)
    parts = draw(st.lists(_component, min_size=2, max_size=3))
    tag, digest = draw(_tags), draw(_digests)
    image = host + "/".join(parts) + tag + digest
    pattern_parts = [parts[0], *(_star(draw, part) for part in parts[1:])]
    if draw(st.integers(0, 4)) == 0:
        pattern_parts[-1] = draw(_component)
    pattern_host = draw(_hosts) if draw(st.integers(0, 4)) == 0 else host
    pattern_tag = _star(draw, tag) if draw(st.booleans()) else draw(_tags)
    return pattern_host + "/".join(pattern_parts) + pattern_tag, image


def _valid(text: str) -> ImageRef | None:
    try:
        return parse_image(text)
    except ImageError:
        return None


# --- normalisation ------------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(text=images())
def test_normalisation_is_idempotent(text: str) -> None:
    ref = _valid(text)
    assume(ref is not None)
    assert ref is not None
    again = parse_image(str(ref))
    assert again == ref
    assert str(again) == str(ref)


@settings(max_examples=500, deadline=None)
@given(text=images())
def test_an_image_is_trusted_by_the_literal_pattern_of_its_name_and_of_its_reference(text: str) -> None:
    ref = _valid(text)
    assume(ref is not None and ref.registry and ref.registry_key != "reg")
    assert ref is not None
    assert parse_pattern(ref.name).matches(ref, ref.digest)
    if ref.digest is None:  # with a digest, str(ref) is a pin (the tag is ignored)
        assert parse_pattern(str(ref)).matches(ref, None)
    else:
        assert parse_pattern(f"{ref.name}@{ref.digest}").matches(ref, ref.digest)


# --- matching -----------------------------------------------------------------------------


def _parsed(pair: tuple[str, str]) -> tuple[ImagePattern, ImageRef]:
    """The pair parsed; hypothesis discards pairs where either side is refused."""
    pattern, text = pair
    ref = _valid(text)
    assume(ref is not None)
    assert ref is not None
    try:
        return parse_pattern(pattern), ref
    except ImageError:
        assume(False)
        raise


def _regex_reference(compiled: ImagePattern, image: ImageRef) -> bool:
    """The matching rule written with regular expressions (the old implementation):
    only for small inputs, where backtracking costs nothing."""
    glob = lambda text: "".join("[^/]*" if c == "*" else re.escape(c) for c in text)  # noqa: E731
    if image.registry.lower() != compiled.registry.lower():
        return False
    if not re.fullmatch(glob(compiled.repository), image.repository):
        return False
    if compiled.digest is not None:
        return image.digest == compiled.digest
    if compiled.tag is None:
        return True
    if image.digest is not None or image.tag is None:
        return False
    return re.fullmatch(glob(compiled.tag), image.tag) is not None


@settings(max_examples=800, deadline=None)
@given(pair=pairs())
def test_matching_agrees_with_the_regular_expression_reading(pair: tuple[str, str]) -> None:
    compiled, ref = _parsed(pair)
    assert compiled.matches(ref, ref.digest) == _regex_reference(compiled, ref)


@settings(max_examples=800, deadline=None)
@given(pair=pairs())
def test_a_pattern_never_trusts_another_registry_and_a_star_never_crosses_a_slash(
    pair: tuple[str, str],
) -> None:
    compiled, ref = _parsed(pair)
    if compiled.matches(ref, ref.digest):
        assert ref.registry.lower() == compiled.registry.lower()
        assert ref.repository.count("/") == compiled.repository.count("/")
        assert ref.repository.split("/")[0] == compiled.repository.split("/")[0]  # the account


# --- the wildcard matcher -------------------------------------------------------------------


@settings(max_examples=1500, deadline=None)
@given(glob=st.text(alphabet="ab*", min_size=1, max_size=10), text=st.text(alphabet="ab", max_size=12))
def test_the_linear_glob_agrees_with_a_regular_expression(glob: str, text: str) -> None:
    assume("*" in glob)
    expected = re.fullmatch("".join(".*" if c == "*" else re.escape(c) for c in glob), text)
    assert Glob.compile(glob).matches(text) == (expected is not None)


@settings(max_examples=800, deadline=None)
@given(glob=st.text(alphabet="a.-*", min_size=1, max_size=8), text=st.text(alphabet="a.-", max_size=10))
def test_the_linear_glob_agrees_on_separators_too(glob: str, text: str) -> None:
    assume("*" in glob)
    expected = re.fullmatch("".join(".*" if c == "*" else re.escape(c) for c in glob), text)
    assert Glob.compile(glob).matches(text) == (expected is not None)
