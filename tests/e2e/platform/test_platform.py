"""The walk-through in an install whose namespace was set once, in a kustomization outside the
clone: Metacontroller calls the hooks with the token of the Secret in that namespace, the webhook
runs under its ServiceAccount there (RBAC followed it) and bootstraps its TLS there; then both
processes scraped as the metrics component's ServiceMonitors tell Prometheus to."""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.platform.conftest import SETTINGS
from tests.e2e.stack import RELOCATED, Stack

pytestmark = pytest.mark.e2e

# What Prometheus sends (scrape_protocols' defaults).
ACCEPT = ("application/openmetrics-text;version=1.0.0;q=0.5,"
          "text/plain;version=0.0.4;q=0.3,*/*;q=0.2")
# The Prometheus text formats Prometheus reads.
PROMETHEUS_TEXT_VERSIONS = ("0.0.4", "1.0.0")


def test_the_walkthrough_works_in_another_namespace(stack: Stack) -> None:
    before = stack.hook_calls()
    pod = stack.walkthrough("walkthrough")
    assert pod["spec"]["containers"][0]["image"] == RELOCATED
    calls = stack.hook_calls()
    for hook in ("/imagemap/sync", "/namespace/sync"):
        assert calls[(hook, "ok")] > before.get((hook, "ok"), 0), calls
        assert calls.get((hook, "unauthorized"), 0) == 0, calls
    # The webhook's own Secret, made by the bootstrap in the install's namespace.
    assert stack.get("secret", "image-mapper-webhook-tls", "-n", SETTINGS.namespace)


def monitor(stack: Stack, component: str) -> dict[str, Any]:
    """The one endpoint of `component`'s ServiceMonitor, as the API server stores it."""
    found = stack.get("servicemonitor", f"image-mapper-{component}", "-n", SETTINGS.namespace)
    (endpoint,) = found["spec"]["endpoints"]
    result: dict[str, Any] = endpoint
    return result


def ca_of(stack: Stack, endpoint: dict[str, Any]) -> ssl.SSLContext:
    """TLS as Prometheus Operator configures it: trust only the CA of the named Secret key."""
    reference = endpoint["tlsConfig"]["ca"]["secret"]
    secret = stack.get("secret", reference["name"], "-n", SETTINGS.namespace)
    return ssl.create_default_context(cadata=base64.b64decode(secret["data"][reference["key"]])
                                      .decode())


class _Target(http.client.HTTPSConnection):
    """Dials `address` (Prometheus dials the pod's IP) and checks the certificate against
    `server_name` (the endpoint's tlsConfig.serverName)."""

    def __init__(self, server_name: str, address: str, port: int,
                 context: ssl.SSLContext) -> None:
        super().__init__(server_name, port, timeout=10, context=context)
        self.address = address
        self.tls = context

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        try:
            self.sock = self.tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def media_type_of(content_type: str) -> tuple[str, dict[str, str]]:
    """The Content-Type as Prometheus parses it (Go's mime.ParseMediaType, which refuses a
    parameter given twice), and picks its parser by."""
    media_type, *rest = (part.strip() for part in content_type.split(";"))
    parameters: dict[str, str] = {}
    for parameter in rest:
        key, _, value = parameter.partition("=")
        assert key.lower() not in parameters, f"duplicate parameter {key!r} in {content_type!r}"
        parameters[key.lower()] = value
    return media_type.lower(), parameters


def scrape(connection: http.client.HTTPConnection, endpoint: dict[str, Any]) -> dict[str, Any]:
    """GET the endpoint's path as Prometheus does; the parsed families by name."""
    try:
        connection.request("GET", endpoint["path"], headers={"Accept": ACCEPT})
        response = connection.getresponse()
        text = response.read().decode()
    finally:
        connection.close()
    assert response.status == 200, text
    media_type, parameters = media_type_of(response.getheader("Content-Type") or "")
    assert media_type == "text/plain"
    assert parameters.get("version") in PROMETHEUS_TEXT_VERSIONS, parameters
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_prometheus_scrapes_the_hooks_over_plain_http(stack: Stack) -> None:
    endpoint = monitor(stack, "hooks")
    assert endpoint["scheme"] == "http"
    assert "tlsConfig" not in endpoint
    families = scrape(http.client.HTTPConnection("127.0.0.1", stack.hooks_port, timeout=10),
                      endpoint)
    calls = families["image_mapper_hook_calls"]
    assert sum(s.value for s in calls.samples if s.name.endswith("_total")) > 0


def test_prometheus_scrapes_the_webhook_with_the_ca_and_server_name(stack: Stack) -> None:
    endpoint = monitor(stack, "webhook")
    assert endpoint["scheme"] == "https"
    context = ca_of(stack, endpoint)
    server_name = endpoint["tlsConfig"]["serverName"]
    assert server_name == f"image-mapper-webhook.{SETTINGS.namespace}.svc"
    families = scrape(_Target(server_name, "127.0.0.1", stack.webhook_port, context), endpoint)
    assert families["image_mapper_webhook_view_synced"].samples[0].value == 1
    assert "image_mapper_admission_requests" in families


@pytest.mark.parametrize("how", ["system-trust", "pod-address"])
def test_without_the_tls_settings_the_scrape_fails(stack: Stack, how: str) -> None:
    """Why the ServiceMonitor carries them: the CA is private, and the certificate names the
    Service, not the address Prometheus dials."""
    endpoint = monitor(stack, "webhook")
    if how == "system-trust":
        connection = _Target(endpoint["tlsConfig"]["serverName"], "127.0.0.1",
                             stack.webhook_port, ssl.create_default_context())
    else:
        connection = _Target("127.0.0.1", "127.0.0.1", stack.webhook_port,
                             ca_of(stack, endpoint))
    with pytest.raises(ssl.SSLCertVerificationError):
        scrape(connection, endpoint)
