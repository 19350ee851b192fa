"""Label selectors as Kubernetes matches and validates them (LabelSelectorAsSelector): the
namespaces a ClusterImageMap selects."""

from __future__ import annotations

from typing import Any

import pytest

from image_mapper.engine.selector import EVERYTHING, NOTHING, Selector, read_selector

TEAM_A = {"team": "a", "env": "prod", "kubernetes.io/metadata.name": "shop"}


def selector(written: Any) -> Selector:
    read = read_selector(written)
    assert isinstance(read, Selector), read
    return read


@pytest.mark.parametrize(
    ("written", "labels", "selected"),
    [
        pytest.param(None, {}, True, id="absent-selects-all"),
        pytest.param({}, TEAM_A, True, id="empty-selects-all"),
        pytest.param({"matchLabels": {}}, {}, True, id="empty-matchLabels-selects-all"),
        pytest.param({"matchLabels": {"team": "a"}}, TEAM_A, True, id="matchLabels-equal"),
        pytest.param({"matchLabels": {"team": "b"}}, TEAM_A, False, id="matchLabels-other"),
        pytest.param({"matchLabels": {"tier": "x"}}, TEAM_A, False, id="matchLabels-absent"),
        pytest.param({"matchLabels": {"tier": ""}}, TEAM_A, False,
                     id="matchLabels-empty-value-needs-the-label"),
        pytest.param({"matchLabels": {"tier": ""}}, {"tier": ""}, True,
                     id="matchLabels-empty-value"),
        pytest.param({"matchLabels": {"team": "a", "env": "dev"}}, TEAM_A, False,
                     id="matchLabels-all-must-hold"),
        pytest.param({"matchExpressions": [{"key": "team", "operator": "In",
                                            "values": ["a", "b"]}]}, TEAM_A, True, id="In"),
        pytest.param({"matchExpressions": [{"key": "team", "operator": "In",
                                            "values": ["b"]}]}, TEAM_A, False, id="In-other"),
        pytest.param({"matchExpressions": [{"key": "tier", "operator": "In",
                                            "values": ["b"]}]}, TEAM_A, False, id="In-absent"),
        pytest.param({"matchExpressions": [{"key": "team", "operator": "NotIn",
                                            "values": ["a"]}]}, TEAM_A, False, id="NotIn"),
        pytest.param({"matchExpressions": [{"key": "team", "operator": "NotIn",
                                            "values": ["b"]}]}, TEAM_A, True, id="NotIn-other"),
        pytest.param({"matchExpressions": [{"key": "tier", "operator": "NotIn",
                                            "values": ["b"]}]}, TEAM_A, True,
                     id="NotIn-absent-label-selects"),
        pytest.param({"matchExpressions": [{"key": "team", "operator": "Exists"}]}, TEAM_A,
                     True, id="Exists"),
        pytest.param({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, TEAM_A,
                     False, id="Exists-absent"),
        pytest.param({"matchExpressions": [{"key": "tier", "operator": "Exists"}]},
                     {"tier": ""}, True, id="Exists-empty-value"),
        pytest.param({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]},
                     TEAM_A, True, id="DoesNotExist"),
        pytest.param({"matchExpressions": [{"key": "team", "operator": "DoesNotExist",
                                            "values": []}]}, TEAM_A, False,
                     id="DoesNotExist-present"),
        pytest.param({"matchLabels": {"team": "a"},
                      "matchExpressions": [{"key": "env", "operator": "NotIn",
                                            "values": ["prod"]}]}, TEAM_A, False,
                     id="matchLabels-and-expressions-all-must-hold"),
        pytest.param({"matchExpressions": [{"key": "kubernetes.io/metadata.name",
                                            "operator": "In", "values": ["shop"]}]}, TEAM_A,
                     True, id="by-namespace-name"),
        pytest.param({"matchExpressions": []}, {}, True, id="no-expressions"),
    ],
)
def test_matching(written: Any, labels: dict[str, str], selected: bool) -> None:
    assert selector(written).matches(labels) is selected


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        pytest.param("team=a", "spec.namespaceSelector must be a label selector", id="string"),
        pytest.param({"matchLabel": {}}, "unknown field(s) matchLabel", id="unknown-field"),
        pytest.param({"matchLabels": ["team"]}, "matchLabels must be an object", id="labels-list"),
        pytest.param({"matchLabels": {"team": 1}}, "a label value must be a string",
                     id="value-not-string"),
        pytest.param({"matchLabels": {"team": "a b"}}, "'a b' is not a valid label value",
                     id="value-invalid"),
        pytest.param({"matchLabels": {"team": "x" * 64}}, "is not a valid label value",
                     id="value-too-long"),
        pytest.param({"matchLabels": {"-team": "a"}}, "'-team' is not a valid label key",
                     id="key-invalid"),
        pytest.param({"matchLabels": {"Example.com/team": "a"}}, "is not a valid label key",
                     id="key-prefix-uppercase"),
        pytest.param({"matchLabels": {"/team": "a"}}, "is not a valid label key",
                     id="key-empty-prefix"),
        pytest.param({"matchExpressions": {"key": "a"}}, "matchExpressions must be a list",
                     id="expressions-object"),
        pytest.param({"matchExpressions": [{"key": "a", "operator": "Equals",
                                            "values": ["x"]}]},
                     "matchExpressions[0].operator must be one of In, NotIn, Exists, "
                     "DoesNotExist, not 'Equals'", id="operator-unknown"),
        pytest.param({"matchExpressions": [{"key": "a", "operator": "In"}]},
                     "matchExpressions[0].values must be non-empty for operator In",
                     id="In-without-values"),
        pytest.param({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": []}]},
                     "values must be non-empty for operator NotIn", id="NotIn-without-values"),
        pytest.param({"matchExpressions": [{"key": "a", "operator": "Exists",
                                            "values": ["x"]}]},
                     "values must be empty for operator Exists", id="Exists-with-values"),
        pytest.param({"matchExpressions": [{"key": "a", "operator": "DoesNotExist",
                                            "values": ["x"]}]},
                     "values must be empty for operator DoesNotExist",
                     id="DoesNotExist-with-values"),
        pytest.param({"matchExpressions": [{"operator": "Exists"}]},
                     "matchExpressions[0].key: a label key must be a non-empty string",
                     id="key-missing"),
        pytest.param({"matchExpressions": [{"key": "a", "operator": "In", "values": [2]}]},
                     "matchExpressions[0].values[0]: a label value must be a string",
                     id="values-not-strings"),
        pytest.param({"matchExpressions": ["team"]},
                     "matchExpressions[0] must be an object", id="expression-string"),
    ],
)
def test_invalid_selectors_are_named(written: Any, problem: str) -> None:
    problems = read_selector(written)
    assert isinstance(problems, list)
    assert any(problem in p for p in problems), problems


def test_a_valid_key_with_a_prefix() -> None:
    assert selector({"matchLabels": {"example.com/team": "a"}}).matches({"example.com/team": "a"})


def test_everything_and_nothing() -> None:
    assert EVERYTHING.matches({})
    assert EVERYTHING.selects_all
    assert not NOTHING.matches({})
    assert not NOTHING.matches({"": ""})
    assert not NOTHING.matches(TEAM_A)
