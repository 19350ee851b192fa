"""Image references: the grammar and normalization of distribution/reference.

This is the only module that takes image strings apart (STYLE habit 2). It mirrors
github.com/distribution/reference — regexp.go (the grammar), reference.go (Parse),
normalize.go (ParseNormalizedNamed, ParseDockerRef, familiar names) and helpers.go — and
go-digest's validation of `algorithm:hex` digests. Names follow the Go originals so the
upstream test tables port one to one (tests/engine/test_reference_conformance.py).

Every pattern is matched with `re.fullmatch` on ASCII classes, and input is capped in length
before matching: Python's regex engine backtracks, and pod specs are untrusted input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
LOCALHOST = "localhost"

NAME_TOTAL_LENGTH_MAX = 255
"""Longest repository path (the name without its domain) that distribution/reference accepts.

Upstream's RepositoryNameTotalLengthMax: Parse checks it against the path, not domain + path.
"""

MAX_INPUT_LENGTH = 4096
"""No real reference is longer: path 255, tag 128, a host name (DNS: 253), digest well below."""

# --- regexp.go -------------------------------------------------------------------------
_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALPHANUMERIC}(?:{_SEPARATOR}{_ALPHANUMERIC})*"
_DOMAIN_NAME_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6_ADDRESS = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_NAME = rf"{_DOMAIN_NAME_COMPONENT}(?:\.{_DOMAIN_NAME_COMPONENT})*"
_HOST = rf"(?:{_DOMAIN_NAME}|{_IPV6_ADDRESS})"
_DOMAIN_AND_PORT = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_REMOTE_NAME = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_NAME = rf"(?:{_DOMAIN_AND_PORT}/)?{_REMOTE_NAME}"

REFERENCE_RE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII)
ANCHORED_NAME_RE = re.compile(rf"(?:({_DOMAIN_AND_PORT})/)?({_REMOTE_NAME})", re.ASCII)
ANCHORED_TAG_RE = re.compile(_TAG, re.ASCII)
ANCHORED_DIGEST_RE = re.compile(_DIGEST, re.ASCII)
ANCHORED_DOMAIN_RE = re.compile(_DOMAIN_AND_PORT, re.ASCII)
ANCHORED_IDENTIFIER_RE = re.compile(r"[a-f0-9]{64}", re.ASCII)
_HEX_LOWER_RE = re.compile(r"[a-f0-9]*", re.ASCII)

# go-digest's registered algorithms and the length of their hex encoding.
DIGEST_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


class ReferenceError(ValueError):
    """An invalid image reference; the message names the input and the rule it breaks."""


def _fail(reference: str, problem: str) -> ReferenceError:
    shown = reference if len(reference) <= 80 else reference[:77] + "..."
    return ReferenceError(f"invalid image reference {shown!r}: {problem}")


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed reference. `domain` is empty only for references from `parse` without one."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The repository: `domain/path` (Named.Name())."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    @property
    def suffix(self) -> str:
        """`:tag`, `@digest`, both, or nothing — as written."""
        tag = f":{self.tag}" if self.tag is not None else ""
        digest = f"@{self.digest}" if self.digest is not None else ""
        return tag + digest

    def __str__(self) -> str:
        return self.name + self.suffix

    @property
    def familiar_name(self) -> str:
        """The short form Docker shows: `nginx` for `docker.io/library/nginx` (FamiliarName)."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        path = self.path
        if path.startswith(OFFICIAL_REPO_PREFIX) and path.count("/") == 1:
            return path[len(OFFICIAL_REPO_PREFIX) :]
        return path

    def familiar_string(self) -> str:
        """FamiliarString: the familiar name with tag and digest."""
        return self.familiar_name + self.suffix

    def with_tag_if_bare(self) -> Reference:
        """TagNameOnly: add `:latest` when there is neither tag nor digest."""
        if self.tag is None and self.digest is None:
            return Reference(self.domain, self.path, "latest", None)
        return self


def validate_digest(digest: str) -> None:
    """go-digest's Digest.Validate: a registered algorithm and a hex part of its length."""
    algorithm, sep, encoded = digest.partition(":")
    if not sep or not algorithm or not encoded:
        raise _fail(digest, "digest must be algorithm:hex")
    expected = DIGEST_HEX_LENGTHS.get(algorithm)
    if expected is None:
        if ANCHORED_DIGEST_RE.fullmatch(digest) is None:
            raise _fail(digest, "invalid digest format")
        raise _fail(
            digest,
            f"unsupported digest algorithm {algorithm!r} "
            f"(supported: {', '.join(DIGEST_HEX_LENGTHS)})",
        )
    if len(encoded) != expected:
        raise _fail(
            digest,
            f"invalid checksum digest length: {algorithm} needs {expected} "
            f"hex characters, got {len(encoded)}",
        )
    if _HEX_LOWER_RE.fullmatch(encoded) is None:
        raise _fail(digest, "invalid checksum digest format: hex must be lowercase [a-f0-9]")


def parse(s: str) -> Reference:
    """reference.Parse: the grammar only, no normalization (the domain may be empty)."""
    if not s:
        raise _fail(s, "repository name must have at least one component")
    if len(s) > MAX_INPUT_LENGTH:
        raise _fail(s, f"longer than {MAX_INPUT_LENGTH} characters")
    match = REFERENCE_RE.fullmatch(s)
    if match is None:
        if REFERENCE_RE.fullmatch(s.lower()) is not None:
            raise _fail(s, "repository name must be lowercase")
        raise _fail(s, "invalid reference format")
    name, tag, digest = match.group(1), match.group(2), match.group(3)
    name_match = ANCHORED_NAME_RE.fullmatch(name)
    assert name_match is not None  # the name matched inside REFERENCE_RE already
    domain, path = name_match.group(1) or "", name_match.group(2)
    if len(path) > NAME_TOTAL_LENGTH_MAX:
        raise _fail(s, f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")
    if digest is not None:
        validate_digest(digest)
    return Reference(domain, path, tag, digest)


def split_docker_domain(name: str) -> tuple[str, str]:
    """normalize.go splitDockerDomain: the domain, and the rest (with tag, if any)."""
    maybe_domain, sep, maybe_remote = name.partition("/")
    if not sep:
        # One element ("nginx", "nginx:1.25"): an official image on Docker Hub.
        return DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name
    if maybe_domain == LOCALHOST or (
        maybe_domain != LEGACY_DEFAULT_DOMAIN
        and (any(c in maybe_domain for c in ".:") or maybe_domain.lower() != maybe_domain)
    ):
        # A dot, a port, `localhost`, or uppercase (never valid in a path): a registry.
        domain, remote = maybe_domain, maybe_remote
    elif maybe_domain == LEGACY_DEFAULT_DOMAIN:
        domain, remote = DEFAULT_DOMAIN, maybe_remote
    else:
        domain, remote = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in remote:
        remote = OFFICIAL_REPO_PREFIX + remote
    return domain, remote


def parse_normalized(s: str) -> Reference:
    """normalize.go ParseNormalizedNamed: `nginx` → `docker.io/library/nginx`."""
    if len(s) > MAX_INPUT_LENGTH:
        raise _fail(s, f"longer than {MAX_INPUT_LENGTH} characters")
    if ANCHORED_IDENTIFIER_RE.fullmatch(s) is not None:
        raise _fail(s, "cannot specify 64-byte hexadecimal strings as a repository name")
    domain, remainder = split_docker_domain(s)
    remote_name = remainder.partition(":")[0]
    if remote_name.lower() != remote_name:
        raise _fail(s, f"repository name ({remote_name}) must be lowercase")
    try:
        reference = parse(f"{domain}/{remainder}")
    except ReferenceError as error:
        # Name the input as the user wrote it, not its normalized form.
        raise _fail(s, str(error).partition("': ")[2]) from None
    if not reference.domain:
        raise _fail(s, "reference has no name")
    return reference


@lru_cache(maxsize=8192)
def parse_normalized_cached(s: str) -> Reference:
    """parse_normalized for the hot path: pods repeat the same few images. A bounded memo of a
    pure function (8,192 references, the least recently used forgotten): the same answers,
    sooner; a ReferenceError is raised afresh each time, never remembered."""
    return parse_normalized(s)


def parse_named(s: str) -> Reference:
    """reference.ParseNamed: like parse_normalized but the input must be canonical."""
    reference = parse_normalized(s)
    if str(reference) != s:
        raise _fail(s, "repository name must be canonical")
    return reference


def parse_docker_ref(s: str) -> Reference:
    """normalize.go ParseDockerRef: normalized, `:latest` added, tag dropped beside a digest."""
    reference = parse_normalized(s)
    if reference.digest is not None:
        return Reference(reference.domain, reference.path, None, reference.digest)
    return reference.with_tag_if_bare()


def parse_any(s: str) -> Reference | str:
    """normalize.go ParseAnyReference: a 64-hex identifier is a digest; otherwise a name."""
    if ANCHORED_IDENTIFIER_RE.fullmatch(s) is not None:
        return "sha256:" + s
    try:
        validate_digest(s)
    except ReferenceError:
        # Upstream tries digest.Parse and falls back to a name on any error: `sha256:` + 32 hex
        # is the tag of `docker.io/library/sha256`.
        return parse_normalized(s)
    return s


def validate_tag(tag: str) -> None:
    if ANCHORED_TAG_RE.fullmatch(tag) is None:
        raise _fail(tag, "invalid tag format")


def validate_domain(domain: str) -> None:
    if len(domain) > NAME_TOTAL_LENGTH_MAX or ANCHORED_DOMAIN_RE.fullmatch(domain) is None:
        raise _fail(domain, "invalid domain")


def parse_repository(s: str) -> Reference:
    """A repository reference: normalized, with neither tag nor digest."""
    reference = parse_normalized(s)
    if reference.tag is not None or reference.digest is not None:
        raise _fail(s, "a repository must not have a tag or digest")
    return reference


def parse_prefix(s: str) -> str:
    """A path prefix ending in `/` (`quay.io/`, `gcr.io/team/`), normalized.

    `team/` means Docker Hub's `docker.io/team/`; `index.docker.io/` is `docker.io/`. A prefix
    is a whole number of path segments of a repository name, so it is validated by completing
    it into a repository and taking the completion off again.
    """
    if not s.endswith("/") or s == "/":
        raise _fail(s, "a prefix must end in '/' after at least one segment")
    if len(s) > NAME_TOTAL_LENGTH_MAX:
        raise _fail(s, f"prefix must not be more than {NAME_TOTAL_LENGTH_MAX} characters")
    body = s[:-1]
    if "/" not in body and (body == LOCALHOST or any(c in body for c in ".:[")):
        validate_domain(body)
        return (DEFAULT_DOMAIN if body == LEGACY_DEFAULT_DOMAIN else body) + "/"
    # Two dummy segments keep Docker Hub's `library/` rule out of the way.
    try:
        reference = parse_repository(body + "/x/x")
    except ReferenceError as error:
        raise _fail(s, f"not a valid path prefix ({str(error).rpartition(': ')[2]})") from None
    return reference.name[: -len("x/x")]


def repository_ancestors(name: str) -> list[str]:
    """Every prefix of a normalized repository on whole segments, longest first.

    `gcr.io/a/b` → [`gcr.io/a/`, `gcr.io/`]. Used to look prefixes up by hashing.
    """
    prefixes = []
    end = name.rfind("/")
    while end > 0:
        prefixes.append(name[: end + 1])
        end = name.rfind("/", 0, end)
    return prefixes
