"""`image-mapper verify` against real registries (distribution's, built from source), with images
pushed by crane: plain HTTP, TLS with a private CA, htpasswd basic and token authentication,
Docker config credentials and a credential helper run as docker runs it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.registry.conftest import USERS, write
from tests.registry.registries import Certificates, Registry, Throttle, binaries, docker_config
from tests.support.ports import free_port
from tests.support.resources import imagemap_json

pytestmark = pytest.mark.registry

IMAGE_MAPPER = [sys.executable, "-m", "image_mapper"]


def imagemap(path: Path, *maplets: tuple[str, str], kind: str = "ImageMap") -> Path:
    """A file of one ImageMap (or `kind`), `relocated`, with these maplets."""
    return write(path, imagemap_json("relocated", *maplets, kind=kind))


def verify(*args: str | Path, env: dict[str, str] | None = None,
           home: Path | None = None) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, **(env or {})}
    if home is not None:  # no Docker config of the machine's user leaks in
        environ["DOCKER_CONFIG"] = str(home)
    return subprocess.run([*IMAGE_MAPPER, "verify", *map(str, args)], capture_output=True,
                          text=True, env=environ, timeout=120, check=False)


def test_existing_images_over_plain_http_pass(plain: Registry, tmp_path: Path) -> None:
    plain.push("app/web", "1.0")
    maps = imagemap(tmp_path / "map.yaml", ("nginx:1.25", f"{plain.host}/app/web:1.0"))
    done = verify("-f", maps, "--insecure-registry", plain.host, home=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    assert done.stdout.strip() == "1 relocated reference in 1 registry: all exist"


def test_a_missing_image_is_one_line_and_exit_1(plain: Registry, tmp_path: Path) -> None:
    plain.push("app/api", "2.0")
    maps = imagemap(tmp_path / "map.yaml", ("a:1", f"{plain.host}/app/api:2.0"),
                    ("b:1", f"{plain.host}/app/api:9.9"), ("c:1", f"{plain.host}/app/none:1"))
    done = verify("-f", maps, "--insecure-registry", plain.host, home=tmp_path)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[:-1] == [
        f"{plain.host}/app/api:9.9: missing: {plain.host} has no manifest 9.9 in app/api "
        "(ImageMap relocated)",
        f"{plain.host}/app/none:1: missing: {plain.host} has no manifest 1 in app/none "
        "(ImageMap relocated)"]
    assert lines[-1] == "2 problems in 3 relocated references (1 registry)"


def test_plain_http_only_where_named(plain: Registry, tmp_path: Path) -> None:
    maps = imagemap(tmp_path / "map.yaml", ("a:1", f"{plain.host}/app/web:1.0"))
    done = verify("-f", maps, "--retries", "0", home=tmp_path)
    assert done.returncode == 1
    assert ": unreachable: TLS: " in done.stdout


def test_tls_with_a_private_ca_and_basic_auth(tls_basic: Registry, certificates: Certificates,
                                              tmp_path: Path) -> None:
    digest_reference = tls_basic.push("team/app", "3")
    maps = imagemap(tmp_path / "map.yaml", ("app:3", f"{tls_basic.host}/team/app:3"),
                    ("app@sha256:" + "0" * 64, digest_reference))
    assert tls_basic.docker_config is not None
    done = verify("-f", maps, "--ca-file", certificates.ca, "--registry-config",
                  tls_basic.docker_config, home=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    # Without credentials: unauthorized; without the CA: unreachable, saying why.
    anonymous = verify("-f", maps, "--ca-file", certificates.ca, home=tmp_path)
    assert anonymous.returncode == 1
    assert anonymous.stdout.count(": unauthorized: ") == 2, anonymous.stdout
    untrusted = verify("-f", maps, "--retries", "0", home=tmp_path)
    assert "certificate verify failed" in untrusted.stdout
    wrong = docker_config(tmp_path / "wrong", tls_basic.host, "alice", "not-her-password")
    denied = verify("-f", maps, "--ca-file", certificates.ca, "--registry-config", wrong,
                    home=tmp_path)
    assert denied.stdout.count("with the credentials of the Docker config") == 2
    assert "not-her-password" not in denied.stdout + denied.stderr


def test_token_auth_with_the_docker_configs_auths(tls_token: Registry,
                                                  certificates: Certificates,
                                                  tmp_path: Path) -> None:
    tls_token.push("library/redis", "7")
    tls_token.push("other/redis", "7")
    maps = imagemap(tmp_path / "map.yaml", ("redis:7", f"{tls_token.host}/library/redis:7"),
                    ("quay.io/x/redis:7", f"{tls_token.host}/other/redis:7"),
                    ("redis:8", f"{tls_token.host}/library/redis:8"))
    assert tls_token.docker_config is not None
    done = verify("-f", maps, "--ca-file", certificates.ca, "--registry-config",
                  tls_token.docker_config, "-o", "json", home=tmp_path)
    report = json.loads(done.stdout)
    assert [(p["reference"], p["problem"]) for p in report["problems"]] == [
        (f"{tls_token.host}/library/redis:8", "missing")]
    assert all(c["digest"].startswith("sha256:") for c in report["checked"]
               if not c["relocated"].endswith(":8"))
    assert USERS["alice"] not in done.stdout + done.stderr


def test_a_credential_helper_with_an_identity_token(tls_token: Registry,
                                                    certificates: Certificates,
                                                    tmp_path: Path) -> None:
    """docker-credential-NAME get, the server on stdin; `<token>` makes Secret an identity
    token, exchanged at the realm with the refresh-token grant."""
    tls_token.push("helped/app", "1")
    helpers = tmp_path / "bin"
    helpers.mkdir()
    helper = helpers / "docker-credential-test"
    helper.write_text("#!/bin/sh\nread server\necho \"$server\" >> " + str(tmp_path / "asked")
                      + "\necho '{\"Username\": \"<token>\", \"Secret\": \"refresh-me\"}'\n")
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    config = write(tmp_path / "config.json",
                   json.dumps({"credHelpers": {tls_token.host: "test"}}))
    maps = imagemap(tmp_path / "map.yaml", ("app:1", f"{tls_token.host}/helped/app:1"))
    done = verify("-f", maps, "--ca-file", certificates.ca, "--registry-config", config,
                  env={"PATH": f"{helpers}:{os.environ['PATH']}"}, home=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "asked").read_text().split() == [tls_token.host]
    assert "refresh-me" not in done.stdout + done.stderr


def test_compare_digests(plain: Registry, tls_basic: Registry, certificates: Certificates,
                         tmp_path: Path) -> None:
    """A copy by crane has the original's digest; another image under the same tag does not."""
    plain.push("upstream/db", "5")
    plain.push("upstream/cache", "6")
    assert tls_basic.docker_config is not None
    env = {"SSL_CERT_FILE": str(certificates.ca),
           "DOCKER_CONFIG": str(tls_basic.docker_config.parent)}
    subprocess.run([str(binaries() / "crane"), "copy", f"{plain.host}/upstream/db:5",
                    f"{tls_basic.host}/mirror/db:5", "--insecure"],
                   check=True, capture_output=True, env={**os.environ, **env})
    tls_basic.push("mirror/cache", "6", content="not the same content")
    maps = imagemap(tmp_path / "map.yaml",
                    (f"{plain.host}/upstream/db:5", f"{tls_basic.host}/mirror/db:5"),
                    (f"{plain.host}/upstream/cache:6", f"{tls_basic.host}/mirror/cache:6"))
    done = verify("-f", maps, "--compare-digests", "--insecure-registry", plain.host,
                  "--ca-file", certificates.ca, "--registry-config",
                  tls_basic.docker_config, home=tmp_path)
    assert done.returncode == 1
    (line, summary) = done.stdout.splitlines()
    assert line.startswith(f"{tls_basic.host}/mirror/cache:6: digest differs: sha256:")
    assert summary == "1 problem in 2 relocated references (1 registry)"


def test_repository_and_prefix_maplets_check_the_manifests_images(
        plain: Registry, tmp_path: Path) -> None:
    plain.push("mirror/library/nginx", "1.25")
    plain.push("mirror/team/api", "2")
    maps = imagemap(tmp_path / "map.yaml", ("docker.io/", f"{plain.host}/mirror/"),
                    ("gcr.io/team/api", f"{plain.host}/mirror/team/api"))
    manifests = write(tmp_path / "app.yaml", """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - {name: web, image: "nginx:1.25"}
      - {name: api, image: "gcr.io/team/api:2"}
      - {name: cache, image: "redis:7"}
      - {name: other, image: "quay.io/x/y:1"}
""")
    done = verify("-f", maps, manifests, "--insecure-registry", plain.host, home=tmp_path)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines == [
        f"{plain.host}/mirror/library/redis:7: missing: {plain.host} has no manifest 7 in "
        f"mirror/library/redis (ImageMap relocated, for {manifests}, document 1: "
        "Deployment/web container cache)",
        "1 problem in 3 relocated references (1 registry)"]
    # Without manifests there is nothing to check, and stderr says so.
    alone = verify("-f", maps, "--insecure-registry", plain.host, home=tmp_path)
    assert alone.returncode == 0
    assert "give the manifests (-f) to check the images it maps" in alone.stderr


def test_an_unreachable_registry(tmp_path: Path) -> None:
    host = f"127.0.0.1:{free_port()}"
    maps = imagemap(tmp_path / "map.yaml", ("a:1", f"{host}/app:1"))
    done = verify("-f", maps, "--insecure-registry", host, "--retries", "1", "--timeout", "2",
                  home=tmp_path)
    assert done.returncode == 1
    assert done.stdout.startswith(f"{host}/app:1: unreachable: ")
    assert "refused" in done.stdout.lower()


@pytest.mark.parametrize("kind", ["ImageMap", "ClusterImageMap"])
def test_cluster_imagemaps_are_checked_too(plain: Registry, tmp_path: Path, kind: str) -> None:
    maps = imagemap(tmp_path / "map.yaml", ("a:1", f"{plain.host}/gone:1"), kind=kind)
    done = verify("-f", maps, "--insecure-registry", plain.host, home=tmp_path)
    assert done.returncode == 1
    assert f"({kind} relocated)" in done.stdout


def test_429_is_retried_after_the_retry_after_it_names(plain: Registry, tmp_path: Path) -> None:
    plain.push("busy/app", "1")
    throttle = Throttle(plain, status=429, retry_after="1")
    try:
        maps = imagemap(tmp_path / "map.yaml", ("a:1", f"{throttle.host}/busy/app:1"))
        done = verify("-f", maps, "--insecure-registry", throttle.host, home=tmp_path)
    finally:
        throttle.close()
    assert done.returncode == 0, done.stdout + done.stderr
    manifest = [(at, status) for at, path, status in throttle.seen
                if path == "/v2/busy/app/manifests/1"]
    assert [status for _, status in manifest] == [429, 200]
    assert manifest[1][0] - manifest[0][0] >= 0.9  # it waited as Retry-After said


def test_5xx_that_persists_is_unreachable_after_the_retries(plain: Registry,
                                                            tmp_path: Path) -> None:
    throttle = Throttle(plain, status=503, retry_after="0", refusals=100)
    try:
        maps = imagemap(tmp_path / "map.yaml", ("a:1", f"{throttle.host}/busy/app:1"))
        done = verify("-f", maps, "--insecure-registry", throttle.host, "--retries", "2",
                      home=tmp_path)
    finally:
        throttle.close()
    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == (
        f"{throttle.host}/busy/app:1: unreachable: {throttle.host} answered HTTP 503 after "
        "retries (ImageMap relocated)")
    assert [status for _, _, status in throttle.seen] == [503, 503, 503]  # 1 + 2 retries
