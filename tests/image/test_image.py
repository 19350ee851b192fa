"""The built image, run as the Deployments run it, with podman.

As metacontroller/*-deployment.yaml: the image's ENTRYPOINT with the Deployment's args, uid and
gid 65532, a read-only root file system, every capability dropped, no new privileges, /tmp an
empty writable directory (their emptyDir) and, for the webhook, its certificate mounted
read-only at /run/image-mapper/tls. Each command answers a real request and exits 0 on SIGTERM
(`podman stop`), with nothing about permissions in its log.

This sandbox needs `--runtime runc` and explicit rlimits (`--ulimit`): crun and runc both fail
with the defaults. `--network host`: the test talks to 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.contained import (
    assert_clean_log,
    assert_contained,
    assert_hooks_answer,
    mounted_certificate,
    wait_until_serving,
)
from tests.hardening.corpus import ADMISSION_FIXTURES
from tests.hardening.servers import make_pki
from tests.support.ports import free_port

from .podman import PODMAN, ROOT, TLS_DIR, UID, remove, run_argv


def deployment_container(component: str) -> dict[str, Any]:
    path = ROOT / "metacontroller" / f"{component}-deployment.yaml"
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    (container,) = document["spec"]["template"]["spec"]["containers"]
    found: dict[str, Any] = container
    return found


def podman(*args: str, timeout: float = 60) -> str:
    result = subprocess.run(
        [*PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"podman {' '.join(args)}: {result.stderr}"
    return result.stdout


@dataclass
class Container:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    tmp: Path

    def pid(self) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the container exited:\n{self.log.read_text()}")
            found = subprocess.run(
                [*PODMAN, "inspect", "--format", "{{.State.Pid}}", self.name],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            if found.isdigit() and int(found) > 0:
                return int(found)
            time.sleep(0.2)
        pytest.fail(f"the container did not start:\n{self.log.read_text()}")

    def stop(self) -> int:
        """`podman stop`: SIGTERM, as the kubelet sends it; the container's exit status."""
        stop = [*PODMAN, "stop", "--time", "30", self.name]
        subprocess.run(stop, capture_output=True, check=False)
        return self.process.wait(60)


@pytest.fixture
def run(image: str, tmp_path: Path) -> Iterator[Any]:
    """`run(*args, mounts=())`: the image with `args`, as the Deployments run it, with the
    webhook's certificate mounted read-only where its Deployment mounts it."""
    started: list[Container] = []
    pki = make_pki(tmp_path / "pki")
    tls = mounted_certificate(tmp_path / "tls", pki.cert_file, pki.key_file)

    def start(*args: str, mounts: tuple[str, ...] = ()) -> Container:
        name = f"image-mapper-test-{uuid.uuid4().hex[:10]}"
        tmp = tmp_path / f"emptydir{len(started)}"
        log = tmp_path / f"{name}.log"
        argv = run_argv(
            image,
            name,
            args,
            tmp=tmp,
            volumes=(f"{tls}:{TLS_DIR}:ro", *mounts),
        )
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        container = Container(name, process, log, tmp)
        started.append(container)
        return container

    yield start
    for container in started:
        if container.process.poll() is None:
            remove(container.name)
            container.process.wait(60)


def _wait_until_serving(container: Container, url: str, verify: str | bool) -> None:
    wait_until_serving(container.process, container.log, url, verify=verify)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _assert_contained(pid: int) -> None:
    """This process and its children, if any. The container runtime lists the
    user's own group as its one supplementary group."""
    for each in (pid, *_children(pid)):
        assert_contained(each, groups=(UID,))


def _assert_clean_log(container: Container) -> str:
    return assert_clean_log(container.log)


def _with_port(args: list[str], port: int) -> list[str]:
    """The Deployment's args on another port, on 127.0.0.1 (the host's network is shared)."""
    kept = [a for a in args if not a.startswith(("--port=", "--host="))]
    return [*kept, "--host=127.0.0.1", f"--port={port}"]


def test_the_image_runs_the_deployments_commands(image: str) -> None:
    config = json.loads(podman("image", "inspect", image))[0]["Config"]
    assert config["User"] == f"{UID}:{UID}"
    for component in ("hooks", "webhook"):
        assert deployment_container(component)["command"] == config["Entrypoint"]
    assert config["Cmd"] == ["serve-hooks"]


def test_serve_hooks_in_the_image(run: Any) -> None:
    port = free_port()
    args = _with_port(deployment_container("hooks")["args"], port)
    assert args[0] == "serve-hooks"
    hooks: Container = run(*args)
    url = f"http://127.0.0.1:{port}"
    _wait_until_serving(hooks, url, verify=False)
    _assert_contained(hooks.pid())
    assert_hooks_answer(url)
    assert hooks.stop() == 0
    assert "stopped" in _assert_clean_log(hooks)
    assert list(hooks.tmp.iterdir()) == []


def test_serve_webhook_in_the_image(run: Any, tmp_path: Path) -> None:
    port = free_port()
    deployed = deployment_container("webhook")
    # The Deployment's args, but the ImageMaps from files (-f) instead of an API server.
    assert f"--cert-file={TLS_DIR}/tls.crt" in deployed["args"]
    assert f"--key-file={TLS_DIR}/tls.key" in deployed["args"]
    args = [
        a
        for a in deployed["args"]
        if not a.startswith(("--bootstrap-tls", "--tls-secret=", "--service="))
        and not a.startswith(("--webhook-configuration=", "--shutdown-delay="))
    ]
    args = [*_with_port(args, port), "--shutdown-delay=0", "-f", "/samples"]
    webhook: Container = run(*args, mounts=(f"{ROOT / 'samples'}:/samples:ro",))
    url = f"https://localhost:{port}"
    ca = str(tmp_path / "pki" / "ca.crt")
    _wait_until_serving(webhook, url, verify=ca)
    pid = webhook.pid()
    _assert_contained(pid)
    assert _children(pid) == [], "one process serves, watches and rotates"
    review = json.loads((ADMISSION_FIXTURES / "create-image-form.request.json").read_text())
    answer = requests.post(url + "/mutate", json=review, timeout=10, verify=ca)
    assert answer.status_code == 200
    assert answer.json()["response"]["patchType"] == "JSONPatch"
    assert webhook.stop() == 0
    assert "Finished server process" in _assert_clean_log(webhook)
    assert list(webhook.tmp.iterdir()) == []


LEAN = r"""
for tool in gcc cc c++ g++ clang make; do command -v "$tool" && echo "compiler: $tool"; done
find / -xdev \( -path '*/.cache/pip' -o -path '*/pip-*-cache*' \) -print 2>/dev/null \
    | sed 's/^/pip cache: /'
site=$(echo /opt/image-mapper/lib/python3*/site-packages)
for path in /src "$site/tests" "$site/image_mapper/tests" /opt/image-mapper/tests; do
    [ -e "$path" ] && echo "project files: $path"
done
python3 -c 'import image_mapper, sys; sys.stdout.write("")' || echo "image_mapper not importable"
true
"""


def test_the_image_is_lean(image: str) -> None:
    """No compilers, no pip cache, none of the project's tests or sources beside the package."""
    found = podman(
        "run", "--rm", "--user", "0", "--network", "none", "--ulimit", "nofile=1024:1024",
        "--ulimit", "nproc=1000:1000", "--entrypoint", "sh", image, "-c", LEAN,
    )  # fmt: skip
    assert found == ""
