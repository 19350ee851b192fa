"""Label selectors: which namespaces a ClusterImageMap selects (design.md#clusterimagemap).

A standard Kubernetes LabelSelector, `{matchLabels: {KEY: VALUE}, matchExpressions: [{key,
operator, values}]}`, read and matched as the API server's own `LabelSelectorAsSelector` does:

- every `matchLabels` pair and every expression must hold (AND); an empty selector `{}` selects
  every namespace; so does an absent one (our rule for `spec.namespaceSelector`);
- `In`: the label is present with one of `values`; `NotIn`: the label is absent, or present with
  none of `values`; `Exists`: present (any value); `DoesNotExist`: absent;
- `In` and `NotIn` need at least one value, `Exists` and `DoesNotExist` none; keys are
  qualified names (`[PREFIX/]NAME`) and values label values, as Kubernetes validates them.

Read from JSON of any shape (a hook body, a file), so every field is checked here and each
problem names the field and what would be valid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Operator = Literal["In", "NotIn", "Exists", "DoesNotExist"]
OPERATORS: tuple[Operator, ...] = ("In", "NotIn", "Exists", "DoesNotExist")

FIELD = "spec.namespaceSelector"

_NAME = re.compile(r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]", re.ASCII)
"""A label's name part, and a non-empty label value."""
_SUBDOMAIN = re.compile(
    r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*", re.ASCII)
MAX_NAME = 63
MAX_PREFIX = 253
MAX_VALUES = 1000
"""Values in one expression that are read; a longer list is refused (the API server's own limit
is the object's size; no real selector comes near this)."""


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: Operator
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        if self.operator == "In":
            return value is not None and value in self.values
        if self.operator == "NotIn":
            return value is None or value not in self.values
        if self.operator == "Exists":
            return value is not None
        return value is None


@dataclass(frozen=True, slots=True)
class Selector:
    """A checked label selector: every requirement must hold."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    @property
    def selects_all(self) -> bool:
        return not self.requirements


EVERYTHING = Selector()
NOTHING = Selector((Requirement("", "In"),))
"""Selects no namespace (no label has the empty key)."""


def read_selector(written: object, *, field: str = FIELD) -> Selector | list[str]:
    """The selector written (None: not written, every namespace); the problems, each naming
    its field, when it is not a valid LabelSelector."""
    if written is None:
        return EVERYTHING
    if not isinstance(written, dict):
        return [f"{field} must be a label selector {{matchLabels, matchExpressions}}, "
                f"not {_shown(written)}"]
    problems: list[str] = []
    unknown = sorted(str(k) for k in written if k not in ("matchLabels", "matchExpressions"))
    if unknown:
        problems.append(f"{field} has unknown field(s) {', '.join(unknown)} (expected "
                        "matchLabels, matchExpressions)")
    requirements: list[Requirement] = []
    match_labels = written.get("matchLabels")
    if isinstance(match_labels, dict):
        for key, value in match_labels.items():
            where = f"{field}.matchLabels[{key!r}]" if isinstance(key, str) else field
            if _key_problem(key, where, problems) and _value_problem(value, where, problems):
                requirements.append(Requirement(key, "In", frozenset((value,))))
    elif match_labels is not None:
        problems.append(f"{field}.matchLabels must be an object of label: value, "
                        f"not {_shown(match_labels)}")
    expressions = written.get("matchExpressions")
    if isinstance(expressions, list):
        for index, expression in enumerate(expressions):
            requirement = _expression(expression, f"{field}.matchExpressions[{index}]",
                                      problems)
            if requirement is not None:
                requirements.append(requirement)
    elif expressions is not None:
        problems.append(f"{field}.matchExpressions must be a list of {{key, operator, values}},"
                        f" not {_shown(expressions)}")
    if problems:
        return problems
    return Selector(tuple(requirements))


def _expression(expression: object, where: str, problems: list[str]) -> Requirement | None:
    if not isinstance(expression, dict):
        problems.append(f"{where} must be an object {{key, operator, values}}, "
                        f"not {_shown(expression)}")
        return None
    unknown = sorted(str(k) for k in expression if k not in ("key", "operator", "values"))
    if unknown:
        problems.append(f"{where} has unknown field(s) {', '.join(unknown)}")
        return None
    key, operator, values = (expression.get("key"), expression.get("operator"),
                             expression.get("values"))
    ok = _key_problem(key, f"{where}.key", problems)
    if operator not in OPERATORS:
        problems.append(f"{where}.operator must be one of {', '.join(OPERATORS)}, "
                        f"not {_shown(operator)}")
        return None
    if values is not None and not isinstance(values, list):
        problems.append(f"{where}.values must be a list of strings, not {_shown(values)}")
        return None
    values = values or []
    if operator in ("In", "NotIn") and not values:
        problems.append(f"{where}.values must be non-empty for operator {operator}")
        return None
    if operator in ("Exists", "DoesNotExist") and values:
        problems.append(f"{where}.values must be empty for operator {operator}")
        return None
    if len(values) > MAX_VALUES:
        problems.append(f"{where}.values has {len(values)} entries; at most {MAX_VALUES}")
        return None
    for number, value in enumerate(values):
        ok = _value_problem(value, f"{where}.values[{number}]", problems) and ok
    if not ok:
        return None
    assert isinstance(key, str)
    return Requirement(key, operator, frozenset(values))


def _key_problem(key: object, where: str, problems: list[str]) -> bool:
    """Whether `key` is a valid label key; else a problem is added."""
    if not isinstance(key, str) or not key:
        problems.append(f"{where}: a label key must be a non-empty string, not {_shown(key)}")
        return False
    prefix, slash, name = key.rpartition("/")
    valid = (len(name) <= MAX_NAME and _NAME.fullmatch(name) is not None
             and (not slash or (0 < len(prefix) <= MAX_PREFIX
                                and _SUBDOMAIN.fullmatch(prefix) is not None)))
    if not valid:
        problems.append(
            f"{where}: {_shown(key)} is not a valid label key (an optional DNS subdomain "
            f"prefix and '/', then at most {MAX_NAME} letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit)")
    return valid


def _value_problem(value: object, where: str, problems: list[str]) -> bool:
    """Whether `value` is a valid label value; else a problem is added."""
    if not isinstance(value, str):
        problems.append(f"{where}: a label value must be a string, not {_shown(value)}")
        return False
    if value and (len(value) > MAX_NAME or _NAME.fullmatch(value) is None):
        problems.append(
            f"{where}: {_shown(value)} is not a valid label value (empty, or at most "
            f"{MAX_NAME} letters, digits, '-', '_' or '.', starting and ending with a letter "
            "or digit)")
        return False
    return True


def _shown(value: object) -> str:
    if isinstance(value, str):
        return repr(value) if len(value) <= 80 else repr(value[:77]) + "..."
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    return f"a {type(value).__name__}"
