"""`overlays/hooks-token`: Metacontroller authenticates its hook calls, the hooks refuse others.

The stand-in Metacontroller sends each hook's `webhook.authorization` (hook.md) as the overlay
configures it, reading the Secret; the hooks server gets its token file from the overlay's
Deployment (its env and Secret volume, as the kubelet would mount it).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.e2e.stack import SAMPLE, Stack

pytestmark = pytest.mark.e2e

BOOTCAMP = "gcr.io/google-samples/kubernetes-bootcamp:v1"
RELOCATED = "registry.example.com/kubernetes-bootcamp:v1"


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
    for kind in ("compositecontroller", "decoratorcontroller"):
        (controller,) = stack.get(kind)["items"]
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
    namespace = "token-walkthrough"
    stack.cp.kubectl("create", "namespace", namespace)
    stack.cp.kubectl("apply", "-n", namespace, "-f", str(SAMPLE))
    stack.cp.kubectl("wait", "-n", namespace, "--for=condition=Ready", "--timeout=60s",
                     "imagemap/bootcamp-sample")
    stack.webhook_has_mapping(namespace, BOOTCAMP, RELOCATED)
    stack.cp.kubectl("run", "bootcamp", f"--image={BOOTCAMP}", "-n", namespace,
                     "--restart=Never")
    created = stack.get("pod", "bootcamp", "-n", namespace)
    assert created["spec"]["containers"][0]["image"] == RELOCATED
    assert stack.driver is not None
    calls = stack.driver.stats.calls
    assert calls, "the stand-in called no hook"
    assert {call.status for call in calls} == {200}, json.dumps([c.status for c in calls])
