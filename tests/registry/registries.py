"""Real OCI registries on loopback for the tests: distribution's `registry` and
go-containerregistry's `crane`, built from the Go module proxy by tests/registry/build.sh
(cached), with TLS, htpasswd basic authentication or token authentication (`TokenServer`,
a token server of distribution's protocol run in the test process).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import io
import json
import os
import ssl
import subprocess
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import bcrypt
import jwt
import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from image_mapper.webhook.tls.certificates import make_ca, make_serving_cert
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "tests" / "registry" / "build.sh"
SERVICE = "registry.test"
ISSUER = "image-mapper-tests"


@functools.cache
def binaries() -> Path:
    """The folder with `registry` and `crane`, built on first use."""
    done = subprocess.run([str(BUILD)], check=True, capture_output=True, text=True)
    return Path(done.stdout.strip().splitlines()[-1])


@dataclass
class Certificates:
    """A CA and a serving certificate for 127.0.0.1 and localhost, written to `folder`."""

    folder: Path
    ca: Path = field(init=False)
    cert: Path = field(init=False)
    key: Path = field(init=False)

    def __post_init__(self) -> None:
        now = dt.datetime.now(dt.UTC)
        ca_cert, ca_key = make_ca("registry test CA", now=now, validity=dt.timedelta(days=1))
        cert, key = make_serving_cert(ca_cert, ca_key, ["localhost"], now=now,
                                      validity=dt.timedelta(days=1),
                                      ip_addresses=["127.0.0.1"])
        self.folder.mkdir(parents=True, exist_ok=True)
        self.ca, self.cert, self.key = (self.folder / n for n in ("ca.pem", "cert.pem", "key.pem"))
        self.ca.write_bytes(ca_cert)
        self.cert.write_bytes(cert)
        self.key.write_bytes(key)


class TokenServer:
    """distribution's token authentication: `GET /token?service=&scope=` with Basic
    credentials (or none: anonymous, given nothing), and the refresh-token grant
    (`POST /token`) for identity tokens. Tokens are JWTs signed by a certificate of its own CA,
    which the registry trusts (`rootcertbundle`)."""

    def __init__(self, folder: Path, users: dict[str, str], certificates: Certificates,
                 identity_tokens: dict[str, str] | None = None) -> None:
        self.users = users
        self.identity_tokens = identity_tokens or {}
        self.requests: list[str] = []
        now = dt.datetime.now(dt.UTC)
        ca_cert, ca_key = make_ca("token CA", now=now, validity=dt.timedelta(days=1))
        cert, key = make_serving_cert(ca_cert, ca_key, ["token-signer"], now=now,
                                      validity=dt.timedelta(days=1))
        folder.mkdir(parents=True, exist_ok=True)
        self.root_bundle = folder / "token-ca.pem"
        self.root_bundle.write_bytes(ca_cert)
        self._key = serialization.load_pem_private_key(key, password=None)
        der = x509.load_pem_x509_certificate(cert).public_bytes(serialization.Encoding.DER)
        self._x5c = [base64.b64encode(der).decode("ascii")]
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                query = parse_qs(urlparse(self.path).query)
                server.requests.append("GET")
                user = server.basic_user(self.headers.get("Authorization"))
                if user == "":
                    self.send_response(401)
                    self.end_headers()
                    return
                server.answer(self, user, query.get("scope", []))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(length).decode())
                server.requests.append("POST")
                user = server.identity_tokens.get(form.get("refresh_token", [""])[0])
                if form.get("grant_type") != ["refresh_token"] or user is None:
                    self.send_response(401)
                    self.end_headers()
                    return
                server.answer(self, user, form.get("scope", []))

        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        # Clients refuse a plain-HTTP realm for a registry served over TLS.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificates.cert, certificates.key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def realm(self) -> str:
        # A host name: crane refuses a realm that is a loopback or private IP literal.
        return f"https://localhost:{self.port}/token"

    def basic_user(self, header: str | None) -> str | None:
        """The user of valid Basic credentials; None without any; "" for wrong ones."""
        if not header:
            return None
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return ""
        user, _, password = base64.b64decode(encoded).decode().partition(":")
        return user if self.users.get(user) == password else ""

    def answer(self, handler: BaseHTTPRequestHandler, user: str | None,
               scopes: list[str]) -> None:
        access = []
        for scope in scopes if user else []:
            kind, _, rest = scope.partition(":")
            name, _, _ = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": ["pull", "push"]})
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": user or "", "aud": SERVICE, "iat": now, "nbf": now - 5,
                  "exp": now + 300, "jti": uuid.uuid4().hex, "access": access}
        token = jwt.encode(claims, self._key, algorithm="ES256",  # type: ignore[arg-type]
                           headers={"x5c": self._x5c})
        body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Registry:
    """A running registry. `host` is how references name it: `127.0.0.1:PORT`."""

    host: str
    process: subprocess.Popen[bytes]
    folder: Path
    log: io.BufferedWriter
    ca_file: Path | None = None
    docker_config: Path | None = None
    """A Docker config with push credentials, for crane; None: anonymous."""

    @property
    def insecure(self) -> bool:
        return self.ca_file is None

    @property
    def url(self) -> str:
        return f"{'http' if self.insecure else 'https'}://{self.host}"

    def crane(self, *args: str) -> str:
        env = {**os.environ, "DOCKER_CONFIG": str(self.folder / "crane-docker")}
        if self.ca_file is not None:
            env["SSL_CERT_FILE"] = str(self.ca_file)
        if self.docker_config is not None:
            env["DOCKER_CONFIG"] = str(self.docker_config.parent)
        insecure = ["--insecure"] if self.insecure else []
        done = subprocess.run([str(binaries() / "crane"), *args, *insecure], env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise AssertionError(f"crane {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout.strip()

    def push(self, repository: str, tag: str, content: str = "") -> str:
        """An image of one small layer (its content makes its digest) pushed by crane as
        `HOST/REPOSITORY:TAG`; its reference by digest."""
        layer = self.folder / f"layer-{uuid.uuid4().hex}.tar"
        data = (content or f"{repository}:{tag}").encode()
        with tarfile.open(layer, "w") as archive:
            info = tarfile.TarInfo("content.txt")
            info.size = len(data)
            info.mtime = 0
            archive.addfile(info, io.BytesIO(data))
        reference = f"{self.host}/{repository}:{tag}"
        self.crane("append", "-f", str(layer), "-t", reference)
        return f"{self.host}/{repository}@{self.crane('digest', reference)}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def htpasswd(folder: Path, users: dict[str, str]) -> Path:
    path = folder / "htpasswd"
    path.write_text("".join(
        f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
        for user, password in users.items()))
    return path


def docker_config(folder: Path, host: str, user: str, password: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.json"
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return path


def start(folder: Path, *, tls: Certificates | None = None,
          users: dict[str, str] | None = None, token: TokenServer | None = None) -> Registry:
    """A registry storing in `folder`; with TLS, htpasswd users, or a token server."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    http: dict[str, object] = {"addr": f"127.0.0.1:{port}", "secret": uuid.uuid4().hex}
    certificates = tls
    if certificates is not None:
        http["tls"] = {"certificate": str(certificates.cert), "key": str(certificates.key)}
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(folder / "data")},
                    "delete": {"enabled": True}},
        "http": http,
    }
    if users is not None and token is None:
        config["auth"] = {"htpasswd": {"realm": "test", "path": str(htpasswd(folder, users))}}
    if token is not None:
        config["auth"] = {"token": {"realm": token.realm, "service": SERVICE, "issuer": ISSUER,
                                    "rootcertbundle": str(token.root_bundle)}}
    (folder / "config.yml").write_text(yaml.safe_dump(config))
    log = (folder / "registry.log").open("wb")
    process = subprocess.Popen([str(binaries() / "registry"), "serve",
                                str(folder / "config.yml")], stdout=log, stderr=log)
    registry = Registry(f"127.0.0.1:{port}", process, folder, log,
                        certificates.ca if certificates else None)
    if users:
        user, password = next(iter(users.items()))
        registry.docker_config = docker_config(folder / "docker", registry.host, user, password)
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"{registry.url}/v2/", timeout=2,
                         verify=str(registry.ca_file) if registry.ca_file else True)
            return registry
        except requests.RequestException:
            if process.poll() is not None or time.monotonic() > deadline:
                registry.stop()
                raise AssertionError(f"registry did not start: "
                                     f"{(folder / 'registry.log').read_text()[-2000:]}") from None
            time.sleep(0.1)


def running(folder: Path, **options: object) -> Iterator[Registry]:
    """A registry for a fixture: yields it, stops it."""
    registry = start(folder, **options)  # type: ignore[arg-type]
    try:
        yield registry
    finally:
        registry.stop()


class Throttle:
    """A proxy in front of a real registry (plain HTTP) that answers the first `refusals`
    requests of every path with `status` and `Retry-After`, then passes them on: a registry
    under load, as a client sees it."""

    def __init__(self, registry: Registry, *, status: int = 429, retry_after: str = "1",
                 refusals: int = 1) -> None:
        self.seen: list[tuple[float, str, int]] = []
        """(time, path, status answered) of every request."""
        counts: dict[str, int] = {}
        throttle = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def relay(self) -> None:
                count = counts[self.path] = counts.get(self.path, 0) + 1
                if count <= refusals:
                    throttle.seen.append((time.monotonic(), self.path, status))
                    self.send_response(status)
                    self.send_header("Retry-After", retry_after)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = requests.request(self.command, f"{registry.url}{self.path}",
                                          headers=headers, timeout=10, allow_redirects=False)
                throttle.seen.append((time.monotonic(), self.path, answer.status_code))
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer.content)

            do_GET = do_HEAD = relay

        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
