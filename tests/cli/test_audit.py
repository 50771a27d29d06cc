"""`hostns audit`, run in-process: the seed rules on audit events, and their gaps closed."""

from __future__ import annotations

import gzip
import io
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hostns.offline import auditlog
from hostns.offline.audit import ExceptionTimeline, Tally, Verdict, audit

from .auditevents import (
    ALICE,
    AUDIT,
    CONTROLLER_AGENT,
    LATER,
    MALLORY,
    POLICY,
    RS_CONTROLLER,
    TIME,
    event,
    line,
    load,
    noise,
    stored,
    with_spec,
    write_log,
)
from .conftest import Hostns

#: The keys of spec §6.3, in order.
JSON_KEYS = [
    "time", "auditID", "verb", "resource", "subresource", "namespace", "name", "kind",
    "workload", "user", "impersonatedUser", "sourceIPs", "userAgent", "decision", "code",
    "dryRun", "hostNamespaces", "verdict", "uncovered", "exceptions",
]

KUBE_PROXY = load("kube-proxy-daemonset.yaml")
AGENT = load("elastic-agent-daemonset.yaml")
AGENT_SIDECAR = load("elastic-agent-sidecar.yaml")
AGENT_POD_DEBUGGED = load("elastic-agent-pod-ephemeral.yaml")
AGENT_POD = with_spec(AGENT_POD_DEBUGGED, ephemeralContainers=None)
DEBUG_POD = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "node-debugger-node-7-x2k9q", "namespace": "default"},
    "spec": {"hostPID": True, "hostNetwork": True, "hostIPC": True, "nodeName": "node-7",
             "containers": [{"name": "debugger", "image": "docker.io/nicolaka/netshoot:v0.13",
                             "stdin": True, "tty": True}]},
}
PLAIN_POD = with_spec(DEBUG_POD, hostPID=None, hostNetwork=None, hostIPC=None)


def audit_json(hostns: Hostns, tmp_path: Path, events: list[Any], *extra: str,
               policy: bool = True) -> tuple[int, list[dict[str, Any]], str]:
    log = write_log(tmp_path / "audit.log", events)
    args = ["audit", "-f", str(log), "-o", "json", *extra]
    if policy:
        args += ["--exceptions", str(POLICY)]
    run = hostns(*args)
    return run.code, run.json(), run.err


# -- one request, one verdict: the table --------------------------------------------------

Case = tuple[str, Callable[[], list[dict[str, Any]]], list[str]]

CASES: list[Case] = [
    ("a hostNetwork DaemonSet created by a user is a Violation without an exception",
     lambda: [event("create", with_spec(KUBE_PROXY, containers=[
         {"name": "kube-proxy", "image": "ghcr.io/evil/kube-proxy:v1.34.0"}]))], ["Violation"]),
    ("a DaemonSet whose every container is trusted is Excepted",
     lambda: [event("create", KUBE_PROXY)], ["Excepted"]),
    ("a trusted sidecar does not vouch for an untrusted container in an audit event",
     lambda: [event("create", AGENT_SIDECAR)], ["Violation"]),
    ("an untrusted init container makes the pod a Violation",
     lambda: [event("create", with_spec(AGENT_POD, initContainers=[
         {"name": "setup", "image": "docker.io/library/busybox:1.36"}]))], ["Violation"]),
    ("an ephemeral container added with kubectl debug is a pod change, and judged",
     lambda: [event("update", AGENT_POD_DEBUGGED, subresource="ephemeralcontainers",
                    time=LATER)], ["Violation"]),
    ("a pod's status and a workload's scale are not pod-spec changes",
     lambda: [event("patch", AGENT_POD, subresource="status"),
              event("update", KUBE_PROXY, subresource="scale")], []),
    ("a patch without a response object is Unknown, never Compliant",
     lambda: [event("patch", AGENT_POD, level="Request",
                    request={"spec": {"containers": [{"name": "elastic-agent", "image": "x"}]}})],
     ["Unknown"]),
    ("a patch is judged on the stored object, not on the patch",
     lambda: [event("patch", AGENT_SIDECAR, request={"metadata": {"labels": {"tier": "node"}}})],
     ["Violation"]),
    ("an update recorded at Request level is judged on its request object (a whole object)",
     lambda: [event("update", AGENT_SIDECAR, level="Request")], ["Violation"]),
    ("a write logged at Metadata level carries no object: Unknown",
     lambda: [event("create", AGENT_POD, level="Metadata")], ["Unknown"]),
    ("a request that sets no host namespace is counted, not listed",
     lambda: [event("create", PLAIN_POD)], []),
    ("an authorization-denied pod write is Denied, though no object was recorded",
     lambda: [event("create", DEBUG_POD, user=MALLORY, decision="forbid")], ["Denied"]),
    ("an allowed write that admission rejected is Rejected",
     lambda: [event("create", DEBUG_POD, user=MALLORY, code=403, time=LATER,
                    response={"kind": "Status", "apiVersion": "v1", "status": "Failure",
                              "reason": "Forbidden", "code": 403})], ["Rejected"]),
    ("a failed write without its object is Rejected: what it tried is unknown",
     lambda: [event("patch", AGENT_POD, level="Metadata", code=422)], ["Rejected"]),
    ("a failed write that would have been Excepted is counted, not listed",
     lambda: [event("create", KUBE_PROXY, code=409)], []),
    ("an exception that expired after the event still covers it",
     lambda: [event("create", DEBUG_POD, time=TIME)], ["Excepted"]),
    ("an exception that had expired when the pod was created does not cover it",
     lambda: [event("create", DEBUG_POD, time=LATER)], ["Violation"]),
    ("an event without a readable time is judged by the exceptions that never expire only",
     lambda: [event("create", DEBUG_POD, time="yesterday"),
              event("create", KUBE_PROXY, time="yesterday")], ["Violation", "Excepted"]),
    ("an exception of another namespace does not apply",
     lambda: [event("create", with_spec(KUBE_PROXY), namespace="default",
                    response=stored({**KUBE_PROXY, "metadata": {
                        **KUBE_PROXY["metadata"], "namespace": "default"}}))], ["Violation"]),
    ("a refused write is judged in its URL's namespace, not in the one its body claims",
     lambda: [event("create", KUBE_PROXY, namespace="default", code=400)], ["Rejected"]),
    ("the RequestReceived stage is not counted: one result per request",
     lambda: [event("create", AGENT_SIDECAR, stage="RequestReceived", audit_id="a-1"),
              event("create", AGENT_SIDECAR, audit_id="a-1")], ["Violation"]),
    ("the same auditID at ResponseComplete and Panic is counted once",
     lambda: [event("create", AGENT_SIDECAR, audit_id="a-2"),
              event("create", AGENT_SIDECAR, audit_id="a-2", stage="Panic")], ["Violation"]),
    ("a Panic without a response code is a failed write",
     lambda: [event("create", DEBUG_POD, stage="Panic", level="Metadata", code=500)],
     ["Rejected"]),
    ("a resource named like a pod-bearing one in another API group is not judged",
     lambda: [event("create", {**AGENT_SIDECAR, "apiVersion": "example.com/v1"})], []),
    ("an allowed server-side dry run wrote nothing: counted, not listed, not a Violation",
     lambda: [event("create", DEBUG_POD, time=LATER, dry_run=True)], []),
    ("a dry run that admission rejected is still a Rejected attempt",
     lambda: [event("create", DEBUG_POD, user=MALLORY, code=403, time=LATER, dry_run=True,
                    response={"kind": "Status", "apiVersion": "v1", "status": "Failure",
                              "reason": "Forbidden", "code": 403})], ["Rejected"]),
    ("a dry run the authorizer refused is still Denied",
     lambda: [event("create", DEBUG_POD, user=MALLORY, decision="forbid", dry_run=True)],
     ["Denied"]),
    ("a dryRun parameter of another value is no dry run (the API server refuses it)",
     lambda: [{**event("create", DEBUG_POD, time=LATER),
               "requestURI": "/api/v1/namespaces/default/pods?dryRun=all"}], ["Violation"]),
    ("reads of pods are never judged",
     lambda: [event("get", AGENT_SIDECAR), event("list", resource="pods", level="Metadata")], []),
]


@pytest.mark.parametrize(("events", "verdicts"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_request_has_one_verdict(
    hostns: Hostns, tmp_path: Path, events: Callable[[], list[dict[str, Any]]],
    verdicts: list[str],
) -> None:
    code, results, _ = audit_json(hostns, tmp_path, events())
    assert [r["verdict"] for r in results] == verdicts
    failing = {"Violation", "Denied", "Rejected"} & set(verdicts)
    assert code == (1 if failing else 0)


# -- what a result says --------------------------------------------------------------------

def test_json_keys_are_exactly_the_documented_ones_and_name_the_actor(
    hostns: Hostns, tmp_path: Path,
) -> None:
    _, [result], _ = audit_json(hostns, tmp_path, [event("create", AGENT_SIDECAR)])
    assert list(result) == JSON_KEYS
    assert result["user"] == {"username": "alice@example.com", "uid": ALICE["uid"],
                              "groups": ALICE["groups"]}
    assert (result["verb"], result["resource"], result["subresource"], result["kind"]) == (
        "create", "daemonsets", None, "DaemonSet")
    assert (result["namespace"], result["name"]) == ("kube-system", "elastic-agent")
    assert result["workload"] == {"apiVersion": "apps/v1", "kind": "DaemonSet",
                                  "name": "elastic-agent"}
    assert result["sourceIPs"] == ["10.20.0.14"]
    assert result["userAgent"].startswith("kubectl/v1.34.1")
    assert (result["decision"], result["code"], result["time"]) == ("allow", 201, TIME)
    assert [(f["name"], f["excepted"], f["rule"], f["riskScore"]) for f in result["hostNamespaces"]] == [
        ("hostNetwork", False, "Kubernetes Pod Created With HostNetwork", 47),
        ("hostPID", False, "Kubernetes Pod Created With HostPID", 47),
    ]
    assert result["uncovered"] == [
        {"image": "docker.io/library/alpine:3.20", "hostNamespaces": ["hostNetwork", "hostPID"]}]
    assert result["exceptions"] == [{"name": "elastic-agent",
                                     "reason": "Elastic Agent collects host metrics and process events."}]


def test_a_denied_attempt_lists_no_host_namespaces_because_none_were_recorded(
    hostns: Hostns, tmp_path: Path,
) -> None:
    _, [result], _ = audit_json(
        hostns, tmp_path, [event("create", DEBUG_POD, user=MALLORY, decision="forbid")])
    assert (result["verdict"], result["decision"], result["code"]) == ("Denied", "forbid", 403)
    assert result["hostNamespaces"] is None and result["workload"] is None
    assert (result["kind"], result["namespace"], result["user"]["username"]) == (
        "Pod", "default", "mallory")


def test_a_controller_made_pod_names_the_controller_and_its_workload_write_names_the_human(
    hostns: Hostns, tmp_path: Path,
) -> None:
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "edge-proxy", "namespace": "edge"},
        "spec": {"selector": {"matchLabels": {"app": "edge-proxy"}}, "template": {
            "metadata": {"labels": {"app": "edge-proxy"}},
            "spec": {"hostNetwork": True,
                     "containers": [{"name": "envoy", "image": "envoyproxy/envoy:v1.31.0"}]}}},
    }
    pod = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "edge-proxy-6d8f7c9b54-q2w7x", "namespace": "edge",
                     "labels": {"app": "edge-proxy", "pod-template-hash": "6d8f7c9b54"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                          "name": "edge-proxy-6d8f7c9b54", "uid": "u",
                                          "controller": True, "blockOwnerDeletion": True}]},
        "spec": deployment["spec"]["template"]["spec"],
    }
    _, results, _ = audit_json(hostns, tmp_path, [
        event("create", deployment),
        event("create", pod, user=RS_CONTROLLER, user_agent=CONTROLLER_AGENT),
    ])
    assert [(r["kind"], r["user"]["username"], r["workload"]["kind"], r["workload"]["name"],
             r["verdict"]) for r in results] == [
        ("Deployment", "alice@example.com", "Deployment", "edge-proxy", "Violation"),
        ("Pod", RS_CONTROLLER["username"], "Deployment", "edge-proxy", "Violation"),
    ]


def test_impersonation_is_reported_with_the_real_user(hostns: Hostns, tmp_path: Path) -> None:
    _, [result], _ = audit_json(hostns, tmp_path, [
        event("create", AGENT_SIDECAR, impersonated={"username": "bob", "groups": ["dev"]})])
    assert result["user"]["username"] == "alice@example.com"
    assert result["impersonatedUser"] == {"username": "bob", "uid": None, "groups": ["dev"]}


def test_a_digest_pin_matches_the_digest_the_kubelet_reported_in_the_stored_pod(
    hostns: Hostns, tmp_path: Path,
) -> None:
    digest = "sha256:" + "3f" * 32
    policy = tmp_path / "pin.yaml"
    policy.write_text(
        "apiVersion: hostns.io/v1alpha1\nkind: HostNamespaceException\nmetadata: {name: agent-pin}\n"
        f"spec: {{reason: pinned, images: ['docker.elastic.co/beats/elastic-agent@{digest}']}}\n")
    body = stored(AGENT_POD)
    body["status"]["containerStatuses"] = [{
        "name": "elastic-agent", "image": "docker.elastic.co/beats/elastic-agent:8.4.0",
        "imageID": f"docker.elastic.co/beats/elastic-agent@{digest}", "ready": True}]
    log = write_log(tmp_path / "audit.log", [
        event("patch", AGENT_POD, response=body),  # stored, with the kubelet's status
        event("create", AGENT_POD),  # no digest known yet
    ])
    run = hostns("audit", "-f", str(log), "--exceptions", str(policy), "-o", "json")
    assert [r["verdict"] for r in run.json()] == ["Excepted", "Violation"]


# -- output formats and exit status ------------------------------------------------------------

def test_ndjson_streams_one_result_per_line_and_the_table_shows_the_actor(
    hostns: Hostns, tmp_path: Path,
) -> None:
    log = write_log(tmp_path / "audit.log", [
        event("create", AGENT_SIDECAR), event("create", KUBE_PROXY),
        event("create", DEBUG_POD, user=MALLORY, decision="forbid")])
    run = hostns("audit", "-f", str(log), "--exceptions", str(POLICY), "-o", "ndjson")
    assert [json.loads(text)["verdict"] for text in run.out.splitlines()] == [
        "Violation", "Excepted", "Denied"]
    table = hostns("audit", "-f", str(log), "--exceptions", str(POLICY))
    header, *rows = table.out.splitlines()
    assert header.split() == ["TIME", "VERDICT", "USER", "VERB", "KIND", "NAMESPACE", "NAME",
                              "HOST-NAMESPACES", "UNCOVERED"]
    assert rows[0].split()[1:8] == ["Violation", "alice@example.com", "create", "DaemonSet",
                                    "kube-system", "elastic-agent", "hostNetwork,hostPID"]
    assert rows[2].split()[1:3] == ["Denied", "mallory"] and rows[2].split()[-2:] == ["?", "-"]
    assert "3 pod/workload writes judged: 1 Violation, 1 Denied" in table.err
    assert table.code == 1


def test_an_empty_result_is_an_empty_json_array_and_exit_0(hostns: Hostns, tmp_path: Path) -> None:
    code, results, err = audit_json(hostns, tmp_path, [*noise(10), event("create", PLAIN_POD)])
    assert (code, results) == (0, [])
    assert "10 lines" not in err and "11 lines" in err and "1 not listed" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["audit"], "no input"),
    (["audit", "-f", "/nonexistent/audit.log"], "/nonexistent/audit.log: no such file"),
    (["audit", "-f", "-", "--exceptions", "-"], "standard input (-) can be read only once"),
    (["audit", "-f", "-", "--exceptions", "invalid-exception.yaml"], "is invalid"),
    (["audit", "-f", "-", "-o", "yaml"], "invalid choice"),
])
def test_bad_usage_exits_2_with_one_line(hostns: Hostns, argv: list[str], message: str) -> None:
    run = hostns(*argv)
    assert run.code == 2
    assert message in run.err and "Traceback" not in run.err


# -- what it reads ---------------------------------------------------------------------------

def test_rotated_gz_files_and_the_current_log_are_read_from_a_directory_in_sorted_order(
    hostns: Hostns, tmp_path: Path,
) -> None:
    logs = tmp_path / "logs"
    write_log(logs / "audit-2026-12-01T09-00-00.000.log.gz", [event("create", AGENT_SIDECAR,
              audit_id="old")], gz=True)
    write_log(logs / "audit-2026-12-01T10-00-00.000.log", [event("create", KUBE_PROXY,
              audit_id="mid")])
    write_log(logs / "audit.log", [event("create", DEBUG_POD, audit_id="new")])
    write_log(logs / ".hidden", ["not read"])
    run = hostns("audit", "-f", str(logs), "--exceptions", str(POLICY), "-o", "json")
    assert [r["auditID"] for r in run.json()] == ["old", "mid", "new"]
    assert "bad line" not in run.err


def test_standard_input_is_read_and_may_be_gzip(hostns: Hostns) -> None:
    text = line(event("create", AGENT_SIDECAR)) + "\n"
    run = hostns("audit", "-f", "-", "-o", "json", stdin=text)
    assert [r["verdict"] for r in run.json()] == ["Violation"]
    compressed = gzip.compress(text.encode())
    reader = auditlog.AuditLogReader(stdin=io.BytesIO(compressed))
    assert [e["verb"] for e in reader.read(["-"])] == ["create"]


def test_a_webhook_eventlist_body_is_read_one_or_many_per_line_and_pretty_printed(
    hostns: Hostns, tmp_path: Path,
) -> None:
    def batch() -> dict[str, Any]:
        # As the webhook backend sends it: kind and apiVersion on the list only.
        items = [event("create", AGENT_SIDECAR), event("create", KUBE_PROXY)]
        for item in items:
            del item["kind"], item["apiVersion"]
        return {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {},
                "items": items}

    body = batch()
    compact = write_log(tmp_path / "webhook.ndjson", [line(body), line(batch())])
    pretty = tmp_path / "webhook.json"
    pretty.write_text(json.dumps(body, indent=2) + "\n")
    for path, count in ((compact, 4), (pretty, 2)):
        run = hostns("audit", "-f", str(path), "--exceptions", str(POLICY), "-o", "json")
        assert [r["verdict"] for r in run.json()] == ["Violation", "Excepted"] * (count // 2)
        assert "bad line" not in run.err


def test_elastic_documents_with_the_event_under_kubernetes_audit_are_read(
    hostns: Hostns, tmp_path: Path,
) -> None:
    def elastic(ev: dict[str, Any]) -> dict[str, Any]:
        audit = {k: v for k, v in ev.items() if k not in ("kind", "apiVersion")}
        audit["annotations"] = {k.replace(".", "_"): v for k, v in ev["annotations"].items()}
        return {"@timestamp": ev["requestReceivedTimestamp"], "data_stream": {
            "dataset": "kubernetes.audit_logs", "type": "logs"},
            "event": {"dataset": "kubernetes.audit_logs"}, "kubernetes": {"audit": audit}}

    denied = elastic(event("create", DEBUG_POD, user=MALLORY, decision="forbid"))
    hit = {"_index": ".ds-logs-kubernetes.audit_logs-default", "_id": "x",
           "_source": elastic(event("create", AGENT_SIDECAR))}
    _code, results, err = audit_json(hostns, tmp_path, [denied, hit])
    assert [(r["verdict"], r["decision"]) for r in results] == [
        ("Denied", "forbid"), ("Violation", "allow")]
    assert "bad line" not in err


def test_bad_lines_are_reported_with_file_and_line_and_the_run_goes_on(
    hostns: Hostns, tmp_path: Path,
) -> None:
    log = write_log(tmp_path / "audit.log", [
        *noise(3), "{not json", '{"kind":"ConfigMap","apiVersion":"v1"}',
        event("create", KUBE_PROXY), line(event("create", AGENT_SIDECAR))[:200]])
    run = hostns("audit", "-f", str(log), "--exceptions", str(POLICY), "-o", "json")
    assert [r["verdict"] for r in run.json()] == ["Excepted"]
    # Line 5 is JSON but no audit event; line 7 is truncated.
    assert re.findall(r"bad line: (\S+): line (\d+)", run.err) == [
        (str(log), "4"), (str(log), "5"), (str(log), "7")]
    assert "line 5: not an audit.k8s.io Event" in run.err and "3 bad lines" in run.err
    assert run.code == 2  # nothing failing was found, but the input was not all read


def test_a_layout_it_cannot_read_is_reported_not_passed_as_a_quiet_log(
    hostns: Hostns, tmp_path: Path,
) -> None:
    # Kibana's flattened export of the same Denied event: dotted keys, no nesting.
    flat = {f"kubernetes.audit.{k}": v for k, v in event(
        "create", DEBUG_POD, user=MALLORY, decision="forbid").items()}
    log = write_log(tmp_path / "kibana.ndjson", [flat, {"message": "GET /healthz 200"}])
    run = hostns("audit", "-f", str(log))
    assert run.err.count("not an audit.k8s.io Event") == 2
    assert run.code == 2


def test_bad_lines_shown_are_capped_but_all_counted(hostns: Hostns, tmp_path: Path) -> None:
    log = write_log(tmp_path / "audit.log", ["garbage"] * 50)
    run = hostns("audit", "-f", str(log))
    assert run.err.count("bad line:") == 20
    assert "... and 30 more bad lines" in run.err and "50 bad lines" in run.err


def test_a_truncated_gz_is_reported_and_the_next_file_still_read(
    hostns: Hostns, tmp_path: Path,
) -> None:
    logs = tmp_path / "logs"
    whole = write_log(logs / "a.log.gz", [*noise(200), event("create", AGENT_SIDECAR)], gz=True)
    whole.write_bytes(whole.read_bytes()[:-40])
    write_log(logs / "b.log", [event("create", DEBUG_POD, user=MALLORY, decision="forbid")])
    run = hostns("audit", "-f", str(logs), "-o", "json")
    assert [r["verdict"] for r in run.json()] == ["Denied"]
    assert f"bad line: {whole}: line" in run.err and "cannot read further" in run.err
    assert run.code == 1


def test_an_over_long_line_is_reported_not_held(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setattr(auditlog, "MAX_LINE", 4096)
    monkeypatch.setattr(auditlog, "CHUNK", 1024)
    big = line(event("create", AGENT_SIDECAR, request={"pad": "x" * 10_000}))
    log = write_log(tmp_path / "audit.log", [big, event("create", KUBE_PROXY)])
    bad: list[auditlog.BadLine] = []
    events = list(auditlog.AuditLogReader(on_bad=bad.append).read([str(log)]))
    assert [e["objectRef"]["resource"] for e in events] == ["daemonsets"]
    assert [(b.line, b.problem) for b in bad] == [(1, "line longer than 4096 bytes")]


# -- the skip: only lines holding a judged request are decoded whole -------------------------

def _escape_letters(text: str, letters: str) -> str:
    return "".join(f"\\u{ord(c):04X}" if c in letters else c for c in text)


JUDGED = line(event("create", AGENT_SIDECAR))
ENCODINGS: list[tuple[str, str]] = [
    ("as the API server writes it", JUDGED),
    ("with spaces after separators", json.dumps(json.loads(JUDGED))),
    ("with spaces around every separator", json.dumps(json.loads(JUDGED), separators=(" , ", " : "))),
    ("with the letters of the resource escaped", JUDGED.replace('"daemonsets"', '"' + _escape_letters("daemonsets", "ae") + '"')),
    ("with the letters of the verb escaped", JUDGED.replace('"create"', '"' + _escape_letters("create", "c") + '"')),
    ("with the stage escaped in lower-case hex", JUDGED.replace('"ResponseComplete"', '"Resp\\u006fnse\\u0043omplete"')),
    ("with a key escaped", JUDGED.replace('"verb":', '"v\\u0065rb":')),
    ("with keys in another order", json.dumps(dict(reversed(list(json.loads(JUDGED).items()))))),
    ("with a trailing carriage return", JUDGED + "\r"),
    ("inside an EventList", line({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [json.loads(JUDGED)]})),
    ("in a JSON array", json.dumps([json.loads(JUDGED)])),
]


@pytest.mark.parametrize("text", [e[1] for e in ENCODINGS], ids=[e[0] for e in ENCODINGS])
def test_a_judged_event_is_never_skipped_however_it_is_encoded(
    hostns: Hostns, tmp_path: Path, text: str,
) -> None:
    _, results, err = audit_json(hostns, tmp_path, [*noise(5), text])
    assert [r["verdict"] for r in results] == ["Violation"]
    assert "bad line" not in err


def test_a_byte_order_mark_at_the_start_of_a_file_is_not_a_bad_line(
    hostns: Hostns, tmp_path: Path,
) -> None:
    code, results, err = audit_json(hostns, tmp_path, ["\ufeff" + JUDGED, *noise(2)])
    assert ([r["verdict"] for r in results], code) == (["Violation"], 1)
    assert "bad line" not in err


def test_lines_holding_no_judged_request_are_skipped_without_a_whole_decode(tmp_path: Path) -> None:
    log = write_log(tmp_path / "audit.log", [*noise(100), event("create", KUBE_PROXY)])
    reader = auditlog.AuditLogReader()
    events = list(reader.read([str(log)]))
    assert [e["objectRef"]["resource"] for e in events] == ["daemonsets"]
    assert (reader.stats.lines, reader.stats.skipped, reader.stats.decoded) == (101, 100, 1)
    unskipped = auditlog.AuditLogReader(skip=False)
    assert len(list(unskipped.read([str(log)]))) == 101


def test_malformed_json_is_reported_even_where_no_judged_request_could_be(
    hostns: Hostns, tmp_path: Path,
) -> None:
    noisy = noise(3)
    log = write_log(tmp_path / "audit.log", [noisy[0], noisy[1][:-1], noisy[2] + "x"])
    run = hostns("audit", "-f", str(log))
    assert re.findall(r"line (\d+): invalid JSON", run.err) == ["2", "3"]


# -- a real kube-apiserver log -----------------------------------------------------------------

def test_a_real_kube_apiserver_log_is_read_whole_and_names_who_did_what(
    hostns: Hostns, tmp_path: Path,
) -> None:
    # real/audit.log: kube-apiserver v1.34.4 with deploy/audit/audit-policy.yaml, while
    # tests/e2e/test_audit_e2e.py's users worked (and `kubectl debug` in namespace a1 before).
    policy = tmp_path / "kube-proxy.yaml"
    policy.write_text(
        "apiVersion: hostns.io/v1alpha1\nkind: HostNamespaceException\nmetadata: {name: kube-proxy}\n"
        "spec: {reason: iptables, images: ['registry.k8s.io/kube-proxy:*'], hostNamespaces: [hostNetwork]}\n")
    run = hostns("audit", "-f", str(AUDIT / "real" / "audit.log"), "--exceptions", str(policy),
                 "-o", "json")
    assert [(r["verdict"], r["impersonatedUser"]["username"], r["verb"], r["subresource"],
             r["kind"], r["namespace"], r["name"]) for r in run.json()] == [
        ("Excepted", "alice", "create", None, "Pod", "a1", "proxy"),
        ("Violation", "alice", "patch", "ephemeralcontainers", "Pod", "a1", "proxy"),
        ("Denied", "mallory", "create", None, "Pod", "a1", None),
        ("Violation", "alice", "create", None, "Pod", "audit-e2e", "netdebug"),
        ("Excepted", "alice", "create", None, "Pod", "audit-e2e", "proxy"),
        ("Excepted", "alice", "create", None, "Pod", "audit-e2e", "proxy-2"),
        ("Violation", "alice", "patch", None, "Pod", "audit-e2e", "proxy"),
        ("Violation", "alice", "patch", "ephemeralcontainers", "Pod", "audit-e2e", "proxy-2"),
        ("Violation", "alice", "create", None, "Deployment", "audit-e2e", "edge"),
        ("Denied", "mallory", "create", None, "Pod", "audit-e2e", None),
        ("Rejected", "alice", "create", None, "Pod", "audit-e2e-baseline", "netdebug"),
    ]
    assert "523 lines" in run.err and "12 pod/workload writes judged" in run.err
    assert "1 not listed" in run.err and "bad line" not in run.err  # the web pod
    assert run.code == 1


def test_a_real_process_reads_a_gzipped_log_on_standard_input() -> None:
    compressed = gzip.compress((AUDIT / "real" / "audit.log").read_bytes())
    result = subprocess.run(
        [str(Path(sys.executable).parent / "hostns"), "audit", "-f", "-", "-o", "ndjson"],
        input=compressed, capture_output=True, timeout=60, check=False,
    )
    verdicts = [json.loads(text)["verdict"] for text in result.stdout.decode().splitlines()]
    assert verdicts.count("Denied") == 2 and verdicts.count("Rejected") == 1
    assert len(verdicts) == 11 and result.returncode == 1
    assert b"523 lines" in result.stderr and b"Traceback" not in result.stderr


def test_gzip_that_inflates_far_beyond_a_chunk_and_concatenated_members_are_read_whole(
    tmp_path: Path,
) -> None:
    # Identical lines compress about 100-fold: output comes out in bounded pieces.
    member = gzip.compress(("\n".join(noise(5) * 2000) + "\n").encode(), compresslevel=9)
    last = gzip.compress((line(event("create", KUBE_PROXY)) + "\n").encode())
    log = tmp_path / "audit.log.gz"
    log.write_bytes(member + member + last)
    reader = auditlog.AuditLogReader()
    events = list(reader.read([str(log)]))
    assert [e["objectRef"]["resource"] for e in events] == ["daemonsets"]
    assert (reader.stats.lines, reader.stats.bad) == (20_001, 0)


def test_the_benchmark_log_is_read_whole_and_each_of_its_writes_judged(tmp_path: Path) -> None:
    from bench.audit_throughput import generate  # the benchmark must measure what it says

    log = tmp_path / "audit.log"
    counts = generate(log, 2 << 20)
    reader = auditlog.AuditLogReader()
    tally = Tally()
    listed = list(audit(reader.read([str(log)]), ExceptionTimeline([]), tally))
    assert (reader.stats.lines, reader.stats.bad) == (counts["lines"], 0)
    assert tally.judged == counts["writes"] and 0.005 < counts["writes"] / counts["lines"] < 0.02
    assert listed and {r.verdict for r in listed} == {Verdict.VIOLATION}  # the host-network fifth
    assert reader.stats.skipped == counts["lines"] - counts["writes"]


def test_a_server_side_dry_run_is_counted_apart_and_marked_when_listed(
    hostns: Hostns, tmp_path: Path,
) -> None:
    rejected = event("create", DEBUG_POD, user=MALLORY, code=403, time=LATER, dry_run=True,
                     response={"kind": "Status", "apiVersion": "v1", "status": "Failure",
                               "reason": "Forbidden", "code": 403})
    code, results, err = audit_json(hostns, tmp_path, [
        event("create", DEBUG_POD, time=LATER, dry_run=True), rejected,
        event("create", DEBUG_POD, time=LATER),
    ])
    assert [(r["verdict"], r["dryRun"]) for r in results] == [
        ("Rejected", True), ("Violation", False)]
    assert code == 1
    assert "2 pod/workload writes judged" in err
    assert "1 server-side dry runs (dryRun=All) not listed" in err
