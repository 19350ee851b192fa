"""The warnings of an admission response, short and bounded, and the log line
(design.md#relocation-settings)."""

from __future__ import annotations

import logging

import pytest

from image_mapper.engine.mapping import Match, compile_maplet
from image_mapper.engine.settings import Settings
from image_mapper.webhook.reporting import (
    MAX_IMAGE_WARNINGS,
    MAX_WARNING_LENGTH,
    Rewrite,
    log_admission,
    pod_name,
    warnings_for,
)

MAPLET = compile_maplet("nginx", "registry.example.com/nginx", "mirrors")
AUDIT = Settings("Audit", ("trial-creds",))


def rewrite(container: str = "web", image: str = "nginx:1.25",
            result: str = "registry.example.com/nginx:1.25",
            settings: Settings | None = None) -> Rewrite:
    return Rewrite(container, Match(image, result, MAPLET, settings or Settings()))


def test_an_enforced_rewrite_says_where_the_image_went() -> None:
    assert warnings_for([rewrite()]) == [
        "image-mapper: web: nginx:1.25 -> registry.example.com/nginx:1.25 (ImageMap mirrors)"]


def test_an_audited_image_says_would_map() -> None:
    assert warnings_for([rewrite(settings=AUDIT)]) == [
        "image-mapper: web: nginx:1.25 would map registry.example.com/nginx:1.25 "
        "(ImageMap mirrors)"]


def test_no_images_no_warnings() -> None:
    assert warnings_for([]) == []


@pytest.mark.parametrize("count", [MAX_IMAGE_WARNINGS, MAX_IMAGE_WARNINGS + 1, 500])
def test_at_most_ten_warnings_the_last_counting_the_rest(count: int) -> None:
    warnings = warnings_for([rewrite(f"c{i}") for i in range(count)])
    assert len(warnings) == min(count, MAX_IMAGE_WARNINGS)
    if count > MAX_IMAGE_WARNINGS:
        listed = MAX_IMAGE_WARNINGS - 1
        assert warnings[-1] == f"image-mapper: ... and {count - listed} more images"
        assert warnings[listed - 1].startswith(f"image-mapper: c{listed - 1}: ")
    assert sum(map(len, warnings)) <= MAX_IMAGE_WARNINGS * MAX_WARNING_LENGTH


def test_long_images_are_shortened_in_the_middle_keeping_both_ends() -> None:
    digest = "sha256:" + "a" * 64
    image = f"quay.example.com/a/very/long/path/to/an/image:v1.2.3@{digest}"
    result = f"registry.example.com/mirrors/quay/a/very/long/path/to/an/image:v1.2.3@{digest}"
    [text] = warnings_for([rewrite("app", image, result)])
    assert len(text) == MAX_WARNING_LENGTH
    assert text.startswith("image-mapper: app: quay.example.com/")
    assert text.endswith("aaaa (ImageMap mirrors)")
    assert " -> registry.example.com/" in text
    assert text.count("…") == 2


def test_long_names_are_cut_and_the_warning_stays_bounded() -> None:
    maplet = compile_maplet("nginx", "registry.example.com/nginx", "m" * 253)
    long = Rewrite("c" * 5000, Match("nginx:1", "registry.example.com/nginx:1", maplet))
    [text] = warnings_for([long])
    assert len(text) <= MAX_WARNING_LENGTH
    assert "nginx:1 -> registry.example.com/nginx:1" in text


@pytest.mark.parametrize("name", ["we\nb", "we\x00b", "we\x7fb", "we\x85b", "we\ud800b"])
def test_control_characters_never_reach_a_warning(name: str) -> None:
    # The API server drops a warning with a control character; a pod is not validated yet.
    [text] = warnings_for([rewrite(name)])
    assert text.startswith("image-mapper: we\ufffdb: ")
    assert all(ch.isprintable() or ch == " " for ch in text)


@pytest.mark.parametrize(
    ("pod", "name"),
    [
        pytest.param({"metadata": {"name": "web-0"}}, "web-0", id="name"),
        pytest.param({"metadata": {"generateName": "web-7d9f-"}}, "web-7d9f-", id="generate"),
        pytest.param({"metadata": {"name": "", "generateName": "g-"}}, "g-", id="empty-name"),
        pytest.param({"metadata": None}, "", id="no-metadata"),
        pytest.param(None, "", id="no-pod"),
    ],
)
def test_a_pod_is_named_by_its_name_else_generate_name(pod: object, name: str) -> None:
    assert pod_name(pod) == name


def test_one_info_line_per_pod_with_structured_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="image_mapper.webhook.reporting")
    log_admission(namespace="apps", pod={"metadata": {"generateName": "web-7d9f-"}},
                  rewrites=[rewrite("web"), rewrite("side", "nginx:1", "r/nginx:1", AUDIT)],
                  dry_run=False)
    [record] = caplog.records
    assert record.levelno == logging.INFO
    assert record.getMessage() == (
        "pod apps/web-7d9f-: images 1 rewritten, 1 would be (Audit): "
        "web: nginx:1.25 -> registry.example.com/nginx:1.25 (ImageMap mirrors); "
        "side: nginx:1 would map r/nginx:1 (ImageMap mirrors)")
    assert record.__dict__["namespace"] == "apps"
    assert record.__dict__["pod"] == "web-7d9f-"
    assert record.__dict__["dry_run"] is False
    assert record.__dict__["images_total"] == 2
    assert record.__dict__["images"] == [
        {"container": "web", "original": "nginx:1.25", "result": "registry.example.com/nginx:1.25",
         "imageMap": "mirrors", "kind": "ImageMap", "mode": "Enforce"},
        {"container": "side", "original": "nginx:1", "result": "r/nginx:1",
         "imageMap": "mirrors", "kind": "ImageMap", "mode": "Audit"},
    ]


def test_nothing_rewritten_nothing_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="image_mapper.webhook.reporting")
    log_admission(namespace="apps", pod={}, rewrites=[], dry_run=False)
    assert caplog.records == []


def test_a_log_line_cannot_be_split(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="image_mapper.webhook.reporting")
    log_admission(namespace="apps", pod={"metadata": {"name": "p\nFAKE LINE"}},
                  rewrites=[rewrite("c\nFAKE")], dry_run=True)
    [record] = caplog.records
    assert "\n" not in record.getMessage()
    assert "(dry run)" in record.getMessage()
