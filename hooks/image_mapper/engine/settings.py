"""What an ImageMap deploys besides its maplets: its mode and its pull secrets
(design.md#relocation-settings).

`spec.mode` (`Enforce`, the default, or `Audit`) and `spec.imagePullSecrets` (`[{name}]`, Secrets
of the ImageMap's namespace) are accepted and deployed with the maplets: they are part of the
ImageMap's validity (a bad entry makes it InvalidSpec), never of its consistency with others (so
switching modes never changes a verdict), and the webhook uses the values of the generation in
force (`status.deployedMode`, `status.deployedImagePullSecrets` while a new one waits).

Read from JSON of any shape (a hook body, a file), so every field is checked here and each
problem names the field and what would be valid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

Mode = Literal["Enforce", "Audit"]
ENFORCE: Mode = "Enforce"
AUDIT: Mode = "Audit"
MODES: tuple[Mode, ...] = (ENFORCE, AUDIT)

MAX_PULL_SECRETS = 32
"""The CRD's `maxItems` for `spec.imagePullSecrets`."""
MAX_SECRET_NAME = 253
SECRET_NAME = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*",
                         re.ASCII)
"""A Secret's name: a DNS-1123 subdomain, as the API server validates it."""


@dataclass(frozen=True, slots=True)
class Settings:
    """An ImageMap's mode and pull secrets, checked."""

    mode: Mode = ENFORCE
    pull_secrets: tuple[str, ...] = ()
    """Names of Secrets, in the order written, each once."""
    audit: bool = field(init=False, repr=False, compare=False)
    """`mode` is Audit: asked for every image of every pod, so computed once."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "audit", self.mode == AUDIT)


DEFAULT = Settings()


class Fields(NamedTuple):
    """Where the settings are read from, as problems name them."""

    mode: str
    pull_secrets: str


IMAGEMAP_FIELDS = Fields("spec.mode", "spec.imagePullSecrets")
DEPLOYED_FIELDS = Fields("status.deployedMode", "status.deployedImagePullSecrets")


def read_settings(mode: object, pull_secrets: object, *, fields: Fields = IMAGEMAP_FIELDS
                  ) -> Settings | list[str]:
    """The settings written as `mode` and `pull_secrets` (None: not written, the defaults);
    the problems, each naming its field, when they are not valid."""
    if mode is None and pull_secrets is None:
        return DEFAULT
    problems: list[str] = []
    if mode is None:
        mode = ENFORCE
    elif mode not in MODES:
        shown = _shown(mode)
        problems.append(f"{fields.mode} must be {' or '.join(MODES)}, not {shown}")
    names = _pull_secret_names(pull_secrets, fields.pull_secrets, problems)
    if problems:
        return problems
    return Settings(ENFORCE if mode == ENFORCE else AUDIT, names)


def _pull_secret_names(written: object, field: str, problems: list[str]) -> tuple[str, ...]:
    if written is None:
        return ()
    if not isinstance(written, list):
        problems.append(f"{field} must be a list of {{name}} entries, not {_shown(written)}")
        return ()
    if len(written) > MAX_PULL_SECRETS:
        problems.append(f"{field} has {len(written)} entries; at most {MAX_PULL_SECRETS}")
        return ()
    names: dict[str, None] = {}
    for index, entry in enumerate(written):
        where = f"{field}[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{where} must be an object {{name: SECRET}}, not {_shown(entry)}")
            continue
        unknown = sorted(str(key) for key in entry if key != "name")
        if unknown:
            problems.append(f"{where} has unknown field(s) {', '.join(unknown)}")
            continue
        name = entry.get("name")
        if name is None:
            problems.append(f"{where}.name is missing: the name of a Secret is required")
        elif not isinstance(name, str) or not name:
            problems.append(f"{where}.name must be the name of a Secret, not {_shown(name)}")
        elif len(name) > MAX_SECRET_NAME or SECRET_NAME.fullmatch(name) is None:
            problems.append(
                f"{where}.name: {_shown(name)} is not a valid Secret name (lowercase letters, "
                f"digits, '-' and '.', starting and ending with a letter or digit, at most "
                f"{MAX_SECRET_NAME} characters)")
        else:
            names.setdefault(name, None)
    return tuple(names)


def _shown(value: object) -> str:
    """A value as a problem quotes it: short whatever its size, never walked into."""
    if isinstance(value, str):
        return repr(value) if len(value) <= 80 else repr(value[:77]) + "..."
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    return f"a {type(value).__name__}"
