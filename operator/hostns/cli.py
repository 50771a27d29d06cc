"""The `hostns` command: `hostns run` (the live operator); `scan` and `audit` (offline).

Errors reach the user as one line on stderr (`hostns scan: error: ...`) and an
exit status, never as a traceback: a CI log should say what is wrong with the
input, not where in our code it was noticed. `--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import traceback
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import IO, Any

from hostns import __version__
from hostns.core.exceptions import parse_time
from hostns.live.config import (
    ConfigError,
    add_run_arguments,
    config_from_args,
    with_lease_namespace,
)
from hostns.offline import auditcli
from hostns.offline.manifests import DEFAULT_MAX_INPUT_SIZE, MIB, STDIN, read_inputs
from hostns.offline.sarif import sarif_log
from hostns.offline.scan import format_table, is_exception_kind, scan, worth_keeping

EXIT_OK = 0
EXIT_VIOLATION = 1
EXIT_ERROR = 2

_SCAN_EPILOG = """\
exit status: 0 nothing violates, 1 some workload violates, 2 bad input or usage.
examples:
  hostns scan -f deploy/
  kustomize build overlays/prod | hostns scan -f - --exceptions policy/
  hostns scan -f app.yaml -o json
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hostns",
        description="Detect pods attached to host namespaces (hostNetwork, hostPID, hostIPC).",
    )
    parser.add_argument("--version", action="version", version=f"hostns {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument(
        "--debug", action="store_true", help="show the traceback of an unexpected error"
    )

    run = commands.add_parser(
        "run", parents=[debug], help="run the operator against the current cluster",
        description="Run the operator against the cluster of the current kubeconfig context "
        "(or the in-cluster service account).",
    )
    add_run_arguments(run)

    scan = commands.add_parser(
        "scan", parents=[debug], help="check manifests offline (exit 1 on a violation)",
        description="Evaluate the pod-bearing workloads of Kubernetes manifests against\n"
        "HostNamespaceException policy, with the operator's engine, without a cluster.",
        epilog=_SCAN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scan.add_argument(
        "-f", "--filename", action="append", dest="paths", metavar="PATH", default=[],
        help="manifest file or directory (recursive: *.yaml, *.yml, *.json), or - for "
        "standard input; repeatable, at least one required",
    )
    scan.add_argument(
        "--exceptions", action="append", dest="exception_paths", metavar="PATH", default=[],
        help="file or directory of HostNamespaceException documents (repeatable): the only "
        "exceptions applied, unless --trust-manifest-exceptions",
    )
    scan.add_argument(
        "--trust-manifest-exceptions", action="store_true",
        help="also apply HostNamespaceExceptions found among the -f manifests (by default they "
        "are reported in a note and not applied: whoever edits the manifests could otherwise "
        "exempt their own pod)",
    )
    scan.add_argument(
        "--max-input-size", metavar="SIZE", default=None,
        help="refuse a file or standard input larger than this (bytes, or with KiB, MiB, GiB; "
        f"default {DEFAULT_MAX_INPUT_SIZE // MIB}MiB)",
    )
    scan.add_argument(
        "-o", "--output", choices=("table", "json", "sarif"), default="table",
        help="output format (default: table)",
    )
    scan.add_argument(
        "--now", metavar="TIME",
        help="judge exception expiry as of this RFC 3339 time instead of the current time "
        "(e.g. to see what fails once exceptions expire)",
    )
    auditcli.add_parser(commands, parents=[debug])
    return parser


_SIZE = re.compile(r"(\d+)\s*(|B|K|KiB|M|MiB|G|GiB)", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "kib": 1024, "m": MIB, "mib": MIB, "g": 1024 * MIB,
          "gib": 1024 * MIB}


def _max_input_size(text: str | None) -> int:
    if text is None:
        return DEFAULT_MAX_INPUT_SIZE
    match = _SIZE.fullmatch(text.strip())
    if match is None or int(match[1]) == 0:
        raise _UsageError(f"--max-input-size: {text!r} is not a size (e.g. 64MiB, 500KiB, 1048576)")
    return int(match[1]) * _UNITS[match[2].lower()]


def _scan(args: argparse.Namespace, stdin: IO[Any], stdout: IO[str], stderr: IO[str]) -> int:
    if not args.paths:
        raise _UsageError("no input: give -f PATH (a file or directory), or -f - for stdin")
    if [*args.paths, *args.exception_paths].count(STDIN) > 1:
        raise _UsageError("standard input (-) can be read only once")
    now: datetime | None = None
    if args.now is not None:
        try:
            now = parse_time(args.now)
        except ValueError as exc:
            raise _UsageError(f"--now: {exc}") from None
    size = _max_input_size(args.max_input_size)
    # Every input is read and every good document judged, whatever fails elsewhere: one bad
    # file must not hide the findings of the others. Any error still makes the exit status 2.
    inputs = read_inputs(args.paths, stdin, max_input_size=size, keep=worth_keeping)
    policy = read_inputs(args.exception_paths, stdin, max_input_size=size, keep=is_exception_kind)
    report = scan(inputs.manifests, policy.manifests, now,
                  trust_manifest_exceptions=args.trust_manifest_exceptions)
    report = replace(
        report,
        errors=(*(str(e) for e in (*inputs.errors, *policy.errors)), *report.errors),
        notes=(*inputs.notes, *policy.notes, *report.notes),
    )
    for error in report.errors:
        print(f"hostns scan: error: {error}", file=stderr)
    for note in report.notes:
        print(f"hostns scan: note: {note}", file=stderr)
    stderr.flush()
    if args.output in ("json", "sarif"):
        document = report.to_json() if args.output == "json" else sarif_log(report)
        json.dump(document, stdout, indent=2)
        stdout.write("\n")
        stdout.flush()
    elif report.results:
        stdout.write(format_table(report.results))
        stdout.flush()  # the table before the summary, also when both go to one CI log
        print(report.summary(), file=stderr)
    elif not report.errors:
        print("hostns scan: no pod-bearing workloads found", file=stderr)
    if report.errors:
        count = len(report.errors)
        print(f"hostns scan: error: {count} bad input{'s' if count > 1 else ''} (above): "
              "the scan is incomplete", file=stderr)
    return report.exit_code


def _run(args: argparse.Namespace) -> int:
    try:
        config = with_lease_namespace(config_from_args(args))
        if config.audit_webhook is not None:  # unreadable TLS or token files: one line, now
            from hostns.live.auditwebhook import read_token, server_context

            server_context(config.audit_webhook)
            read_token(config.audit_webhook)
    except ConfigError as exc:
        raise _UsageError(str(exc)) from None
    from hostns.live.runtime import run  # imports kopf: only for the live operator

    return run(config)


class _UsageError(Exception):
    """Bad input or usage: one line, exit status 2."""


def main(
    argv: Sequence[str] | None = None,
    *,
    stdin: IO[bytes] | IO[str] | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    # Bytes, read in bounded chunks and decoded strictly: the text layer would accept (with
    # surrogateescape under a C locale) what is not UTF-8, and read without a bound.
    stdin = sys.stdin.buffer if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse printed
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    prog = f"hostns {args.command}"
    try:
        if args.command == "scan":
            return _scan(args, stdin, stdout, stderr)
        if args.command == "audit":
            return auditcli.run(args, stdin, stdout, stderr)
        return _run(args)
    except (_UsageError, auditcli.UsageError) as exc:
        print(f"{prog}: error: {exc}", file=stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): nothing more to say, and nothing to flush at exit.
        if stdout is sys.stdout:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
    except Exception as exc:  # never a traceback, unless asked for
        if args.debug:
            traceback.print_exc(file=stderr)
        detail = " ".join(str(exc).split()) or "no detail"
        hint = "" if args.debug else " (run with --debug for the traceback)"
        print(f"{prog}: error: unexpected {type(exc).__name__}: {detail}{hint}", file=stderr)
        return EXIT_ERROR
