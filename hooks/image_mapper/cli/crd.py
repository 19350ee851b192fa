"""The ImageMap CRD's own schema, as the API server applies it to an ImageMap, for the commands.

The CRD is package data, `hooks/image_mapper/crds/imagemaps.yaml`: the very file
`kubectl apply -k crds` applies, read at run time, so that the CLI refuses what the cluster
would refuse to store (a 1,001-maplet map, a `from` that is not made of reference characters)
and nothing else.

Its `openAPIV3Schema` is checked with jsonschema's Draft 7 validator, after the translation that
OpenAPI v3 in a CRD needs:
- `x-kubernetes-*` keys are dropped: they steer list merging and pruning, not validity;
- `nullable: true` lets `null` through, as the API server does;
- `pattern` is matched as Go's RE2 does, where `$` is the end of the text (in Python `$` also
  matches before a final newline; `\\Z` does not);
- `format` is left as an annotation: the API server checks only a few formats, and none on the
  fields a user writes (`spec`).
Unknown fields are pruned by the API server, not refused: the schema sets no
`additionalProperties`, and neither does this.
"""

from __future__ import annotations

import re
from importlib.resources import files
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import yaml

from image_mapper.cli.errors import CommandError
from image_mapper.engine.imagemap import KIND, VERSION

CRD_FILE = ("crds", "imagemaps.yaml")
"""Under the `image_mapper` package."""

SHOWN = 60
"""A value quoted in a message is cut to this many characters."""


def load_schema() -> dict[str, Any]:
    """The `openAPIV3Schema` of the ImageMap version the CLI reads, from the packaged CRD."""
    resource = files("image_mapper").joinpath(*CRD_FILE)
    try:
        crd = yaml.safe_load(resource.read_text(encoding="utf-8"))
        version = next(v for v in crd["spec"]["versions"] if v["name"] == VERSION)
        schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    except (OSError, yaml.YAMLError, KeyError, TypeError, StopIteration) as error:
        raise CommandError(f"cannot read the {KIND} CRD ({'/'.join(CRD_FILE)} in the "
                           f"package): {error!r}") from None
    return schema


def json_schema(openapi: object) -> object:
    """A CRD's OpenAPI v3 schema as a JSON Schema (Draft 7) that validates the same objects."""
    if isinstance(openapi, list):
        return [json_schema(item) for item in openapi]
    if not isinstance(openapi, dict):
        return openapi
    schema: dict[str, object] = {}
    for key, value in openapi.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key == "pattern" and isinstance(value, str) and value.endswith("$"):
            schema[key] = value[:-1] + "\\Z"
        elif key in ("properties", "patternProperties", "definitions"):
            schema[key] = {name: json_schema(sub) for name, sub in value.items()}
        else:
            schema[key] = json_schema(value)
    if openapi.get("nullable") is True and isinstance(openapi.get("type"), str):
        schema["type"] = [openapi["type"], "null"]
    return schema


class Schema:
    """The ImageMap schema, ready to check documents: `problems(document)`."""

    def __init__(self, openapi: dict[str, Any] | None = None) -> None:
        self.openapi = load_schema() if openapi is None else openapi
        self._validator = jsonschema.Draft7Validator(json_schema(self.openapi))

    def problems(self, document: object) -> list[str]:
        """`FIELD: WHY` for each way the API server would refuse `document`, by field: its
        metadata (names) first, then the CRD's schema."""
        errors = sorted(self._validator.iter_errors(document), key=_path_order)
        return metadata_problems(document) + [_problem(error) for error in errors]


DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def subdomain_problem(value: str) -> str | None:
    """Why `value` is not a name the API server takes for an object (a DNS-1123 subdomain)."""
    if len(value) > 253:
        return f"{_shown(value)} must be no more than 253 characters"
    if not DNS1123_SUBDOMAIN.fullmatch(value):
        return (f"{_shown(value)}: a lowercase RFC 1123 subdomain must consist of lower case "
                "alphanumeric characters, '-' or '.', and must start and end with an "
                "alphanumeric character (e.g. 'example.com')")
    return None


def metadata_problems(document: object) -> list[str]:
    """`FIELD: WHY` for a `metadata.name` or `metadata.namespace` the API server would refuse
    (the CRD's schema does not cover `metadata`; the API server checks every object's)."""
    metadata = document.get("metadata") if isinstance(document, dict) else None
    if not isinstance(metadata, dict):
        return []
    found = []
    name = metadata.get("name")
    if isinstance(name, str) and name:
        why = subdomain_problem(name)
        if why:
            found.append(f"metadata.name: Invalid value: {why}")
    namespace = metadata.get("namespace")
    if isinstance(namespace, str) and namespace and (
            len(namespace) > 63 or not DNS1123_LABEL.fullmatch(namespace)):
        found.append(f"metadata.namespace: Invalid value: {_shown(namespace)}: a lowercase RFC "
                     "1123 label must consist of lower case alphanumeric characters or '-', "
                     "start and end with an alphanumeric character and be at most 63 "
                     "characters (e.g. 'team-a')")
    return found


def field_path(path: object) -> str:
    """`spec.map[3].from` for the path ("spec", "map", 3, "from")."""
    text = ""
    for part in path:  # type: ignore[attr-defined]
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(the object)"


def _path_order(error: Any) -> list[tuple[int, int, str]]:
    """Fields in document order: `spec.map[2]` before `spec.map[10]`."""
    return [(0, part, "") if isinstance(part, int) else (1, 0, str(part))
            for part in error.absolute_path]


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def _problem(error: Any) -> str:
    """One line in the API server's terms; jsonschema's own message would quote the whole
    value (a 1,001-maplet list, for maxItems)."""
    keyword, expected, value = error.validator, error.validator_value, error.instance
    field = field_path(error.absolute_path)
    if keyword == "required":
        # One error per missing property, named only in the message: "'map' is a required ..."
        name = error.message.split(" is a required property")[0].strip("'\"")
        return f"{field_path([*error.absolute_path, name])}: Required value"
    return f"{field}: {_why(keyword, expected, value, error.message, field)}"


def _why(keyword: str, expected: Any, value: Any, message: str, field: str) -> str:
    plural = "" if expected == 1 else "s"
    if keyword == "type":
        return f"must be of type {expected}, not {type(value).__name__} {_shown(value)}"
    if keyword == "maxItems":
        return f"must have at most {expected} items, has {len(value)}"
    if keyword == "minItems":
        return f"must have at least {expected} item{plural}, has {len(value)}"
    if keyword == "maxLength":
        return f"must be at most {expected} characters, is {len(value)}"
    if keyword == "minLength":
        return f"must be at least {expected} character{plural}"
    if keyword == "pattern" and field.endswith((".from", ".to")):
        # As the command line says it, not the pattern's regular expression.
        return f"invalid image reference {_shown(value)}: invalid reference format"
    if keyword == "pattern" and field.endswith(".name") and isinstance(value, str):
        return subdomain_problem(value) or message
    if keyword == "pattern":
        return f"{_shown(value)} does not match {expected.removesuffix(chr(92) + 'Z')}$"
    if keyword == "enum":
        return f"{_shown(value)} must be one of {expected}"
    return message if len(message) <= 200 else message[:197] + "..."
