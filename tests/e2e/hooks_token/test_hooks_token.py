"""`overlays/hooks-token`: Metacontroller authenticates its hook calls, the hooks refuse others.

The real Metacontroller sends each hook's `webhook.authorization` (hook.md) as the overlay
configures it, reading the Secret; the hooks server gets its token file from the overlay's
Deployment (its env and Secret volume, as the kubelet would mount it).
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request

import pytest

from tests.e2e.hooks_token.conftest import TOKEN_SECRET
from tests.e2e.stack import BOOTCAMP, NAMESPACE, RELOCATED, SAMPLE, Stack
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e


def _post(url: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(
        url, data=b"{}", method="POST", headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_every_controller_hook_carries_the_secret(stack: Stack) -> None:
    controllers = [controller for kind in ("compositecontroller", "decoratorcontroller")
                   for controller in stack.get(kind)["items"]]
    # ImageMaps', ClusterImageMaps' and Namespaces' controllers
    assert len(controllers) == 3, [c["metadata"]["name"] for c in controllers]
    for controller in controllers:
        for hook in controller["spec"]["hooks"].values():
            assert hook["webhook"]["authorization"] == {
                "type": "Bearer",
                "secretRef": {"name": "image-mapper-hooks-token", "namespace": "image-mapper",
                              "key": "token"},
            }


def test_the_hooks_refuse_calls_without_the_token(stack: Stack, token: str) -> None:
    url = f"{stack.hooks_url}/imagemap/sync"
    assert _post(url, {}) == 401
    assert _post(url, {"Authorization": f"Bearer {token}x"}) == 401
    assert _post(url, {"Authorization": f"Bearer {token}"}) == 400  # past the check: bad body


def test_the_walkthrough_works_with_authenticated_hooks(stack: Stack) -> None:
    before = stack.hook_calls()
    created = stack.walkthrough("token-walkthrough")
    assert created["spec"]["containers"][0]["image"] == RELOCATED
    calls = stack.hook_calls()
    # Metacontroller called every hook, and never without the token (or with a wrong one).
    for hook in ("/imagemap/customize", "/imagemap/sync", "/namespace/customize",
                 "/namespace/sync"):
        assert calls[(hook, "ok")] > 0, calls
        assert calls[(hook, "unauthorized")] == before.get((hook, "unauthorized"), 0), calls


def test_a_token_is_rotated_without_a_refused_call(stack: Stack, token: str) -> None:
    """The rotation of docs/configuration.md, with the real Metacontroller (which reads the
    Secret only when a controller's `.spec` changes): a new key beside the old, the controllers
    pointed at it, the old key removed. No hook call is refused, and the product keeps working."""
    url = f"{stack.hooks_url}/imagemap/sync"
    new = secrets.token_urlsafe(32)
    # 1. The new token in the Secret, beside the old one.
    stack.cp.kubectl("patch", "secret", TOKEN_SECRET, "-n", NAMESPACE, "--type=merge",
                     "-p", json.dumps({"stringData": {"token-2": new}}))
    stack.sync_secret_volumes()  # the kubelet's update of the volume
    wait_for("the new token to be accepted",
             lambda: _post(url, {"Authorization": f"Bearer {new}"}) == 400, timeout=30)
    assert _post(url, {"Authorization": f"Bearer {token}"}) == 400
    # 2. Every controller pointed at the new key: a `.spec` change, so Metacontroller rebuilds.
    controllers = [(resource, controller)
                   for resource in ("compositecontroller", "decoratorcontroller")
                   for controller in stack.get(resource)["items"]]
    for kind, controller in controllers:
        stack.cp.kubectl("patch", kind, controller["metadata"]["name"], "--type=json", "-p",
                         json.dumps([{"op": "replace", "path": f"/spec/hooks/{hook}/webhook/"
                                      "authorization/secretRef/key", "value": "token-2"}
                                     for hook in ("customize", "sync")]))
    time.sleep(5)  # Metacontroller rebuilds the controllers when it sees the new spec
    refused = stack.hook_calls()
    own = []  # this test's own calls refused below

    def old_token_refused() -> bool:
        own.append(_post(url, {"Authorization": f"Bearer {token}"}) == 401)
        return own[-1]

    # 3. The old key removed.
    stack.cp.kubectl("patch", "secret", TOKEN_SECRET, "-n", NAMESPACE, "--type=json",
                     "-p", json.dumps([{"op": "remove", "path": "/data/token"}]))
    stack.sync_secret_volumes()
    wait_for("the old token to be refused", old_token_refused, timeout=30)

    namespace = "token-rotated"
    stack.cp.kubectl("create", "namespace", namespace)
    stack.cp.kubectl("apply", "-n", namespace, "-f", str(SAMPLE))
    stack.wait_ready(namespace, "bootcamp-sample")
    stack.webhook_has_mapping(namespace, BOOTCAMP, RELOCATED)
    after = stack.hook_calls()
    for hook in ("/imagemap/sync", "/namespace/sync"):
        # Metacontroller's calls after the old key went all carried the new token.
        mine = sum(own) if hook == "/imagemap/sync" else 0
        assert after[(hook, "unauthorized")] == refused[(hook, "unauthorized")] + mine, after
        assert after[(hook, "ok")] > refused[(hook, "ok")], after
