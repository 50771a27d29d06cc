"""Image references and trusted-image patterns (spec §2, `spec.images`)."""

from __future__ import annotations

import pytest

from hostns.images import (
    ImageError,
    ImageRef,
    digest_from_image_id,
    parse_image,
    parse_pattern,
)

from .builders import DIGEST, OTHER_DIGEST

# --- normalisation -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "nginx",
        "nginx:latest",
        "library/nginx",
        "docker.io/nginx",
        "docker.io/library/nginx",
        "docker.io/library/nginx:latest",
        "index.docker.io/library/nginx",
        "index.docker.io/nginx:latest",
    ],
)
def test_every_docker_hub_spelling_of_nginx_is_the_same_image(text: str) -> None:
    assert parse_image(text) == ImageRef("docker.io", "library/nginx", "latest", None)
    assert str(parse_image(text)) == "docker.io/library/nginx:latest"


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("localhost:5000/x", "localhost:5000/x:latest"),
        ("localhost:5000/x:dev", "localhost:5000/x:dev"),
        ("localhost/app:dev", "localhost/app:dev"),
        ("registry.example.com:5000/team/app:1", "registry.example.com:5000/team/app:1"),
        ("registry.example.com/team/sub/app", "registry.example.com/team/sub/app:latest"),
        ("Registry.Example.COM/team/app:V1", "Registry.Example.COM/team/app:V1"),
        ("10.0.0.5:5000/app:1", "10.0.0.5:5000/app:1"),
        ("elastic/elastic-agent:8.15.0", "docker.io/elastic/elastic-agent:8.15.0"),
        ("ghcr.io/acme/tool:1.2", "ghcr.io/acme/tool:1.2"),
        (f"ghcr.io/acme/tool@{DIGEST}", f"ghcr.io/acme/tool@{DIGEST}"),
        (f"ghcr.io/acme/tool:1.2@{DIGEST}", f"ghcr.io/acme/tool:1.2@{DIGEST}"),
        (f"nginx@{DIGEST}", f"docker.io/library/nginx@{DIGEST}"),
        ("a/b_c/d__e/f-g--h/i.j:T_a.g-1", "docker.io/a/b_c/d__e/f-g--h/i.j:T_a.g-1"),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 50 else None,
)
def test_images_normalise_as_container_runtimes_pull_them(text: str, normalised: str) -> None:
    assert str(parse_image(text)) == normalised


@pytest.mark.parametrize(
    ("text", "registry", "repository"),
    [
        pytest.param("registry-1.docker.io/library/nginx", "registry-1.docker.io", "library/nginx", id="registry-1.docker.io is another host"),
        pytest.param("DOCKER.IO/nginx", "DOCKER.IO", "nginx", id="only lowercase docker.io gets library/"),
        pytest.param("Foo/bar", "Foo", "bar", id="an uppercase first component is a host"),
        pytest.param("a_b.io/x", "", "a_b.io/x", id="an invalid host is read as a path"),
        pytest.param("[::1]:5000/x", "[::1]:5000", "x", id="bracketed IPv6 with a port"),
        pytest.param("registry.k8s.io:v1", "docker.io", "library/registry.k8s.io", id="no slash: a Docker Hub name"),
        pytest.param("x.io:123456/y", "x.io:123456", "y", id="the grammar bounds no port"),
        pytest.param("x.io/" + "a" * 255, "x.io", "a" * 255, id="255-character path"),
    ],
)
def test_the_first_component_is_a_host_by_the_reference_grammar_rule(
    text: str, registry: str, repository: str
) -> None:
    ref = parse_image(text)
    assert (ref.registry, ref.repository) == (registry, repository)


def test_a_registry_port_is_part_of_the_registry_not_a_tag() -> None:
    ref = parse_image("registry.example.com:5000/team/app:1")
    assert (ref.registry, ref.repository, ref.tag) == ("registry.example.com:5000", "team/app", "1")


def test_an_image_named_only_by_digest_has_no_tag() -> None:
    ref = parse_image(f"nginx@{DIGEST}")
    assert (ref.tag, ref.digest) == (None, DIGEST)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param(" nginx", id="leading space"),
        pytest.param("nginx ", id="trailing space"),
        pytest.param("ngi nx", id="inner space"),
        pytest.param("Nginx", id="uppercase repository"),
        pytest.param("docker.io/Library/nginx", id="uppercase path component"),
        pytest.param("nginx:", id="empty tag"),
        pytest.param("nginx:bad/tag", id="slash in tag"),
        pytest.param("nginx:" + "t" * 129, id="tag longer than 128"),
        pytest.param("nginx@", id="empty digest"),
        pytest.param("nginx@sha256:abc", id="short digest"),
        pytest.param("nginx@sha256:" + "A" * 64, id="uppercase hex digest"),
        pytest.param("nginx@md5:" + "a" * 32, id="not sha256"),
        pytest.param(f"nginx@{DIGEST}@{DIGEST}", id="two digests"),
        pytest.param("-bad.io/x", id="bad registry host"),
        pytest.param("reg_istry.io:5000/x", id="underscore in host"),
        pytest.param("registry.io:port/x", id="non-numeric port"),
        pytest.param("a//b", id="empty component"),
        pytest.param("a/-b", id="component starting with a separator"),
        pytest.param("***", id="garbage"),
        pytest.param("<missing>", id="the missing-image placeholder"),
        pytest.param("<unreadable>", id="the unreadable-container placeholder"),
        pytest.param("re*g.io/x", id="wildcard in an image"),
        pytest.param("registry.\u212a8s.io/x", id="Kelvin sign, which str.lower() folds to k"),
        pytest.param("r\u0435gistry.k8s.io/x", id="Cyrillic ie in the host"),
        pytest.param("\uff4eginx", id="fullwidth letter"),
        pytest.param("INDEX.docker.io/\u0130mage", id="dotted capital I"),
        pytest.param("0123456789abcdef" * 4, id="a 64-hex image ID is not a name"),
        pytest.param("a" * 248, id="256-character path once library/ is added"),
        pytest.param("x.io/" + "a" * 256, id="256-character path"),
        pytest.param("nginx@sha512:" + "a" * 64, id="sha512 of the wrong length"),
        pytest.param("Foo_bar/x", id="uppercase first component that is no host"),
    ],
)
def test_unparseable_images_raise_image_error(text: str) -> None:
    with pytest.raises(ImageError):
        parse_image(text)


@pytest.mark.parametrize(
    ("image_id", "digest"),
    [
        pytest.param(f"docker.io/library/nginx@{DIGEST}", DIGEST, id="containerd repo digest"),
        pytest.param(f"docker-pullable://nginx@{DIGEST}", DIGEST, id="dockershim repo digest"),
        pytest.param(f"localhost:5000/x@{DIGEST}", DIGEST, id="registry with a port"),
        pytest.param(DIGEST, None, id="bare sha256 is the config ID"),
        pytest.param(f"docker://{DIGEST}", None, id="docker config ID"),
        pytest.param("", None, id="empty"),
        pytest.param("docker.io/library/nginx@sha256:short", None, id="short digest"),
        pytest.param("docker.io/library/nginx@", None, id="nothing after @"),
        pytest.param("docker.io/library/nginx@sha256:" + "A" * 64, None, id="uppercase hex"),
    ],
)
def test_a_digest_comes_only_from_a_repository_digest_in_the_image_id(
    image_id: str, digest: str | None
) -> None:
    assert digest_from_image_id(image_id) == digest


# --- patterns ----------------------------------------------------------------------

PATTERN_TABLE = [
    # no tag: any tag of the repository
    ("nginx", "nginx", True),
    ("nginx", "nginx:1.25", True),
    ("nginx", "docker.io/library/nginx:1.25-alpine", True),
    ("nginx", "index.docker.io/library/nginx:stable", True),
    ("docker.io/library/nginx", "nginx:1", True),
    ("index.docker.io/nginx", "nginx:1", True),
    ("nginx", "nginx-unprivileged:1", False),
    ("nginx", "bitnami/nginx:1", False),
    ("nginx", "ghcr.io/library/nginx:1", False),
    ("nginx", f"nginx@{DIGEST}", True),  # a repository-wide pattern trusts every digest of it
    ("nginx", f"nginx:1.25@{DIGEST}", True),
    ("nginx", "registry-1.docker.io/library/nginx:1", False),  # another host for the grammar
    # tag: that tag only
    ("nginx:1.25", "nginx:1.25", True),
    ("nginx:1.25", "docker.io/library/nginx:1.25", True),
    ("nginx:1.25", "nginx:1.26", False),
    ("nginx:1.25", "nginx:1.25-alpine", False),
    ("nginx:1.25", "nginx", False),  # `nginx` is pulled as :latest
    ("nginx:latest", "nginx", True),
    ("nginx:1.25", f"nginx@{DIGEST}", False),  # a tag pattern cannot vouch for a digest-only image
    ("nginx:1.25", f"nginx:1.25@{DIGEST}", False),  # the runtime pulls the digest, not the tag
    # registries, ports
    ("localhost:5000/x", "localhost:5000/x:dev", True),
    ("localhost:5000/x", "localhost:5001/x:dev", False),
    ("localhost:5000/x", "localhost/x:dev", False),
    ("registry.example.com:5000/team/app:1", "registry.example.com:5000/team/app:1", True),
    ("registry.example.com:5000/team/app:1", "registry.example.com/team/app:1", False),
    ("registry.example.com/team/app", "REGISTRY.example.com/team/app:1", True),
    ("docker.io/elastic/elastic-agent:8.15.0", "elastic/elastic-agent:8.15.0", True),
    ("docker.io/elastic/elastic-agent:8.15.0", "evil.io/elastic/elastic-agent:8.15.0", False),
    ("registry.k8s.io/kube-proxy", "registry.k8s.io/kube-proxy-evil:v1", False),
    ("registry.k8s.io/kube-proxy", "evil.example/registry.k8s.io/kube-proxy:v1", False),
    # wildcards in the path and the tag, never across `/`
    ("registry.k8s.io/kube-proxy:*", "registry.k8s.io/kube-proxy:v1.34.4", True),
    ("registry.k8s.io/kube-proxy:*", f"registry.k8s.io/kube-proxy@{DIGEST}", False),
    ("ghcr.io/acme/*", "ghcr.io/acme/agent:1", True),
    ("ghcr.io/acme/*", "ghcr.io/acme/team/agent:1", False),
    ("ghcr.io/acme/*", "ghcr.io/acme-evil/agent:1", False),
    ("ghcr.io/acme/*/agent", "ghcr.io/acme/x/agent:1", True),
    ("ghcr.io/acme/*/agent", "ghcr.io/acme/x/y/agent:1", False),
    ("ghcr.io/acme/agent-*:v2.*", "ghcr.io/acme/agent-linux:v2.3", True),
    ("ghcr.io/acme/agent-*:v2.*", "ghcr.io/acme/agent-linux:v3.0", False),
    ("ghcr.io/acme/agent-*:v2.*", "ghcr.io/acme/agent:v2.3", False),
    ("ghcr.io/acme/agent-*", "ghcr.io/acme/agent-linux/evil:1", False),
    ("quay.io/org/*-exporter", "quay.io/org/node-exporter:1", True),
    ("localhost:5000/team/*", "localhost:5000/team/anything:1", True),
    ("localhost:5000/team/*", "localhost:5000/team/a/b:1", False),
    ("library/*", "busybox:1", True),
    ("library/*", "bitnami/busybox:1", False),
    # digest pins
    (f"nginx@{DIGEST}", f"nginx@{DIGEST}", True),
    (f"nginx@{DIGEST}", f"nginx@{OTHER_DIGEST}", False),
    (f"nginx@{DIGEST}", f"nginx:1.25@{DIGEST}", True),
    (f"nginx@{DIGEST}", "nginx:1.25", False),  # the digest is not known from the name alone
    (f"nginx@{DIGEST}", f"ghcr.io/evil/nginx@{DIGEST}", False),  # same digest, other repo
    (f"nginx:1.25@{DIGEST}", f"nginx:1.26@{DIGEST}", True),  # the digest decides, not the tag
]


@pytest.mark.parametrize(
    ("pattern", "image", "matches"),
    PATTERN_TABLE,
    ids=[f"{p} {'trusts' if m else 'does not trust'} {i}" for p, i, m in PATTERN_TABLE],
)
def test_a_pattern_trusts_exactly_the_images_it_names(pattern: str, image: str, matches: bool) -> None:
    ref = parse_image(image)
    assert parse_pattern(pattern).matches(ref, ref.digest) is matches


@pytest.mark.parametrize(
    ("known_digest", "matches"),
    [
        pytest.param(DIGEST, True, id="reported digest equals the pin"),
        pytest.param(OTHER_DIGEST, False, id="reported digest differs"),
        pytest.param(None, False, id="digest not known yet"),
    ],
)
def test_a_digest_pin_on_a_tagged_image_needs_the_known_digest(
    known_digest: str | None, matches: bool
) -> None:
    assert parse_pattern(f"nginx@{DIGEST}").matches(parse_image("nginx:1.25"), known_digest) is matches


@pytest.mark.parametrize(
    "pattern",
    [
        pytest.param("*elastic-agent*", id="substring pattern"),
        pytest.param("*", id="everything"),
        pytest.param("*/nginx", id="wildcard Docker Hub namespace as first component"),
        pytest.param("*:latest", id="wildcard name with tag"),
        pytest.param("nginx*", id="wildcard in a single-component name"),
        pytest.param("reg*.io/x", id="wildcard in the registry host"),
        pytest.param("*.example.com/x", id="wildcard subdomain"),
        pytest.param("registry.example.com:*/x", id="wildcard port"),
        pytest.param("ghcr.io/*/agent", id="wildcard account on a shared registry"),
        pytest.param("ghcr.io/acme-*/agent", id="partial wildcard account on a shared registry"),
        pytest.param("docker.io/*/nginx", id="wildcard Docker Hub account after the host"),
        pytest.param("localhost:5000/*", id="wildcard first component after a host with a port"),
        pytest.param(f"ghcr.io/acme/*@{DIGEST}", id="wildcard path with digest"),
        pytest.param(f"nginx:*@{DIGEST}", id="wildcard tag with digest"),
        pytest.param("nginx@sha256:abc", id="malformed digest"),
        pytest.param("nginx@sha256:" + "A" * 64, id="uppercase digest"),
        pytest.param("nginx@md5:" + "a" * 32, id="digest not sha256"),
        pytest.param("nginx@", id="empty digest"),
        pytest.param("", id="empty"),
        pytest.param(" nginx", id="whitespace"),
        pytest.param("Nginx", id="uppercase repository"),
        pytest.param("nginx:", id="empty tag"),
        pytest.param("ghcr.io/acme/a**b/../x", id="dot-dot component"),
        pytest.param("ghcr.io//x", id="empty component"),
        pytest.param("-bad.io/x", id="bad registry host"),
    ],
)
def test_dangerous_or_malformed_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ImageError):
        parse_pattern(pattern)


@pytest.mark.parametrize(
    ("pattern", "hint"),
    [
        ("registry.k8s.io:*", "did you mean registry.k8s.io/<repository>:*?"),
        ("registry.k8s.io", "did you mean registry.k8s.io/<repository>?"),
        ("localhost:5000", "did you mean localhost:5000/<repository>?"),
        ("quay.io:v1.2", "did you mean quay.io/<repository>:v1.2?"),
        ("Acme/agent", "did you mean acme/...?"),
        ("my_registry.io/x", "'my_registry.io' is not a valid registry host"),
        ("registry.k8s.i\u043e/pause", "non-ASCII character"),
    ],
)
def test_a_pattern_the_runtime_would_misread_is_refused_with_what_was_meant(
    pattern: str, hint: str
) -> None:
    with pytest.raises(ImageError) as refused:
        parse_pattern(pattern)
    assert hint in str(refused.value)


def test_hosts_compare_case_insensitively_and_paths_do_not() -> None:
    pattern = parse_pattern("registry.example.com/team/app")
    assert pattern.matches(parse_image("REGISTRY.Example.com/team/app:1"), None)
    with pytest.raises(ImageError):
        parse_image("registry.example.com/Team/app")


def test_a_refused_wildcard_pattern_says_why() -> None:
    with pytest.raises(ImageError, match="registry host or first path component"):
        parse_pattern("*elastic-agent*")


@pytest.mark.parametrize(
    ("pattern", "registry", "repository", "literal"),
    [
        ("nginx", "docker.io", "library/nginx", True),
        ("index.docker.io/nginx:1", "docker.io", "library/nginx", True),
        ("localhost:5000/x", "localhost:5000", "x", True),
        ("ghcr.io/acme/*", "ghcr.io", "acme/*", False),
        ("registry.k8s.io/kube-proxy:*", "registry.k8s.io", "kube-proxy", True),
    ],
)
def test_patterns_are_normalised_like_images(
    pattern: str, registry: str, repository: str, literal: bool
) -> None:
    compiled = parse_pattern(pattern)
    assert (compiled.registry, compiled.repository, compiled.literal_repository) == (
        registry,
        repository,
        literal,
    )
