"""Conformance of hooks/image_mapper/engine/reference.py with the upstream Go test tables.

The tables are ported from github.com/distribution/reference (reference_test.go,
normalize_test.go, regexp_test.go; current upstream, where the 255-character limit applies to
the repository *path*, RepositoryNameTotalLengthMax). Each upstream case is kept as data: the
input and what upstream expects. Go errors become "raises ReferenceError", with a check that the
message names the kind of problem (see `GO_ERRORS`).

Upstream tests without a Python counterpart are not ported: TestWithNameFailure, TestWithTag,
TestWithDigest and TestSerialization (no WithName/WithTag/WithDigest/Field API here),
TestMatch and TestMatchError (no FamiliarMatch). Their parse cases are covered by the tables
below.

At the end: tests for `parse_prefix` and `repository_ancestors` (project-only, not upstream)
and a guard against catastrophic regex backtracking.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

import pytest

from image_mapper.engine.reference import (
    ANCHORED_DIGEST_RE,
    ANCHORED_DOMAIN_RE,
    ANCHORED_IDENTIFIER_RE,
    ANCHORED_NAME_RE,
    REFERENCE_RE,
    Reference,
    ReferenceError,
    parse,
    parse_any,
    parse_docker_ref,
    parse_named,
    parse_normalized,
    parse_normalized_cached,
    parse_prefix,
    parse_repository,
    repository_ancestors,
    validate_digest,
    validate_tag,
)

# The Go error each case expects → a pattern its Python message must contain.
GO_ERRORS: dict[str, str] = {
    "ErrNameEmpty": "at least one component",
    "ErrReferenceInvalidFormat": "format",
    "ErrNameContainsUppercase": "lowercase",
    "ErrNameTooLong": "255",
    "ErrNameNotCanonical": "canonical",
    "digest.ErrDigestInvalidLength": "digest length",
    "digest.ErrDigestUnsupported": "unsupported digest",
}

F64 = "f" * 64
F128 = "f" * 128
SHA256_F = "sha256:" + F64
SHA512_F = "sha512:" + F128
DBCC = "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c"
E669 = "e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582"
BE17 = "be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912"
DA30 = "da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf9821"
HEX_1A3F = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"

_RUN = re.compile(r"(.)\1{7,}")


def _id(value: str) -> str:
    """A readable test id: runs of one character shortened (`f*64`), long inputs cut."""
    if not value:
        return "<empty>"
    short = _RUN.sub(lambda m: f"{m.group(1)}*{len(m.group(0))}", value)
    return short if len(short) <= 90 else f"{short[:80]}...({len(value)} chars)"


def _params(rows: Sequence[tuple[object, ...]]) -> list[object]:
    """pytest.param for each row, its id made from the first column."""
    return [pytest.param(*row, id=_id(str(row[0]))) for row in rows]


# =============================================================================================
# reference_test.go
# =============================================================================================

# TestReferenceParse: input, Go error (None: valid), repository (Name()), domain, tag, digest.
REFERENCE_PARSE: list[tuple[str, str | None, str, str, str, str]] = [
    ("test_com", None, "test_com", "", "", ""),
    ("test.com:tag", None, "test.com", "", "tag", ""),
    ("test.com:5000", None, "test.com", "", "5000", ""),
    ("test.com/repo:tag", None, "test.com/repo", "test.com", "tag", ""),
    ("test:5000/repo", None, "test:5000/repo", "test:5000", "", ""),
    ("test:5000/repo:tag", None, "test:5000/repo", "test:5000", "tag", ""),
    (f"test:5000/repo@{SHA256_F}", None, "test:5000/repo", "test:5000", "", SHA256_F),
    (f"test:5000/repo:tag@{SHA256_F}", None, "test:5000/repo", "test:5000", "tag", SHA256_F),
    ("test:5000/repo", None, "test:5000/repo", "test:5000", "", ""),
    ("", "ErrNameEmpty", "", "", "", ""),
    (":justtag", "ErrReferenceInvalidFormat", "", "", "", ""),
    (f"@{SHA256_F}", "ErrReferenceInvalidFormat", "", "", "", ""),
    ("repo@sha256:" + "f" * 34, "digest.ErrDigestInvalidLength", "", "", "", ""),
    (f"validname@invaliddigest:{F64}", "digest.ErrDigestUnsupported", "", "", "", ""),
    ("Uppercase:tag", "ErrNameContainsUppercase", "", "", "", ""),
    # Upstream FIXME, left commented out there too: "Uppercase/lowercase:tag" passes, because
    # "Uppercase" is taken as a domain name.
    ("test:5000/Uppercase/lowercase:tag", "ErrNameContainsUppercase", "", "", "", ""),
    ("lowercase:Uppercase", None, "lowercase", "", "Uppercase", ""),
    ("domain/" + "a" * 256 + ":tag", "ErrNameTooLong", "", "", "", ""),
    (
        "a/" * 127 + "a:tag-puts-this-over-max",
        None, "a/" * 127 + "a", "a", "tag-puts-this-over-max", "",
    ),
    ("aa/asdf$$^/aa", "ErrReferenceInvalidFormat", "", "", "", ""),
    ("sub-dom1.foo.com/bar/baz/quux", None, "sub-dom1.foo.com/bar/baz/quux",
     "sub-dom1.foo.com", "", ""),
    ("sub-dom1.foo.com/bar/baz/quux:some-long-tag", None, "sub-dom1.foo.com/bar/baz/quux",
     "sub-dom1.foo.com", "some-long-tag", ""),
    ("b.gcr.io/test.example.com/my-app:test.example.com", None,
     "b.gcr.io/test.example.com/my-app", "b.gcr.io", "test.example.com", ""),
    # ☃.com in punycode
    ("xn--n3h.com/myimage:xn--n3h.com", None, "xn--n3h.com/myimage", "xn--n3h.com",
     "xn--n3h.com", ""),
    # 🐳.com in punycode
    (f"xn--7o8h.com/myimage:xn--7o8h.com@{SHA512_F}", None, "xn--7o8h.com/myimage",
     "xn--7o8h.com", "xn--7o8h.com", SHA512_F),
    ("foo_bar.com:8080", None, "foo_bar.com", "", "8080", ""),
    ("foo/foo_bar.com:8080", None, "foo/foo_bar.com", "foo", "8080", ""),
    ("192.168.1.1", None, "192.168.1.1", "", "", ""),
    ("192.168.1.1:tag", None, "192.168.1.1", "", "tag", ""),
    ("192.168.1.1:5000", None, "192.168.1.1", "", "5000", ""),
    ("192.168.1.1/repo", None, "192.168.1.1/repo", "192.168.1.1", "", ""),
    ("192.168.1.1:5000/repo", None, "192.168.1.1:5000/repo", "192.168.1.1:5000", "", ""),
    ("192.168.1.1:5000/repo:5050", None, "192.168.1.1:5000/repo", "192.168.1.1:5000",
     "5050", ""),
    ("[2001:db8::1]", "ErrReferenceInvalidFormat", "", "", "", ""),
    ("[2001:db8::1]:5000", "ErrReferenceInvalidFormat", "", "", "", ""),
    ("[2001:db8::1]:tag", "ErrReferenceInvalidFormat", "", "", "", ""),
    ("[2001:db8::1]/repo", None, "[2001:db8::1]/repo", "[2001:db8::1]", "", ""),
    ("[2001:db8:1:2:3:4:5:6]/repo:tag", None, "[2001:db8:1:2:3:4:5:6]/repo",
     "[2001:db8:1:2:3:4:5:6]", "tag", ""),
    ("[2001:db8::1]:5000/repo", None, "[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "", ""),
    ("[2001:db8::1]:5000/repo:tag", None, "[2001:db8::1]:5000/repo", "[2001:db8::1]:5000",
     "tag", ""),
    (f"[2001:db8::1]:5000/repo@{SHA256_F}", None, "[2001:db8::1]:5000/repo",
     "[2001:db8::1]:5000", "", SHA256_F),
    (f"[2001:db8::1]:5000/repo:tag@{SHA256_F}", None, "[2001:db8::1]:5000/repo",
     "[2001:db8::1]:5000", "tag", SHA256_F),
    ("[2001:db8::]:5000/repo", None, "[2001:db8::]:5000/repo", "[2001:db8::]:5000", "", ""),
    ("[::1]:5000/repo", None, "[::1]:5000/repo", "[::1]:5000", "", ""),
    ("[fe80::1%eth0]:5000/repo", "ErrReferenceInvalidFormat", "", "", "", ""),
    ("[fe80::1%@invalidzone]:5000/repo", "ErrReferenceInvalidFormat", "", "", "", ""),
    # The limit is on the path: a 255-character path is fine behind any domain.
    ("example.com/" + "a" * 255 + ":tag", None, "example.com/" + "a" * 255, "example.com",
     "tag", ""),
]


@pytest.mark.parametrize(
    ("text", "err", "repository", "domain", "tag", "digest"), _params(REFERENCE_PARSE)
)
def test_reference_parse(
    text: str, err: str | None, *, repository: str, domain: str, tag: str, digest: str
) -> None:
    if err is not None:
        with pytest.raises(ReferenceError, match=GO_ERRORS[err]):
            parse(text)
        return
    ref = parse(text)
    assert str(ref) == text
    assert ref.name == repository
    assert ref.domain == domain
    assert ref.path == (repository[len(domain) + 1 :] if domain else repository)
    assert ref.tag == (tag or None)
    assert ref.digest == (digest or None)


# The 255-character limit at its boundaries (upstream: Parse checks len(path), not the name).
# The first row was an ErrNameTooLong case in older upstream tables, when the limit applied to
# domain + path; current upstream accepts it (domain "a", path of exactly 255 characters).
NAME_LENGTH: list[tuple[str, str, bool]] = [
    ("'a/'*128+'a:tag'", "a/" * 128 + "a:tag", True),
    ("path 255", "a" * 255, True),
    ("path 256", "a" * 256, False),
    ("domain + path 255", "registry.example.com:5000/" + "a/" * 127 + "a", True),
    ("domain + path 256", "registry.example.com:5000/" + "a/" * 127 + "aa", False),
    ("normalized: library/ + 245", "b" * 245, True),
    ("normalized: library/ + 248", "b" * 248, False),
]


@pytest.mark.parametrize(
    ("label", "text", "valid"), [pytest.param(*r, id=r[0]) for r in NAME_LENGTH]
)
def test_name_length_limit_applies_to_path(label: str, text: str, valid: bool) -> None:
    parser = parse_normalized if label.startswith("normalized") else parse
    if valid:
        assert len(parser(text).path) <= 255
    else:
        with pytest.raises(ReferenceError, match="255"):
            parser(text)


# TestDomainAndPath (formerly TestSplitHostname), with WithName → parse: input, domain, path.
DOMAIN_AND_PATH: list[tuple[str, str, str]] = [
    ("test.com/foo", "test.com", "foo"),
    ("test_com/foo", "", "test_com/foo"),
    ("test:8080/foo", "test:8080", "foo"),
    ("test.com:8080/foo", "test.com:8080", "foo"),
    ("test-com:8080/foo", "test-com:8080", "foo"),
    ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
]


@pytest.mark.parametrize(("text", "domain", "path"), _params(DOMAIN_AND_PATH))
def test_domain_and_path(text: str, domain: str, path: str) -> None:
    ref = parse(text)
    assert (ref.domain, ref.path) == (domain, path)


# TestParseNamed: input, domain, path, Go error (None: valid).
PARSE_NAMED: list[tuple[str, str, str, str | None]] = [
    ("test.com/foo", "test.com", "foo", None),
    ("test:8080/foo", "test:8080", "foo", None),
    ("test_com/foo", "", "", "ErrNameNotCanonical"),
    ("test.com", "", "", "ErrNameNotCanonical"),
    ("foo", "", "", "ErrNameNotCanonical"),
    ("library/foo", "", "", "ErrNameNotCanonical"),
    ("docker.io/library/foo", "docker.io", "library/foo", None),
    # Ambiguous case, parser will add "library/" to foo
    ("docker.io/foo", "", "", "ErrNameNotCanonical"),
]


@pytest.mark.parametrize(("text", "domain", "path", "err"), _params(PARSE_NAMED))
def test_parse_named(text: str, domain: str, path: str, err: str | None) -> None:
    if err is not None:
        with pytest.raises(ReferenceError, match=GO_ERRORS[err]):
            parse_named(text)
        return
    ref = parse_named(text)
    assert (ref.domain, ref.path) == (domain, path)


# =============================================================================================
# normalize_test.go
# =============================================================================================

# TestValidateReferenceName: validRepoNames.
VALID_REFERENCE_NAMES = [
    "docker/docker",
    "library/debian",
    "debian",
    "docker.io/docker/docker",
    "docker.io/library/debian",
    "docker.io/debian",
    "index.docker.io/docker/docker",
    "index.docker.io/library/debian",
    "index.docker.io/debian",
    "127.0.0.1:5000/docker/docker",
    "127.0.0.1:5000/library/debian",
    "127.0.0.1:5000/debian",
    "192.168.0.1",
    "192.168.0.1:80",
    "192.168.0.1:8/debian",
    "192.168.0.2:25000/debian",
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    "[fc00::1]:5000/docker",
    "[fc00::1]:5000/docker/docker",
    "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
    # This test case was moved from invalid to valid since it is valid input when specified
    # with a hostname, it removes the ambiguity from about whether the value is an identifier
    # or repository name
    f"docker.io/{HEX_1A3F}",
    "Docker/docker",
    "DOCKER/docker",
]

# TestValidateReferenceName: invalidRepoNames.
INVALID_REFERENCE_NAMES = [
    "https://github.com/docker/docker",
    "docker/Docker",
    "-docker",
    "-docker/docker",
    "-docker.io/docker/docker",
    "docker///docker",
    "docker.io/docker/Docker",
    "docker.io/docker///docker",
    "[fc00::1]",
    "[fc00::1]:5000",
    "fc00::1:5000/debian",
    "[fe80::1%eth0]:5000/debian",
    "[2001:db8:3:4::192.0.2.33]:5000/debian",
    HEX_1A3F,
]

# TestValidateRemoteName: validRepositoryNames.
VALID_REMOTE_NAMES = [
    # Sanity check.
    "docker/docker",
    # Allow 64-character non-hexadecimal names (hexadecimal names are forbidden).
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    # Allow embedded hyphens.
    "docker-rules/docker",
    # Allow multiple hyphens as well.
    "docker---rules/docker",
    # Username doc and image name docker being tested.
    "doc/docker",
    # single character names are now allowed.
    "d/docker",
    "jess/t",
    # Consecutive underscores.
    "dock__er/docker",
]

# TestValidateRemoteName: invalidRepositoryNames.
_LONG_NAMESPACE = "_".join(
    ["this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255"] * 4
)
INVALID_REMOTE_NAMES = [
    # Disallow capital letters.
    "docker/Docker",
    # Only allow one slash.
    "docker///docker",
    # Disallow 64-character hexadecimal.
    HEX_1A3F,
    # Disallow leading and trailing hyphens in namespace.
    "-docker/docker",
    "docker-/docker",
    "-docker-/docker",
    # Don't allow underscores everywhere (as opposed to hyphens).
    "____/____",
    "_docker/_docker",
    # Disallow consecutive periods.
    "dock..er/docker",
    "dock_.er/docker",
    "dock-.er/docker",
    # No repository.
    "docker/",
    # namespace too long
    _LONG_NAMESPACE + "/docker",
]


@pytest.mark.parametrize("text", [pytest.param(s, id=_id(s)) for s in VALID_REFERENCE_NAMES])
def test_validate_reference_name_valid(text: str) -> None:
    parse_normalized(text)


@pytest.mark.parametrize("text", [pytest.param(s, id=_id(s)) for s in INVALID_REFERENCE_NAMES])
def test_validate_reference_name_invalid(text: str) -> None:
    with pytest.raises(ReferenceError):
        parse_normalized(text)


@pytest.mark.parametrize("text", [pytest.param(s, id=_id(s)) for s in VALID_REMOTE_NAMES])
def test_validate_remote_name_valid(text: str) -> None:
    parse_normalized(text)


@pytest.mark.parametrize("text", [pytest.param(s, id=_id(s)) for s in INVALID_REMOTE_NAMES])
def test_validate_remote_name_invalid(text: str) -> None:
    with pytest.raises(ReferenceError):
        parse_normalized(text)


def test_invalid_remote_name_messages() -> None:
    """The kinds of problem upstream reports for some of the cases above."""
    with pytest.raises(ReferenceError, match="lowercase"):
        parse_normalized("docker/Docker")
    with pytest.raises(ReferenceError, match="64-byte hexadecimal"):
        parse_normalized(HEX_1A3F)
    with pytest.raises(ReferenceError, match="255"):
        parse_normalized(_LONG_NAMESPACE + "/docker")


# TestParseRepositoryInfo: RemoteName, FamiliarName, FullName, AmbiguousName, Domain.
# Each of FamiliarName, FullName and AmbiguousName (when set) parses to the same repository.
REPOSITORY_INFO: list[tuple[str, str, str, str, str]] = [
    ("fooo/bar", "fooo/bar", "docker.io/fooo/bar", "index.docker.io/fooo/bar", "docker.io"),
    ("library/ubuntu", "ubuntu", "docker.io/library/ubuntu", "library/ubuntu", "docker.io"),
    ("nonlibrary/ubuntu", "nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu", "", "docker.io"),
    ("other/library", "other/library", "docker.io/other/library", "", "docker.io"),
    ("private/moonbase", "127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase",
     "", "127.0.0.1:8000"),
    ("privatebase", "127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase", "",
     "127.0.0.1:8000"),
    ("private/moonbase", "example.com/private/moonbase", "example.com/private/moonbase", "",
     "example.com"),
    ("privatebase", "example.com/privatebase", "example.com/privatebase", "", "example.com"),
    ("private/moonbase", "example.com:8000/private/moonbase",
     "example.com:8000/private/moonbase", "", "example.com:8000"),
    ("privatebasee", "example.com:8000/privatebasee", "example.com:8000/privatebasee", "",
     "example.com:8000"),
    ("library/ubuntu-12.04-base", "ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base",
     "index.docker.io/library/ubuntu-12.04-base", "docker.io"),
    ("library/foo", "foo", "docker.io/library/foo", "docker.io/foo", "docker.io"),
    ("library/foo/bar", "library/foo/bar", "docker.io/library/foo/bar", "", "docker.io"),
    ("store/foo/bar", "store/foo/bar", "docker.io/store/foo/bar", "", "docker.io"),
    ("bar", "Foo/bar", "Foo/bar", "", "Foo"),
    ("bar", "FOO/bar", "FOO/bar", "", "FOO"),
]


def _repository_info_params() -> list[object]:
    params: list[object] = []
    for i, (remote, familiar, full, ambiguous, domain) in enumerate(REPOSITORY_INFO):
        for text in (familiar, full, *([ambiguous] if ambiguous else [])):
            params.append(pytest.param(text, remote, familiar, full, domain, id=f"{i}/{text}"))
    return params


@pytest.mark.parametrize(
    ("text", "remote_name", "familiar_name", "full_name", "domain"), _repository_info_params()
)
def test_parse_repository_info(
    text: str, remote_name: str, familiar_name: str, full_name: str, domain: str
) -> None:
    named = parse_normalized(text)
    assert named.familiar_name == familiar_name
    assert str(named) == full_name
    assert named.domain == domain
    assert named.path == remote_name


# TestParseReferenceWithTagAndDigest
def test_parse_reference_with_tag_and_digest() -> None:
    short_ref = (
        "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa"
    )
    ref = parse_normalized(short_ref)
    assert str(ref) == "docker.io/library/" + short_ref
    assert ref.tag == "latest"  # NamedTagged
    assert ref.digest == short_ref.partition("@")[2]  # Canonical
    assert ref.familiar_string() == short_ref


# TestInvalidReferenceComponents (WithTag → validate_tag, WithDigest → the digest grammar).
def test_invalid_reference_components() -> None:
    with pytest.raises(ReferenceError):
        parse_normalized("-foo")
    parse_normalized("busybox")
    with pytest.raises(ReferenceError, match="tag"):
        validate_tag("-foo")
    assert ANCHORED_DIGEST_RE.fullmatch("foo") is None
    with pytest.raises(ReferenceError, match="digest"):
        validate_digest("foo")


# TestParseAnyReference: reference, its equivalent string, and whether upstream expects a bare
# digestReference (here: the digest string) rather than a named reference.
PARSE_ANY: list[tuple[str, str, bool]] = [
    ("redis", "docker.io/library/redis", False),
    ("redis:latest", "docker.io/library/redis:latest", False),
    ("docker.io/library/redis:latest", "docker.io/library/redis:latest", False),
    (f"redis@sha256:{DBCC}", f"docker.io/library/redis@sha256:{DBCC}", False),
    (f"docker.io/library/redis@sha256:{DBCC}", f"docker.io/library/redis@sha256:{DBCC}", False),
    ("dmcgowan/myapp", "docker.io/dmcgowan/myapp", False),
    ("dmcgowan/myapp:latest", "docker.io/dmcgowan/myapp:latest", False),
    ("docker.io/mcgowan/myapp:latest", "docker.io/mcgowan/myapp:latest", False),
    (f"dmcgowan/myapp@sha256:{DBCC}", f"docker.io/dmcgowan/myapp@sha256:{DBCC}", False),
    (f"docker.io/dmcgowan/myapp@sha256:{DBCC}", f"docker.io/dmcgowan/myapp@sha256:{DBCC}",
     False),
    (DBCC, f"sha256:{DBCC}", True),
    (f"sha256:{DBCC}", f"sha256:{DBCC}", True),
    (DBCC[:-1], f"docker.io/library/{DBCC[:-1]}", False),
    ("dbcc1", "docker.io/library/dbcc1", False),
]


@pytest.mark.parametrize(("text", "equivalent", "digest_only"), _params(PARSE_ANY))
def test_parse_any_reference(text: str, equivalent: str, digest_only: bool) -> None:
    ref = parse_any(text)
    assert str(ref) == equivalent
    if digest_only:
        assert ref == equivalent
    else:
        assert isinstance(ref, Reference)
        assert ref == parse(equivalent)


# Not an upstream table: ParseAnyReference falls back to ParseNormalizedNamed when go-digest's
# digest.Parse fails, so a digest-shaped string that is not a valid digest is a name and tag.
PARSE_ANY_FALLBACK: list[tuple[str, str]] = [
    ("sha256:" + "f" * 32, "docker.io/library/sha256:" + "f" * 32),
    (f"sha256:{DBCC.upper()}", f"docker.io/library/sha256:{DBCC.upper()}"),
    (f"md5:{DBCC}", f"docker.io/library/md5:{DBCC}"),
]


@pytest.mark.parametrize(("text", "equivalent"), _params(PARSE_ANY_FALLBACK))
def test_parse_any_falls_back_to_a_name_when_not_a_digest(text: str, equivalent: str) -> None:
    ref = parse_any(text)
    assert isinstance(ref, Reference)
    assert str(ref) == equivalent


# TestNormalizedSplitHostname: input, domain, path.
NORMALIZED_SPLIT_HOSTNAME: list[tuple[str, str, str]] = [
    ("test.com/foo", "test.com", "foo"),
    ("test_com/foo", "docker.io", "test_com/foo"),
    ("docker/migrator", "docker.io", "docker/migrator"),
    ("test.com:8080/foo", "test.com:8080", "foo"),
    ("test-com:8080/foo", "test-com:8080", "foo"),
    ("foo", "docker.io", "library/foo"),
    ("xn--n3h.com/foo", "xn--n3h.com", "foo"),
    ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
    ("docker.io/foo", "docker.io", "library/foo"),
    ("docker.io/library/foo", "docker.io", "library/foo"),
    ("docker.io/library/foo/bar", "docker.io", "library/foo/bar"),
]


@pytest.mark.parametrize(("text", "domain", "path"), _params(NORMALIZED_SPLIT_HOSTNAME))
def test_normalized_split_hostname(text: str, domain: str, path: str) -> None:
    named = parse_normalized(text)
    assert (named.domain, named.path) == (domain, path)
    assert parse_normalized_cached(text) == named


# TestParseDockerRef: name, input, expected.
PARSE_DOCKER_REF: list[tuple[str, str, str]] = [
    ("nothing", "busybox", "docker.io/library/busybox:latest"),
    ("tag only", "busybox:latest", "docker.io/library/busybox:latest"),
    ("digest only", f"busybox@sha256:{E669}", f"docker.io/library/busybox@sha256:{E669}"),
    ("path only", "library/busybox", "docker.io/library/busybox:latest"),
    ("hostname only", "docker.io/busybox", "docker.io/library/busybox:latest"),
    ("no tag", "docker.io/library/busybox", "docker.io/library/busybox:latest"),
    ("no path", "docker.io/busybox:latest", "docker.io/library/busybox:latest"),
    ("no hostname", "library/busybox:latest", "docker.io/library/busybox:latest"),
    ("full reference with tag", "docker.io/library/busybox:latest",
     "docker.io/library/busybox:latest"),
    ("gcr reference without tag", "gcr.io/library/busybox", "gcr.io/library/busybox:latest"),
    ("both tag and digest", f"gcr.io/library/busybox:latest@sha256:{E669}",
     f"gcr.io/library/busybox@sha256:{E669}"),
]


@pytest.mark.parametrize(("name", "text", "expected"), _params(PARSE_DOCKER_REF))
def test_parse_docker_ref(name: str, text: str, expected: str) -> None:
    output = str(parse_docker_ref(text))
    assert output == expected
    parse(output)  # a valid reference


# =============================================================================================
# regexp_test.go
# =============================================================================================

# TestDomainRegexp: input, match (against ^domainAndPort$).
DOMAIN_REGEXP: list[tuple[str, bool]] = [
    ("test.com", True),
    ("test.com:10304", True),
    ("test.com:http", False),
    ("localhost", True),
    ("localhost:8080", True),
    ("a", True),
    ("a.b", True),
    ("ab.cd.com", True),
    ("a-b.com", True),
    ("-ab.com", False),
    ("ab-.com", False),
    ("ab.c-om", True),
    ("ab.-com", False),
    ("ab.com-", False),
    ("0101.com", True),  # TODO(dmcgowan): valid if this should be allowed
    ("001a.com", True),
    ("b.gbc.io:443", True),
    ("b.gbc.io", True),
    ("xn--n3h.com", True),  # ☃.com in punycode
    ("Asdf.com", True),  # uppercase character
    ("192.168.1.1:75050", True),  # ipv4
    ("192.168.1.1:750050", True),  # port with more than 5 digits, it will fail on validation
    ("[fd00:1:2::3]:75050", True),  # ipv6 compressed
    ("[fd00:1:2::3]75050", False),  # ipv6 wrong port separator
    ("[fd00:1:2::3]::75050", False),  # ipv6 wrong port separator
    ("[fd00:1:2::3%eth0]:75050", False),  # ipv6 with zone
    ("[fd00123123123]:75050", True),  # ipv6 wrong format, will fail in validation
    ("[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:75050", True),  # ipv6 long format
    # ipv6 long format and invalid port, it will fail in validation
    ("[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:750505", True),
    ("fd00:1:2::3:75050", False),  # bad ipv6 without square brackets
]


@pytest.mark.parametrize(("text", "match"), _params(DOMAIN_REGEXP))
def test_domain_regexp(text: str, match: bool) -> None:
    assert (ANCHORED_DOMAIN_RE.fullmatch(text) is not None) is match


def _check_regexp(regex: re.Pattern[str], text: str, match: bool, subs: tuple[str, ...]) -> None:
    """regexp_test.go checkRegexp: whole-string match, then the submatches that are given."""
    found = regex.fullmatch(text)
    if not match:
        assert found is None, f"unexpected match for {text!r}"
        return
    assert found is not None, f"expected match for {text!r}"
    groups = tuple(g or "" for g in found.groups())  # Go reports an unset group as ""
    assert groups[: len(subs)] == subs


# TestFullNameRegexp: input, match, submatches (domain, remote name) where upstream gives them.
FULL_NAME_REGEXP: list[tuple[str, bool, tuple[str, ...]]] = [
    ("", False, ()),
    ("short", True, ("", "short")),
    ("simple/name", True, ("simple", "name")),
    ("library/ubuntu", True, ("library", "ubuntu")),
    ("docker/stevvooe/app", True, ("docker", "stevvooe/app")),
    ("aa/aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb", True,
     ("aa", "aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb")),
    ("aa/aa/bb/bb/bb", True, ("aa", "aa/bb/bb/bb")),
    ("a/a/a/a", True, ("a", "a/a/a")),
    ("a/a/a/a/", False, ()),
    ("a//a/a", False, ()),
    ("a", True, ("", "a")),
    ("a/aa", True, ("a", "aa")),
    ("a/aa/a", True, ("a", "aa/a")),
    ("foo.com", True, ("", "foo.com")),
    ("foo.com/", False, ()),
    ("foo.com:8080/bar", True, ("foo.com:8080", "bar")),
    ("foo.com:http/bar", False, ()),
    ("foo.com/bar", True, ("foo.com", "bar")),
    ("foo.com/bar/baz", True, ("foo.com", "bar/baz")),
    ("localhost:8080/bar", True, ("localhost:8080", "bar")),
    ("sub-dom1.foo.com/bar/baz/quux", True, ("sub-dom1.foo.com", "bar/baz/quux")),
    ("blog.foo.com/bar/baz", True, ("blog.foo.com", "bar/baz")),
    ("a^a", False, ()),
    ("aa/asdf$$^/aa", False, ()),
    ("asdf$$^/aa", False, ()),
    ("aa-a/a", True, ("aa-a", "a")),
    ("a/" * 128 + "a", True, ("a", "a/" * 127 + "a")),
    ("a-/a/a/a", False, ()),
    ("foo.com/a-/a/a", False, ()),
    ("-foo/bar", False, ()),
    ("foo/bar-", False, ()),
    ("foo-/bar", False, ()),
    ("foo/-bar", False, ()),
    ("_foo/bar", False, ()),
    ("foo_bar", True, ("", "foo_bar")),
    ("foo_bar.com", True, ("", "foo_bar.com")),
    ("foo_bar.com:8080", False, ()),
    ("foo_bar.com:8080/app", False, ()),
    ("foo.com/foo_bar", True, ("foo.com", "foo_bar")),
    ("____/____", False, ()),
    ("_docker/_docker", False, ()),
    ("docker_/docker_", False, ()),
    ("b.gcr.io/test.example.com/my-app", True, ("b.gcr.io", "test.example.com/my-app")),
    ("xn--n3h.com/myimage", True, ("xn--n3h.com", "myimage")),  # ☃.com in punycode
    ("xn--7o8h.com/myimage", True, ("xn--7o8h.com", "myimage")),  # 🐳.com in punycode
    ("example.com/xn--7o8h.com/myimage", True, ("example.com", "xn--7o8h.com/myimage")),
    ("example.com/some_separator__underscore/myimage", True,
     ("example.com", "some_separator__underscore/myimage")),
    ("example.com/__underscore/myimage", False, ()),
    ("example.com/..dots/myimage", False, ()),
    ("example.com/.dots/myimage", False, ()),
    ("example.com/nodouble..dots/myimage", False, ()),
    ("example.com/nodouble..dots/myimage", False, ()),  # (listed twice upstream)
    ("docker./docker", False, ()),
    (".docker/docker", False, ()),
    ("docker-/docker", False, ()),
    ("-docker/docker", False, ()),
    ("do..cker/docker", False, ()),
    ("do__cker:8080/docker", False, ()),
    ("do__cker/docker", True, ("", "do__cker/docker")),
    ("b.gcr.io/test.example.com/my-app", True, ("b.gcr.io", "test.example.com/my-app")),
    ("registry.io/foo/project--id.module--name.ver---sion--name", True,
     ("registry.io", "foo/project--id.module--name.ver---sion--name")),
    ("Asdf.com/foo/bar", True, ()),  # uppercase character in hostname
    ("Foo/FarB", False, ()),  # uppercase characters in remote name
]


def test_full_name_regexp_has_two_submatches() -> None:
    assert ANCHORED_NAME_RE.groups == 2


@pytest.mark.parametrize(("text", "match", "subs"), _params(FULL_NAME_REGEXP))
def test_full_name_regexp(text: str, match: bool, subs: tuple[str, ...]) -> None:
    _check_regexp(ANCHORED_NAME_RE, text, match, subs)


# TestReferenceRegexp: input, match, submatches (name, tag, digest).
REFERENCE_REGEXP: list[tuple[str, bool, tuple[str, ...]]] = [
    ("registry.com:8080/myapp:tag", True, ("registry.com:8080/myapp", "tag", "")),
    (f"registry.com:8080/myapp@sha256:{BE17}", True,
     ("registry.com:8080/myapp", "", f"sha256:{BE17}")),
    (f"registry.com:8080/myapp:tag2@sha256:{BE17}", True,
     ("registry.com:8080/myapp", "tag2", f"sha256:{BE17}")),
    ("registry.com:8080/myapp@sha256:badbadbadbad", False, ()),
    ("registry.com:8080/myapp:invalid~tag", False, ()),
    ("bad_hostname.com:8080/myapp:tag", False, ()),
    # localhost treated as name, missing tag with 8080 as tag
    (f"localhost:8080@sha256:{BE17}", True, ("localhost", "8080", f"sha256:{BE17}")),
    (f"localhost:8080/name@sha256:{BE17}", True, ("localhost:8080/name", "", f"sha256:{BE17}")),
    (f"localhost:http/name@sha256:{BE17}", False, ()),
    # localhost will be treated as an image name without a host
    (f"localhost@sha256:{BE17}", True, ("localhost", "", f"sha256:{BE17}")),
    ("registry.com:8080/myapp@bad", False, ()),
    ("registry.com:8080/myapp@2bad", False, ()),  # TODO(dmcgowan): Support this as valid
]


def test_reference_regexp_has_three_submatches() -> None:
    assert REFERENCE_RE.groups == 3


@pytest.mark.parametrize(("text", "match", "subs"), _params(REFERENCE_REGEXP))
def test_reference_regexp(text: str, match: bool, subs: tuple[str, ...]) -> None:
    _check_regexp(REFERENCE_RE, text, match, subs)


# TestIdentifierRegexp: input, match.
IDENTIFIER_REGEXP: list[tuple[str, bool]] = [
    (DA30, True),
    ("7EC43B381E5AEFE6E04EFB0B3F0693FF2A4A50652D64AEC573905F2DB5889A1C", False),
    (DA30[:-4], False),
    (f"sha256:{DA30}", False),
    (DA30 + "8482", False),
]


@pytest.mark.parametrize(("text", "match"), _params(IDENTIFIER_REGEXP))
def test_identifier_regexp(text: str, match: bool) -> None:
    assert (ANCHORED_IDENTIFIER_RE.fullmatch(text) is not None) is match


# =============================================================================================
# Project-only: prefixes and repository ancestors (not upstream)
# =============================================================================================

# parse_prefix: prefix as written → normalized prefix.
VALID_PREFIXES: list[tuple[str, str]] = [
    ("quay.io/", "quay.io/"),
    ("index.docker.io/", "docker.io/"),
    ("docker.io/", "docker.io/"),
    ("team/", "docker.io/team/"),
    ("library/", "docker.io/library/"),
    ("docker.io/team/", "docker.io/team/"),
    ("gcr.io/team/", "gcr.io/team/"),
    ("localhost/", "localhost/"),
    ("localhost:5000/a/", "localhost:5000/a/"),
    ("[::1]:5000/", "[::1]:5000/"),
    # An uppercase first segment is a registry host upstream (ParseRepositoryInfo "Foo/bar"),
    # so it is a valid prefix like the repositories it is a prefix of.
    ("UPPER/x/", "UPPER/x/"),
]

INVALID_PREFIXES = [
    "quay.io",  # no trailing slash
    "/",
    "a//",
    "",
    "quay.io//",
    "quay.io/UPPER/",  # uppercase in the path
    "team/UPPER/",
    "-bad.io/",
    "quay.io/team:tag/",
    "[fe80::1%eth0]/",
]


@pytest.mark.parametrize(("text", "expected"), _params(VALID_PREFIXES))
def test_parse_prefix(text: str, expected: str) -> None:
    assert parse_prefix(text) == expected


def test_prefix_is_a_prefix_of_what_it_should_match() -> None:
    assert parse_normalized("UPPER/x/app").name.startswith(parse_prefix("UPPER/x/"))
    assert parse_normalized("team/app").name.startswith(parse_prefix("team/"))
    assert parse_normalized("index.docker.io/team/app").name.startswith(parse_prefix("team/"))


@pytest.mark.parametrize("text", [pytest.param(s, id=_id(s)) for s in INVALID_PREFIXES])
def test_parse_prefix_invalid(text: str) -> None:
    with pytest.raises(ReferenceError):
        parse_prefix(text)


# repository_ancestors: normalized repository → its prefixes, longest first.
ANCESTORS: list[tuple[str, list[str]]] = [
    ("gcr.io/a/b", ["gcr.io/a/", "gcr.io/"]),
    ("docker.io/library/nginx", ["docker.io/library/", "docker.io/"]),
    ("localhost:5000/a/b/c", ["localhost:5000/a/b/", "localhost:5000/a/", "localhost:5000/"]),
    ("[::1]:5000/repo", ["[::1]:5000/"]),
    ("quay.io/x", ["quay.io/"]),
]


@pytest.mark.parametrize(("name", "expected"), _params(ANCESTORS))
def test_repository_ancestors(name: str, expected: list[str]) -> None:
    assert repository_ancestors(name) == expected
    # Every ancestor is itself a valid, already normalized prefix.
    assert [parse_prefix(p) for p in expected] == expected


def test_repository_ancestors_of_parsed_names() -> None:
    assert repository_ancestors(parse_repository("nginx").name) == [
        "docker.io/library/",
        "docker.io/",
    ]
    assert repository_ancestors(parse_normalized("quay.io/a/b/c:1").name) == [
        "quay.io/a/b/",
        "quay.io/a/",
        "quay.io/",
    ]


# =============================================================================================
# Regex backtracking guard (pod specs are untrusted input)
# =============================================================================================

PATHOLOGICAL: list[tuple[str, str]] = [
    ("'a'+'-'*5000+'!'", "a" + "-" * 5000 + "!"),
    ("'a'+'-'*4000+'!'", "a" + "-" * 4000 + "!"),
    ("'A'+'-'*4000+'!'", "A" + "-" * 4000 + "!"),
    ("'a.'*3000", "a." * 3000),
    ("'a.'*2000", "a." * 2000),
    ("'['+':'*4000", "[" + ":" * 4000),
    ("'['+':'*4000+']/a!'", "[" + ":" * 4000 + "]/a!"),
    ("'a'*4000+'!'", "a" * 4000 + "!"),
    ("'a/'*2000+'!'", "a/" * 2000 + "!"),
    ("'a-'*2000+'!'", "a-" * 2000 + "!"),
    ("'a__'*1300+'!'", "a__" * 1300 + "!"),
    ("'a_'*2000+'_'", "a_" * 2000 + "_"),
    ("'x.io/'+'a-'*1900+'@'", "x.io/" + "a-" * 1900 + "@"),
    ("'a:'+'b'*4000+'!'", "a:" + "b" * 4000 + "!"),
    ("'a@a'+'-a'*1900+':'", "a@a" + "-a" * 1900 + ":"),
]


@pytest.mark.parametrize(("label", "text"), [pytest.param(*r, id=r[0]) for r in PATHOLOGICAL])
def test_pathological_input_is_rejected_quickly(label: str, text: str) -> None:
    for parser in (parse_normalized, parse, parse_any):
        start = time.perf_counter()
        with pytest.raises(ReferenceError):
            parser(text)
        elapsed = time.perf_counter() - start
        assert elapsed < 1.0, f"{parser.__name__}({label}) took {elapsed:.3f}s"
