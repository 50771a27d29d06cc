"""hostns.images against the real Go parser, github.com/distribution/reference.

hack/refprobe is a small Go program built from the module proxy at a pinned
version (`hack/refprobe/build.sh`, cached outside the tree). Every string here,
hand-picked and generated, goes to it in one process call, and the test fails on
any disagreement about validity, registry host, repository path, tag or digest,
or about the normalised string a runtime pulls. Without Go the test is skipped,
except in CI (CI=true), where it fails: the proof must not silently go missing.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostns.images import ImageError, parse_image, parse_pattern

BUILD = Path(__file__).resolve().parents[2] / "hack" / "refprobe" / "build.sh"
HEX = "0123456789abcdef" * 8


class Reading(NamedTuple):
    valid: bool
    registry: str
    repository: str
    tag: str | None
    digest: str | None
    normalised: str


INVALID = Reading(False, "", "", None, None, "")


@pytest.fixture(scope="module")
def probe() -> Path:
    if shutil.which("go") is None and os.environ.get("CI") == "true":
        pytest.fail("Go is needed to build hack/refprobe for the differential test (CI=true)")
    try:
        built = subprocess.run(
            ["bash", str(BUILD)], capture_output=True, text=True, timeout=600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"hack/refprobe/build.sh failed: {exc}")
        pytest.skip(f"hack/refprobe could not be built: {exc}")
    if built.returncode != 0:
        if shutil.which("go") is None:
            pytest.skip("no Go toolchain: the differential test against distribution/reference needs one")
        pytest.fail(f"hack/refprobe/build.sh failed:\n{built.stderr}")
    return Path(built.stdout.strip().splitlines()[-1])


def _reading(result: dict[str, Any]) -> Reading:
    if not result["valid"]:
        return INVALID
    digest = result["digest"] or None
    tag = result["tag"] or ("latest" if digest is None else None)  # TagNameOnly
    return Reading(True, result["domain"], result["path"], tag, digest, result["string"])


def go_readings(probe: Path, texts: list[str]) -> list[Reading]:
    """The Go parser's reading of every text, in one process call."""
    lines = "".join(json.dumps(text) + "\n" for text in texts)
    done = subprocess.run(
        [str(probe)], input=lines, capture_output=True, text=True, timeout=120, check=True
    )
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == len(texts), done.stderr
    return [_reading(result) for result in results]


class Session:
    """One probe process kept running, asked one string at a time (for hypothesis)."""

    def __init__(self, probe: Path) -> None:
        self.process = subprocess.Popen(
            [str(probe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def read(self, text: str) -> Reading:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(text) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, f"the probe exited ({self.process.poll()})"
        return _reading(json.loads(line))

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def session(probe: Path) -> Iterator[Session]:
    running = Session(probe)
    yield running
    running.close()


def python_reading(text: str) -> Reading:
    try:
        ref = parse_image(text)
    except ImageError:
        return INVALID
    return Reading(True, ref.registry, ref.repository, ref.tag, ref.digest, str(ref))


def disagreements(probe: Path, texts: list[str]) -> list[tuple[str, Reading, Reading]]:
    return [
        (text, go, python)
        for text, go in zip(texts, go_readings(probe, texts), strict=True)
        if (python := python_reading(text)) != go
    ]


# --- hand-picked ---------------------------------------------------------------------

D256 = "sha256:" + HEX[:64]
HOSTILE = [
    # Docker Hub spellings and look-alikes of it
    "nginx", "library/nginx", "docker.io/nginx", "docker.io/library/nginx", "index.docker.io/nginx",
    "index.docker.io/library/nginx", "registry-1.docker.io/library/nginx", "DOCKER.IO/nginx",
    "Docker.io/library/nginx", "INDEX.DOCKER.IO/nginx", "docker.io", "docker.io:443/nginx",
    "docker.io./nginx", ".docker.io/nginx",
    # unicode look-alikes: Cyrillic ie and o, the Kelvin sign, fullwidth, dotless i, long s, zero width
    "registry.k8s.i\u043e/kube-proxy", "r\u0435gistry.k8s.io/pause", "\u212a8s.io/x", "registry.\u212a8s.io/x",
    "ghcr.io/acm\u0435/agent", "nginx:\u0131atest", "\uff4eginx", "registry\uff0ek8s.io/x", "ng\u017fnx",
    "docker.io/library/ngi\u0274x", "nginx\u200b", "\u202enginx", "caf\u00e9/x", "n\u0303ginx",
    # uppercase hosts, paths, tags
    "Registry.K8s.IO/kube-proxy", "REGISTRY.K8S.IO/KUBE-PROXY", "Foo/bar", "FOO/bar:TAG", "foo/Bar",
    "Nginx", "nginx:LATEST", "[ABC]/x", "Localhost/x", "LOCALHOST:5000/x", "ab/cD", "Ab_c/x",
    # ports and localhost
    "localhost", "localhost:5000", "localhost/x", "localhost:5000/x", "localhost:/x", "localhost:x/y",
    "localhost:5000/x:1", "my-registry:5000/app", "registry.example.com:5000/team/app:1",
    "registry.example.com:123456/x", "registry.example.com:/x", "registry.example.com::5000/x",
    "registry.example.com:5000:6000/x", "10.0.0.5:5000/app", "10.0.0.5/app", "300.1.1.1/x",
    "a:1/b", "1/b", "a.b:0/c", "registry.k8s.io:5000", "x:5000/y",
    # IPv6
    "[::1]/x", "[::1]:5000/x", "[fe80::1%25eth0]:5000/x", "[::ffff:1.2.3.4]/x", "[]/x", "[:]/x",
    "[abc]/x", "[g::1]/x", "[::1]", "[::1]:5000", "::1/x", "[::1/x", "::1]/x", "[[::1]]/x",
    # lengths: 255 and 256 characters of path (Docker Hub's library/ counts), 128/129 of tag
    "a" * 247, "a" * 248, "library/" + "a" * 247, "library/" + "a" * 248, "x.io/" + "a" * 255,
    "x.io/" + "a" * 256, "x.io/" + "/".join(["abc"] * 64), "x.io/" + "/".join(["abc"] * 65),
    "nginx:" + "t" * 128, "nginx:" + "t" * 129, "h" * 1000 + ".io/x", "h." * 2000 + "io/x",
    "nginx:" + "_" * 128, "nginx:" + "." * 128,
    # tags
    "nginx:", "nginx::1", "nginx:1:2", "nginx:-1", "nginx:.1", "nginx:_1", "nginx:a/b",
    "nginx:1.25-alpine", "nginx:*", "nginx:a*b", "nginx:\u00e9", "nginx:@" + D256, ":tag", ":",
    # digests
    "nginx@", "nginx@sha256", "nginx@sha256:", "nginx@" + D256, "nginx@sha256:" + HEX[:63],
    "nginx@sha256:" + HEX[:65], "nginx@sha256:" + HEX[:64].upper(), "nginx@SHA256:" + HEX[:64],
    "nginx@sha384:" + HEX[:96], "nginx@sha512:" + HEX[:128], "nginx@sha512:" + HEX[:64],
    "nginx@md5:" + HEX[:32], "nginx@sha256+b64:" + HEX[:64], "nginx@sha1:" + HEX[:40],
    "nginx:1.25@" + D256, "nginx@" + D256 + "@" + D256, "nginx@@" + D256, "@" + D256, D256,
    HEX[:64], HEX[:64] + ":tag", HEX[:63], HEX[:65], "sha256:" + HEX[:64] + "/x",
    "nginx@" + D256 + ":tag", "nginx@" + D256[:-1] + "G", "ghcr.io/acme/x@" + D256,
    # components: empty, double slashes, separators
    "", "/", "//", "a//b", "/a", "a/", "a/b/", "x.io//a", "x.io/a//b", "a/-b", "a/b-", "a/b.",
    "a/_b", "a/b_", "a/b__c", "a/b___c", "a/b--c", "a/b---c", "a/b..c", "a/b._c", "a/b.-c",
    "a/b-_c", "a/b_.c", "a__b/c", "a.b/c", "a_b.c/d", "a_b.c/D", "x_y.io/x", "-a.io/x",
    "a-.io/x", "a..io/x", "a.io./x", ".a.io/x", "a.-b.io/x", "a_b:5000/x", "a b/c", " nginx",
    "nginx ", "ng\tinx", "nginx\n", "ngi\x00nx", "ngi\x7fnx", "a/b/c/d/e/f/g", "0/1/2",
    # the pattern mistakes, read as references
    "registry.k8s.io:*", "registry.k8s.io", "registry.k8s.io:v1.34.4", "registry.k8s.io:5000:*",
    "ghcr.io:latest", "localhost:latest", "quay.io:5000", "*elastic-agent*", "*", "*/nginx",
    "reg*.io/x", "ghcr.io/*/agent", "ghcr.io/acme/*", "a*b", "registry.k8s.io/kube-proxy:*",
]

HOSTS = ["", "docker.io/", "index.docker.io/", "localhost/", "localhost:5000/", "ghcr.io/",
         "Reg.IO:443/", "[::1]:5000/", "a_b.io/", "Ab/", "a:b/", "x.io:/", "a-.io/", "h.\u0435/"]
PATHS = ["nginx", "library/nginx", "a/b/c", "a__b", "a.b", "a--b", "Ab", "a_", "-a", "", "a//b",
         "\u212aelvin", "a" * 247, "a" * 248]
SUFFIXES = ["", ":v1", ":", ":A.b-c_D", ":-x", ":" + "t" * 128, ":" + "t" * 129, "@" + D256,
            ":v1@" + D256, "@sha256:abc", "@", "@sha512:" + HEX[:128], ":v1@", ":a:b"]


def hand_picked() -> list[str]:
    combined = ["".join(parts) for parts in itertools.product(HOSTS, PATHS, SUFFIXES)]
    return [*HOSTILE, *combined]


def test_every_hand_picked_hostile_reference_reads_as_the_go_parser_reads_it(probe: Path) -> None:
    texts = hand_picked()
    assert len(texts) > 2500
    assert disagreements(probe, texts) == []


def test_the_probe_and_the_table_reach_both_verdicts(probe: Path) -> None:
    # A differential test that only ever sees invalid (or valid) strings proves little.
    readings = go_readings(probe, hand_picked())
    valid = sum(reading.valid for reading in readings)
    assert 500 < valid < len(readings) - 500


def test_the_probe_is_the_grammar_this_module_claims(probe: Path) -> None:
    # Known answers of distribution/reference v0.6.0, so that a broken probe
    # (one that accepts or rejects everything) cannot make the comparison pass.
    assert go_readings(probe, ["nginx", "Foo/bar", "a_b.c/d", "registry.k8s.io:*", "a" * 248]) == [
        Reading(True, "docker.io", "library/nginx", "latest", None, "docker.io/library/nginx:latest"),
        Reading(True, "Foo", "bar", "latest", None, "Foo/bar:latest"),
        Reading(True, "", "a_b.c/d", "latest", None, "a_b.c/d:latest"),
        INVALID,
        INVALID,
    ]


# --- generated -----------------------------------------------------------------------

ALPHABET = "abcxyz019AZ._-/:@*[]%+ \u0435\u212a\uff41"
_raw = st.text(alphabet=ALPHABET, max_size=30)
_parts = st.tuples(
    st.sampled_from([*HOSTS, "", "", "registry.k8s.io/", "10.0.0.1:5000/", "[fe80::1]/"]),
    st.lists(
        st.text(alphabet="abz09._-A", min_size=0, max_size=12), min_size=1, max_size=4
    ).map("/".join),
    st.sampled_from(SUFFIXES),
)


def _mutate(draw: st.DrawFn, text: str) -> str:
    if not text or not draw(st.booleans()):
        return text
    at = draw(st.integers(0, len(text) - 1))
    char = draw(st.sampled_from(ALPHABET))
    edit = draw(st.sampled_from(["insert", "delete", "replace"]))
    if edit == "insert":
        return text[:at] + char + text[at:]
    if edit == "delete":
        return text[:at] + text[at + 1 :]
    return text[:at] + char + text[at + 1 :]


@st.composite
def references(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 3)) == 0:
        return draw(_raw)
    host, path, suffix = draw(_parts)
    return _mutate(draw, host + path + suffix)


@settings(max_examples=4000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=references())
def test_generated_references_read_as_the_go_parser_reads_them(session: Session, text: str) -> None:
    assert python_reading(text) == session.read(text)


# --- patterns ------------------------------------------------------------------------


def test_every_accepted_pattern_is_a_reference_of_the_go_grammar_with_star_as_a_letter(
    probe: Path,
) -> None:
    # parse_pattern checks a pattern with the image grammar, a `*` counting as a
    # letter. So with each `*` written as `a`, the Go parser must accept it and
    # split it the same way: same host, same path (stars aside), same tag.
    from .test_crds import _near_miss_patterns, _random_patterns

    candidates = [*HOSTILE, *hand_picked(), *_random_patterns(10000), *_near_miss_patterns(10000)]
    accepted = []
    for text in candidates:
        with contextlib.suppress(ImageError):
            accepted.append((text, parse_pattern(text)))
    assert len(accepted) > 1200  # 1,518 today: the comparison covers many patterns
    readings = go_readings(probe, [text.replace("*", "a") for text, _ in accepted])
    wrong = [
        (text, reading)
        for (text, pattern), reading in zip(accepted, readings, strict=True)
        if not reading.valid
        or reading.registry != pattern.registry
        or reading.repository != pattern.repository.replace("*", "a")
        or (pattern.tag is not None and reading.tag != pattern.tag.replace("*", "a"))
        or reading.digest != pattern.digest
    ]
    assert wrong == []
