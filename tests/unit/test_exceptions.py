"""HostNamespaceException compilation: Active, Expired, Invalid; scoping; the ExceptionSet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hostns.core.exceptions import (
    ACTIVE,
    EXPIRED,
    INVALID,
    ExceptionSet,
    compile_exception,
    next_expiry,
    parse_time,
)
from hostns.core.images import parse_image

from .builders import DIGEST, NOW, exception_body, exception_set

HOUR = timedelta(hours=1)


def test_a_minimal_exception_is_active_and_covers_everything() -> None:
    exc = compile_exception(exception_body("debug", ["nginx"]))
    assert exc.state(NOW) == ACTIVE
    assert exc.error is None
    assert exc.flags == frozenset({"hostNetwork", "hostPID", "hostIPC"})
    assert exc.namespaces is None
    assert exc.selector is None
    assert exc.expires_at is None
    assert (exc.name, exc.generation) == ("debug", 1)
    assert exc.reason == "debug: approved by the platform team"


# --- Invalid exceptions match nothing ------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param({"images": ["*elastic-agent*"]}, "first path component", id="substring pattern"),
        pytest.param({"images": ["nginx", "*/nginx"]}, "first path component", id="one bad pattern among good ones"),
        pytest.param({"images": [f"ghcr.io/acme/*@{DIGEST}"]}, "digest", id="wildcard with a digest"),
        pytest.param({"images": ["nginx@sha256:abc"]}, "digest", id="malformed digest"),
        pytest.param({"images": []}, "at least one", id="no images"),
        pytest.param({"images": "nginx"}, "list of strings", id="images as a string"),
        pytest.param({"images": ["nginx", 7]}, "list of strings", id="a non-string image"),
        pytest.param({"hostNamespaces": ["hostUser"]}, "unknown host namespace", id="unknown flag"),
        pytest.param({"hostNamespaces": ["hostnetwork"]}, "unknown host namespace", id="flag in the wrong case"),
        pytest.param({"hostNamespaces": []}, "must not be empty", id="no flags"),
        pytest.param({"namespaces": "kube-system"}, "list of strings", id="namespaces as a string"),
        pytest.param({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Like"}]}}, "unknown operator", id="bad selector operator"),
        pytest.param({"podSelector": "app=agent"}, "must be an object", id="selector as a string"),
        pytest.param({"expiresAt": "next tuesday"}, "", id="unparseable expiresAt"),
        pytest.param({"expiresAt": "2026-12-01T00:00:00"}, "time zone", id="expiresAt without a time zone"),
        pytest.param({"expiresAt": 1767225600}, "RFC 3339", id="expiresAt as a number"),
        pytest.param({"expiresAt": "9999-12-31T23:00:00-05:00"}, "outside", id="expiresAt past year 9999 in UTC"),
        pytest.param({"expiresAt": "0001-01-01T00:30:00+01:00"}, "outside", id="expiresAt before year 1 in UTC"),
        pytest.param({"podSelector": {"matchLabels": {"app": {"nested": "map"}}}}, "", id="selector value that is a map"),
        pytest.param({"reason": ""}, "reason", id="empty reason"),
        pytest.param({"reason": "   "}, "reason", id="blank reason"),
        pytest.param({"reason": None}, "reason", id="missing reason"),
    ],
)
def test_an_unusable_exception_is_invalid_says_why_and_trusts_nothing(
    spec: dict[str, Any], message: str
) -> None:
    body = exception_body("broken", ["nginx"])
    body["spec"].update(spec)
    if body["spec"]["reason"] is None:
        del body["spec"]["reason"]
    exc = compile_exception(body)
    assert exc.state(NOW) == INVALID
    assert exc.error is not None and message in exc.error
    assert exc.patterns == ()
    assert not any(exc.applies_to(flag, "default", {}) for flag in ("hostNetwork", "hostPID", "hostIPC"))
    exceptions = ExceptionSet([exc], NOW)
    assert len(exceptions) == 0
    assert exceptions.trusting("docker.io/library/nginx:latest", None) == frozenset()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"metadata": {"name": "x"}}, id="no spec"),
        pytest.param({"metadata": {"name": "x"}, "spec": ["nginx"]}, id="spec as a list"),
        pytest.param({"spec": {"reason": "r", "images": ["nginx"]}, "metadata": None}, id="metadata null"),
        pytest.param({}, id="empty object"),
    ],
)
def test_a_malformed_exception_body_never_raises(body: dict[str, Any]) -> None:
    exc = compile_exception(body)
    if body.get("spec") == {"reason": "r", "images": ["nginx"]}:
        assert exc.state(NOW) == ACTIVE  # no metadata is odd, but the spec is usable
    else:
        assert exc.state(NOW) == INVALID


def test_any_failure_while_compiling_makes_the_exception_invalid(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the error, it must not escape: the caller would keep the old, trusting spec."""
    import hostns.core.exceptions as module

    def explode(text: str) -> None:
        raise RuntimeError("a parser bug")

    monkeypatch.setattr(module, "parse_pattern", explode)
    exc = compile_exception(exception_body("buggy", ["nginx"]))
    assert exc.state(NOW) == INVALID
    assert (exc.name, exc.generation) == ("buggy", 1)
    assert exc.error is not None and "RuntimeError: a parser bug" in exc.error


def test_an_exception_edited_to_an_unusable_expiry_stops_trusting_at_once() -> None:
    from hostns.live.state import ClusterState

    state = ClusterState()
    body = exception_body("agent", ["nginx"])
    state.set_exception(body)
    assert len(state.exception_set(NOW)) == 1
    edited = exception_body("agent", ["nginx"], expiresAt="9999-12-31T23:00:00-05:00")
    edited["metadata"]["generation"] = 2
    compiled, changed = state.set_exception(edited)
    assert changed and compiled.state(NOW) == INVALID and compiled.generation == 2
    assert len(state.exception_set(NOW)) == 0
    assert state.exception_set(NOW).trusting("nginx", None) == frozenset()


# --- expiry ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_at", "state"),
    [
        pytest.param("2026-11-22T13:00:00Z", ACTIVE, id="expires in an hour"),
        pytest.param("2026-11-22T12:00:01Z", ACTIVE, id="expires in a second"),
        pytest.param("2026-11-22T12:00:00Z", EXPIRED, id="expires right now"),
        pytest.param("2026-11-22T11:59:59Z", EXPIRED, id="expired a second ago"),
        pytest.param("2026-11-22T13:30:00+02:00", EXPIRED, id="offset time zone, half an hour ago"),
        pytest.param("2026-11-22T12:30:00.123456z", ACTIVE, id="fractional seconds, lowercase z"),
    ],
)
def test_an_exception_expires_at_its_expiry(expires_at: str, state: str) -> None:
    exc = compile_exception(exception_body("temp", ["nginx"], expiresAt=expires_at))
    assert exc.state(NOW) == state
    assert (len(ExceptionSet([exc], NOW)) == 1) is (state == ACTIVE)


def test_an_expired_exception_is_not_in_the_exception_set() -> None:
    exceptions = exception_set(
        exception_body("expired", ["nginx"], expiresAt="2026-11-22T11:00:00Z"),
        exception_body("active", ["busybox"], expiresAt="2026-11-22T13:00:00Z"),
    )
    assert [e.name for e in exceptions.active] == ["active"]
    assert exceptions.trusting("nginx:1.25", None) == frozenset()


def test_the_same_exception_is_active_before_and_expired_after_its_expiry() -> None:
    exc = compile_exception(exception_body("temp", ["nginx"], expiresAt="2026-11-22T12:30:00Z"))
    assert len(ExceptionSet([exc], NOW)) == 1
    assert len(ExceptionSet([exc], NOW + HOUR)) == 0


def test_the_next_expiry_is_the_earliest_future_one_of_valid_exceptions() -> None:
    exceptions = [
        compile_exception(exception_body("past", expiresAt="2026-11-22T11:00:00Z")),
        compile_exception(exception_body("later", expiresAt="2026-11-23T00:00:00Z")),
        compile_exception(exception_body("soon", expiresAt="2026-11-22T12:05:00Z")),
        compile_exception(exception_body("forever")),
        compile_exception(exception_body("invalid", ["*x*"], expiresAt="2026-11-22T12:01:00Z")),
    ]
    assert next_expiry(exceptions, NOW) == datetime(2026, 11, 22, 12, 5, tzinfo=UTC)
    assert next_expiry(exceptions, datetime(2026, 11, 23, tzinfo=UTC)) is None
    assert next_expiry([], NOW) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T12:00:00Z", datetime(2026, 11, 22, 12, tzinfo=UTC)),
        ("2026-11-22T14:00:00+02:00", datetime(2026, 11, 22, 12, tzinfo=UTC)),
        ("2026-11-22T07:00:00-05:00", datetime(2026, 11, 22, 12, tzinfo=UTC)),
    ],
)
def test_rfc3339_times_are_read_in_utc(text: str, expected: datetime) -> None:
    parsed = parse_time(text)
    assert parsed == expected and parsed.tzinfo == UTC


# --- scoping --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "flag", "namespace", "labels", "applies"),
    [
        pytest.param({}, "hostPID", "anywhere", {}, True, id="unscoped applies everywhere"),
        pytest.param({"hostNamespaces": ["hostNetwork"]}, "hostNetwork", "default", {}, True, id="covers its flag"),
        pytest.param({"hostNamespaces": ["hostNetwork"]}, "hostPID", "default", {}, False, id="hostNetwork only does not cover hostPID"),
        pytest.param({"hostNamespaces": ["hostNetwork"]}, "hostIPC", "default", {}, False, id="hostNetwork only does not cover hostIPC"),
        pytest.param({"hostNamespaces": ["hostPID", "hostIPC"]}, "hostIPC", "default", {}, True, id="covers one of its flags"),
        pytest.param({"namespaces": ["kube-system", "monitoring"]}, "hostNetwork", "monitoring", {}, True, id="in a listed namespace"),
        pytest.param({"namespaces": ["kube-system"]}, "hostNetwork", "default", {}, False, id="outside its namespaces"),
        pytest.param({"namespaces": ["kube-system"]}, "hostNetwork", "kube-system-evil", {}, False, id="namespace is not a prefix match"),
        pytest.param({"namespaces": []}, "hostNetwork", "default", {}, False, id="an empty namespace list applies nowhere"),
        pytest.param({"podSelector": {"matchLabels": {"app": "agent"}}}, "hostNetwork", "default", {"app": "agent"}, True, id="selected pod"),
        pytest.param({"podSelector": {"matchLabels": {"app": "agent"}}}, "hostNetwork", "default", {"app": "web"}, False, id="unselected pod"),
        pytest.param({"podSelector": {}}, "hostNetwork", "default", {}, True, id="empty selector selects all"),
        pytest.param(
            {"hostNamespaces": ["hostPID"], "namespaces": ["kube-system"], "podSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]}},
            "hostPID", "kube-system", {"app": "x"}, True, id="every scope holds",
        ),
        pytest.param(
            {"hostNamespaces": ["hostPID"], "namespaces": ["kube-system"], "podSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]}},
            "hostPID", "kube-system", {}, False, id="one scope fails",
        ),
    ],
)
def test_an_exception_applies_only_within_its_flags_namespaces_and_selector(
    spec: dict[str, Any], flag: str, namespace: str, labels: dict[str, str], applies: bool
) -> None:
    exc = compile_exception(exception_body("scoped", ["nginx"], **spec))
    assert exc.state(NOW) == ACTIVE
    assert exc.applies_to(flag, namespace, labels) is applies


# --- the exception set: which exceptions trust an image -----------------------------


def test_the_exception_set_finds_literal_and_wildcard_patterns_of_several_exceptions() -> None:
    exceptions = exception_set(
        exception_body("a-literal", ["registry.k8s.io/k8s/kube-proxy:v1.34.4"]),
        exception_body("b-wildcard", ["registry.k8s.io/k8s/kube-*"]),
        exception_body("c-other-registry", ["ghcr.io/kube-proxy"]),
        exception_body("d-pin", [f"registry.k8s.io/k8s/kube-proxy@{DIGEST}"]),
    )
    names = [e.name for e in exceptions.active]
    assert names == ["a-literal", "b-wildcard", "c-other-registry", "d-pin"]

    def trusting(image: str, digest: str | None = None) -> set[str]:
        return {names[i] for i in exceptions.trusting(image, digest)}

    assert trusting("registry.k8s.io/k8s/kube-proxy:v1.34.4") == {"a-literal", "b-wildcard"}
    assert trusting("registry.k8s.io/k8s/kube-proxy:v1.34.4", DIGEST) == {"a-literal", "b-wildcard", "d-pin"}
    assert trusting("registry.k8s.io/k8s/kube-scheduler:v1") == {"b-wildcard"}
    assert trusting("registry.k8s.io/k8s/pause:3.10") == set()
    assert trusting("ghcr.io/kube-proxy:1") == {"c-other-registry"}
    assert trusting("NOT AN IMAGE") == set()
    assert trusting("<missing>") == set()


def test_cached_answers_are_the_same_as_fresh_ones() -> None:
    exceptions = exception_set(exception_body("a", ["nginx:1.25"]), exception_body("b", ["nginx"]))
    first = exceptions.trusting("nginx:1.25", None)
    assert exceptions.trusting("nginx:1.25", None) == first == frozenset({0, 1})
    assert exceptions.trusting("nginx:1.26", None) == frozenset({1})
    # same image text, different digest: a different answer for a pinned pattern
    pinned = exception_set(exception_body("pin", [f"nginx@{DIGEST}"]))
    assert pinned.trusting("nginx:1.25", None) == frozenset()
    assert pinned.trusting("nginx:1.25", DIGEST) == frozenset({0})
    assert pinned.trusting("nginx:1.25", None) == frozenset()


def test_the_exception_set_cache_is_bounded() -> None:
    from hostns.core import exceptions as module

    exceptions = exception_set(exception_body("a", ["ghcr.io/acme/*"]))
    for i in range(module._CACHE_LIMIT + 10):
        exceptions.trusting(f"ghcr.io/acme/app{i}:1", None)
    assert len(exceptions._cache) <= module._CACHE_LIMIT
    assert exceptions.trusting("ghcr.io/acme/app0:1", None) == frozenset({0})


def test_exceptions_are_held_in_name_order_whatever_the_input_order() -> None:
    bodies = [exception_body(n) for n in ("zeta", "alpha", "mu")]
    assert [e.name for e in exception_set(*bodies).active] == ["alpha", "mu", "zeta"]


def test_an_image_is_parsed_the_same_way_for_patterns_and_pods() -> None:
    # One normaliser: a pattern written with index.docker.io trusts the plain name.
    exceptions = exception_set(exception_body("hub", ["index.docker.io/library/busybox:1.36"]))
    assert exceptions.trusting("busybox:1.36", None) == frozenset({0})
    assert str(parse_image("busybox:1.36")) == "docker.io/library/busybox:1.36"
