"""`hostns scan`, run in-process: inputs, verdicts, exit status, output formats."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hostns.manifests import expand_paths, parse_text, read_manifests
from hostns.scan import scan

from .conftest import FIXTURES, Hostns

JSON_KEYS = [
    "kind", "namespace", "name", "apiVersion", "hostNamespaces", "verdict",
    "exceptions", "uncovered", "images", "source",
]

# -- every pod-bearing kind -------------------------------------------------------------

KINDS = [
    # (kind, apiVersion, name, namespace, host namespaces, file under kinds/)
    ("Pod", "v1", "node-debugger", "ops", ["hostPID"], "pod.yaml"),
    ("PodTemplate", "v1", "netdebug-template", "ops", ["hostNetwork"], "podtemplate.yaml"),
    ("ReplicationController", "v1", "legacy-ipc", "legacy", ["hostIPC"], "replicationcontroller.yaml"),
    ("Deployment", "apps/v1", "ingress-gateway", "edge", ["hostNetwork"], "deployment.yaml"),
    ("ReplicaSet", "apps/v1", "pid-watcher", "monitoring", ["hostPID"], "replicaset.yaml"),
    ("DaemonSet", "apps/v1", "node-exporter", "monitoring", ["hostNetwork", "hostPID"], "daemonset.yaml"),
    ("StatefulSet", "apps/v1", "shm-cache", "data", ["hostIPC"], "statefulset.yaml"),
    ("Job", "batch/v1", "node-inventory", "ops", ["hostPID"], "batch/job.yaml"),
    ("CronJob", "batch/v1", "nightly-net-audit", "ops", ["hostNetwork"], "batch/cronjob.yaml"),
]


@pytest.mark.parametrize(("kind", "api_version", "name", "namespace", "flags", "file"), KINDS)
def test_each_pod_bearing_kind_reports_the_host_namespaces_of_its_pod_template(
    hostns: Hostns, kind: str, api_version: str, name: str, namespace: str, flags: list[str],
    file: str,
) -> None:
    run = hostns("scan", "-f", f"kinds/{file}", "-o", "json")
    assert run.code == 1
    [result] = run.json()
    assert (result["kind"], result["apiVersion"], result["name"], result["namespace"]) == (
        kind, api_version, name, namespace,
    )
    assert result["hostNamespaces"] == flags
    assert result["verdict"] == "Violation"
    assert result["source"] == {"file": str(FIXTURES / "kinds" / file), "document": 1}


def test_a_directory_is_read_recursively_and_yields_one_result_per_workload(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "kinds", "-o", "json")
    assert run.code == 1
    assert sorted(r["kind"] for r in run.json()) == sorted(k[0] for k in KINDS)  # Service ignored


def test_directory_files_are_read_in_sorted_order_and_only_manifest_suffixes() -> None:
    files = [p.removeprefix(str(FIXTURES / "kinds") + "/") for p in expand_paths([str(FIXTURES / "kinds")])]
    assert files == [
        "daemonset.yaml", "deployment.yaml", "pod.yaml", "podtemplate.yaml", "replicaset.yaml",
        "replicationcontroller.yaml", "service.yaml", "statefulset.yaml",
        "batch/cronjob.yaml", "batch/job.yaml",
    ]  # NOTES.md is not read


def test_a_file_named_twice_is_read_once(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "kinds/pod.yaml", "-f", "kinds", "-o", "json")
    assert [r["name"] for r in run.json()].count("node-debugger") == 1


def test_cronjob_init_containers_count_as_images_of_the_workload(hostns: Hostns) -> None:
    [result] = hostns("scan", "-f", "kinds/batch/cronjob.yaml", "-o", "json").json()
    assert [i["image"] for i in result["uncovered"]] == [
        "docker.io/library/alpine:3.20", "ghcr.io/example/net-audit:1.0",
    ]


def test_kinds_of_other_api_groups_with_a_builtin_name_are_not_pod_bearing(hostns: Hostns) -> None:
    volcano_job = "apiVersion: batch.volcano.sh/v1alpha1\nkind: Job\nmetadata: {name: x}\nspec: {tasks: []}\n"
    run = hostns("scan", "-f", "-", stdin=volcano_job)
    assert run.code == 0
    assert "no pod-bearing workloads" in run.err


def test_a_workload_without_a_pod_template_is_bad_input(hostns: Hostns) -> None:
    patch = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 3}\n"
    run = hostns("scan", "-f", "-", stdin=patch)
    assert run.code == 2
    assert run.errors() == ["<stdin>: document 1: Deployment has no pod spec at `spec.template.spec`"]


def test_a_manifest_without_namespace_is_in_the_default_namespace(hostns: Hostns) -> None:
    pod = "kind: Pod\napiVersion: v1\nmetadata: {name: p}\nspec: {hostIPC: true, containers: [{name: a, image: busybox}]}\n"
    [result] = hostns("scan", "-f", "-", "-o", "json", stdin=pod).json()
    assert result["namespace"] == "default"


# -- multi-document files, Lists, JSON, stdin -----------------------------------------


def test_multi_document_yaml_skips_empty_documents_but_counts_them(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "multidoc.yaml", "-o", "json")
    assert run.code == 1
    results = run.by_name()
    assert set(results) == {"web", "log-shipper"}  # the ConfigMap is not pod-bearing
    assert results["web"]["source"]["document"] == 3
    assert results["web"]["verdict"] == "Compliant"
    assert results["log-shipper"]["source"]["document"] == 4
    assert results["log-shipper"]["verdict"] == "Violation"


def test_kind_list_items_are_scanned_as_workloads(hostns: Hostns) -> None:
    results = hostns("scan", "-f", "list.yaml", "-o", "json").by_name()
    assert set(results) == {"listed-host-pid", "listed-plain"}
    assert results["listed-host-pid"]["verdict"] == "Violation"
    assert results["listed-plain"]["verdict"] == "Compliant"


def test_a_json_pod_list_is_read_as_json(hostns: Hostns) -> None:
    [result] = hostns("scan", "-f", "podlist.json", "-o", "json").json()
    assert (result["name"], result["hostNamespaces"]) == ("json-host-ipc", ["hostIPC"])


def test_stdin_is_read_with_dash(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "-", "-o", "json", stdin=(FIXTURES / "multidoc.yaml").read_text())
    assert run.code == 1
    assert run.by_name()["log-shipper"]["source"] == {"file": "<stdin>", "document": 4}


def test_kubectl_json_output_on_stdin_is_read(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "-", "-o", "json", stdin=(FIXTURES / "podlist.json").read_text())
    assert [r["name"] for r in run.json()] == ["json-host-ipc"]


def test_unquoted_yaml_timestamps_stay_rfc3339_strings() -> None:
    [manifest] = parse_text("kind: X\nwhen: 2030-01-01T00:00:00Z\nday: 2030-01-01\n", "x.yaml")
    assert manifest.body["when"] == "2030-01-01T00:00:00Z"
    assert manifest.body["day"] == "2030-01-01"


# -- bad input: exit 2, one line naming file and document --------------------------------


def test_bad_yaml_exits_2_naming_file_and_document_without_traceback(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "bad-yaml.yaml")
    assert run.code == 2
    assert run.out == ""  # documents 1 and 2 are ConfigMaps: no workload to show
    assert run.errors() == [
        f"{FIXTURES / 'bad-yaml.yaml'}: document 3: "
        "mapping values are not allowed in this context (line 15, column 14)",
    ]
    assert "Traceback" not in run.err


def test_bad_json_names_file_line_and_column(hostns: Hostns, tmp_path: Path) -> None:
    broken = tmp_path / "pods.json"
    broken.write_text('{"kind": "Pod",\n')
    run = hostns("scan", "-f", str(broken))
    assert run.code == 2
    assert run.errors() == [
        f"{broken}: document 1: Expecting property name enclosed in double quotes (line 2, column 1)",
    ]


def test_a_document_without_kind_is_bad_input(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "no-kind.yaml")
    assert run.code == 2
    assert run.errors() == [
        f"{FIXTURES / 'no-kind.yaml'}: document 2: document has no `kind`; is it a Kubernetes manifest?",
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("- a\n- b\n", "document 1: expected a Kubernetes object (a mapping), got a list"),
        ("just words\n", "document 1: expected a Kubernetes object (a mapping), got a string"),
        ("kind: List\nitems:\n  - 42\n", "document 1: item 1: expected a Kubernetes object (a mapping), got int"),
        ("kind: List\nitems:\n  - {apiVersion: v1}\n", "document 1: item 1: document has no `kind`"),
        ("kind: List\nitems: {}\n", "document 1: `kind: List` needs `items` to be a list"),
        ("kind: Pod\nspec: {containers: []}\n", "document 1: Pod has no metadata.name"),
    ],
)
def test_documents_that_are_not_kubernetes_objects_are_bad_input(
    hostns: Hostns, text: str, problem: str,
) -> None:
    run = hostns("scan", "-f", "-", stdin=text)
    assert run.code == 2
    [error] = run.errors()
    assert error.startswith(f"<stdin>: {problem}")


def test_empty_stdin_is_bad_input_so_a_failed_render_does_not_pass(hostns: Hostns) -> None:
    # `kustomize build broken | hostns scan -f -` without pipefail: stdin is empty.
    for text in ("", "\n# only a comment\n---\n"):
        run = hostns("scan", "-f", "-", stdin=text)
        assert (run.code, run.errors()) == (2, ["<stdin>: no Kubernetes objects in the input (is it empty?)"])


def test_an_empty_list_is_input_without_workloads(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "-", stdin="apiVersion: v1\nkind: List\nitems: []\n")
    assert run.code == 0


def test_a_directory_without_manifest_files_is_bad_input(hostns: Hostns, tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("no manifests here")
    run = hostns("scan", "-f", str(tmp_path))
    assert (run.code, run.errors()) == (2, [f"{tmp_path}: no manifest files (*.yaml, *.yml, *.json) in directory"])


def test_an_empty_file_inside_a_directory_is_skipped(hostns: Hostns, tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "pod.yaml").write_text((FIXTURES / "kinds/pod.yaml").read_text())
    assert hostns("scan", "-f", str(tmp_path)).code == 1


def test_a_missing_file_is_bad_input(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "no/such/file.yaml")
    assert (run.code, run.errors()) == (2, ["no/such/file.yaml: no such file or directory"])


def test_scan_without_input_is_a_usage_error(hostns: Hostns) -> None:
    run = hostns("scan")
    assert run.code == 2
    assert run.err == "hostns scan: error: no input: give -f PATH (a file or directory), or -f - for stdin\n"


def test_stdin_can_be_named_only_once(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "-", "--exceptions", "-")
    assert (run.code, run.err) == (2, "hostns scan: error: standard input (-) can be read only once\n")


def test_an_unknown_option_is_a_usage_error(hostns: Hostns) -> None:
    assert hostns("scan", "--bogus").code == 2
    assert hostns("scan", "-f", "kinds", "-o", "yaml").code == 2


# -- exceptions -----------------------------------------------------------------------------


def test_an_invalid_exception_is_bad_input_naming_exception_and_file(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "kinds/pod.yaml", "--exceptions", "invalid-exception.yaml")
    assert run.code == 2
    assert run.errors() == [
        f"{FIXTURES / 'invalid-exception.yaml'}: document 1: "
        "HostNamespaceException elastic-agent-anywhere is invalid: invalid image pattern "
        "'*elastic-agent*': '*' is not allowed in the registry host or first path component",
    ]


def test_an_invalid_exception_among_the_manifests_is_bad_input_too(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "invalid-exception.yaml", "-f", "compliant.yaml")
    assert run.code == 2
    assert "elastic-agent-anywhere is invalid" in run.err


def test_exceptions_given_with_the_exceptions_flag_apply(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "kinds", "--exceptions", "policy", "-o", "json")
    results = run.by_name()
    assert results["ingress-gateway"]["verdict"] == "Excepted"
    assert results["ingress-gateway"]["exceptions"] == [
        {"name": "ingress-gateway", "reason": "Edge gateway binds host ports 80/443"},
    ]
    assert results["node-exporter"]["verdict"] == "Excepted"
    assert run.code == 1  # the other workloads still violate


def test_an_exception_among_the_scanned_manifests_is_noted_and_not_applied(hostns: Hostns) -> None:
    # Whoever edits the manifests must not be able to exempt their own pod.
    run = hostns("scan", "-f", "self-exemption.yaml", "-o", "json")
    assert run.code == 1
    [result] = run.json()
    assert (result["name"], result["verdict"], result["exceptions"]) == ("miner", "Violation", [])
    assert run.err == (
        f"hostns scan: note: {FIXTURES / 'self-exemption.yaml'}: document 1: HostNamespaceException "
        "my-own-pass is among the scanned manifests: not applied (exceptions come from "
        "--exceptions only; --trust-manifest-exceptions applies these)\n"
    )


def test_the_same_exception_given_with_exceptions_applies(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "self-exemption.yaml", "--exceptions", "self-exemption.yaml", "-o", "json")
    assert (run.code, run.json()[0]["verdict"]) == (0, "Excepted")


def test_trust_manifest_exceptions_applies_exceptions_among_the_manifests(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "self-exemption.yaml", "--trust-manifest-exceptions", "-o", "json")
    assert run.code == 0
    [result] = run.json()
    assert (result["verdict"], result["exceptions"]) == ("Excepted", [{"name": "my-own-pass", "reason": "trust me"}])
    assert "note:" not in run.err


def test_an_exception_among_the_manifests_is_not_applied_to_a_workload_in_another_file(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "sidecar-exceptions.yaml", "-f", "sidecar.yaml", "-o", "json")
    assert run.code == 1
    assert run.by_name()["debug-alone"]["verdict"] == "Violation"
    assert "HostNamespaceException node-debug is among the scanned manifests: not applied" in run.err


def test_an_exception_out_of_its_namespace_scope_does_not_apply(hostns: Hostns) -> None:
    moved = (FIXTURES / "kinds/daemonset.yaml").read_text().replace("namespace: monitoring", "namespace: default")
    run = hostns("scan", "-f", "-", "--exceptions", "policy", "-o", "json", stdin=moved)
    assert run.json()[0]["verdict"] == "Violation"


def test_a_trusted_debug_container_does_not_vouch_for_an_untrusted_sidecar(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "sidecar.yaml", "--exceptions", "sidecar-exceptions.yaml", "-o", "json")
    assert run.code == 1
    result = run.by_name()["debug-with-sidecar"]
    assert result["verdict"] == "Violation"
    assert result["uncovered"] == [
        {"image": "evil.example/miner:latest", "hostNamespaces": ["hostNetwork", "hostPID", "hostIPC"]},
    ]
    trusted = next(i for i in result["images"] if i["image"] == "docker.io/library/busybox:1.36")
    assert trusted["uncovered"] == []


def test_a_digest_pin_matches_the_image_written_with_that_digest_only(hostns: Hostns) -> None:
    results = hostns("scan", "-f", "digest.yaml", "--exceptions", "digest-exceptions.yaml", "-o", "json").by_name()
    assert results["agent-by-digest"]["verdict"] == "Excepted"
    assert results["agent-by-digest"]["exceptions"][0]["name"] == "pinned-agent"
    # Same image by tag: offline there is no kubelet to report its digest.
    assert results["agent-by-tag"]["verdict"] == "Violation"


def test_an_expired_exception_is_not_applied_and_a_note_says_so(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "expired.yaml", "--exceptions", "expired-exceptions.yaml", "-o", "json")
    results = run.by_name()
    assert results["after-expiry"]["verdict"] == "Violation"
    assert results["before-expiry"]["verdict"] == "Excepted"
    assert run.err == "hostns scan: note: exception temporary-debug expired at 2024-01-01T00:00:00Z; not applied\n"


def test_expiry_is_judged_at_the_injected_time() -> None:
    manifests = read_manifests([str(FIXTURES / "expired.yaml")])
    policy = read_manifests([str(FIXTURES / "expired-exceptions.yaml")])
    before = scan(manifests, policy, now=datetime(2023, 12, 31, 23, 59, 59, tzinfo=UTC))
    after = scan(manifests, policy, now=datetime(2024, 1, 1, tzinfo=UTC))
    verdict = {r.name: r.verdict.verdict for r in before.results}
    assert verdict["after-expiry"] == "Excepted"
    assert before.notes == ()
    assert {r.name: r.verdict.verdict for r in after.results}["after-expiry"] == "Violation"


def test_the_now_option_judges_expiry_at_that_time(hostns: Hostns) -> None:
    policy = ("--exceptions", "expired-exceptions.yaml")
    run = hostns("scan", "-f", "expired.yaml", *policy, "--now", "2023-06-01T00:00:00Z", "-o", "json")
    assert run.code == 0
    assert run.err == ""
    later = hostns("scan", "-f", "expired.yaml", *policy, "--now", "2099-01-01T00:00:00Z", "-o", "json")
    assert {r["name"]: r["verdict"] for r in later.json()} == {"after-expiry": "Violation", "before-expiry": "Violation"}
    assert later.err.count("note: exception") == 2


def test_a_bad_now_is_a_usage_error(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "compliant.yaml", "--now", "tomorrow")
    assert run.code == 2
    assert run.err.startswith("hostns scan: error: --now: ")


def test_the_same_exception_read_twice_is_used_once(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "sidecar.yaml", "--exceptions", "sidecar-exceptions.yaml", "--exceptions", "-",
                 "-o", "json", stdin=(FIXTURES / "sidecar-exceptions.yaml").read_text())
    assert run.code == 1
    assert run.by_name()["debug-alone"]["verdict"] == "Excepted"


def test_two_different_exceptions_with_one_name_are_bad_input_and_neither_applies(hostns: Hostns) -> None:
    other = (FIXTURES / "sidecar-exceptions.yaml").read_text().replace("busybox:1.36", "alpine")
    run = hostns("scan", "-f", "sidecar.yaml", "--exceptions", "sidecar-exceptions.yaml", "--exceptions", "-",
                 "-o", "json", stdin=other)
    assert run.code == 2
    [error] = run.errors()
    assert error == (
        f"<stdin>: document 1: HostNamespaceException node-debug is also defined, differently, "
        f"in {FIXTURES / 'sidecar-exceptions.yaml'}: document 1; neither is applied"
    )
    assert run.by_name()["debug-alone"]["verdict"] == "Violation"


def test_non_exception_documents_in_exception_paths_are_not_scanned(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "compliant.yaml", "--exceptions", "kinds")
    assert run.code == 0


def test_an_exception_of_an_unknown_version_of_our_api_is_bad_input(hostns: Hostns) -> None:
    text = (FIXTURES / "policy/ingress.yaml").read_text().replace("v1alpha1", "v2")
    run = hostns("scan", "-f", "compliant.yaml", "--exceptions", "-", stdin=text)
    assert run.code == 2
    assert "HostNamespaceException with apiVersion 'hostns.io/v2'" in run.err


# -- exit status and output -----------------------------------------------------------------


def test_compliant_workloads_exit_0(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "compliant.yaml")
    assert run.code == 0
    assert run.out.splitlines() == [
        "KIND         NAMESPACE   NAME   HOST-NAMESPACES   VERDICT     EXCEPTIONS   UNCOVERED",
        "Deployment   shop        api    -                 Compliant   -            -",
    ]
    assert run.err == "1 workload: 0 Violation, 0 Excepted, 1 Compliant\n"


def test_excepted_workloads_exit_0(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "kinds/deployment.yaml", "-f", "kinds/daemonset.yaml", "--exceptions", "policy")
    assert run.code == 0


def test_input_without_workloads_exits_0(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "kinds/service.yaml", "-o", "json")
    assert (run.code, run.json()) == (0, [])


def test_json_results_have_exactly_the_documented_keys(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "kinds", "-f", "compliant.yaml", "-f", "sidecar.yaml", "-o", "json")
    for result in run.json():
        assert list(result) == JSON_KEYS
        assert list(result["source"]) == ["file", "document"]
        assert all(list(e) == ["name", "reason"] for e in result["exceptions"])
        assert all(list(u) == ["image", "hostNamespaces"] for u in result["uncovered"])
        assert all(list(i) == ["image", "hostNamespaces", "uncovered"] for i in result["images"])


def test_json_output_is_exactly_this_for_a_violation(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "-", "--exceptions", "sidecar-exceptions.yaml", "-o", "json",
                 stdin=(FIXTURES / "sidecar.yaml").read_text())
    assert run.json()[0] == {
        "kind": "Pod",
        "namespace": "ops",
        "name": "debug-with-sidecar",
        "apiVersion": "v1",
        "hostNamespaces": ["hostNetwork", "hostPID", "hostIPC"],
        "verdict": "Violation",
        "exceptions": [{"name": "node-debug", "reason": "kubectl debug node/... by cluster administrators"}],
        "uncovered": [{"image": "evil.example/miner:latest", "hostNamespaces": ["hostNetwork", "hostPID", "hostIPC"]}],
        "images": [
            {"image": "docker.io/library/busybox:1.36", "hostNamespaces": ["hostNetwork", "hostPID", "hostIPC"], "uncovered": []},
            {"image": "evil.example/miner:latest", "hostNamespaces": ["hostNetwork", "hostPID", "hostIPC"], "uncovered": ["hostNetwork", "hostPID", "hostIPC"]},
        ],
        "source": {"file": "<stdin>", "document": 1},
    }


def test_results_are_sorted_by_verdict_then_namespace_kind_and_name(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "kinds", "-f", "multidoc.yaml", "--exceptions", "policy", "-o", "json")
    keys = [(r["verdict"], r["namespace"], r["kind"], r["name"]) for r in run.json()]
    order = {"Violation": 0, "Excepted": 1, "Compliant": 2}
    assert keys == sorted(keys, key=lambda k: (order[k[0]], *k[1:]))
    assert [k[0] for k in keys] == ["Violation"] * 8 + ["Excepted"] * 2 + ["Compliant"]


def test_table_output_lists_the_same_results_in_aligned_columns(hostns: Hostns) -> None:
    table = hostns("scan", "-f", "kinds", "--exceptions", "policy").out.splitlines()
    names = [r["name"] for r in hostns("scan", "-f", "kinds", "--exceptions", "policy", "-o", "json").json()]
    header = table[0].split()
    assert header == ["KIND", "NAMESPACE", "NAME", "HOST-NAMESPACES", "VERDICT", "EXCEPTIONS", "UNCOVERED"]
    starts = [table[0].index(column) for column in header]
    for line in table[1:]:
        for start in starts[1:]:
            assert line[start - 1] == " " and line[start] != " "
    assert [line.split()[2] for line in table[1:]] == names
    assert "docker.io/library/redis:7.2 (hostIPC)" in table[1]


def test_json_output_is_valid_even_when_notes_are_printed(hostns: Hostns) -> None:
    run = hostns("scan", "-f", "expired.yaml", "--exceptions", "expired-exceptions.yaml", "-o", "json")
    assert isinstance(json.loads(run.out), list)
    assert "note:" in run.err


# -- the command itself ---------------------------------------------------------------------


def test_an_unexpected_error_is_one_line_without_traceback(
    hostns: Hostns, monkeypatch: pytest.MonkeyPatch,
) -> None:
    def explode(*_: object, **__: object) -> None:
        raise RuntimeError("engine\nexploded")

    monkeypatch.setattr("hostns.cli.scan", explode)
    run = hostns("scan", "-f", "compliant.yaml")
    assert run.code == 2
    assert run.err == (
        "hostns scan: error: unexpected RuntimeError: engine exploded "
        "(run with --debug for the traceback)\n"
    )


def test_debug_shows_the_traceback_of_an_unexpected_error(
    hostns: Hostns, monkeypatch: pytest.MonkeyPatch,
) -> None:
    def explode(*_: object, **__: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("hostns.cli.scan", explode)
    run = hostns("scan", "--debug", "-f", "compliant.yaml")
    assert run.code == 2
    assert "Traceback" in run.err
    assert run.err.endswith("hostns scan: error: unexpected RuntimeError: boom\n")


def test_version_is_printed(hostns: Hostns) -> None:
    run = hostns("--version")
    assert (run.code, run.out) == (0, "hostns 0.1.0\n")


def test_a_bad_run_setting_is_a_one_line_error(hostns: Hostns) -> None:
    run = hostns("run", "--retention", "soon")
    assert run.code == 2
    assert run.err.startswith("hostns run: error: invalid duration 'soon'")
    assert run.err.count("\n") == 1


def test_no_command_is_a_usage_error(hostns: Hostns) -> None:
    assert hostns().code == 2
