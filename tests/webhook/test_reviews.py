"""Validation of the AdmissionReview envelope: every problem is named."""

from __future__ import annotations

import json
from typing import Any

import pytest

from image_mapper.webhook.reviews import ReviewError, parse_review, review_response, validate_review


def _review(**request_changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "uid": "u-1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "namespace": "demo", "operation": "CREATE", "object": {"spec": {}}, "oldObject": None,
    }
    for key, value in request_changes.items():
        if value is ...:
            request.pop(key)
        else:
            request[key] = value
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def test_a_valid_review_gives_its_request() -> None:
    request = parse_review(json.dumps(_review()).encode())
    assert request["uid"] == "u-1"
    assert request["operation"] == "CREATE"


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        pytest.param([], "the AdmissionReview must be an object, but it is a list", id="list"),
        pytest.param({**_review(), "apiVersion": "admission.k8s.io/v1beta1"},
                     "apiVersion must be 'admission.k8s.io/v1', not 'admission.k8s.io/v1beta1'",
                     id="v1beta1"),
        pytest.param({**_review(), "kind": "Pod"}, "kind must be 'AdmissionReview', not 'Pod'",
                     id="wrong-kind"),
        pytest.param({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"},
                     "request must be an object, but it is missing", id="no-request"),
        pytest.param(_review(uid=...), "request.uid must be a non-empty string, but it is missing",
                     id="no-uid"),
        pytest.param(_review(uid=""), "request.uid must be a non-empty string, but it is ''",
                     id="empty-uid"),
        pytest.param(_review(uid=7), "request.uid must be a non-empty string, but it is 7",
                     id="numeric-uid"),
        pytest.param(_review(operation="PATCH"), "request.operation must be one of", id="op"),
        pytest.param(_review(kind=...), "request.kind must be an object", id="no-kind"),
        pytest.param(_review(kind={"group": ""}), "request.kind.kind must be a non-empty string",
                     id="kind-without-kind"),
        pytest.param(_review(resource="pods"), "request.resource must be an object, but it is "
                     "a str", id="resource-str"),
        pytest.param(_review(namespace=3), "request.namespace must be a string", id="namespace"),
        pytest.param(_review(object=None), "request.object must be an object, but it is missing",
                     id="object-null"),
        pytest.param(_review(object=[1]), "request.object must be an object, but it is a list",
                     id="object-list"),
        pytest.param(_review(operation="UPDATE"), "request.oldObject must be an object",
                     id="update-without-old"),
    ],
)
def test_invalid_reviews_name_the_problem(document: Any, problem: str) -> None:
    with pytest.raises(ReviewError) as raised:
        validate_review(document)
    assert problem in str(raised.value)


@pytest.mark.parametrize("body", [b"", b"{", b"\xff\xfe", b"null"], ids=["empty", "truncated",
                                                                        "not-utf8", "null"])
def test_bodies_that_are_not_json_objects(body: bytes) -> None:
    with pytest.raises(ReviewError):
        parse_review(body)


@pytest.mark.parametrize("operation", ["DELETE", "CONNECT"])
def test_operations_without_object_are_valid(operation: str) -> None:
    assert validate_review(_review(operation=operation, object=None))["operation"] == operation


def test_response_envelope() -> None:
    assert review_response({"uid": "x", "allowed": True}) == {
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "response": {"uid": "x", "allowed": True}}
