"""Maplet forms, normalization and precedence, table-driven, with the design's examples
(design.md#maplet-forms, #references, #consistency)."""

from __future__ import annotations

import pytest

from image_mapper.engine.acceptance import decide
from image_mapper.engine.imagemap import read_imagemaps
from image_mapper.engine.mapping import Form, MapletError, compile_maplet
from tests.support.resources import imagemap

DIGEST = "sha256:" + "a" * 64
OTHER_DIGEST = "sha256:" + "b" * 64

# (maplets, pod image, expected result or None when nothing matches)
LOOKUPS = [
    pytest.param(
        [
            (
                "gcr.io/google-samples/kubernetes-bootcamp:v1",
                "registry.example.com/kubernetes-bootcamp:v1",
            )
        ],
        "gcr.io/google-samples/kubernetes-bootcamp:v1",
        "registry.example.com/kubernetes-bootcamp:v1",
        id="seed-sample",
    ),
    pytest.param(
        [("gcr.io/google-samples/kubernetes-bootcamp:v1", "r.example.com/b:v1")],
        "gcr.io/google-samples/kubernetes-bootcamp:v2",
        None,
        id="image-other-tag",
    ),
    # 2.2: nginx, docker.io/nginx, index.docker.io/library/nginx:latest are one image.
    pytest.param(
        [("nginx", "r.example.com/nginx")],
        "index.docker.io/library/nginx:latest",
        "r.example.com/nginx:latest",
        id="repository-normalized-pod",
    ),
    pytest.param(
        [("index.docker.io/library/nginx:latest", "r.example.com/nginx:1")],
        "nginx",
        "r.example.com/nginx:1",
        id="image-bare-pod-is-latest",
    ),
    pytest.param(
        [("docker.io/nginx:latest", "r.example.com/nginx:1")],
        "docker.io/library/nginx",
        "r.example.com/nginx:1",
        id="image-docker-io",
    ),
    pytest.param(
        [("nginx:1.25", "r.example.com/nginx:1.25")], "nginx:1.26", None, id="image-tag-differs"
    ),
    # Image form: `to` as written.
    pytest.param(
        [("nginx:1.25", "R.example.com/Mirror/nginx:1.25".replace("Mirror", "mirror"))],
        "nginx:1.25",
        "R.example.com/mirror/nginx:1.25",
        id="image-to-as-written",
    ),
    # Repository form: the pod's own suffix as written.
    pytest.param(
        [("gcr.io/team/app", "r.example.com/app")],
        "gcr.io/team/app:v3",
        "r.example.com/app:v3",
        id="repository-tag",
    ),
    pytest.param(
        [("gcr.io/team/app", "r.example.com/app")],
        f"gcr.io/team/app@{DIGEST}",
        f"r.example.com/app@{DIGEST}",
        id="repository-digest",
    ),
    pytest.param(
        [("gcr.io/team/app", "r.example.com/app")],
        f"gcr.io/team/app:v3@{DIGEST}",
        f"r.example.com/app:v3@{DIGEST}",
        id="repository-tag-and-digest",
    ),
    pytest.param(
        [("gcr.io/team/app", "r.example.com/app")],
        "gcr.io/team/app",
        "r.example.com/app",
        id="repository-bare",
    ),
    pytest.param(
        [("gcr.io/team/app", "r.example.com/app")],
        "gcr.io/team/app-two:v1",
        None,
        id="repository-not-a-prefix",
    ),
    # Prefix form: whole path segments only.
    pytest.param(
        [("quay.io/", "r.example.com/quay/")],
        "quay.io/coreos/etcd:v3.5",
        "r.example.com/quay/coreos/etcd:v3.5",
        id="prefix-registry",
    ),
    pytest.param(
        [("gcr.io/team/", "r.example.com/team/")],
        "gcr.io/team/a/b@" + DIGEST,
        "r.example.com/team/a/b@" + DIGEST,
        id="prefix-nested-digest",
    ),
    pytest.param(
        [("gcr.io/team/", "r.example.com/team/")],
        "gcr.io/teammate/a:1",
        None,
        id="prefix-whole-segments",
    ),
    pytest.param(
        [("gcr.io/team/", "r.example.com/team/")], "gcr.io/team:1", None, id="prefix-needs-a-rest"
    ),
    pytest.param(
        [("docker.io/", "r.example.com/hub/")],
        "nginx:1",
        "r.example.com/hub/library/nginx:1",
        id="prefix-docker-hub-library",
    ),
    pytest.param(
        [("index.docker.io/", "r.example.com/hub/")],
        "bitnami/redis:7",
        "r.example.com/hub/bitnami/redis:7",
        id="prefix-legacy-domain",
    ),
    pytest.param(
        [("localhost:5000/", "r.example.com/local/")],
        "localhost:5000/x/y:1",
        "r.example.com/local/x/y:1",
        id="prefix-port",
    ),
    pytest.param(
        [("localhost/", "r.example.com/local/")],
        "localhost/x",
        "r.example.com/local/x",
        id="prefix-localhost-is-a-domain",
    ),
    pytest.param(
        [("docker.io/", "r.example.com/hub/")],
        "localhost/x",
        None,
        id="localhost-is-not-docker-hub",
    ),
    pytest.param(
        [("docker.io/", "r.example.com/hub/")], "registry:5000/x", None, id="port-is-not-docker-hub"
    ),
    # 2.2: tag and digest: full, then repo@digest, then repo:tag.
    pytest.param(
        [
            (f"app:1@{DIGEST}", "r.example.com/full:1"),
            (f"app@{DIGEST}", "r.example.com/digest:1"),
            ("app:1", "r.example.com/tag:1"),
        ],
        f"app:1@{DIGEST}",
        "r.example.com/full:1",
        id="both-full-first",
    ),
    pytest.param(
        [(f"app@{DIGEST}", "r.example.com/digest:1"), ("app:1", "r.example.com/tag:1")],
        f"app:1@{DIGEST}",
        "r.example.com/digest:1",
        id="both-digest-second",
    ),
    pytest.param(
        [("app:1", "r.example.com/tag:1")],
        f"app:1@{DIGEST}",
        "r.example.com/tag:1",
        id="both-tag-third",
    ),
    pytest.param(
        [(f"app@{DIGEST}", "r.example.com/digest:1")],
        f"app@{OTHER_DIGEST}",
        None,
        id="digest-differs",
    ),
    # 2.3: image beats repository beats prefix; the longest prefix wins.
    pytest.param(
        [
            ("gcr.io/", "r.example.com/gcr/"),
            ("gcr.io/team/app", "r.example.com/app"),
            ("gcr.io/team/app:v1", "r.example.com/pinned:v1"),
        ],
        "gcr.io/team/app:v1",
        "r.example.com/pinned:v1",
        id="image-beats-repository-and-prefix",
    ),
    pytest.param(
        [("gcr.io/", "r.example.com/gcr/"), ("gcr.io/team/app", "r.example.com/app")],
        "gcr.io/team/app:v2",
        "r.example.com/app:v2",
        id="repository-beats-prefix",
    ),
    pytest.param(
        [("gcr.io/", "r.example.com/gcr/"), ("gcr.io/team/", "r.example.com/team/")],
        "gcr.io/team/app:v2",
        "r.example.com/team/app:v2",
        id="longest-prefix-wins",
    ),
    pytest.param(
        [("gcr.io/", "r.example.com/gcr/"), ("gcr.io/team/", "r.example.com/team/")],
        "gcr.io/other/app:v2",
        "r.example.com/gcr/other/app:v2",
        id="shorter-prefix",
    ),
    # Identity maplets pin an image against a broader maplet.
    pytest.param(
        [("gcr.io/", "r.example.com/gcr/"), ("gcr.io/keep:1", "gcr.io/keep:1")],
        "gcr.io/keep:1",
        "gcr.io/keep:1",
        id="identity-pins",
    ),
    pytest.param(
        [("nginx", "r.example.com/nginx")],
        "not a reference",
        None,
        id="invalid-pod-image-unmatched",
    ),
]


@pytest.mark.parametrize(("entries", "image", "expected"), LOOKUPS)
def test_lookup(entries: list[tuple[str, str]], image: str, expected: str | None) -> None:
    decision = decide(read_imagemaps([imagemap("m", *entries)]))
    assert decision.verdicts["m"].reason == "Accepted", decision.verdicts["m"].message
    match = decision.mapping.lookup(image)
    assert (match.result if match else None) == expected
    if match is not None:
        assert match.maplet.image_map == "m"
        assert match.image == image


FORMS = [
    pytest.param(
        "nginx:1", "r.example.com/nginx:1", Form.IMAGE, "docker.io/library/nginx:1", id="image-tag"
    ),
    pytest.param(
        f"nginx@{DIGEST}",
        "r.example.com/nginx:1",
        Form.IMAGE,
        f"docker.io/library/nginx@{DIGEST}",
        id="image-digest",
    ),
    pytest.param(
        "nginx", "r.example.com/nginx", Form.REPOSITORY, "docker.io/library/nginx", id="repository"
    ),
    pytest.param("quay.io/", "r.example.com/quay/", Form.PREFIX, "quay.io/", id="prefix"),
    pytest.param(
        "team/", "r.example.com/team/", Form.PREFIX, "docker.io/team/", id="prefix-hub-namespace"
    ),
]


@pytest.mark.parametrize(("source", "target", "form", "key"), FORMS)
def test_maplet_forms(source: str, target: str, form: Form, key: str) -> None:
    maplet = compile_maplet(source, target)
    assert (maplet.form, maplet.key) == (form, key)


BAD_MAPLETS = [
    pytest.param("nginx", "r.example.com/nginx:1", "repository", id="repository-to-tagged"),
    pytest.param("quay.io/", "r.example.com/quay", "prefix", id="prefix-to-repository"),
    pytest.param("nginx:1", "r.example.com/", "prefix", id="image-to-prefix"),
    pytest.param("NGINX:1", "r.example.com/nginx:1", "lowercase", id="uppercase-from"),
    pytest.param("nginx:1", "r.example.com/Nginx:1", "lowercase", id="uppercase-to"),
    pytest.param(
        "nginx@sha256:abc", "r.example.com/n:1", "nginx@sha256:abc.*format", id="short-digest"
    ),
    pytest.param(
        "nginx@sha256:" + "a" * 40, "r.example.com/n:1", "digest length", id="wrong-digest-length"
    ),
    pytest.param("", "r.example.com/n:1", "non-empty", id="empty-from"),
    pytest.param("a:1", 5, "non-empty string", id="to-not-a-string"),
    pytest.param("x/" * 130, "r.example.com/y/", "255", id="prefix-too-long"),
]


@pytest.mark.parametrize(("source", "target", "says"), BAD_MAPLETS)
def test_bad_maplets_name_the_problem(source: str, target: object, says: str) -> None:
    with pytest.raises(MapletError, match=says):
        compile_maplet(source, target)
