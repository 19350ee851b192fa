"""Every golden hook request, over real HTTP, gives its response (and `image-mapper hook` does
too: tests/cli/test_hook_cmd.py); a status synced with itself stays as it is."""

from __future__ import annotations

import copy
import json

import pytest
import requests

from image_mapper.controller.dispatch import run_hook
from tests.golden import FIXTURE_NOW, Golden, hook_cases

CASES = hook_cases()


def test_every_hook_has_fixtures() -> None:
    assert {case.hook for case in CASES} == {
        "/imagemap/customize", "/imagemap/sync", "/namespace/customize", "/namespace/sync",
    }


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_over_http(case: Golden, hooks_url: str) -> None:
    answer = requests.post(hooks_url + case.hook, data=case.request_path.read_bytes(),
                           headers={"Content-Type": "application/json"}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == case.response()


SYNCS = hook_cases("/imagemap/sync")


@pytest.mark.parametrize("case", SYNCS, ids=[case.id for case in SYNCS])
def test_status_is_stable_when_synced_with_itself(case: Golden) -> None:
    """Syncing again with the returned status (hours later) changes nothing (design.md#status)."""
    request = case.request()
    status = dict(run_hook("/imagemap/sync", request, now=FIXTURE_NOW))["status"]

    # As the API server returns it after the status write: a new resourceVersion.
    again = copy.deepcopy(request)
    parent = again["parent"]
    parent["status"] = status
    parent["metadata"]["resourceVersion"] += "1"
    for group in again["related"].values():
        for key, obj in group.items():
            if obj["metadata"]["name"] == parent["metadata"]["name"]:
                group[key] = parent
    later = FIXTURE_NOW.replace(hour=18)
    restatus = dict(run_hook("/imagemap/sync", again, now=later))["status"]
    assert json.dumps(restatus) == json.dumps(status)
