"""Operator settings: flags over environment variables over defaults; bad values refused."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from hostns.live.config import (
    Config,
    ConfigError,
    add_run_arguments,
    config_from_args,
    parse_duration,
    with_lease_namespace,
)


def settings(argv: list[str], env: dict[str, str] | None = None) -> Config:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    return config_from_args(parser.parse_args(argv), env or {})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("7d", 7 * 86400.0),
        ("36h", 36 * 3600.0),
        ("30m", 1800.0),
        ("45s", 45.0),
        ("0.5s", 0.5),
        ("1h30m", 5400.0),
        ("1d12h", 129600.0),
        ("2m30s", 150.0),
        ("90", 90.0),
        ("0", 0.0),
        ("1.5", 1.5),
        (" 7d ", 7 * 86400.0),
    ],
)
def test_durations_are_read_in_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", " ", "7x", "d7", "-1s", "-5", "1 h", "1h 30m", "7D", "1w", "h", "1.h", ".5s", "1e3"])
def test_bad_durations_are_refused_with_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="invalid duration"):
        parse_duration(text)


def test_the_defaults_watch_everything_and_keep_resolved_findings_a_week() -> None:
    config = settings([])
    assert config == Config()
    assert config.namespaces == ()
    assert config.retention_seconds == 7 * 86400
    assert (config.log_format, config.port, config.events) == ("text", 8080, True)
    assert config.leader_elect is False


@pytest.mark.parametrize(
    ("argv", "env", "field", "expected"),
    [
        pytest.param([], {"HOSTNS_NAMESPACES": "a, b,,c "}, "namespaces", ("a", "b", "c"), id="namespaces from env, comma-separated"),
        pytest.param(["-n", "x", "--namespace", "y"], {"HOSTNS_NAMESPACES": "a,b"}, "namespaces", ("x", "y"), id="namespace flags win over env"),
        pytest.param([], {"HOSTNS_RETENTION": "1d"}, "retention_seconds", 86400.0, id="retention from env"),
        pytest.param(["--retention", "2h"], {"HOSTNS_RETENTION": "1d"}, "retention_seconds", 7200.0, id="retention flag wins over env"),
        pytest.param([], {"HOSTNS_RETENTION": ""}, "retention_seconds", 7 * 86400.0, id="empty retention env means default"),
        pytest.param([], {"HOSTNS_LOG_FORMAT": "json"}, "log_format", "json", id="log format from env"),
        pytest.param(["--log-format", "text"], {"HOSTNS_LOG_FORMAT": "json"}, "log_format", "text", id="log format flag wins over env"),
        pytest.param([], {"HOSTNS_PORT": "9000"}, "port", 9000, id="port from env"),
        pytest.param(["--port", "0"], {"HOSTNS_PORT": "9000"}, "port", 0, id="port flag 0 wins over env"),
        pytest.param([], {"HOSTNS_EVENTS": "false"}, "events", False, id="events off from env"),
        pytest.param([], {"HOSTNS_EVENTS": "Yes"}, "events", True, id="events on from env"),
        pytest.param(["--events"], {"HOSTNS_EVENTS": "off"}, "events", True, id="events flag wins over env"),
        pytest.param(["--no-events"], {"HOSTNS_EVENTS": "on"}, "events", False, id="no-events flag wins over env"),
        pytest.param([], {"HOSTNS_RESYNC_INTERVAL": "0"}, "resync_seconds", 0.0, id="resync 0 disables the periodic re-list"),
        pytest.param(["--resync-interval", "5m"], {"HOSTNS_RESYNC_INTERVAL": "1h"}, "resync_seconds", 300.0, id="resync flag wins over env"),
        pytest.param([], {"HOSTNS_COALESCE": "2s"}, "coalesce_seconds", 2.0, id="coalesce from env"),
        pytest.param([], {"HOSTNS_LEADER_ELECT": "true"}, "leader_elect", True, id="leader election from env"),
        pytest.param(["--no-leader-elect"], {"HOSTNS_LEADER_ELECT": "true"}, "leader_elect", False, id="no-leader-elect flag wins over env"),
        pytest.param([], {"HOSTNS_LEADER_ELECT_NAMESPACE": "ops"}, "leader_elect_namespace", "ops", id="lease namespace from env"),
        pytest.param(["--leader-elect-namespace", "x"], {"HOSTNS_LEADER_ELECT_NAMESPACE": "ops"}, "leader_elect_namespace", "x", id="lease namespace flag wins over env"),
        pytest.param([], {"HOSTNS_LEADER_ELECT_LEASE": ""}, "leader_elect_lease", "hostns-operator", id="empty lease name means the default"),
        pytest.param(["--leader-elect-lease", "hostns-b"], {}, "leader_elect_lease", "hostns-b", id="lease name flag"),
        pytest.param([], {"HOSTNS_LEADER_ELECT_DURATION": "30s"}, "leader_elect_seconds", 30.0, id="lease duration from env"),
        pytest.param(["-v"], {}, "verbose", True, id="verbose flag"),
    ],
)
def test_a_flag_wins_over_its_environment_variable_which_wins_over_the_default(
    argv: list[str], env: dict[str, str], field: str, expected: object
) -> None:
    assert getattr(settings(argv, env), field) == expected


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        pytest.param([], {"HOSTNS_PORT": "http"}, "invalid port", id="non-numeric port"),
        pytest.param([], {"HOSTNS_PORT": "70000"}, "0..65535", id="port out of range"),
        pytest.param(["--port", "-1"], {}, "0..65535", id="negative port flag"),
        pytest.param([], {"HOSTNS_EVENTS": "maybe"}, "HOSTNS_EVENTS", id="events not a boolean"),
        pytest.param([], {"HOSTNS_LOG_FORMAT": "xml"}, "log format", id="unknown log format"),
        pytest.param([], {"HOSTNS_RETENTION": "forever"}, "invalid duration", id="bad retention"),
        pytest.param(["--retention", "7 days"], {}, "invalid duration", id="bad retention flag"),
        pytest.param([], {"HOSTNS_RESYNC_INTERVAL": "soon"}, "invalid duration", id="bad resync interval"),
        pytest.param([], {"HOSTNS_COALESCE": "-1s"}, "invalid duration", id="bad coalesce"),
        pytest.param([], {"HOSTNS_LEADER_ELECT": "sometimes"}, "HOSTNS_LEADER_ELECT", id="leader election not a boolean"),
        pytest.param(["--leader-elect-duration", "2s"], {}, "at least 3s", id="lease too short to renew"),
        pytest.param(["--leader-elect-duration", "soon"], {}, "invalid duration", id="bad lease duration"),
    ],
)
def test_bad_settings_are_refused_with_a_config_error(argv: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(argv, env)


def test_a_bad_flag_value_for_a_choice_is_refused_by_the_parser() -> None:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--log-format", "xml"])


def test_settings_read_the_process_environment_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTNS_RETENTION", "3h")
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    assert config_from_args(parser.parse_args([])).retention_seconds == 3 * 3600


def test_the_lease_lives_in_the_pods_own_namespace_unless_told(tmp_path: Path) -> None:
    namespace_file = tmp_path / "namespace"
    namespace_file.write_text("hostns-system\n")
    assert with_lease_namespace(settings(["--leader-elect"]), namespace_file).leader_elect_namespace == "hostns-system"
    told = settings(["--leader-elect", "--leader-elect-namespace", "ops"])
    assert with_lease_namespace(told, namespace_file).leader_elect_namespace == "ops"


def test_leader_election_outside_a_pod_without_a_namespace_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--leader-elect-namespace"):
        with_lease_namespace(settings(["--leader-elect"]), tmp_path / "absent")


def test_without_leader_election_no_namespace_is_needed(tmp_path: Path) -> None:
    config = settings([])
    assert with_lease_namespace(config, tmp_path / "absent") is config


@pytest.mark.parametrize(("argv", "env", "expected"), [
    ([], {}, False),
    (["--prevention"], {}, True),
    ([], {"HOSTNS_PREVENTION": "true"}, True),
    (["--no-prevention"], {"HOSTNS_PREVENTION": "true"}, False),
])
def test_prevention_is_off_unless_asked_for(argv: list[str], env: dict[str, str],
                                            expected: bool) -> None:
    assert settings(argv, env).prevention is expected


def test_a_bad_prevention_value_is_refused() -> None:
    with pytest.raises(ConfigError, match="HOSTNS_PREVENTION"):
        settings([], {"HOSTNS_PREVENTION": "maybe"})


@pytest.mark.parametrize(("argv", "env", "expected"), [
    ([], {}, "none"),
    (["--reports", "openreports"], {}, "openreports"),
    ([], {"HOSTNS_REPORTS": "openreports"}, "openreports"),
    (["--reports", "none"], {"HOSTNS_REPORTS": "openreports"}, "none"),
])
def test_reports_are_off_unless_asked_for(argv: list[str], env: dict[str, str],
                                          expected: str) -> None:
    assert settings(argv, env).reports == expected


def test_an_unknown_reports_output_is_refused() -> None:
    with pytest.raises(ConfigError, match="invalid reports output 'policyreport'"):
        settings([], {"HOSTNS_REPORTS": "policyreport"})
