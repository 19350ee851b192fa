"""The webhook's view of the ImageMaps over a fake list/watch source."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hooks.engine.imagemap import ImageMap
from hooks.webhook.watcher import Backoff, ImageMapWatcher, read_for_view

from .fakes import FakeSource, imagemap, wait_for

NGINX = ("nginx", "registry.example.com/nginx")
QUAY = ("quay.io/", "registry.example.com/quay/")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def source() -> FakeSource:
    return FakeSource()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def watcher(source: FakeSource, clock: Clock) -> Iterator[ImageMapWatcher]:
    watcher = ImageMapWatcher(source, watch_timeout_seconds=30, clock=clock,
                              backoff=Backoff(initial=0.01, maximum=0.02))
    yield watcher
    watcher.stop()


def _result(watcher: ImageMapWatcher, namespace: str, image: str) -> str | None:
    match = watcher.view.mapping_for(namespace).lookup(image)
    return None if match is None else match.result


def test_not_ready_until_the_first_list_is_in(
    source: FakeSource, watcher: ImageMapWatcher, caplog: pytest.LogCaptureFixture
) -> None:
    source.list_failures = [ConnectionError("refused"), ConnectionError("refused")]
    source.apply(imagemap("mirrors", NGINX))
    assert watcher.view.readiness()[0] is False
    assert watcher.view.age() is None
    watcher.start()
    wait_for(lambda: watcher.view.synced, what="the first list")
    assert caplog.text.count("ImageMap list failed") == 2  # retried twice
    assert watcher.view.readiness()[0] is True
    assert _result(watcher, "demo", "nginx:1") == "registry.example.com/nginx:1"
    assert _result(watcher, "other", "nginx:1") is None


def test_only_ready_imagemaps_count(source: FakeSource, watcher: ImageMapWatcher) -> None:
    source.apply(imagemap("mirrors", NGINX))
    source.apply(imagemap("rejected", QUAY, ready_since=None))
    watcher.start()
    wait_for(lambda: watcher.view.synced)
    assert _result(watcher, "demo", "nginx") == "registry.example.com/nginx"
    assert _result(watcher, "demo", "quay.io/a/b:1") is None


def test_watch_events_update_one_namespace_at_a_time(
    source: FakeSource, watcher: ImageMapWatcher
) -> None:
    watcher.start()
    wait_for(lambda: watcher.view.synced)
    source.apply(imagemap("mirrors", NGINX))
    source.apply(imagemap("quay", QUAY, namespace="team"))
    wait_for(lambda: _result(watcher, "team", "quay.io/x:1") == "registry.example.com/quay/x:1")
    assert _result(watcher, "demo", "nginx") == "registry.example.com/nginx"
    before = watcher.view.mapping_for("demo")

    source.apply(imagemap("quay", QUAY, namespace="team", ready_since=None))  # now rejected
    wait_for(lambda: _result(watcher, "team", "quay.io/x:1") is None)
    assert watcher.view.mapping_for("demo") is before  # other namespaces untouched
    source.delete("demo", "mirrors")
    wait_for(lambda: _result(watcher, "demo", "nginx") is None)
    assert watcher.view.namespaces() == ["team"]
    assert source.lists == ["100"]  # one list; everything else came through the watch


def test_a_dropped_watch_resumes_from_the_last_resource_version(
    source: FakeSource, watcher: ImageMapWatcher
) -> None:
    watcher.start()
    wait_for(lambda: watcher.view.synced)
    source.apply(imagemap("mirrors", NGINX))
    wait_for(lambda: _result(watcher, "demo", "nginx") is not None)
    seen = source.resource_version
    source.break_watches(ConnectionResetError("connection reset by peer"))
    source.apply(imagemap("quay", QUAY))  # while the watch is down
    wait_for(lambda: _result(watcher, "demo", "quay.io/x") == "registry.example.com/quay/x")
    assert str(seen) in source.watches[1:]
    assert len(source.lists) == 1  # no list again


def test_410_gone_lists_again(source: FakeSource, watcher: ImageMapWatcher) -> None:
    source.apply(imagemap("mirrors", NGINX))
    watcher.start()
    wait_for(lambda: watcher.view.synced)
    source.break_watches(ConnectionResetError("reset"))
    source.delete("demo", "mirrors")  # while the watch is down ...
    source.apply(imagemap("quay", QUAY))
    source.compact()  # ... and the history is gone: the watch gets 410
    wait_for(lambda: len(source.lists) == 2, what="a relist")
    wait_for(lambda: _result(watcher, "demo", "quay.io/x") is not None)
    assert _result(watcher, "demo", "nginx") is None  # the delete was not missed
    assert len(source.lists) == 2


def test_keeps_serving_the_last_known_state_when_the_api_server_is_away(
    source: FakeSource, watcher: ImageMapWatcher, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    source.apply(imagemap("mirrors", NGINX))
    watcher.start()
    wait_for(lambda: watcher.view.synced)
    assert watcher.view.age() == 0
    source.list_failures = [ConnectionRefusedError("refused")] * 1000
    source.compact()
    source.break_watches(ConnectionRefusedError("refused"))
    clock.now += 120
    wait_for(lambda: "ImageMap watch failed" in caplog.text)
    assert watcher.view.age() == 120
    ready, reason = watcher.view.readiness()
    assert ready is True
    assert "confirmed 120s ago" in reason
    assert _result(watcher, "demo", "nginx") == "registry.example.com/nginx"


def test_bookmarks_move_the_resource_version_and_confirm_the_view(
    source: FakeSource, watcher: ImageMapWatcher, clock: Clock
) -> None:
    watcher.start()
    wait_for(lambda: watcher.view.synced)
    clock.now += 50
    assert watcher.view.age() == 50
    source.bookmark()
    wait_for(lambda: watcher.view.age() == 0, what="the bookmark")
    source.break_watches(ConnectionResetError("reset"))
    wait_for(lambda: len(source.watches) == 2)
    assert source.watches[1] == str(source.resource_version)


def test_imagemaps_that_transiently_disagree_are_taken_in_acceptance_order(
    source: FakeSource, watcher: ImageMapWatcher
) -> None:
    # Both say Ready (one status is stale): the one in force longer wins, the other is out.
    source.apply(imagemap("newer", ("nginx", "other.example.com/nginx"),
                          ready_since="2026-03-01T00:00:00Z"))
    source.apply(imagemap("older", NGINX, ready_since="2026-02-01T00:00:00Z"))
    watcher.start()
    wait_for(lambda: watcher.view.synced)
    match = watcher.view.mapping_for("demo").lookup("nginx")
    assert match is not None
    assert match.maplet.image_map == "older"


def test_stop_ends_the_thread(source: FakeSource, watcher: ImageMapWatcher) -> None:
    watcher.start()
    wait_for(lambda: watcher.view.synced)
    assert watcher.stop(timeout=2)  # the thread ended


def test_only_what_compiling_needs_is_kept() -> None:
    kept = read_for_view(imagemap("mirrors", NGINX))
    # A typed value, with no room for managedFields and the like, and no spec either.
    assert isinstance(kept, ImageMap)
    assert kept.spec_map is None
    assert kept.deployed_map == [{"from": NGINX[0], "to": NGINX[1]}]
