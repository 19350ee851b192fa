"""Golden AdmissionReviews, one per rule of pod admission (design.md#admission), through the
HTTP app and `admit` itself."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient

from image_mapper.engine.mapping import Mapping
from image_mapper.webhook.admission import admit
from image_mapper.webhook.reviews import parse_review, review_response
from tests.golden import Golden, admission_cases, expect, expect_absent
from tests.webhook.jsonpatch import decode

SCENARIOS = admission_cases()
VALID = [s for s in SCENARIOS if not s.malformed]
MALFORMED = [s for s in SCENARIOS if s.malformed]


def test_every_rule_has_a_scenario() -> None:
    names = {s.name for s in SCENARIOS}
    for required in (
        "create-all-container-lists", "create-image-form",
        "create-repository-form-keeps-tag-and-digest", "create-prefix-form-keeps-tag-and-digest",
        "create-existing-annotations-escaped-key", "create-nothing-matches",
        "create-mirror-pod-skipped", "create-reinvocation-is-noop",
        "update-maps-only-changed-images", "update-nothing-changed",
        "update-reinvocation-is-noop", "ephemeralcontainers-kubectl-debug",
        "ephemeralcontainers-reinvocation-is-noop", "other-resource-allowed-unchanged",
        "malformed-missing-uid", "malformed-wrong-api-version", "malformed-object-not-an-object",
        # pull secrets and Audit mode (design.md#relocation-settings)
        "create-pull-secrets-added", "create-pull-secrets-after-the-pods-own",
        "create-no-pull-secrets-when-nothing-rewritten", "update-adds-no-pull-secrets",
        "create-audit-warns-without-patch", "create-audit-winner-hides-enforce",
        "create-warnings-bounded",
    ):
        assert required in names


@pytest.mark.parametrize("scenario", VALID, ids=lambda s: s.name)
def test_webhook_answers_as_golden(client: FlaskClient, scenario: Golden) -> None:
    reply = client.post("/mutate", data=scenario.request_body,
                        content_type="application/json")
    assert reply.status_code == 200, reply.get_data(as_text=True)
    body = reply.get_json()
    assert body == expect(scenario.response_path, body)
    response = body["response"]
    assert response["uid"] == scenario.request()["request"]["uid"]
    assert response["allowed"] is True
    if "patch" in response:
        assert response["patchType"] == "JSONPatch"
        operations = decode(response["patch"])
        assert operations == expect(scenario.patch_path, operations)
    else:
        expect_absent(scenario.patch_path)


@pytest.mark.parametrize("scenario", VALID, ids=lambda s: s.name)
def test_admit_is_pure_and_matches_golden(golden_mapping: Mapping, scenario: Golden) -> None:
    review_request = parse_review(scenario.request_body)
    before = scenario.request()
    first = admit(review_request=review_request, mapping=golden_mapping)
    second = admit(review_request=review_request, mapping=golden_mapping)
    assert first == second
    assert review_request == before["request"]  # the input is never modified
    assert review_response(first.response) == json.loads(scenario.response_path.read_text())


@pytest.mark.parametrize("scenario", MALFORMED, ids=lambda s: s.name)
def test_malformed_review_gets_400_naming_the_problem(
    client: FlaskClient, scenario: Golden
) -> None:
    reply = client.post("/mutate", data=scenario.request_body,
                        content_type="application/json")
    assert reply.status_code == 400
    assert reply.mimetype == "application/json"
    body = reply.get_json()
    assert body == expect(scenario.response_path, body)
    assert "Traceback" not in reply.get_data(as_text=True)
