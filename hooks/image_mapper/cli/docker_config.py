"""Registry credentials from a Docker config file, found as docker finds them: the `credHelpers`
helper named for the registry, else the `credsStore` helper, else the file's own `auths`.

A helper is run as docker runs it: `docker-credential-NAME get` with the registry's server URL
on standard input, answering `{"ServerURL", "Username", "Secret"}` (a Username of `<token>`
makes the Secret an identity token, exchanged for an access token). Nothing here ever puts a
secret into a message.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from image_mapper.cli.errors import CommandError

DOCKER_HUB = "docker.io"
DOCKER_HUB_SERVER = "https://index.docker.io/v1/"
"""The key docker writes Docker Hub's credentials under."""
HELPER_TIMEOUT_SECONDS = 30
IDENTITY_TOKEN_USER = "<token>"  # noqa: S105 (docker's marker of an identity token)


@dataclass(frozen=True, slots=True)
class Credential:
    username: str = field(repr=False)
    secret: str = field(repr=False)
    identity_token: bool = False
    """The secret is an identity (refresh) token, not a password."""
    registry_token: bool = False
    """The secret is a bearer token to send as it is."""


def default_path(environ: dict[str, str] | None = None) -> Path:
    """`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`."""
    environ = dict(os.environ) if environ is None else environ
    folder = environ.get("DOCKER_CONFIG")
    return (Path(folder) if folder else Path.home() / ".docker") / "config.json"


def server_keys(host: str) -> list[str]:
    """The keys a registry's credentials may be written under in `auths`."""
    if host in (DOCKER_HUB, "index.docker.io", "registry-1.docker.io"):
        return [DOCKER_HUB_SERVER, "index.docker.io", "docker.io", "registry-1.docker.io",
                "https://index.docker.io", "https://registry-1.docker.io"]
    return [host, f"https://{host}", f"http://{host}", f"https://{host}/v1/",
            f"https://{host}/v2/"]


class DockerConfig:
    """The credentials of one Docker config file; a helper's answer is asked once per run."""

    def __init__(self, config: dict[str, Any] | None = None, where: str = "") -> None:
        config = config or {}
        auths = config.get("auths")
        helpers = config.get("credHelpers")
        store = config.get("credsStore")
        self.where = where
        self.auths: dict[str, Any] = auths if isinstance(auths, dict) else {}
        self.helpers: dict[str, str] = helpers if isinstance(helpers, dict) else {}
        self.store: str | None = store if isinstance(store, str) and store else None
        self._asked: dict[str, Credential | None] = {}
        self._lock = threading.Lock()
        self.warnings: list[str] = []

    @classmethod
    def load(cls, path: str | None = None) -> DockerConfig:
        """The given file (`--registry-config`), which must exist, or docker's default one,
        which may not (then every registry is asked anonymously)."""
        file = Path(path) if path else default_path()
        if not file.exists():
            if path:
                raise CommandError(f"{path}: no such file")
            return cls()
        try:
            config = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CommandError(f"{file}: not a Docker config file: {error}") from None
        if not isinstance(config, dict):
            raise CommandError(f"{file}: not a Docker config file: expected a JSON object")
        return cls(config, str(file))

    def credential(self, host: str) -> Credential | None:
        """The credential for a registry host (`HOST[:PORT]`); None: ask anonymously."""
        with self._lock:
            if host not in self._asked:
                self._asked[host] = self._find(host)
            return self._asked[host]

    def _find(self, host: str) -> Credential | None:
        keys = server_keys(host)
        helper = next((self.helpers[k] for k in keys if k in self.helpers), None) or self.store
        if helper:
            return self._from_helper(helper, keys[0])
        for key in keys:
            entry = self.auths.get(key)
            if isinstance(entry, dict):
                return self._from_entry(entry, key)
        return None

    def _from_entry(self, entry: dict[str, Any], key: str) -> Credential | None:
        if isinstance(entry.get("registrytoken"), str) and entry["registrytoken"]:
            return Credential("", entry["registrytoken"], registry_token=True)
        username, password = entry.get("username"), entry.get("password")
        encoded = entry.get("auth")
        if isinstance(encoded, str) and encoded:
            try:
                username, _, password = base64.b64decode(encoded, validate=True).decode(
                    "utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                self.warnings.append(f"{self.where}: auths[{key!r}].auth is not base64 of "
                                     "user:password; asking anonymously")
                return None
        token = entry.get("identitytoken")
        if isinstance(token, str) and token:
            return Credential(username if isinstance(username, str) else "", token,
                              identity_token=True)
        if isinstance(username, str) and username and isinstance(password, str):
            return Credential(username, password)
        return None

    def _from_helper(self, helper: str, server: str) -> Credential | None:
        program = f"docker-credential-{helper}"
        try:
            answer = subprocess.run([program, "get"], input=server, capture_output=True,
                                    text=True, timeout=HELPER_TIMEOUT_SECONDS, check=False)
        except FileNotFoundError:
            self.warnings.append(f"credential helper {program} is not on PATH; asking "
                                 f"{server} anonymously")
            return None
        except subprocess.TimeoutExpired:
            self.warnings.append(f"credential helper {program} did not answer within "
                                 f"{HELPER_TIMEOUT_SECONDS}s; asking {server} anonymously")
            return None
        if answer.returncode != 0:
            # "credentials not found in native keychain": docker then goes anonymous too.
            return None
        try:
            found = json.loads(answer.stdout)
            username, secret = found["Username"], found["Secret"]
        except (json.JSONDecodeError, KeyError, TypeError):
            self.warnings.append(f"credential helper {program} gave an answer that is not "
                                 f"{{Username, Secret}} for {server}; asking anonymously")
            return None
        if not isinstance(username, str) or not isinstance(secret, str) or not secret:
            return None
        if username == IDENTITY_TOKEN_USER:
            return Credential("", secret, identity_token=True)
        return Credential(username, secret)
