"""The ImageMap sync hook: the acceptance order and the seed's behaviours (design.md#acceptance),
and the status (design.md#status)."""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from image_mapper.controller.imagemap_hook import customize_imagemap, sync_imagemap
from image_mapper.controller.namespace_hook import sync_namespace
from image_mapper.controller.protocol import CompositeSyncRequest, DecoratorSyncRequest
from image_mapper.controller.status import rfc3339
from tests.golden import FIXTURE_NOW
from tests.support.resources import imagemap, namespace

from .simulation import GROUP_KEY, Namespace

NOW = "2026-01-01T12:00:00Z"
EARLIER = "2025-06-01T10:00:03Z"

BOOTCAMP = ("gcr.io/google-samples/kubernetes-bootcamp:v1",
            "registry.example.com/kubernetes-bootcamp:v1")
BOOTCAMP_ELSEWHERE = ("gcr.io/google-samples/kubernetes-bootcamp:v1",
                      "mirror.example.org/kubernetes-bootcamp:v1")
REDIS = ("redis:7", "registry.example.com/redis:7")
REDIS_ELSEWHERE = ("redis:7", "mirror.example.org/redis:7")



def sync(parent: dict[str, Any], *others: dict[str, Any], finalizing: bool = False,
         now: datetime = FIXTURE_NOW) -> dict[str, Any]:
    """The ImageMap hook's answer once the namespace hook, the one decider, has recorded its
    decision on the same view."""
    request: CompositeSyncRequest = {
        "controller": {}, "parent": parent, "children": {},
        "related": {GROUP_KEY: {f"{o['metadata']['namespace']}/{o['metadata']['name']}": o
                                for o in others},
                    "Namespace.v1": {"apps": decided("apps", parent, *others, now=now)}},
        "finalizing": finalizing,
    }
    return dict(sync_imagemap(request, now=now))


def decided(name: str, *imagemaps: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The Namespace `name` with what the namespace hook wrote on it for `imagemaps` (the
    first copy of a name counts, as in the ImageMap hook)."""
    decorated = namespace(name)
    related = {f"{i}/{o['metadata']['name']}": o for i, o in enumerate(imagemaps)}
    request: DecoratorSyncRequest = {"controller": {}, "object": copy.deepcopy(decorated),
                                     "attachments": {}, "related": {GROUP_KEY: related},
                                     "finalizing": False}
    response = sync_namespace(request, now=now)
    for field in ("labels", "annotations"):
        written = response[field]  # type: ignore[literal-required]
        decorated["metadata"][field] = {k: v for k, v in written.items() if v is not None}
    return decorated


def ready(status: str, reason: str, since: str | None = EARLIER) -> dict[str, Any]:
    """A status written for generation 1, with this Ready condition."""
    condition = {"type": "Ready", "status": status, "reason": reason, "message": "before"}
    if since is not None:
        condition["lastTransitionTime"] = since
    return {"observedGeneration": 1, "conditions": [condition]}


# --- lastTransitionTime: kept while the status does not flip ------------------------------

TRANSITIONS = [
    ("first-sync-accepted", None, (BOOTCAMP,), NOW),
    ("still-accepted", ready("True", "Accepted"), (BOOTCAMP,), EARLIER),
    ("accepted-after-rejected", ready("False", "Conflict"), (BOOTCAMP,), NOW),
    ("rejected-after-accepted", ready("True", "Accepted"), (("Bad/Repo", "x"),), NOW),
    ("still-rejected-other-reason", ready("False", "Conflict"), (("Bad/Repo", "x"),), EARLIER),
    ("previous-without-time", ready("True", "Accepted", since=None), (BOOTCAMP,), NOW),
    ("previous-unknown", ready("Unknown", "Pending"), (BOOTCAMP,), NOW),
]


@pytest.mark.parametrize(("previous", "maplets", "expected"),
                         [(p, m, e) for _, p, m, e in TRANSITIONS],
                         ids=[i for i, *_ in TRANSITIONS])
def test_last_transition_time(
    previous: dict[str, Any] | None, maplets: tuple[tuple[str, str], ...], expected: str
) -> None:
    status = sync(imagemap("sample", *maplets, status=previous))["status"]
    assert status["conditions"][0]["lastTransitionTime"] == expected


@pytest.mark.parametrize("status", [{"conditions": "Ready"}, {"conditions": [None, 3]}, "odd"],
                         ids=["conditions-string", "conditions-junk", "status-string"])
def test_a_malformed_previous_status_is_replaced(status: object) -> None:
    parent = imagemap("sample", BOOTCAMP)
    parent["status"] = status
    condition = sync(parent)["status"]["conditions"][0]
    assert (condition["status"], condition["lastTransitionTime"]) == ("True", NOW)


def test_accepted_status_in_full() -> None:
    assert sync(imagemap("sample", BOOTCAMP, REDIS)) == {
        "status": {
            "observedGeneration": 1,
            "mappings": 2,
            "deployedMap": [{"from": BOOTCAMP[0], "to": BOOTCAMP[1]},
                            {"from": REDIS[0], "to": REDIS[1]}],
            "deployedMode": "Enforce",
            "conditions": [{"type": "Ready", "status": "True", "reason": "Accepted",
                            "message": "2 maplets in force", "lastTransitionTime": NOW,
                            "observedGeneration": 1}],
        },
        "children": [],
    }


# --- mode and pull secrets, deployed with the maplets (design.md#relocation-settings) --------


def test_accepted_status_deploys_the_mode_and_pull_secrets_beside_the_map() -> None:
    parent = imagemap("sample", BOOTCAMP)
    parent["spec"].update(mode="Audit",
                          imagePullSecrets=[{"name": "regcred"}, {"name": "mirror.creds"}])
    status = sync(parent)["status"]
    assert list(status) == ["observedGeneration", "mappings", "deployedMap", "deployedMode",
                            "deployedImagePullSecrets", "conditions"]
    assert status["deployedMode"] == "Audit"
    assert status["deployedImagePullSecrets"] == [{"name": "regcred"}, {"name": "mirror.creds"}]
    assert status["conditions"][0]["reason"] == "Accepted"


def test_no_pull_secrets_no_deployed_pull_secrets() -> None:
    assert "deployedImagePullSecrets" not in sync(imagemap("sample", BOOTCAMP))["status"]


def test_a_pull_secret_listed_twice_is_deployed_once() -> None:
    parent = imagemap("sample", BOOTCAMP)
    parent["spec"]["imagePullSecrets"] = [{"name": "a"}, {"name": "b"}, {"name": "a"}]
    assert sync(parent)["status"]["deployedImagePullSecrets"] == [{"name": "a"}, {"name": "b"}]


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        pytest.param({"mode": "audit"}, "spec.mode must be Enforce or Audit, not 'audit'",
                     id="mode-lowercase"),
        pytest.param({"mode": 5}, "spec.mode must be Enforce or Audit, not 5", id="mode-int"),
        pytest.param({"imagePullSecrets": "regcred"},
                     "spec.imagePullSecrets must be a list of {name} entries, not 'regcred'",
                     id="secrets-not-a-list"),
        pytest.param({"imagePullSecrets": [{"name": "Reg_Cred"}]},
                     "spec.imagePullSecrets[0].name: 'Reg_Cred' is not a valid Secret name",
                     id="secret-name-invalid"),
        pytest.param({"imagePullSecrets": [{"name": "ok"}, {}]},
                     "spec.imagePullSecrets[1].name is missing: the name of a Secret is required",
                     id="secret-name-missing"),
        pytest.param({"imagePullSecrets": [{"name": "ok", "namespace": "x"}]},
                     "spec.imagePullSecrets[0] has unknown field(s) namespace",
                     id="secret-unknown-field"),
        pytest.param({"imagePullSecrets": ["regcred"]},
                     "spec.imagePullSecrets[0] must be an object {name: SECRET}, not 'regcred'",
                     id="secret-not-an-object"),
        pytest.param({"imagePullSecrets": [{"name": f"s{i}"} for i in range(33)]},
                     "spec.imagePullSecrets has 33 entries; at most 32", id="too-many"),
        pytest.param({"imagePullSecrets": [{"name": "a" * 254}]},
                     "is not a valid Secret name", id="secret-name-too-long"),
    ],
)
def test_invalid_settings_make_the_imagemap_invalid(spec: dict[str, Any], says: str) -> None:
    parent = imagemap("sample", BOOTCAMP)
    parent["spec"].update(spec)
    response = sync(parent)
    status = response["status"]
    assert status["conditions"][0]["reason"] == "InvalidSpec"
    assert says in status["conditions"][0]["message"]
    assert "deployedMap" not in status
    assert "deployedMode" not in status
    assert response["resyncAfterSeconds"] == 60


def test_switching_the_mode_keeps_the_verdict_and_its_transition_time() -> None:
    """An Audit ImageMap takes part in acceptance exactly like an Enforce one
    (design.md#relocation-settings)."""
    first = imagemap("first", BOOTCAMP, created="2025-06-01T09:00:00Z")
    for mode in ("Enforce", "Audit"):
        second = imagemap("sample", BOOTCAMP_ELSEWHERE, REDIS, mode=mode)
        condition = sync(second, first)["status"]["conditions"][0]
        assert (condition["reason"], condition["status"]) == ("Conflict", "False"), mode
        first["spec"]["mode"] = mode
        accepted = sync(first, second)["status"]
        assert accepted["conditions"][0]["reason"] == "Accepted"
        assert accepted["deployedMode"] == mode


def test_rejected_status_has_no_deployed_map_and_asks_for_a_resync() -> None:
    response = sync(imagemap("sample", ("Bad/Repo", "x")))
    assert response["resyncAfterSeconds"] == 60
    assert response["children"] == []
    status = response["status"]
    assert status["mappings"] == 0
    assert "deployedMap" not in status
    assert "conflicts" not in status  # only with reason Conflict
    assert status["conditions"][0]["reason"] == "InvalidSpec"
    assert "spec.map[0]" in status["conditions"][0]["message"]


def test_without_a_generation_it_is_never_judged_and_its_status_stays() -> None:
    # The decision record names each ImageMap at a generation: one without is left out, and
    # its status stays as it is.
    parent = imagemap("sample", BOOTCAMP, generation=None, status=ready("False", "Conflict"))
    assert sync(parent)["status"] == parent["status"]


def test_under_hook_v1_the_status_stays_and_the_log_says_what_to_configure(
        caplog: pytest.LogCaptureFixture) -> None:
    # Metacontroller sends no Namespace to a namespaced parent's v1 hook: no record to follow.
    parent = imagemap("sample", BOOTCAMP, status=ready("False", "Conflict"))
    request: CompositeSyncRequest = {"controller": {}, "parent": parent, "children": {},
                                     "related": {GROUP_KEY: {"sample": parent}},
                                     "finalizing": False}
    with caplog.at_level(logging.ERROR):
        response = sync_imagemap(request, now=FIXTURE_NOW)
    assert response == {"status": parent["status"], "children": []}
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert "apps/sample" in record.getMessage()
    assert "version: v2" in record.getMessage()
    assert "CompositeController" in record.getMessage()


def test_the_parent_replaces_its_own_entry_in_related() -> None:
    stale = imagemap("sample", ("Bad/Repo", "x"))
    [condition] = sync(imagemap("sample", BOOTCAMP), stale)["status"]["conditions"]
    assert condition["reason"] == "Accepted"


def test_imagemaps_of_other_namespaces_are_ignored() -> None:
    other = imagemap("other", BOOTCAMP_ELSEWHERE, namespace="elsewhere",
                     status=ready("True", "Accepted"))
    [condition] = sync(imagemap("sample", BOOTCAMP), other)["status"]["conditions"]
    assert condition["reason"] == "Accepted"


def test_finalizing_is_answered_finalized() -> None:
    assert sync(imagemap("sample", BOOTCAMP), finalizing=True)["finalized"] is True


def test_customize_asks_for_its_namespace_and_the_imagemaps_in_it() -> None:
    parent = imagemap("sample", BOOTCAMP)
    namespace = parent["metadata"]["namespace"]
    response = customize_imagemap({"controller": {}, "parent": parent})
    assert response == {"relatedResources": [
        # The Namespace holds the decision record the ImageMap's status follows.
        {"apiVersion": "v1", "resource": "namespaces", "names": [namespace]},
        # `namespace` keeps the ImageMaps to its own namespace under hook version v2 too.
        {"apiVersion": "mapper.imagerelocation.pivotal.io/v1alpha1", "resource": "imagemaps",
         "namespace": namespace},
    ]}


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 1, 1, 12, 0, 0, 999999, tzinfo=UTC), "2026-01-01T12:00:00Z"),
        (datetime(2026, 1, 1, 13, 30, 0, tzinfo=timezone(timedelta(hours=1, minutes=30))),
         "2026-01-01T12:00:00Z"),
    ],
    ids=["drops-fraction", "converts-to-utc"],
)
def test_rfc3339(moment: datetime, expected: str) -> None:
    assert rfc3339(moment) == expected


def test_rfc3339_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="naive"):
        rfc3339(datetime(2026, 1, 1))


# --- the seed's behaviours, as Metacontroller drives a namespace ---------------------------

ORDERS = pytest.mark.parametrize("reverse", [False, True], ids=["oldest-first", "newest-first"])


@ORDERS
def test_a_newcomer_inconsistent_with_a_map_in_force_is_rejected(reverse: bool) -> None:
    ns = Namespace(reverse=reverse)
    ns.apply("team-a", BOOTCAMP)
    ns.settle()
    in_force_since = ns.ready("team-a")["lastTransitionTime"]

    ns.apply("team-b", BOOTCAMP_ELSEWHERE, REDIS)
    ns.settle()
    assert ns.ready("team-a")["status"] == "True"
    assert ns.ready("team-a")["lastTransitionTime"] == in_force_since  # never displaced
    assert ns.ready("team-b")["reason"] == "Conflict"
    assert "'team-a'" in ns.ready("team-b")["message"]
    assert ns.status("team-b")["conflicts"] == [{
        "from": BOOTCAMP[0], "to": BOOTCAMP_ELSEWHERE[1], "imageMap": "team-a",
        "theirTo": BOOTCAMP[1]}]
    assert "deployedMap" not in ns.status("team-b")
    assert ns.decorate() == ("true", "ImageMaps: 1 accepted, 1 rejected; maplets in force: 1")


@ORDERS
def test_the_rejected_map_is_accepted_once_the_other_is_deleted(reverse: bool) -> None:
    ns = Namespace(reverse=reverse)
    ns.apply("team-a", BOOTCAMP)
    ns.settle()
    ns.apply("team-b", BOOTCAMP_ELSEWHERE, REDIS)
    ns.settle()

    ns.delete("team-a")
    ns.settle()
    assert ns.ready("team-b")["reason"] == "Accepted"
    assert ns.status("team-b")["mappings"] == 2
    assert ns.decorate() == ("true", "ImageMaps: 1 accepted, 0 rejected; maplets in force: 2")


@ORDERS
def test_the_rejected_map_is_accepted_once_the_other_is_fixed(reverse: bool) -> None:
    ns = Namespace(reverse=reverse)
    ns.apply("team-a", BOOTCAMP)
    ns.settle()
    in_force_since = ns.ready("team-a")["lastTransitionTime"]
    ns.apply("team-b", BOOTCAMP_ELSEWHERE, REDIS)
    ns.settle()

    ns.apply("team-a", ("gcr.io/google-samples/hello-app:1.0",
                        "registry.example.com/hello-app:1.0"))
    ns.settle()
    assert ns.ready("team-a")["reason"] == "Accepted"
    assert ns.ready("team-a")["lastTransitionTime"] == in_force_since  # no flip
    assert ns.status("team-a")["observedGeneration"] == 2
    assert ns.ready("team-b")["reason"] == "Accepted"
    assert ns.decorate() == ("true", "ImageMaps: 2 accepted, 0 rejected; maplets in force: 3")


@ORDERS
def test_an_update_that_makes_a_map_inconsistent_undeploys_it_entirely(reverse: bool) -> None:
    ns = Namespace(reverse=reverse)
    ns.apply("team-a", BOOTCAMP)
    ns.apply("team-b", REDIS)
    ns.settle()
    assert ns.ready("team-a")["status"] == ns.ready("team-b")["status"] == "True"

    ns.apply("team-a", BOOTCAMP, REDIS_ELSEWHERE)
    ns.settle()
    assert ns.ready("team-b")["reason"] == "Accepted"
    assert ns.ready("team-a")["reason"] == "Conflict"
    assert "'team-b'" in ns.ready("team-a")["message"]
    # None of team-a's maplets stay in force, not even the unchanged BOOTCAMP one.
    assert ns.status("team-a")["mappings"] == 0
    assert "deployedMap" not in ns.status("team-a")
    assert ns.decorate() == ("true", "ImageMaps: 1 accepted, 1 rejected; maplets in force: 1")


def test_a_namespace_settles_in_one_round_once_synced() -> None:
    """Statuses are byte-for-byte stable: a settled namespace writes nothing on resync."""
    ns = Namespace()
    for index in range(20):
        ns.apply(f"map-{index:02}", (f"example.com/app-{index % 12}:v1",
                                     f"registry.example.com/app-{index}:v1"))
    ns.settle()
    assert ns.settle() == 1
    accepted = [n for n in ns.imagemaps if ns.ready(n)["status"] == "True"]
    assert len(accepted) == 12
    assert ns.decorate() == ("true", "ImageMaps: 12 accepted, 8 rejected; maplets in force: 12")
