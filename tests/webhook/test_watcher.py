"""The webhook's view over fake list/watch sources of ImageMaps and Namespaces: the mapping of
each namespace follows its decision record (design.md#one-decider, #admission)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from image_mapper.engine.imagemap import ImageMap
from image_mapper.webhook.watcher import Backoff, ClusterWatch
from tests.support.resources import imagemap, namespace
from tests.support.waiting import wait_for

from .fakes import FakeSource

NGINX = ("nginx", "registry.example.com/nginx")
QUAY = ("quay.io/", "registry.example.com/quay/")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def source() -> FakeSource:
    """The ImageMaps."""
    return FakeSource()


@pytest.fixture
def namespaces() -> FakeSource:
    return FakeSource()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def watch(source: FakeSource, namespaces: FakeSource, clock: Clock) -> Iterator[ClusterWatch]:
    watch = ClusterWatch(source, namespaces, watch_timeout_seconds=30, clock=clock,
                         backoff=Backoff(initial=0.01, maximum=0.02))
    yield watch
    watch.stop()


def _result(watch: ClusterWatch, namespace_: str, image: str) -> str | None:
    match = watch.view.mapping_for(namespace_).lookup(image)
    return None if match is None else match.result


def test_not_ready_until_both_first_lists_are_in(
    source: FakeSource, namespaces: FakeSource, watch: ClusterWatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    source.list_failures = [ConnectionError("refused"), ConnectionError("refused")]
    source.apply(imagemap("mirrors", NGINX))
    namespaces.apply(namespace("apps", "mirrors"))
    assert watch.view.readiness() == (False, "imagemaps and namespaces not yet listed")
    assert watch.view.age() is None
    watch.start()
    wait_for("the first lists", lambda: watch.view.synced)
    assert source.list_failures == []  # both failures were met: retried twice
    assert len(source.lists) == 1
    # The same failure twice within the log's repeat interval (the clock stands still): once.
    assert caplog.text.count("imagemaps list failed") == 1
    assert watch.view.readiness()[0] is True
    assert _result(watch, "apps", "nginx:1") == "registry.example.com/nginx:1"
    assert _result(watch, "other", "nginx:1") is None


def test_only_what_the_record_has_in_force_counts(
    source: FakeSource, namespaces: FakeSource, watch: ClusterWatch
) -> None:
    # `quay` says Ready in its status, but the record rejected it; `pending` is not judged yet.
    source.apply(imagemap("mirrors", NGINX))
    source.apply(imagemap("quay", QUAY))
    source.apply(imagemap("pending", ("gcr.io/", "registry.example.com/gcr/")))
    namespaces.apply(namespace("apps", "mirrors", rejected=("quay",)))
    watch.start()
    wait_for("the first lists", lambda: watch.view.synced)
    assert _result(watch, "apps", "nginx") == "registry.example.com/nginx"
    assert _result(watch, "apps", "quay.io/a/b:1") is None
    assert _result(watch, "apps", "gcr.io/a:1") is None


def test_watch_events_update_one_namespace_at_a_time(
    source: FakeSource, namespaces: FakeSource, watch: ClusterWatch
) -> None:
    watch.start()
    wait_for("the first lists", lambda: watch.view.synced)
    source.apply(imagemap("mirrors", NGINX))
    source.apply(imagemap("quay", QUAY, namespace="team"))
    namespaces.apply(namespace("apps", "mirrors"))
    namespaces.apply(namespace("team", "quay"))
    wait_for("team's mapping",
             lambda: _result(watch, "team", "quay.io/x:1") == "registry.example.com/quay/x:1")
    assert _result(watch, "apps", "nginx") == "registry.example.com/nginx"
    before = watch.view.mapping_for("apps")

    namespaces.apply(namespace("team", rejected=("quay",)))  # now rejected
    wait_for("team's mapping to go", lambda: _result(watch, "team", "quay.io/x:1") is None)
    assert watch.view.mapping_for("apps") is before  # other namespaces untouched
    namespaces.apply(namespace("apps"))
    source.delete("apps", "mirrors")
    wait_for("the mapping to go", lambda: _result(watch, "apps", "nginx") is None)
    assert "in 0 namespaces" in watch.view.readiness()[1]
    assert source.lists == ["100"]  # one list; everything else came through the watch
    assert namespaces.lists == ["100"]


def test_a_mapping_never_mixes_two_decisions(
    source: FakeSource, namespaces: FakeSource, watch: ClusterWatch
) -> None:
    """A conflicting pair: `first` in force, `second` rejected. `first` is deleted, and the
    webhook sees the delete before the new record: it keeps `first`'s mapping until the
    record that puts `second` in force arrives (no moment with neither)."""
    source.apply(imagemap("first", NGINX))
    source.apply(imagemap("second", ("nginx", "mirror.example.com/nginx")))
    namespaces.apply(namespace("apps", "first", rejected=("second",)))
    watch.start()
    wait_for("the first lists", lambda: watch.view.synced)
    source.delete("apps", "first")
    wait_for("the deletion",
             lambda: not any(m.name == "first" for m in watch.view.imagemaps_of("apps")))
    assert _result(watch, "apps", "nginx") == "registry.example.com/nginx"
    namespaces.apply(namespace("apps", "second"))
    wait_for("the second ImageMap in force",
             lambda: _result(watch, "apps", "nginx") == "mirror.example.com/nginx")


def test_a_new_generation_waiting_for_its_decision_keeps_the_one_in_force(
    source: FakeSource, namespaces: FakeSource, watch: ClusterWatch
) -> None:
    source.apply(imagemap("mirrors", NGINX))
    namespaces.apply(namespace("apps", "mirrors"))
    watch.start()
    wait_for("the first lists", lambda: watch.view.synced)
    # The spec moves to generation 2; the status still has generation 1's deployedMap.
    updated = imagemap("mirrors", ("nginx", "elsewhere.example.com/nginx"), generation=2)
    updated["status"] = imagemap("mirrors", NGINX, ready_since="2026-01-01T00:00:00Z")["status"]
    source.apply(updated)
    wait_for("generation 2",
             lambda: any(m.generation == 2 for m in watch.view.imagemaps_of("apps")))
    assert _result(watch, "apps", "nginx") == "registry.example.com/nginx"
    namespaces.apply(namespace("apps", ("mirrors", 2)))
    wait_for("generation 2 in force",
             lambda: _result(watch, "apps", "nginx") == "elsewhere.example.com/nginx")


def test_a_dropped_watch_resumes_from_the_last_resource_version(
    source: FakeSource, namespaces: FakeSource, watch: ClusterWatch
) -> None:
    namespaces.apply(namespace("apps", "mirrors", "quay"))
    watch.start()
    wait_for("the first lists", lambda: watch.view.synced)
    source.apply(imagemap("mirrors", NGINX))
    wait_for("the ImageMaps", lambda: watch.view.imagemaps_of("apps") != [])
    seen = source.resource_version
    source.break_watches(ConnectionResetError("connection reset by peer"))
    source.apply(imagemap("quay", QUAY))  # while the watch is down
    wait_for("the ImageMap applied while the watch was down",
             lambda: _result(watch, "apps", "quay.io/x") == "registry.example.com/quay/x")
    assert str(seen) in source.watches[1:]
    assert len(source.lists) == 1  # no list again


def test_410_gone_lists_again(
    source: FakeSource, namespaces: FakeSource, watch: ClusterWatch
) -> None:
    source.apply(imagemap("mirrors", NGINX))
    namespaces.apply(namespace("apps", "mirrors"))
    watch.start()
    wait_for("the first lists", lambda: watch.view.synced)
    namespaces.break_watches(ConnectionResetError("reset"))
    namespaces.apply(namespace("apps", "quay"))  # while the watch is down ...
    source.apply(imagemap("quay", QUAY))
    namespaces.compact()  # ... and the history is gone: the watch gets 410
    wait_for("a relist", lambda: len(namespaces.lists) == 2)
    wait_for("the namespace's new decision",
             lambda: _result(watch, "apps", "quay.io/x") is not None)
    assert _result(watch, "apps", "nginx") is None  # the new record was not missed
    assert len(source.lists) == 1


def test_keeps_serving_the_last_known_state_when_the_api_server_is_away(
    source: FakeSource, namespaces: FakeSource, watch: ClusterWatch, clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    source.apply(imagemap("mirrors", NGINX))
    namespaces.apply(namespace("apps", "mirrors"))
    watch.start()
    wait_for("the first lists", lambda: watch.view.synced)
    # Both watches open, so that breaking them fails them (a watch that opens after the break
    # would simply wait).
    wait_for("both watches", lambda: bool(source.watches and namespaces.watches))
    assert watch.view.age() == 0
    for down in (source, namespaces):
        down.list_failures = [ConnectionRefusedError("refused")] * 1000
        down.compact()
        down.break_watches(ConnectionRefusedError("refused"))
    clock.now += 120
    wait_for("the imagemaps watch to fail", lambda: "imagemaps watch failed" in caplog.text)
    wait_for("the namespaces watch to fail", lambda: "namespaces watch failed" in caplog.text)
    assert watch.view.age() == 120
    ready, reason = watch.view.readiness()
    assert ready is True
    assert "confirmed 120s ago" in reason
    assert _result(watch, "apps", "nginx") == "registry.example.com/nginx"


def test_bookmarks_move_the_resource_version_and_confirm_the_view(
    source: FakeSource, namespaces: FakeSource, watch: ClusterWatch, clock: Clock
) -> None:
    watch.start()
    wait_for("the first lists", lambda: watch.view.synced)
    clock.now += 50
    assert watch.view.age() == 50
    source.bookmark()
    namespaces.bookmark()
    wait_for("the bookmarks", lambda: watch.view.age() == 0)
    source.break_watches(ConnectionResetError("reset"))
    wait_for("a second watch", lambda: len(source.watches) == 2)
    assert source.watches[1] == str(source.resource_version)


def test_the_age_is_the_older_watch_s(
    source: FakeSource, namespaces: FakeSource, watch: ClusterWatch, clock: Clock
) -> None:
    watch.start()
    wait_for("the first lists", lambda: watch.view.synced)
    clock.now += 50
    source.bookmark()
    wait_for("the watch", lambda: len(source.watches) == 1)
    namespaces.break_watches(ConnectionRefusedError("refused"))
    namespaces.list_failures = [ConnectionRefusedError("refused")] * 1000
    namespaces.compact()
    source.bookmark()
    wait_for("the namespaces watch's age", lambda: watch.view.age() == 50)


def test_stop_ends_both_threads(watch: ClusterWatch) -> None:
    watch.start()
    wait_for("the first lists", lambda: watch.view.synced)
    assert watch.stop(timeout=2)  # both threads ended


def test_what_is_kept_is_typed(
    source: FakeSource, namespaces: FakeSource, watch: ClusterWatch
) -> None:
    source.apply(imagemap("mirrors", NGINX))
    namespaces.apply(namespace("apps", "mirrors"))
    watch.start()
    wait_for("the first lists", lambda: watch.view.synced)
    (kept,) = watch.view.imagemaps_of("apps")
    # A typed value, with no room for managedFields and the like.
    assert isinstance(kept, ImageMap)
    assert kept.spec_map == [{"from": NGINX[0], "to": NGINX[1]}]
