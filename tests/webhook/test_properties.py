"""Properties of the rewrite rule, for any pod and any mapping (hypothesis).

The central one is the no-op rule of pod admission (design.md#admission): apply the patch the
webhook returned, review the result again (a reinvocation, or a repeated update), and no patch
comes back.
"""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from image_mapper.engine.acceptance import decide
from image_mapper.engine.imagemap import read_imagemaps
from image_mapper.engine.mapping import MapletError, Mapping, compile_maplet
from image_mapper.engine.settings import Settings
from image_mapper.webhook.admission import CONTAINER_FIELDS, MIRROR_POD, ORIGINAL_IMAGES, admit
from image_mapper.webhook.reporting import MAX_IMAGE_WARNINGS, MAX_WARNING_LENGTH
from image_mapper.webhook.reviews import AdmissionRequest
from tests.webhook.jsonpatch import decode

from .jsonpatch import apply_patch

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

DOMAINS = ["", "docker.io/", "quay.io/", "gcr.io/team/", "registry.example.com/",
           "localhost:5000/", "index.docker.io/library/"]
PATHS = ["nginx", "library/nginx", "app", "team/app", "team/app/sub", "prometheus/prometheus"]
TAGS = ["", ":v1", ":1.2.3", ":latest"]
DIGESTS = ["", "@sha256:" + "a" * 64, "@sha256:" + "b" * 64]
INVALID = ["NGINX", "nginx:", "a b", "quay.io//x", "@sha256:abc"]

repositories = st.builds(lambda d, p: d + p, st.sampled_from(DOMAINS), st.sampled_from(PATHS))
images = st.one_of(
    st.builds(lambda r, t, d: r + t + d, repositories, st.sampled_from(TAGS),
              st.sampled_from(DIGESTS)),
    st.sampled_from(INVALID),
)
prefixes = st.sampled_from(["quay.io/", "gcr.io/", "gcr.io/team/", "docker.io/",
                            "registry.example.com/", "docker.io/team/", "localhost:5000/"])
maplets = st.one_of(
    st.tuples(st.builds(lambda r, t: r + t, repositories, st.sampled_from(TAGS[1:])), images),
    st.tuples(repositories, repositories),
    st.tuples(prefixes, prefixes),
)


SECRETS = ["regcred", "mirror", "team.creds", "own"]
settings_of_a_map = st.builds(
    Settings, st.sampled_from(["Enforce", "Audit"]),
    st.lists(st.sampled_from(SECRETS), max_size=3, unique=True).map(tuple))


def _any_mapping(pairs: list[tuple[str, str]], settings: list[Settings]) -> Mapping:
    """Every usable maplet, consistent or not: the mapping need not be idempotent."""
    compiled = []
    for index, (source, target) in enumerate(pairs):
        with contextlib.suppress(MapletError):
            compiled.append(compile_maplet(source, target, f"map-{index % 3}"))
    return Mapping.build(compiled, {f"map-{i}": s for i, s in enumerate(settings)})


def _accepted_mapping(pairs: list[tuple[str, str]],
                      settings: list[Settings] | None = None) -> Mapping:
    """What acceptance would put in force: one ImageMap per maplet, in order."""
    settings = settings or [Settings()]
    return decide(read_imagemaps(
        {"metadata": {"name": f"map-{i:03d}", "creationTimestamp": "2026-01-01T00:00:00Z"},
         "spec": {"map": [{"from": s, "to": t}], "mode": settings[i % len(settings)].mode,
                  "imagePullSecrets": [{"name": n}
                                       for n in settings[i % len(settings)].pull_secrets]}}
        for i, (s, t) in enumerate(pairs)
    )).mapping


mappings = st.one_of(
    st.builds(_any_mapping, st.lists(maplets, max_size=8),
              st.lists(settings_of_a_map, min_size=3, max_size=3)),
    st.builds(_accepted_mapping, st.lists(maplets, max_size=12),
              st.lists(settings_of_a_map, min_size=1, max_size=4)),
)


@st.composite
def pods(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f", "g"]), min_size=1,
                          max_size=7, unique=True))
    split = sorted(draw(st.lists(st.integers(0, len(names)), min_size=2, max_size=2)))
    groups = {"initContainers": names[:split[0]], "containers": names[split[0]:split[1]],
              "ephemeralContainers": names[split[1]:]}
    spec: dict[str, Any] = {field: [{"name": n, "image": draw(images)} for n in group]
            for field, group in groups.items() if group or field == "containers"}
    metadata: dict[str, Any] = {"name": "p", "namespace": "ns"}
    annotations = draw(st.one_of(
        st.none(),
        st.just({}),
        st.dictionaries(st.sampled_from([*names, "gone"]), images, max_size=4).map(
            lambda r: {ORIGINAL_IMAGES: json.dumps(r)}),
        st.just({ORIGINAL_IMAGES: "not json"}),
        st.just({MIRROR_POD: "hash"}),
        st.just({"example.com/x~y": "z"}),
    ))
    if annotations is not None:
        metadata["annotations"] = annotations
    own = draw(st.one_of(st.none(), st.lists(st.sampled_from(SECRETS), max_size=3)))
    if own is not None:
        spec["imagePullSecrets"] = [{"name": name} for name in own]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


@st.composite
def changed(draw: st.DrawFn, pod: dict[str, Any]) -> dict[str, Any]:
    """`pod` with some images changed: an update."""
    new = copy.deepcopy(pod)
    for field in CONTAINER_FIELDS:
        for container in new["spec"].get(field, []):
            if draw(st.booleans()):
                container["image"] = draw(images)
    return new


def _request(operation: str, obj: dict[str, Any], old: dict[str, Any] | None,
             subresource: str = "") -> AdmissionRequest:
    request: dict[str, Any] = {
        "uid": "u-1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "namespace": "ns", "operation": operation, "object": obj, "oldObject": old,
    }
    if subresource:
        request["subResource"] = subresource
    return request  # type: ignore[return-value]


def _patched(request: AdmissionRequest, mapping: Mapping) -> dict[str, Any]:
    response = admit(review_request=request, mapping=mapping).response
    assert response["uid"] == "u-1"
    assert response["allowed"] is True
    obj = request["object"]
    assert obj is not None
    if "patch" not in response:
        return obj
    operations = decode(response["patch"])
    assert operations, "a patch is sent only when something changes"
    for operation in operations:
        assert operation["path"].startswith(("/spec/", "/metadata"))
    patched: dict[str, Any] = apply_patch(obj, list(operations))  # type: ignore[arg-type]
    return patched


def _assert_no_patch(request: AdmissionRequest, mapping: Mapping) -> None:
    response = admit(review_request=request, mapping=mapping).response
    assert "patch" not in response, decode(response["patch"])


@SETTINGS
@given(pod=pods(), mapping=mappings)
def test_create_then_review_again_yields_no_patch(pod: dict[str, Any], mapping: Mapping) -> None:
    before = copy.deepcopy(pod)
    patched = _patched(_request("CREATE", pod, None), mapping)
    assert pod == before  # admit never modifies its input
    _assert_no_patch(_request("CREATE", patched, None), mapping)


@SETTINGS
@given(data=st.data(), pod=pods(), mapping=mappings)
def test_update_then_review_again_yields_no_patch(
    data: st.DataObject, pod: dict[str, Any], mapping: Mapping
) -> None:
    old = _patched(_request("CREATE", pod, None), mapping)
    new = data.draw(changed(old))
    patched = _patched(_request("UPDATE", new, old), mapping)
    _assert_no_patch(_request("UPDATE", patched, old), mapping)


@SETTINGS
@given(data=st.data(), pod=pods(), pairs=st.lists(maplets, max_size=12))
def test_ephemeral_containers_then_review_again_yields_no_patch(
    data: st.DataObject, pod: dict[str, Any], pairs: list[tuple[str, str]]
) -> None:
    # No annotation can be written through this subresource, so only the idempotence of an
    # accepted mapping (design.md#consistency) makes this a no-op: mappings here are accepted ones.
    mapping = _accepted_mapping(pairs)
    old = pod
    new = copy.deepcopy(old)
    new["spec"]["ephemeralContainers"] = [
        *old["spec"].get("ephemeralContainers", []),
        {"name": "debugger", "image": data.draw(images)},
    ]
    patched = _patched(_request("UPDATE", new, old, "ephemeralcontainers"), mapping)
    for field in ("containers", "initContainers"):
        assert patched["spec"].get(field) == new["spec"].get(field)
    assert patched["metadata"] == new["metadata"]
    _assert_no_patch(_request("UPDATE", patched, old, "ephemeralcontainers"), mapping)


@SETTINGS
@given(pod=pods(), mapping=mappings)
def test_unchanged_update_yields_no_patch(pod: dict[str, Any], mapping: Mapping) -> None:
    _assert_no_patch(_request("UPDATE", pod, copy.deepcopy(pod)), mapping)


def _record(pod: dict[str, Any]) -> dict[str, str]:
    text = pod["metadata"].get("annotations", {}).get(ORIGINAL_IMAGES)
    try:
        record = json.loads(text) if text else {}
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


@SETTINGS
@given(pod=pods(), mapping=mappings)
def test_rewritten_images_are_what_the_mapping_says(
    pod: dict[str, Any], mapping: Mapping
) -> None:
    admission = admit(review_request=_request("CREATE", pod, None), mapping=mapping)
    patched = _patched(_request("CREATE", pod, None), mapping)
    for rewrite in admission.rewritten:
        assert mapping.lookup(rewrite.match.image) == rewrite.match
    for image in admission.unmatched:
        assert mapping.lookup(image) is None
    if not admission.rewritten:
        # Nothing rewritten: images stay, and the record can only lose stale entries.
        assert patched["spec"] == pod["spec"]
        assert set(_record(patched)) <= set(_record(pod))
        return
    record = _record(patched)
    for field in CONTAINER_FIELDS:
        for index, container in enumerate(patched["spec"].get(field, [])):
            original = pod["spec"][field][index]["image"]
            if container["image"] != original:
                assert record[container["name"]] == original


# --- pull secrets, Audit mode, warnings (design.md#relocation-settings) ----------------------


def _pull_secrets(pod: dict[str, Any]) -> list[str]:
    return [entry["name"] for entry in pod["spec"].get("imagePullSecrets") or []]


@SETTINGS
@given(pod=pods(), mapping=mappings)
def test_pull_secrets_are_only_ever_added_after_the_pods_own(
    pod: dict[str, Any], mapping: Mapping
) -> None:
    request = _request("CREATE", pod, None)
    admission = admit(review_request=request, mapping=mapping)
    patched = _patched(request, mapping)
    before, after = _pull_secrets(pod), _pull_secrets(patched)
    assert after[: len(before)] == before  # none removed, the pod's own first, in its order
    rewriters = {r.match.source for r in admission.rewritten}
    wanted = mapping.pull_secrets_for(rewriters)
    assert after[len(before):] == [n for n in wanted if n not in before]
    assert list(admission.pull_secrets) == after[len(before):]
    if not admission.rewritten:
        assert after == before
    # Idempotent: a second review (a reinvocation) adds nothing more.
    again = admit(review_request=_request("CREATE", patched, None), mapping=mapping)
    assert again.pull_secrets == ()


@SETTINGS
@given(data=st.data(), pod=pods(), mapping=mappings)
def test_an_update_never_touches_pull_secrets(
    data: st.DataObject, pod: dict[str, Any], mapping: Mapping
) -> None:
    new = data.draw(changed(pod))
    patched = _patched(_request("UPDATE", new, pod), mapping)
    assert _pull_secrets(patched) == _pull_secrets(new)


@SETTINGS
@given(pod=pods(), mapping=mappings)
def test_audited_images_are_kept_and_every_reported_image_is_warned_about(
    pod: dict[str, Any], mapping: Mapping
) -> None:
    admission = admit(review_request=_request("CREATE", pod, None), mapping=mapping)
    patched = _patched(_request("CREATE", pod, None), mapping)
    images = {c["name"]: c["image"] for field in CONTAINER_FIELDS
              for c in patched["spec"].get(field, [])}
    for rewrite in admission.audited:
        assert rewrite.match.audit
        assert images[rewrite.container] == rewrite.match.image
        assert rewrite.container not in _record(patched)
    warnings = admission.response.get("warnings", [])
    assert bool(warnings) == bool(admission.reported)
    assert len(warnings) <= MAX_IMAGE_WARNINGS
    assert all(len(w) <= MAX_WARNING_LENGTH for w in warnings)
    if len(admission.reported) <= MAX_IMAGE_WARNINGS:
        assert len(warnings) == len(admission.reported)
        for warning, rewrite in zip(warnings, admission.reported, strict=True):
            arrow = "would map" if rewrite.match.audit else "->"
            assert f" {arrow} " in warning
            assert warning.endswith(f"(ImageMap {rewrite.match.image_map})")
