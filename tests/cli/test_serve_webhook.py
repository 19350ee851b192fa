"""`image-mapper serve-webhook` options: environment fallbacks and errors for the user."""

from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path

import pytest

from image_mapper.cli import serve_webhook
from image_mapper.cli.main import main
from image_mapper.cli.serve_webhook import config, configure
from image_mapper.engine.mapping import Mapping
from image_mapper.webhook.app import create_app
from image_mapper.webhook.server import APP_THREADS, bridge, uvicorn_config
from image_mapper.webhook.tls.certificates import make_ca, make_serving_cert
from image_mapper.webhook.tls.reloader import CertificateReloader, serving_context
from image_mapper.webhook.view import StaticView
from tests.golden import IMAGEMAPS


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(argv)


def test_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("IMAGE_MAPPER_")]:
        monkeypatch.delenv(key)
    args = _parse()
    assert (args.host, args.port) == ("0.0.0.0", 8443)
    assert not hasattr(args, "threads")  # the webhook has no thread setting to give
    assert args.cert_file == "/run/image-mapper/tls/tls.crt"
    assert args.bootstrap_tls is False
    monkeypatch.setenv("IMAGE_MAPPER_WEBHOOK_PORT", "9443")
    monkeypatch.setenv("IMAGE_MAPPER_BOOTSTRAP_TLS", "true")
    monkeypatch.setenv("POD_NAMESPACE", "mapper-system")
    args = _parse()
    assert (args.port, args.bootstrap_tls, args.namespace) == (9443, True, "mapper-system")
    assert _parse("--port", "10443").port == 10443  # the command line wins


def test_how_long_a_pod_waits_for_a_decision_and_what_then(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("IMAGE_MAPPER_")]:
        monkeypatch.delenv(key)
    args = _parse()
    assert (args.decision_wait, args.undecided) == (3.0, "refuse")
    monkeypatch.setenv("IMAGE_MAPPER_DECISION_WAIT", "1.5")
    monkeypatch.setenv("IMAGE_MAPPER_UNDECIDED", "admit")
    args = _parse()
    assert (args.decision_wait, args.undecided) == (1.5, "admit")
    settings = config(_parse("--decision-wait", "2", "--undecided", "refuse"))
    assert (settings.decision_wait, settings.undecided) == (2.0, "refuse")


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        pytest.param(["--port", "0"], {}, "argument --port: 0 is not a TCP port", id="port-0"),
        pytest.param([], {"IMAGE_MAPPER_WEBHOOK_PORT": "https"},
                     "argument --port: https is not a TCP port", id="port-env"),
        pytest.param(["--threads", "8"], {}, "unrecognized arguments: --threads 8",
                     id="threads-removed"),
        pytest.param(["--shutdown-delay", "soon"], {},
                     "argument --shutdown-delay: 'soon' is not a number of seconds", id="delay"),
        pytest.param(["--kubeconfig", "x", "-f", "y"], {}, "not allowed with argument",
                     id="kubeconfig-and-files"),
        pytest.param(["--decision-wait", "0"], {}, "argument --decision-wait: 0",
                     id="decision-wait-0"),
        pytest.param(["--undecided", "ignore"], {},
                     "argument --undecided: 'ignore' is not one of refuse, admit", id="undecided"),
        pytest.param([], {"IMAGE_MAPPER_UNDECIDED": "Admit"},
                     "argument --undecided: 'Admit' is not one of refuse, admit",
                     id="undecided-env"),
    ],
)
def test_bad_settings_are_usage_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str],
    env: dict[str, str], message: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as exited:
        main(["serve-webhook", *argv])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_a_missing_certificate_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["serve-webhook", "-f", str(IMAGEMAPS),
                 "--cert-file", str(tmp_path / "tls.crt")]) == 1
    err = capsys.readouterr().err
    assert err.endswith("no such file; mount a certificate there or pass --bootstrap-tls\n")
    assert err.count("\n") == 1


def test_uvicorn_runs_the_flask_app_with_public_settings(tmp_path: Path) -> None:
    """httptools on uvloop; the listening context comes from `ssl_context_factory` and is the
    reloader's (its ClientHello callback serves the current certificate); every request goes
    to the Flask app through the bridge's pool."""
    args = config(_parse("--host", "::", "--shutdown-delay", "5", "--graceful-timeout", "20"))
    flask_app = create_app(view=StaticView(Mapping.build([])))
    app = bridge(flask_app)
    now = dt.datetime.now(dt.UTC)
    cert, key = make_serving_cert(*make_ca("test CA", now=now, validity=dt.timedelta(days=1)),
                                  ["localhost"], now=now, validity=dt.timedelta(days=1))
    (tmp_path / "tls.crt").write_bytes(cert)
    (tmp_path / "tls.key").write_bytes(key)
    context = serving_context(CertificateReloader(tmp_path / "tls.crt", tmp_path / "tls.key"))
    settings = uvicorn_config(args, app, context)
    settings.load()
    try:
        assert settings.loaded_app is app
        assert app.app is flask_app
        assert app.pool._max_workers == APP_THREADS >= 200
        assert settings.ssl is context
        assert context.sni_callback is not None
        assert settings.http_protocol_class.__module__ == "uvicorn.protocols.http.httptools_impl"
        assert settings.loop == "uvloop"
        assert settings.timeout_graceful_shutdown == 20
        assert settings.timeout_keep_alive == 30
        assert settings.access_log is False
        assert settings.server_header is False
        assert settings.log_config is None
        assert serve_webhook.DEFAULT_TLS_DIR == "/run/image-mapper/tls"
    finally:
        app.close()
