"""The servers' shared checks of command-line values, as both commands report them."""

from __future__ import annotations

import pytest

from image_mapper.cli.main import build_parser, main

BAD = [
    ("serve-hooks", ["--port", "65536"], "argument --port: 65536 is not a TCP port"),
    ("serve-hooks", ["--port", "-1"], "argument --port: -1 is not a TCP port"),
    ("serve-hooks", ["--threads", "0"], "argument --threads: 0 must be greater than 0"),
    ("serve-hooks", ["--threads", "four"], "argument --threads: 'four' is not a whole number"),
    ("serve-hooks", ["--shutdown-timeout", "-1"],
     "argument --shutdown-timeout: -1 must not be negative"),
    ("serve-hooks", ["--shutdown-timeout", "nan"],
     "argument --shutdown-timeout: 'nan' is not a number of seconds"),
    ("serve-webhook", ["--port", "0"], "argument --port: 0 is not a TCP port (1-65535)"),
    ("serve-webhook", ["--graceful-timeout", "inf"],
     "argument --graceful-timeout: 'inf' is not a number of seconds"),
    ("serve-webhook", ["--shutdown-delay", "nan"],
     "argument --shutdown-delay: 'nan' is not a number of seconds"),
    ("serve-webhook", ["--tls-check-interval", "0"],
     "argument --tls-check-interval: 0 must be greater than 0"),
    ("serve-webhook", ["--tls-check-interval", "often"],
     "argument --tls-check-interval: 'often' is not a number of seconds"),
    ("serve-hooks", ["--log-level", "verbose"],
     "argument --log-level: 'verbose' is not a log level: use one of debug, info, warning, error"),
    ("serve-webhook", ["--log-format", "xml"],
     "argument --log-format: 'xml' is not a log format: use one of text, json"),
    ("serve-hooks", ["--log-repeat-interval", "0"],
     "argument --log-repeat-interval: 0 must be greater than 0"),
]


@pytest.mark.parametrize(("command", "argv", "message"), BAD,
                         ids=[f"{c}{' '.join(a)}" for c, a, _ in BAD])
def test_a_bad_value_is_a_usage_error_that_names_it(
    capsys: pytest.CaptureFixture[str], command: str, argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, *argv])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["serve-hooks", "serve-webhook"])
def test_the_log_settings_come_from_the_environment_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    monkeypatch.setenv("IMAGE_MAPPER_LOG_FORMAT", "yaml")
    with pytest.raises(SystemExit) as exited:
        main([command])
    assert exited.value.code == 2
    assert "argument --log-format: 'yaml' is not a log format" in capsys.readouterr().err
    monkeypatch.setenv("IMAGE_MAPPER_LOG_FORMAT", "JSON")
    monkeypatch.setenv("IMAGE_MAPPER_LOG_LEVEL", "Debug")
    monkeypatch.setenv("IMAGE_MAPPER_LOG_REPEAT_INTERVAL", "5")
    _, subparsers = build_parser()
    args = subparsers[command].parse_args([])
    assert (args.log_format, args.log_level, args.log_repeat_interval) == ("json", "debug", 5.0)
    args = subparsers[command].parse_args(["--log-level", "error"])  # the command line wins
    assert args.log_level == "error"
