"""The image's two commands as the container runs them: non-root, read-only root file system.

No container runtime is needed: each command runs in a private mount namespace (`unshare
--mount`), chrooted into a read-only bind mount of this machine's root file system, as uid and
gid 65532 with no capabilities, no supplementary groups and no_new_privs (`setpriv`), with the
environment the Dockerfile sets and nothing else. Writable, as in the Deployments, is only
`/tmp` (their emptyDir, here a directory of the test's that is inspected afterwards);
`/run/image-mapper/tls` holds the webhook's certificate, as the Deployment mounts it.

/root (mode 0700 here) and /run are covered by read-only tmpfs. The checkout with its venv,
and the installation of the Python the venv links to (here under /root/.pyenv), are bound
back read-only at their own paths, wherever they are (under /tmp too), so uid 65532 can reach
them. Nothing outside the namespace changes, and it vanishes with the process.

Each command (the Dockerfile's ENTRYPOINT and CMD, and the Deployments' command and args)
then answers a real request and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.contained import (
    UID,
    assert_clean_log,
    assert_contained,
    assert_hooks_answer,
    mounted_certificate,
    wait_until_serving,
)
from tests.support.ports import free_port
from tests.webhook.server import stop_process

from .corpus import ADMISSION_FIXTURES
from .servers import make_pki

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
KEEP = (ROOT, Path(os.path.realpath(VENV_BIN / "python3")).parents[1])
"""Host paths the sandbox shows read-only: the checkout (with its venv) and the interpreter's
installation, which the venv links to."""

OPT_OUT = "IMAGE_MAPPER_NO_CONTAINER_CHECK"
pytestmark = pytest.mark.skipif(
    os.environ.get(OPT_OUT) == "1", reason=f"{OPT_OUT}=1: the container check was turned off"
)


@pytest.fixture(autouse=True)
def _can_build_the_containers_view() -> None:
    """Fails, rather than skips, where the check cannot run: CI must not go green without it."""
    missing = [tool for tool in ("unshare", "setpriv", "chroot") if not shutil.which(tool)]
    if os.geteuid() != 0 or missing:
        pytest.fail(
            f"the container check needs root and unshare, setpriv and chroot (util-linux); "
            f"{'missing: ' + ', '.join(missing) if missing else 'not running as root'}. "
            f"Run the suite as root, or set {OPT_OUT}=1 to leave this check out knowingly."
        )


@dataclass(frozen=True)
class Image:
    user: str
    entrypoint: list[str]
    cmd: list[str]
    env: dict[str, str]


def dockerfile() -> Image:
    """USER, ENTRYPOINT, CMD and ENV of the Dockerfile's final stage."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    final = text.rsplit("\nFROM ", 1)[1]
    found: dict[str, str] = {}
    env: dict[str, str] = {}
    for line in final.splitlines():
        instruction, _, rest = line.strip().partition(" ")
        if instruction == "ENV":
            env.update(re.findall(r"(\w+)=(\S+)", rest))
        elif instruction in ("USER", "ENTRYPOINT", "CMD"):
            found[instruction] = rest.strip()
    return Image(found["USER"], json.loads(found["ENTRYPOINT"]), json.loads(found["CMD"]), env)


def deployment(component: str) -> dict[str, Any]:
    path = ROOT / "metacontroller" / f"{component}-deployment.yaml"
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def test_the_commands_tested_here_are_the_images_and_the_deployments() -> None:
    image = dockerfile()
    assert image.user == f"{UID}:{UID}"
    assert image.entrypoint == ["image-mapper"]
    assert image.cmd == ["serve-hooks"]
    for component, command in (("hooks", "serve-hooks"), ("webhook", "serve-webhook")):
        pod = deployment(component)["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["command"] == image.entrypoint
        assert container["args"][0] == command
        assert pod["securityContext"]["runAsUser"] == UID
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert mounts <= {"/tmp", "/run/image-mapper/tls"}


SANDBOX = r"""
set -eu
R="$SANDBOX_ROOT"
mount --bind -o ro / "$R"
mount --rbind /dev "$R/dev"
mount -t tmpfs -o ro,size=4k tmpfs "$R/dev/shm"
mount -t proc proc "$R/proc"
mount --bind "$SANDBOX_TMP" "$R/tmp"
mount -t tmpfs -o mode=755,size=64k tmpfs "$R/root"
mount -t tmpfs -o mode=755,size=64k tmpfs "$R/run"
mkdir -p "$R/run/image-mapper/tls"
mount --bind -o ro "$SANDBOX_TLS" "$R/run/image-mapper/tls"
# The checkout and the Python install, read-only at their own paths, wherever they are: the
# mounts above cover /tmp, /root and /run.
echo "$SANDBOX_KEEP" | while IFS= read -r keep; do
    mkdir -p "$R$keep"
    mount --bind -o ro "$keep" "$R$keep"
done
mount -o remount,bind,ro "$R/root"
mount -o remount,bind,ro "$R/run"
exec chroot "$R" setpriv --reuid="$SANDBOX_UID" --regid="$SANDBOX_UID" --clear-groups \
    --inh-caps=-all --bounding-set=-all --no-new-privs -- \
    env -i "$@"
"""


@dataclass
class Sandboxed:
    process: subprocess.Popen[bytes]
    log: Path
    tmp: Path

    def stop(self, timeout: float = 30) -> int:
        return stop_process(self.process, timeout)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Any]:
    """`sandbox(*args)`: the image's ENTRYPOINT with `args`, as the container runs it."""
    image = dockerfile()
    started: list[Sandboxed] = []
    pki = make_pki(tmp_path / "pki")
    tls = mounted_certificate(tmp_path / "tls", pki.cert_file, pki.key_file)

    def start(*args: str, entrypoint: list[str] | None = None) -> Sandboxed:
        root = tmp_path / f"root{len(started)}"
        root.mkdir()
        tmp = tmp_path / f"emptydir{len(started)}"
        tmp.mkdir()
        tmp.chmod(0o1777)
        env = {
            "SANDBOX_ROOT": str(root),
            "SANDBOX_TMP": str(tmp),
            "SANDBOX_TLS": str(tls),
            "SANDBOX_UID": str(UID),
            "SANDBOX_KEEP": "\n".join(str(path) for path in KEEP),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        }
        # The Dockerfile's environment; its PATH starts with the image's venv, here this one.
        container_env = {
            **image.env,
            "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
            "HOME": "/nonexistent",
        }
        log = tmp_path / f"process{len(started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    "sh",
                    "-c",
                    SANDBOX,
                    "sh",
                    *(f"{k}={v}" for k, v in container_env.items()),
                    *(image.entrypoint if entrypoint is None else entrypoint),
                    *args,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        sandboxed = Sandboxed(process, log, tmp)
        started.append(sandboxed)
        return sandboxed

    yield start
    for sandboxed in started:
        if sandboxed.process.poll() is None:
            sandboxed.process.kill()
            sandboxed.process.wait()


PROBE = f"""
import os
for path in ("{ROOT}/probe", "/root/.pyenv/probe", "/etc/probe", "/run/probe",
             "/run/image-mapper/tls/probe", "/dev/shm/probe", "/nonexistent", "/tmp/probe"):
    try:
        with open(path, "w") as handle:
            handle.write("x")
        os.unlink(path)
        print(path, "writable")
    except OSError as error:
        print(path, error.strerror)
print("ids", os.getuid(), os.getgid(), os.getgroups())
"""


def test_the_sandbox_lets_nothing_but_tmp_be_written(sandbox: Any) -> None:
    probe: Sandboxed = sandbox("-c", PROBE, entrypoint=["python3"])
    assert probe.process.wait(30) == 0
    assert probe.log.read_text().splitlines() == [
        f"{ROOT}/probe Read-only file system",
        "/root/.pyenv/probe Read-only file system",
        "/etc/probe Read-only file system",
        "/run/probe Read-only file system",
        "/run/image-mapper/tls/probe Read-only file system",
        "/dev/shm/probe Read-only file system",
        "/nonexistent Read-only file system",
        "/tmp/probe writable",
        f"ids {UID} {UID} []",
    ]


def _wait_until_serving(sandboxed: Sandboxed, url: str, verify: str | bool) -> None:
    wait_until_serving(sandboxed.process, sandboxed.log, url, verify=verify, timeout=30)


def _assert_contained(sandboxed: Sandboxed) -> None:
    assert_contained(sandboxed.process.pid)


def _assert_clean_log(sandboxed: Sandboxed) -> str:
    return assert_clean_log(sandboxed.log)


def test_serve_hooks_runs_as_non_root_on_a_read_only_root(sandbox: Any) -> None:
    port = free_port()
    hooks: Sandboxed = sandbox(*dockerfile().cmd, "--host", "127.0.0.1", "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    _wait_until_serving(hooks, url, verify=False)
    _assert_contained(hooks)
    assert_hooks_answer(url)
    assert hooks.stop() == 0
    assert "stopped" in _assert_clean_log(hooks)
    assert _written(hooks.tmp) == []


def test_serve_webhook_runs_as_non_root_on_a_read_only_root(sandbox: Any, tmp_path: Path) -> None:
    port = free_port()
    samples = ROOT / "samples"
    webhook: Sandboxed = sandbox(
        "serve-webhook",
        "-f",
        str(samples),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--cert-file",
        "/run/image-mapper/tls/tls.crt",
        "--key-file",
        "/run/image-mapper/tls/tls.key",
        "--shutdown-delay",
        "0",
    )
    url = f"https://localhost:{port}"
    ca = str(tmp_path / "pki" / "ca.crt")
    _wait_until_serving(webhook, url, verify=ca)
    _assert_contained(webhook)
    review = json.loads((ADMISSION_FIXTURES / "create-image-form.request.json").read_text())
    answer = requests.post(url + "/mutate", json=review, timeout=10, verify=ca)
    assert answer.status_code == 200
    assert answer.json()["response"]["patchType"] == "JSONPatch"
    children = [
        p for p in Path("/proc").iterdir() if p.name.isdigit() and _parent(p) == webhook.process.pid
    ]
    assert children == [], "one process serves, watches and rotates"
    assert f"Uid:\t{UID}\t{UID}\t{UID}\t{UID}" in (
        Path(f"/proc/{webhook.process.pid}/status").read_text())
    assert webhook.stop() == 0
    log = _assert_clean_log(webhook)
    assert "Finished server process" in log
    assert _written(webhook.tmp) == []


def _written(emptydir: Path) -> list[Path]:
    """What the processes left in /tmp: anything but the (empty) mount points of KEEP."""
    mount_points = {
        Path("/tmp", *path.relative_to("/tmp").parts[:depth])
        for path in KEEP
        if path.is_relative_to("/tmp")
        for depth in range(1, len(path.relative_to("/tmp").parts) + 1)
    }
    return [
        entry
        for entry in sorted(emptydir.rglob("*"))
        if not (entry.is_dir() and Path("/tmp", entry.relative_to(emptydir)) in mount_points)
    ]


def _parent(process: Path) -> int | None:
    try:
        stat = (process / "stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])
