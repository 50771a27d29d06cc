"""Operator settings: command-line flags, each with an environment variable.

A flag given on the command line wins over its environment variable, which
wins over the default. Durations are written like `7d`, `36h`, `30m`, `45s`.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?[dhms])+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


class ConfigError(ValueError):
    """A setting that cannot be used."""


def parse_duration(text: str) -> float:
    """`7d`, `36h`, `1h30m`, `0.5s` or a plain number of seconds, as seconds."""
    stripped = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", stripped):
        return float(stripped)
    if not _DURATION.match(stripped):
        raise ConfigError(f"invalid duration {text!r}: use e.g. 7d, 36h, 1h30m, 30m or 0.5s")
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(stripped))


def _parse_bool(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"invalid {name} {text!r}: use true or false")


@dataclass(frozen=True)
class Config:
    namespaces: tuple[str, ...] = ()  # empty: the whole cluster
    retention_seconds: float = 7 * 86400.0
    log_format: str = "text"
    port: int = 8080
    events: bool = True
    resync_seconds: float = 30 * 60.0
    coalesce_seconds: float = 0.5
    leader_elect: bool = False
    leader_elect_namespace: str | None = None  # None: the pod's own namespace
    leader_elect_lease: str = "hostns-operator"
    leader_elect_seconds: float = 15.0
    verbose: bool = False
    # Keep the admission policy's parameter object (hostns.live.prevention_writer).
    prevention: bool = False
    # Where results are also written (SPEC 8): "none", or "openreports" (one
    # openreports.io Report per namespace, hostns.live.report_writer).
    reports: str = "none"
    # The kube-apiserver audit webhook (hostns.live.auditwebhook): 0 is off.
    audit_webhook: AuditWebhookConfig | None = None


REPORTS_OUTPUTS = ("none", "openreports")

DEFAULT_MAX_BODY = 16 << 20


@dataclass(frozen=True)
class AuditWebhookConfig:
    port: int
    cert: Path
    key: Path
    client_ca: Path | None = None
    token_file: Path | None = None
    max_body: int = DEFAULT_MAX_BODY
    host: str = "0.0.0.0"


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--namespace", "-n", action="append", dest="namespaces", metavar="NS",
        help="watch only this namespace (repeatable; env HOSTNS_NAMESPACES, comma-separated; "
        "default: all namespaces)",
    )
    parser.add_argument(
        "--retention", metavar="DURATION",
        help="delete Resolved findings after this long (env HOSTNS_RETENTION; default 7d)",
    )
    parser.add_argument(
        "--log-format", choices=("text", "json"),
        help="log line format (env HOSTNS_LOG_FORMAT; default text)",
    )
    parser.add_argument(
        "--port", type=int, metavar="PORT",
        help="port for /metrics and /healthz (env HOSTNS_PORT; default 8080; 0 disables)",
    )
    parser.add_argument(
        "--events", action=argparse.BooleanOptionalAction, default=None,
        help="post Kubernetes Events on pods and findings (env HOSTNS_EVENTS; default on)",
    )
    parser.add_argument(
        "--resync-interval", metavar="DURATION",
        help="full re-list of pods to reconcile findings with reality "
        "(env HOSTNS_RESYNC_INTERVAL; default 30m; 0 disables the periodic one)",
    )
    parser.add_argument(
        "--coalesce", metavar="DURATION",
        help="wait this long to coalesce bursts into one write per finding "
        "(env HOSTNS_COALESCE; default 0.5s)",
    )
    parser.add_argument(
        "--leader-elect", action=argparse.BooleanOptionalAction, default=None,
        help="run only while holding a Lease, for several replicas "
        "(env HOSTNS_LEADER_ELECT; default off)",
    )
    parser.add_argument(
        "--leader-elect-namespace", metavar="NS",
        help="namespace of the Lease (env HOSTNS_LEADER_ELECT_NAMESPACE; "
        "default: the pod's own namespace)",
    )
    parser.add_argument(
        "--leader-elect-lease", metavar="NAME",
        help="name of the Lease (env HOSTNS_LEADER_ELECT_LEASE; default hostns-operator)",
    )
    parser.add_argument(
        "--leader-elect-duration", metavar="DURATION",
        help="how long a silent leader keeps the Lease; a standby takes over after it "
        "(env HOSTNS_LEADER_ELECT_DURATION; default 15s; at least 3s)",
    )
    parser.add_argument(
        "--prevention", action=argparse.BooleanOptionalAction, default=None,
        help="keep the HostNamespaceAdmissionParams object hostns-prevention in step with the "
        "Active exceptions, for deploy/components/prevention (env HOSTNS_PREVENTION; "
        "default off)",
    )
    parser.add_argument(
        "--reports", choices=REPORTS_OUTPUTS,
        help="also keep one OpenReports Report (openreports.io/v1alpha1) per namespace in step "
        "with its findings, for Policy Reporter and other report consumers; needs the Report "
        "CRD and deploy/components/openreports (env HOSTNS_REPORTS; default none)",
    )
    webhook = parser.add_argument_group(
        "audit webhook", "receive kube-apiserver's audit webhook backend, so findings name "
        "who wrote the pods (status.actors; docs/audit.md)",
    )
    webhook.add_argument(
        "--audit-webhook-port", type=int, metavar="PORT",
        help="serve the audit webhook over HTTPS on this port (env HOSTNS_AUDIT_WEBHOOK_PORT; "
        "default 0: off)",
    )
    webhook.add_argument(
        "--audit-webhook-cert", metavar="FILE",
        help="serving certificate, PEM (env HOSTNS_AUDIT_WEBHOOK_CERT; required with the port)",
    )
    webhook.add_argument(
        "--audit-webhook-key", metavar="FILE",
        help="serving private key, PEM (env HOSTNS_AUDIT_WEBHOOK_KEY; required with the port)",
    )
    webhook.add_argument(
        "--audit-webhook-client-ca", metavar="FILE",
        help="CA bundle the API server's client certificate must chain to "
        "(env HOSTNS_AUDIT_WEBHOOK_CLIENT_CA)",
    )
    webhook.add_argument(
        "--audit-webhook-token-file", metavar="FILE",
        help="file holding the bearer token the API server must send "
        "(env HOSTNS_AUDIT_WEBHOOK_TOKEN_FILE); with --audit-webhook-client-ca, both are required",
    )
    webhook.add_argument(
        "--audit-webhook-max-body", metavar="BYTES",
        help="largest request body accepted, in bytes, or with Ki/Mi (env "
        "HOSTNS_AUDIT_WEBHOOK_MAX_BODY; default 16Mi); larger bodies get 413",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")


def config_from_args(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Config:
    """Merge flags over environment variables over defaults; ConfigError on bad values."""
    env = os.environ if env is None else env
    default = Config()

    def pick(flag_value: str | None, var: str) -> str | None:
        return flag_value if flag_value is not None else env.get(var)

    namespaces: tuple[str, ...] = tuple(args.namespaces or ())
    if not namespaces and env.get("HOSTNS_NAMESPACES"):
        namespaces = tuple(n.strip() for n in env["HOSTNS_NAMESPACES"].split(",") if n.strip())
    retention = pick(args.retention, "HOSTNS_RETENTION")
    resync = pick(args.resync_interval, "HOSTNS_RESYNC_INTERVAL")
    coalesce = pick(args.coalesce, "HOSTNS_COALESCE")
    log_format = pick(args.log_format, "HOSTNS_LOG_FORMAT") or default.log_format
    if log_format not in ("text", "json"):
        raise ConfigError(f"invalid log format {log_format!r}: use text or json")
    port_text = str(args.port) if args.port is not None else env.get("HOSTNS_PORT")
    try:
        port = int(port_text) if port_text is not None else default.port
    except ValueError:
        raise ConfigError(f"invalid port {port_text!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"invalid port {port}: use 0..65535")
    def pick_bool(flag_value: bool | None, var: str, fallback: bool) -> bool:
        if flag_value is not None:
            return flag_value
        return _parse_bool(var, env[var]) if var in env else fallback

    events = pick_bool(args.events, "HOSTNS_EVENTS", default.events)
    prevention = pick_bool(getattr(args, "prevention", None), "HOSTNS_PREVENTION",
                           default.prevention)
    reports = pick(getattr(args, "reports", None), "HOSTNS_REPORTS") or default.reports
    if reports not in REPORTS_OUTPUTS:
        raise ConfigError(f"invalid reports output {reports!r}: use {' or '.join(REPORTS_OUTPUTS)}")
    leader_elect = pick_bool(args.leader_elect, "HOSTNS_LEADER_ELECT", default.leader_elect)
    lease_duration = pick(args.leader_elect_duration, "HOSTNS_LEADER_ELECT_DURATION")
    leader_elect_seconds = parse_duration(lease_duration) if lease_duration \
        else default.leader_elect_seconds
    if leader_elect_seconds < 3:
        raise ConfigError(f"invalid leader election duration {lease_duration!r}: use at least 3s")
    return Config(
        audit_webhook=_audit_webhook(args, pick),
        namespaces=namespaces,
        retention_seconds=parse_duration(retention) if retention else default.retention_seconds,
        log_format=log_format,
        port=port,
        events=events,
        resync_seconds=parse_duration(resync) if resync else default.resync_seconds,
        coalesce_seconds=parse_duration(coalesce) if coalesce else default.coalesce_seconds,
        leader_elect=leader_elect,
        leader_elect_namespace=pick(args.leader_elect_namespace,
                                    "HOSTNS_LEADER_ELECT_NAMESPACE") or None,
        leader_elect_lease=pick(args.leader_elect_lease, "HOSTNS_LEADER_ELECT_LEASE")
        or default.leader_elect_lease,
        leader_elect_seconds=leader_elect_seconds,
        verbose=bool(args.verbose),
        prevention=prevention,
        reports=reports,
    )


_SIZE = re.compile(r"^(\d+)(Ki|Mi)?$")


def _size(text: str) -> int:
    match = _SIZE.match(text.strip())
    if not match or int(match[1]) == 0:
        raise ConfigError(
            f"invalid size {text!r}: use a positive number of bytes, or e.g. 512Ki, 16Mi"
        )
    return int(match[1]) * {None: 1, "Ki": 1 << 10, "Mi": 1 << 20}[match[2]]


def _audit_webhook(
    args: argparse.Namespace, pick: Callable[[str | None, str], str | None]
) -> AuditWebhookConfig | None:
    """The webhook's settings, or None when it is off. Fails closed: a port without a
    serving certificate, or without any way to authenticate the caller, is an error."""
    given = getattr(args, "audit_webhook_port", None)
    port_text = pick(str(given) if given is not None else None, "HOSTNS_AUDIT_WEBHOOK_PORT")
    if not port_text or port_text.strip() == "0":
        return None
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"invalid audit webhook port {port_text!r}") from None
    if not 1 <= port <= 65535:
        raise ConfigError(f"invalid audit webhook port {port}: use 1..65535 (0: off)")

    def path(flag: str, var: str) -> Path | None:
        value = pick(getattr(args, flag, None), var)
        return Path(value) if value else None

    cert = path("audit_webhook_cert", "HOSTNS_AUDIT_WEBHOOK_CERT")
    key = path("audit_webhook_key", "HOSTNS_AUDIT_WEBHOOK_KEY")
    if cert is None or key is None:
        raise ConfigError("--audit-webhook-port needs --audit-webhook-cert and --audit-webhook-key "
                          "(the webhook is served over HTTPS only)")
    client_ca = path("audit_webhook_client_ca", "HOSTNS_AUDIT_WEBHOOK_CLIENT_CA")
    token_file = path("audit_webhook_token_file", "HOSTNS_AUDIT_WEBHOOK_TOKEN_FILE")
    if client_ca is None and token_file is None:
        raise ConfigError("--audit-webhook-port needs --audit-webhook-client-ca or "
                          "--audit-webhook-token-file: the caller must be authenticated")
    max_body = pick(getattr(args, "audit_webhook_max_body", None), "HOSTNS_AUDIT_WEBHOOK_MAX_BODY")
    return AuditWebhookConfig(
        port=port, cert=cert, key=key, client_ca=client_ca, token_file=token_file,
        max_body=_size(max_body) if max_body else DEFAULT_MAX_BODY,
    )


def with_lease_namespace(
    config: Config, pod_namespace_file: Path = SERVICE_ACCOUNT_NAMESPACE
) -> Config:
    """Fill in the Lease's namespace with the pod's own when leader election needs one."""
    if not config.leader_elect or config.leader_elect_namespace:
        return config
    try:
        namespace = pod_namespace_file.read_text().strip()
    except OSError:
        namespace = ""
    if not namespace:
        raise ConfigError(
            "--leader-elect needs the Lease's namespace: give --leader-elect-namespace "
            "(or HOSTNS_LEADER_ELECT_NAMESPACE) when not running in a pod"
        )
    return replace(config, leader_elect_namespace=namespace)
