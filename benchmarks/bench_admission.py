"""The admission handler in-process, against the CPython floor, and as mappings grow.

- The sample: an AdmissionReview of about 4.4 KB as the API server sends it (compact JSON) for
  a Deployment's pod with three containers (two containers and an init container), each image
  matched by a maplet of another form (image, repository, prefix).
- The floor: `json.loads` of the body, a dict lookup per image, the JSONPatch (three replaces
  and the original-images annotation) base64-encoded, a warning per image
  (design.md#relocation-settings), `json.dumps` of the response. The least any Python webhook
  can do; it answers byte for byte what the project answers.
- The handler: the project's `POST /mutate` endpoint (`image_mapper.webhook.app.AdmissionEndpoint`)
  from body to answer: parse and check the review, `admit`, serialize, count metrics.

Timings are the best of several rounds of many calls, floor and handler interleaved in each
round, so that the noise of a shared machine hits both alike.
"""

from __future__ import annotations

import base64
import functools
import gc
import json
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from benchmarks.bench_hooks import imagemap, maplets
from image_mapper.engine.acceptance import compile_recorded
from image_mapper.engine.imagemap import ImageMap, read_imagemaps
from image_mapper.engine.mapping import Mapping
from image_mapper.engine.record import Entry, Record
from image_mapper.webhook.app import AdmissionEndpoint, WebhookMetrics, create_app
from image_mapper.webhook.view import StaticView

NAMESPACE = "bench"
ORIGINAL_IMAGES = "mapper.imagerelocation.pivotal.io/original-images"

# (container list, name, image, what the mapping makes of it)
CONTAINERS = (
    (
        "initContainers",
        "setup",
        "quay.io/prometheus/busybox:1.36",
        "registry.example.com/quay/prometheus/busybox:1.36",
    ),
    ("containers", "web", "nginx:1.25", "registry.example.com/library/nginx:1.25"),
    (
        "containers",
        "bootcamp",
        "gcr.io/google-samples/kubernetes-bootcamp:v1",
        "registry.example.com/kubernetes-bootcamp:v1",
    ),
)

SAMPLE_MAPLETS = [
    {
        "from": "gcr.io/google-samples/kubernetes-bootcamp:v1",
        "to": "registry.example.com/kubernetes-bootcamp:v1",
    },  # image form
    {"from": "nginx", "to": "registry.example.com/library/nginx"},  # repository form
    {"from": "quay.io/", "to": "registry.example.com/quay/"},  # prefix form
]


def _container(name: str, image: str, port: int) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": [
            {"name": "LOG_LEVEL", "value": "info"},
            {
                "name": "POD_NAME",
                "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}},
            },
        ],
        "resources": {
            "limits": {"cpu": "500m", "memory": "256Mi"},
            "requests": {"cpu": "100m", "memory": "128Mi"},
        },
        "volumeMounts": [
            {
                "name": "kube-api-access-x7k2p",
                "readOnly": True,
                "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
            }
        ],
        "readinessProbe": {
            "httpGet": {"path": "/healthz", "port": port, "scheme": "HTTP"},
            "timeoutSeconds": 1,
            "periodSeconds": 10,
            "successThreshold": 1,
            "failureThreshold": 3,
        },
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
    }


def sample_review() -> bytes:
    """The AdmissionReview of a ReplicaSet's pod CREATE, compact as the API server sends it."""
    spec: dict[str, Any] = {"initContainers": [], "containers": []}
    for port, (field, name, image, _) in enumerate(CONTAINERS, start=8080):
        spec[field].append(_container(name, image, port))
    spec.update(
        {
            "volumes": [
                {
                    "name": "kube-api-access-x7k2p",
                    "projected": {
                        "sources": [
                            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                            {
                                "configMap": {
                                    "name": "kube-root-ca.crt",
                                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                                }
                            },
                            {
                                "downwardAPI": {
                                    "items": [
                                        {
                                            "path": "namespace",
                                            "fieldRef": {
                                                "apiVersion": "v1",
                                                "fieldPath": "metadata.namespace",
                                            },
                                        }
                                    ]
                                }
                            },
                        ],
                        "defaultMode": 420,
                    },
                }
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "serviceAccount": "default",
            "securityContext": {},
            "schedulerName": "default-scheduler",
            "tolerations": [
                {
                    "key": f"node.kubernetes.io/{taint}",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                }
                for taint in ("not-ready", "unreachable")
            ],
            "priority": 0,
            "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority",
        }
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": "web-7c9f8d6b5-",
            "namespace": NAMESPACE,
            "uid": "7f3c8f0e-1d2b-4c5a-9e6f-0a1b2c3d4e5f",
            "creationTimestamp": None,
            "labels": {"app.kubernetes.io/name": "web", "pod-template-hash": "7c9f8d6b5"},
            "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "web-7c9f8d6b5",
                    "uid": "2b1c0d9e-8f7a-4b6c-9d5e-3f2a1b0c9d8e",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
        "status": {},
    }
    gvk = {"group": "", "version": "v1", "kind": "Pod"}
    gvr = {"group": "", "version": "v1", "resource": "pods"}
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "00000001-5a1e-4d3c-9b2a-000000000001",
            "kind": gvk,
            "resource": gvr,
            "requestKind": gvk,
            "requestResource": gvr,
            "namespace": NAMESPACE,
            "operation": "CREATE",
            "userInfo": {
                "username": "system:serviceaccount:kube-system:replicaset-controller",
                "uid": "0c6bc7c5-3f4e-4a54-9b4d-1b1f2e0d9c11",
                "groups": [
                    "system:serviceaccounts",
                    "system:serviceaccounts:kube-system",
                    "system:authenticated",
                ],
            },
            "object": pod,
            "oldObject": None,
            "dryRun": False,
            "options": {
                "apiVersion": "meta.k8s.io/v1",
                "kind": "CreateOptions",
                "fieldManager": "kube-controller-manager",
            },
        },
    }
    return json.dumps(review, separators=(",", ":")).encode()


# --- the floor --------------------------------------------------------------------------------

_FLOOR_TABLE = {image: result for _, _, image, result in CONTAINERS}
_FLOOR_ANNOTATION = "/metadata/annotations/" + ORIGINAL_IMAGES.replace("/", "~1")


def floor(body: bytes) -> bytes:
    """The least a Python webhook does for the sample: what the handler does, hard-wired."""
    request = json.loads(body)["request"]
    spec = request["object"]["spec"]
    operations: list[dict[str, str]] = []
    originals: dict[str, str] = {}
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for index, container in enumerate(spec.get(field, ())):
            result = _FLOOR_TABLE.get(container["image"])
            if result is not None:
                operations.append(
                    {"op": "replace", "path": f"/spec/{field}/{index}/image", "value": result}
                )
                originals[container["name"]] = container["image"]
    operations.append(
        {
            "op": "add",
            "path": _FLOOR_ANNOTATION,
            "value": json.dumps(originals, sort_keys=True, separators=(",", ":")),
        }
    )
    patch = base64.b64encode(json.dumps(operations, separators=(",", ":")).encode()).decode()
    response = {"uid": request["uid"], "allowed": True, "patchType": "JSONPatch", "patch": patch,
                "warnings": [f"image-mapper: {name}: {image} -> {_FLOOR_TABLE[image]} "
                             "(ImageMap sample)" for name, image in originals.items()]}
    return json.dumps(
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response},
        separators=(",", ":"),
    ).encode()


def sample_imagemaps(count: int, first_index: int = 0) -> list[dict[str, Any]]:
    """Ready ImageMaps of `count` maplets in all: the sample's three, then bench_hooks'
    ImageMaps of 10 (numbered from `first_index`: other numbers, other maplets)."""
    first = imagemap(first_index, 10, NAMESPACE)
    first["metadata"]["name"] = "sample"
    first["spec"]["map"] = SAMPLE_MAPLETS + maplets(first_index, min(count, 10) - 3)
    first["status"]["deployedMap"] = first["spec"]["map"]
    first["status"]["mappings"] = len(first["spec"]["map"])
    maps = [first]
    maps += [imagemap(first_index + i, 10, NAMESPACE) for i in range(1, count // 10)]
    return maps


def webhook_mapping(imagemaps: list[ImageMap]) -> Mapping:
    """The webhook's mapping of a namespace whose decision record has `imagemaps` in force."""
    record = Record(tuple(Entry(m.name, m.uid or "", m.generation or 0) for m in imagemaps))
    mapping = compile_recorded(record, imagemaps)
    assert mapping is not None
    return mapping


def endpoint_for(mapping: Mapping) -> AdmissionEndpoint:
    """The endpoint exactly as `create_app` wires it (its own metrics registry)."""
    view = StaticView(mapping)
    return AdmissionEndpoint(view, WebhookMetrics(CollectorRegistry(), view))


def best_of(
    calls: dict[str, Callable[[], object]], *, rounds: int, seconds: float
) -> dict[str, float]:
    """Seconds a call of each, the best of `rounds` rounds of about `seconds` each, the calls
    interleaved round by round."""
    batch = {}
    for label, call in calls.items():  # calibrate: a batch of about `seconds`
        started, count = time.perf_counter(), 0
        while time.perf_counter() - started < seconds / 4:
            call()
            count += 1
        batch[label] = max(10, int(count * 4))
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(rounds):
        for label, call in calls.items():
            count = batch[label]
            started = time.perf_counter()
            for _ in range(count):
                call()
            best[label] = min(best[label], (time.perf_counter() - started) / count)
    return best


@dataclass
class FloorResult:
    body_bytes: int
    floor_s: float
    handler_s: float
    flask_s: float


def bench_floor(*, rounds: int = 7, seconds: float = 0.25) -> FloorResult:
    body = sample_review()
    mapping = webhook_mapping(read_imagemaps(sample_imagemaps(10)))
    endpoint = endpoint_for(mapping)
    status, answer = endpoint(body)
    if status != 200 or answer != floor(body):
        raise AssertionError(
            f"the floor and the handler answer differently:\n{floor(body)!r}\n{answer!r}"
        )
    client = create_app(view=StaticView(mapping)).test_client()
    flask_answer = client.post("/mutate", data=body, content_type="application/json")
    assert flask_answer.data == answer
    best = best_of(
        {"floor": lambda: floor(body), "handler": lambda: endpoint(body)},
        rounds=rounds,
        seconds=seconds,
    )
    # The same request through the whole WSGI app (Flask's test client adds its own cost:
    # building the environ and reading the response; shown for reference only).
    wsgi = best_of(
        {"wsgi": lambda: client.post("/mutate", data=body, content_type="application/json")},
        rounds=3,
        seconds=seconds,
    )
    return FloorResult(len(body), best["floor"], best["handler"], wsgi["wsgi"])


# --- mappings of 10, 10,000 and 100,000 maplets ------------------------------------------------


@dataclass
class SizeResult:
    maplets: int
    build_s: float
    handler_s: float


def bench_sizes(
    sizes: tuple[int, ...] = (10, 10_000, 100_000), *, rounds: int = 7, seconds: float = 0.2
) -> list[SizeResult]:
    """The handler on the sample under mappings of each size (every one maps its images)."""
    body = sample_review()
    endpoints: dict[str, Callable[[], object]] = {}
    builds = {}
    expected = None
    for size in sizes:
        maps = sample_imagemaps(size)
        started = time.perf_counter()
        mapping = webhook_mapping(read_imagemaps(maps))
        builds[size] = time.perf_counter() - started
        if len(mapping) != size:
            raise AssertionError(f"{len(mapping)} maplets in force, not {size}")
        endpoint = endpoint_for(mapping)
        answer = endpoint(body)
        expected = expected or answer
        assert answer == expected, "the mapping size changed the answer"
        endpoints[str(size)] = functools.partial(endpoint, body)
        del maps
    best = best_of(endpoints, rounds=rounds, seconds=seconds)
    return [SizeResult(size, builds[size], best[str(size)]) for size in sizes]


@dataclass
class MemoryResult:
    maplets: int
    total_bytes: int
    """Retained after building, with the Mapping alive."""
    mapping_bytes: int
    """Freed when the Mapping is dropped: the Mapping itself."""


def bench_memory(size: int = 10_000) -> MemoryResult:
    """tracemalloc: bytes allocated by `compile_recorded` and still alive afterwards, the
    ImageMaps themselves (the watcher's copy of the API objects) excluded. What stays once the
    Mapping is dropped is the process-wide compile cache (`image_mapper.engine.acceptance`,
    bounded). The ImageMaps are numbered apart from the other sections', so that nothing is
    cached yet."""
    maps = sample_imagemaps(size, first_index=500_000)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        mapping = webhook_mapping(read_imagemaps(maps))
        gc.collect()
        with_mapping = tracemalloc.get_traced_memory()[0]
        assert len(mapping) == size
        del mapping
        gc.collect()
        without = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return MemoryResult(size, with_mapping - before, with_mapping - without)
