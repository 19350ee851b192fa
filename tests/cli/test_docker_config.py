"""Credentials from a Docker config file, found as docker finds them."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from image_mapper.cli.docker_config import Credential, DockerConfig
from image_mapper.cli.errors import CommandError


def encoded(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(("key", "host"), [
    ("registry.corp", "registry.corp"),
    ("https://registry.corp", "registry.corp"),
    ("https://index.docker.io/v1/", "docker.io"),
    ("127.0.0.1:5000", "127.0.0.1:5000"),
], ids=["host", "url", "docker-hub", "port"])
def test_auths_under_the_keys_docker_writes(key: str, host: str) -> None:
    config = DockerConfig({"auths": {key: {"auth": encoded("alice", "pa:ss")}}})
    assert config.credential(host) == Credential("alice", "pa:ss")
    assert config.credential("elsewhere.corp") is None


def test_username_password_identity_and_registry_tokens() -> None:
    config = DockerConfig({"auths": {
        "a.corp": {"username": "bob", "password": "pw"},
        "b.corp": {"auth": encoded("carol", ""), "identitytoken": "refresh"},
        "c.corp": {"registrytoken": "bearer"}}})
    assert config.credential("a.corp") == Credential("bob", "pw")
    assert config.credential("b.corp") == Credential("carol", "refresh", identity_token=True)
    assert config.credential("c.corp") == Credential("", "bearer", registry_token=True)


def test_a_credential_never_shows_its_secret() -> None:
    assert "pw" not in repr(Credential("bob", "pw"))


def test_a_bad_auth_is_a_warning_not_a_secret(tmp_path: Path) -> None:
    config = DockerConfig({"auths": {"a.corp": {"auth": "not base64!"}}}, "config.json")
    assert config.credential("a.corp") is None
    assert config.warnings == ["config.json: auths['a.corp'].auth is not base64 of "
                               "user:password; asking anonymously"]


def helper(folder: Path, name: str, answer: dict[str, str] | None) -> None:
    path = folder / f"docker-credential-{name}"
    body = f"echo '{json.dumps(answer)}'" if answer else "echo 'credentials not found' >&2; exit 1"
    path.write_text(f"#!/bin/sh\nread server\necho \"$server\" >> {folder}/asked\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_cred_helpers_then_creds_store_then_auths(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    helper(tmp_path, "per-host", {"Username": "dave", "Secret": "from-helper"})
    helper(tmp_path, "store", None)
    config = DockerConfig({"credHelpers": {"a.corp": "per-host"}, "credsStore": "store",
                           "auths": {"b.corp": {"auth": encoded("erin", "file")}}})
    assert config.credential("a.corp") == Credential("dave", "from-helper")
    # The store answers for every other registry, even one `auths` names (as docker does).
    assert config.credential("b.corp") is None
    assert config.credential("b.corp") is None  # asked once per run
    assert (tmp_path / "asked").read_text().split() == ["a.corp", "b.corp"]


def test_a_missing_helper_is_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    config = DockerConfig({"credsStore": "absent"})
    assert config.credential("a.corp") is None
    assert config.warnings == ["credential helper docker-credential-absent is not on PATH; "
                               "asking a.corp anonymously"]


def test_the_file_docker_uses_and_a_given_one(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert DockerConfig.load().credential("a.corp") is None  # no file: anonymous
    (tmp_path / "config.json").write_text(json.dumps(
        {"auths": {"a.corp": {"auth": encoded("f", "g")}}}))
    assert DockerConfig.load().credential("a.corp") == Credential("f", "g")
    with pytest.raises(CommandError, match=r"missing\.json: no such file"):
        DockerConfig.load(str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text("[1]")
    with pytest.raises(CommandError, match="not a Docker config file"):
        DockerConfig.load(str(tmp_path / "bad.json"))
