"""The real entry points: the `hostns` console script and `python -m hostns`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import FIXTURES

BIN = Path(sys.executable).parent
HOSTNS = BIN / "hostns"


def run(*argv: str | Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )


def test_console_script_scans_a_directory_and_exits_1_on_a_violation() -> None:
    result = run(HOSTNS, "scan", "-f", FIXTURES / "kinds", "--exceptions", FIXTURES / "policy")
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("KIND ")
    assert "Violation" in result.stdout
    assert result.stderr == "9 workloads: 7 Violation, 2 Excepted, 0 Compliant\n"


def test_python_dash_m_reads_stdin_and_prints_json() -> None:
    result = run(sys.executable, "-m", "hostns", "scan", "-f", "-", "-o", "json",
                 stdin=(FIXTURES / "compliant.yaml").read_text())
    assert result.returncode == 0, result.stderr
    assert [r["verdict"] for r in json.loads(result.stdout)] == ["Compliant"]


def test_bad_input_in_a_real_process_is_one_line_and_exit_2() -> None:
    for command in ([HOSTNS], [sys.executable, "-m", "hostns"]):
        result = run(*command, "scan", "-f", FIXTURES / "bad-yaml.yaml")
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith(f"hostns scan: error: {FIXTURES / 'bad-yaml.yaml'}: document 3: ")
        # One line per bad document, then the count of them.
        assert result.stderr.splitlines()[1:] == ["hostns scan: error: 1 bad input (above): the scan is incomplete"]


def test_scan_does_not_import_kopf() -> None:
    code = (
        "import sys; from hostns.cli import main; "
        f"main(['scan', '-f', {str(FIXTURES / 'compliant.yaml')!r}]); "
        "print('kopf' in sys.modules, file=sys.stderr)"
    )
    result = run(sys.executable, "-c", code)
    assert result.stderr.splitlines()[-1] == "False"


def test_version_from_the_console_script() -> None:
    result = run(HOSTNS, "--version")
    assert (result.returncode, result.stdout) == (0, "hostns 0.1.0\n")


KUBECTL = shutil.which("kubectl")


@pytest.mark.skipif(KUBECTL is None, reason="needs kubectl (for `kubectl kustomize`)")
@pytest.mark.parametrize(
    ("overlay", "code", "verdict"),
    [("staging", 0, "Excepted"), ("prod", 1, "Violation")],
)
def test_a_gitops_pipeline_scans_the_rendered_overlay(overlay: str, code: int, verdict: str) -> None:
    gitops = FIXTURES / "gitops"
    rendered = run(KUBECTL or "kubectl", "kustomize", gitops / "overlays" / overlay)
    assert rendered.returncode == 0, rendered.stderr
    result = run(HOSTNS, "scan", "-f", "-", "--exceptions", gitops / "policy", "-o", "json",
                 stdin=rendered.stdout)
    assert result.returncode == code, result.stderr
    exporter = next(r for r in json.loads(result.stdout) if r["name"] == "node-exporter")
    assert (exporter["namespace"], exporter["verdict"]) == ("monitoring", verdict)


REPO = Path(__file__).resolve().parents[2]


def test_the_examples_in_docs_scan_md_are_what_the_command_prints() -> None:
    docs = (REPO / "docs" / "scan.md").read_text()
    for argv in (
        ["-f", "tests/cli/fixtures/kinds", "--exceptions", "tests/cli/fixtures/policy"],
        ["-f", "tests/cli/fixtures/digest.yaml", "--exceptions", "tests/cli/fixtures/digest-exceptions.yaml"],
        ["-f", "tests/cli/fixtures/expired.yaml", "--exceptions", "tests/cli/fixtures/expired-exceptions.yaml"],
        ["-f", "tests/cli/fixtures/self-exemption.yaml"],
        ["-f", "tests/cli/fixtures/bad-yaml.yaml", "-f", "tests/cli/fixtures/kinds/pod.yaml"],
    ):
        result = subprocess.run(
            [str(HOSTNS), "scan", *argv], cwd=REPO, capture_output=True, text=True, timeout=60,
            check=False,
        )
        assert result.stdout in docs
        for line in result.stderr.splitlines():
            assert f"\n{line}\n" in docs


@pytest.mark.parametrize(("args", "problem"), [
    (["--audit-webhook-port", "8443"], "needs --audit-webhook-cert and --audit-webhook-key"),
    (["--audit-webhook-port", "8443", "--audit-webhook-cert", "/nonexistent/tls.crt",
      "--audit-webhook-key", "/nonexistent/tls.key", "--audit-webhook-token-file", "/x"],
     "audit webhook TLS files"),
])
def test_hostns_run_refuses_an_unusable_audit_webhook_in_one_line(
    args: list[str], problem: str,
) -> None:
    result = run(HOSTNS, "run", *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("hostns run: error: ") and problem in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
