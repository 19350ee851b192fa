"""No escape (design.md#no-escape): a pod that an ImageMap not yet decided could change waits
for the decision that judges it, and is refused (or, as an option, admitted with a warning)
when none comes in time."""

from __future__ import annotations

import base64
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from image_mapper.webhook.app import create_app
from image_mapper.webhook.view import ClusterView, Pending
from tests.support.resources import imagemap, namespace

BOOTCAMP = "gcr.io/google-samples/kubernetes-bootcamp:v1"
RELOCATED = "registry.example.com/kubernetes-bootcamp:v1"
RELOCATE = (BOOTCAMP, RELOCATED)
LONG = 10.0
"""A wait that a test expects to end early: far longer than any test takes."""



def _view(*imagemaps: dict[str, Any], records: tuple[dict[str, Any], ...] = ()) -> ClusterView:
    view = ClusterView()
    view.imagemaps.replace(list(imagemaps))
    view.namespaces.replace(list(records))
    view.imagemaps.confirm()
    view.namespaces.confirm()
    return view


def _review(image: str = BOOTCAMP, *, ns: str = "apps", uid: str = "u1") -> dict[str, Any]:
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "namespace": ns, "operation": "CREATE",
        "object": {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "web", "namespace": ns},
                   "spec": {"containers": [{"name": "web", "image": image}]}}}}


def _post(view: ClusterView, review: dict[str, Any], **config: Any) -> dict[str, Any]:
    client = create_app({"DECISION_WAIT_SECONDS": LONG, **config}, view=view).test_client()
    reply = client.post("/mutate", json=review)
    assert reply.status_code == 200
    answer: dict[str, Any] = reply.get_json()["response"]
    return answer


def _images(answer: dict[str, Any]) -> list[str]:
    patch = json.loads(base64.b64decode(answer.get("patch", "W10=")))
    return [op["value"] for op in patch if op["path"].endswith("/image")]


def _later(seconds: float, action: Any) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


def _holds_all(_: Pending) -> bool:
    return True


# --- what is pending ------------------------------------------------------------------------

def test_an_imagemap_the_record_has_not_judged_is_pending() -> None:
    view = _view(imagemap("relocate", RELOCATE))
    assert [p.name for p in view.pending_for("apps")] == ["relocate"]
    assert view.pending_anywhere()


@pytest.mark.parametrize("record", [
    namespace("apps", "relocate"),
    namespace("apps", rejected=("relocate",)),
], ids=["in-force", "rejected"])
def test_an_imagemap_judged_either_way_is_not_pending(record: dict[str, Any]) -> None:
    view = _view(imagemap("relocate", RELOCATE), records=(record,))
    assert view.pending_for("apps") == ()
    assert not view.pending_anywhere()


def test_a_new_generation_is_pending_until_judged() -> None:
    view = _view(imagemap("relocate", RELOCATE, generation=2),
                 records=(namespace("apps", "relocate"),))
    assert [(p.name, p.generation) for p in view.pending_for("apps")] == [("relocate", 2)]
    view.namespaces.apply("MODIFIED", namespace("apps", ("relocate", 2)))
    assert view.pending_for("apps") == ()


@pytest.mark.parametrize("obj", [
    imagemap("audit", RELOCATE, mode="Audit"),
    imagemap("invalid", ("not a reference!", RELOCATED)),
], ids=["audit", "invalid"])
def test_a_map_that_can_rewrite_nothing_never_holds_a_pod(obj: dict[str, Any]) -> None:
    view = _view(obj)
    assert view.pending_for("apps") == ()
    assert _images(_post(view, _review())) == []


def test_an_imagemap_being_deleted_is_not_pending() -> None:
    obj = imagemap("relocate", RELOCATE)
    view = _view(obj)
    obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:01Z"
    view.imagemaps.apply("MODIFIED", obj)
    assert view.pending_for("apps") == ()


# --- waiting --------------------------------------------------------------------------------

def test_a_pod_waits_for_the_decision_and_is_answered_under_it() -> None:
    view = _view(imagemap("relocate", RELOCATE))
    timer = _later(0.2, lambda: view.namespaces.apply("MODIFIED", namespace("apps", "relocate")))
    try:
        answer = _post(view, _review())
    finally:
        timer.cancel()
    assert answer["allowed"] is True
    assert _images(answer) == [RELOCATED]


def test_a_pod_waits_for_a_rejection_too_and_keeps_its_image() -> None:
    view = _view(imagemap("relocate", RELOCATE))
    timer = _later(0.2, lambda: view.namespaces.apply(
        "MODIFIED", namespace("apps", rejected=("relocate",))))
    try:
        answer = _post(view, _review())
    finally:
        timer.cancel()
    assert answer["allowed"] is True
    assert _images(answer) == []
    assert "warnings" not in answer


def test_undecided_after_the_wait_is_refused_naming_the_imagemap() -> None:
    view = _view(imagemap("relocate", RELOCATE))
    answer = _post(view, _review(), DECISION_WAIT_SECONDS=0.2)
    assert answer["allowed"] is False
    assert answer["status"]["code"] == 403
    message = answer["status"]["message"]
    assert "ImageMap relocate in namespace apps is not decided" in message
    assert "Metacontroller" in message
    assert "patch" not in answer


def test_undecided_after_the_wait_is_admitted_with_a_warning_as_an_option() -> None:
    view = _view(imagemap("relocate", RELOCATE),
                 imagemap("other", ("gcr.io/x/y", "registry.example.com/y")),
                 records=(namespace("apps", "other"),))
    answer = _post(view, _review(), DECISION_WAIT_SECONDS=0.2, UNDECIDED="admit")
    assert answer["allowed"] is True
    assert answer["warnings"][0].startswith("image-mapper: ImageMap relocate not decided")
    assert _images(answer) == []


def test_a_pod_the_pending_map_cannot_change_does_not_wait() -> None:
    view = _view(imagemap("relocate", RELOCATE))
    answer = _post(view, _review("docker.io/library/nginx:1"), DECISION_WAIT_SECONDS=LONG)
    assert answer["allowed"] is True  # answered at once: a wait would have refused it


def test_deleting_the_pending_map_releases_the_waiters() -> None:
    obj = imagemap("relocate", RELOCATE)
    view = _view(obj)
    with ThreadPoolExecutor(20) as pool:
        waiters = [pool.submit(view.settled, "apps", holds=_holds_all, timeout=LONG)
                   for _ in range(20)]
        time.sleep(0.2)
        assert not any(w.done() for w in waiters)
        view.imagemaps.apply("DELETED", obj)
        results = [w.result(timeout=LONG / 2) for w in waiters]
    assert all(undecided == () for _, undecided in results)


def test_waiting_in_one_namespace_does_not_hold_another() -> None:
    view = _view(imagemap("relocate", RELOCATE),
                 imagemap("relocate", RELOCATE, namespace="other"),
                 records=(namespace("other", "relocate"),))
    with ThreadPoolExecutor(50) as pool:
        waiters = [pool.submit(view.settled, "apps", holds=_holds_all, timeout=LONG)
                   for _ in range(50)]
        mapping, undecided = view.settled("other", holds=_holds_all, timeout=LONG)
        assert undecided == ()
        assert mapping.lookup(BOOTCAMP) is not None
        assert not any(w.done() for w in waiters)
        view.namespaces.apply("MODIFIED", namespace("apps", "relocate"))
        for waiter in waiters:
            mapping, undecided = waiter.result(timeout=LONG / 2)
            assert undecided == ()
            assert mapping.lookup(BOOTCAMP) is not None


def test_each_map_s_time_to_first_decision_is_a_metric() -> None:
    view = _view()
    view.imagemaps.apply("ADDED", imagemap("relocate", RELOCATE))
    assert view.first_decisions() == {}
    time.sleep(0.05)
    view.namespaces.apply("MODIFIED", namespace("apps", "relocate"))
    seconds = view.first_decisions()[("apps", "relocate")]
    assert seconds >= 0.05
    client = create_app(view=view).test_client()
    text = client.get("/metrics").get_data(as_text=True)
    assert ('image_mapper_imagemap_first_decision_seconds{imagemap="relocate",'
            'namespace="apps"}') in text
    view.imagemaps.apply("DELETED", imagemap("relocate", RELOCATE))
    assert view.first_decisions() == {}


def test_nothing_is_kept_of_a_pending_map_once_it_is_gone() -> None:
    obj = imagemap("relocate", RELOCATE)
    view = _view(obj)
    assert view.pending_for("apps")
    view.imagemaps.apply("DELETED", obj)
    assert view._compiled_pending == {}
    view.imagemaps.apply("ADDED", obj)
    assert view.pending_for("apps")
    view.imagemaps.replace([])  # a relist without it
    assert view._compiled_pending == {}
    assert not view.pending_anywhere()


# --- a property: pending is exactly "not judged at this generation", whatever the order -----

_EVENTS = st.lists(st.tuples(
    st.sampled_from(["create", "edit", "delete", "judge", "relist"]),
    st.sampled_from(["a", "b", "c"]),
    st.booleans(),  # audit mode, for create and edit
), max_size=25)


def _record(judged: dict[str, tuple[str, int]]) -> dict[str, Any]:
    """The Namespace `apps` whose record judged (rejected) these ImageMaps: uid, generation."""
    rows = [[name, uid, generation] for name, (uid, generation) in judged.items()]
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "apps", "annotations": {"mapper.imagerelocation.pivotal.io/decision":
                                        json.dumps({"inForce": [], "rejected": rows})}}}


def _unjudged(seen: tuple[str, int] | None, obj: dict[str, Any]) -> bool:
    """Pending by definition: not judged at this uid and generation; Audit never holds."""
    uid: str = obj["metadata"]["uid"]
    generation: int = obj["metadata"]["generation"]
    audit: bool = obj["spec"].get("mode") == "Audit"
    return (seen is None or seen[0] != uid or seen[1] < generation) and not audit


@settings(max_examples=150, deadline=None)
@given(_EVENTS)
def test_pending_is_what_the_record_has_not_judged_at_its_generation(
        events: list[tuple[str, str, bool]]) -> None:
    view = _view()
    maps: dict[str, dict[str, Any]] = {}
    judged: dict[str, tuple[str, int]] = {}
    for number, (action, name, audit) in enumerate(events):
        if action == "create" or (action == "edit" and name in maps):
            before = maps.get(name)
            obj = imagemap(name, (f"gcr.io/x/{name}:v1", f"r.example/{name}:v1"),
                                    mode="Audit" if audit else None)
            if action == "edit" and before is not None:
                obj["metadata"]["uid"] = before["metadata"]["uid"]
                obj["metadata"]["generation"] = before["metadata"]["generation"] + 1
            elif before is not None:  # created again: the old one is gone
                view.imagemaps.apply("DELETED", before)
                obj["metadata"]["uid"] = f"uid-{name}-{number}"
            else:
                obj["metadata"]["uid"] = f"uid-{name}-{number}"
            maps[name] = obj
            view.imagemaps.apply("MODIFIED" if action == "edit" else "ADDED", obj)
        elif action == "delete" and name in maps:
            view.imagemaps.apply("DELETED", maps.pop(name))
        elif action == "judge":
            judged = {n: (m["metadata"]["uid"], m["metadata"]["generation"])
                      for n, m in maps.items()}
            view.namespaces.apply("MODIFIED", _record(judged))
        elif action == "relist":
            view.imagemaps.replace(list(maps.values()))
        expected = sorted(n for n, m in maps.items() if _unjudged(judged.get(n), m))
        assert sorted(p.name for p in view.pending_for("apps")) == expected
        assert view.pending_anywhere() == bool(expected)
