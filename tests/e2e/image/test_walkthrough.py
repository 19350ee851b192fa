"""The bootcamp walk-through (`make demo`) with the hooks and the webhook as containers of the
built image, run as their Deployments run them, on a real API server with the real
Metacontroller: the sample ImageMap becomes Ready, the namespace active, and the bootcamp pod
is created with its image relocated. Both containers then stop with exit 0 on SIGTERM."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.e2e.stack import ORIGINAL_IMAGES, SAMPLE, Stack
from tests.image.podman import PODMAN, UID
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.image]

BOOTCAMP = "gcr.io/google-samples/kubernetes-bootcamp:v1"
RELOCATED = "registry.example.com/kubernetes-bootcamp:v1"


def test_the_seed_walkthrough_with_the_image(stack: Stack) -> None:
    for server in (stack.hooks, stack.webhook):
        assert server is not None
        assert server.container is not None
        state = json.loads(
            subprocess.run(
                [*PODMAN, "inspect", server.container],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )[0]
        assert state["State"]["Running"], server.name
        assert state["Config"]["User"] == f"{UID}:{UID}"
        assert state["HostConfig"]["ReadonlyRootfs"] is True
        assert state["ImageName"].endswith(stack.image or "")

    cp = stack.cp
    cp.kubectl("apply", "-f", str(SAMPLE))
    cp.kubectl("wait", "--for=condition=Ready", "--timeout=60s", "imagemap/bootcamp-sample")
    wait_for("the namespace label", lambda: stack.namespace_active("default"))
    stack.webhook_has_mapping("default", BOOTCAMP, RELOCATED)
    cp.kubectl("run", "kubernetes-bootcamp", f"--image={BOOTCAMP}")
    pod = cp.kubectl_json("get", "pod", "kubernetes-bootcamp")
    assert pod["spec"]["containers"][0]["image"] == RELOCATED  # type: ignore[index]
    original = json.loads(pod["metadata"]["annotations"][ORIGINAL_IMAGES])  # type: ignore[index]
    assert BOOTCAMP in json.dumps(original)

    # SIGTERM, through `podman run` to the container; the stack's teardown finds them stopped.
    for server in (stack.webhook, stack.hooks):
        assert server is not None
        assert server.stop() == 0, server.log_tail()
        log = server.log_path.read_text()
        for trouble in ("Traceback", "Read-only file system", "Permission denied"):
            assert trouble not in log, log
