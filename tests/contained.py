"""Checks shared by the tests that run the product as its container runs it (the sandbox of
tests/hardening/test_container.py, and the image itself in tests/image): serving, the identity
and privileges of a process as /proc shows them, and a clean log."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from tests.golden import HOOK_FIXTURES
from tests.support.waiting import wait_for

UID = 65532
"""The image's user and group."""


def mounted_certificate(folder: Path, cert_file: Path, key_file: Path) -> Path:
    """`folder` holding tls.crt and tls.key owned by the image's user, as the webhook's Secret
    volume gives them (the key readable by its owner only)."""
    folder.mkdir()
    for source, name, mode in ((cert_file, "tls.crt", 0o644), (key_file, "tls.key", 0o600)):
        shutil.copy(source, folder / name)
        os.chown(folder / name, UID, UID)
        os.chmod(folder / name, mode)
    folder.chmod(0o755)
    return folder


def wait_until_serving(process: subprocess.Popen[bytes], log: Path, url: str, *,
                       verify: str | bool, timeout: float = 60) -> None:
    """Until `url`/readyz answers 200; fails with the log if the process exits first."""
    def ready() -> bool:
        if process.poll() is not None:
            pytest.fail(f"it exited:\n{log.read_text()}")
        return requests.get(url + "/readyz", timeout=2, verify=verify).status_code == 200

    try:
        wait_for(f"{url}/readyz", ready, timeout=timeout)
    except TimeoutError:
        pytest.fail(f"it did not get ready:\n{log.read_text()}")


def assert_hooks_answer(url: str) -> None:
    """serve-hooks at `url` answers a sync, also of a body past 512 KiB, which waitress spools
    to /tmp (the Deployment's emptyDir)."""
    body = (HOOK_FIXTURES / "imagemap-sync" / "new-imagemap-accepted.request.json").read_bytes()
    answer = requests.post(url + "/imagemap/sync", data=body, timeout=10)
    assert answer.status_code == 200
    assert answer.json()["status"]["conditions"][0]["reason"] == "Accepted"
    large = json.dumps(json.loads(body) | {"padding": "x" * (2 << 20)}).encode()
    assert requests.post(url + "/imagemap/sync", data=large, timeout=30).status_code == 200


def proc_status(pid: int) -> dict[str, str]:
    """A process's /proc status lines, by name."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def root_mount_options(pid: int) -> list[str]:
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == "/":
            return fields[5].split(",")
    raise AssertionError("no root mount")


def assert_contained(pid: int, *, groups: tuple[int, ...] = ()) -> None:
    """Runs as 65532:65532 with these supplementary groups only, no capabilities, no new
    privileges, on a read-only root."""
    status = proc_status(pid)
    assert status["Uid"].split() == [str(UID)] * 4
    assert status["Gid"].split() == [str(UID)] * 4
    assert status["Groups"].split() == [str(group) for group in groups], status["Groups"]
    for capabilities in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[capabilities], 16) == 0, capabilities
    assert status["NoNewPrivs"] == "1"
    assert "ro" in root_mount_options(pid)


def assert_clean_log(log: Path) -> str:
    text = log.read_text()
    for trouble in ("Traceback", "Read-only file system", "Permission denied", "[ERROR]"):
        assert trouble not in text, text
    return text
