"""Faults on the real control plane under a steady stream of pod creations (issue: hardening).

Each test puts an ImageMap in force in a namespace, waits until the webhook maps with it, then
starts a bounded stream of real pod creations (one every ~100 ms, at most 64 in flight, so
that it stays steady through the webhook's 5 s timeout; at most 2000 in all) and
injects one fault:

- kube-apiserver restart;
- etcd crash (SIGKILL), 5 s down, restart;
- a watch that expires (410 Gone) through etcd compaction, so that the webhook must list again;
- hooks server killed (SIGKILL) and restarted;
- webhook killed (SIGKILL) and restarted.

Every answer of the stream is counted: created and mapped, created UNMAPPED, rejected by
admission (the webhook's `failurePolicy: Fail`, or the API server's own admission not being
ready yet: the pod is refused, never let through unmapped), or the API server/etcd being
unavailable. Afterwards the pods that exist in the namespace are listed and checked again (a
request that timed out on the client may still have created one), the ImageMaps' `.spec` and
`metadata.generation` are compared with what the test wrote (the project must never change a
spec), and two times to converge are measured: until the stream is all-mapped again (from the
start of the fault) and until an ImageMap change made during or after the fault is reflected by
the webhook (from the change).

Goals asserted: 0 pods created unmapped, 0 spec changes, both convergence times within
CONVERGE_BOUND. The figures are printed (run with `-s`) and, with IMAGE_MAPPER_FAULTS_REPORT set
to a path, written there as JSON (one object, keyed by fault).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.controlplane.cluster import ControlPlane
from tests.e2e.stack import ACTIVE_LABEL, Stack, running_stack
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

SOURCE = "gcr.io/google-samples/kubernetes-bootcamp:v1"
MAPPED = "registry.example.com/kubernetes-bootcamp:v1"
# Mapped only by an ImageMap created during or after a fault.
LATER_SOURCE = "nginx:1.25"
LATER_MAPPED = "registry.example.com/hub/nginx:1.25"
LAST_SOURCE = "busybox:1.36"
LAST_MAPPED = "registry.example.com/hub/busybox:1.36"

CONVERGE_BOUND = 60.0
"""Seconds within which the stream must be all-mapped again and a change be reflected."""
SETTLE = 3.0
"""Seconds of nothing but mapped creations that count as converged."""
REPORT_ENV = "IMAGE_MAPPER_FAULTS_REPORT"

FIGURES: dict[str, dict[str, Any]] = {}
"""This session's figures, keyed by fault; written to $IMAGE_MAPPER_FAULTS_REPORT."""

MAPPED_KIND = "mapped"
UNMAPPED = "unmapped"
REJECTED = "rejected"
UNAVAILABLE = "unavailable"


# --- talking to the API server -----------------------------------------------------------


def api(
    cp: ControlPlane, method: str, path: str, body: object | None = None, timeout: float = 15.0
) -> tuple[int, bytes]:
    """`cp.request`, with transport errors (connection refused, timeouts) as status 0."""
    try:
        return cp.request(method, path, body=body, timeout=timeout)
    except (urllib.error.URLError, OSError) as error:
        return 0, repr(getattr(error, "reason", error)).encode()


def pod_manifest(image: str, generate_name: str = "stream-") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": generate_name, "labels": {"faults": "stream"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "app", "image": image}]},
    }


def message_of(body: bytes) -> str:
    try:
        return str(json.loads(body).get("message", ""))
    except (ValueError, AttributeError):
        return body.decode(errors="replace")[:300]


def classify(status: int, body: bytes) -> tuple[str, str]:
    """(kind, detail) of one pod creation's answer."""
    if status == 201:
        image = json.loads(body)["spec"]["containers"][0]["image"]
        return (MAPPED_KIND if image == MAPPED else UNMAPPED), image
    message = message_of(body)
    # failurePolicy Fail: the webhook could not be called or answered with an error; or the
    # API server's webhook admission has not loaded its configurations yet (it refuses then).
    if "failed calling webhook" in message or "not yet ready to handle request" in message:
        return REJECTED, f"{status}: {message}"
    return UNAVAILABLE, f"{status}: {message}"


def dry_run_image(cp: ControlPlane, namespace: str, image: str) -> str | None:
    """What the admission chain makes of `image` now (a server-side dry run), None on error."""
    status, body = api(
        cp,
        "POST",
        f"/api/v1/namespaces/{namespace}/pods?dryRun=All",
        pod_manifest(image, "probe-"),
        timeout=10,
    )
    if status != 201:
        return None
    image_now: str = json.loads(body)["spec"]["containers"][0]["image"]
    return image_now


# --- the pod stream ----------------------------------------------------------------------


@dataclass
class Outcome:
    sent: float
    done: float
    kind: str
    detail: str


class PodStream:
    """Creates a pod every `interval` seconds in a thread, at most `max_in_flight` at once and
    `max_requests` in all; records every answer."""

    def __init__(
        self,
        cp: ControlPlane,
        namespace: str,
        *,
        interval: float = 0.1,
        max_in_flight: int = 64,
        max_requests: int = 2000,
    ) -> None:
        self.cp = cp
        self.namespace = namespace
        self.interval = interval
        self.max_in_flight = max_in_flight
        self.max_requests = max_requests
        self.outcomes: list[Outcome] = []
        self.skipped = 0  # ticks with max_in_flight requests already waiting
        self._lock = threading.Lock()
        self._in_flight = 0
        self._sent = 0
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="pods")
        self._thread = threading.Thread(target=self._run, name="pod-stream", daemon=True)

    def start(self) -> PodStream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._pool.shutdown(wait=True)

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set() and self._sent < self.max_requests:
            with self._lock:
                room = self._in_flight < self.max_in_flight
                if room:
                    self._in_flight += 1
                    self._sent += 1
                else:
                    self.skipped += 1
            if room:
                self._pool.submit(self._create)
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _create(self) -> None:
        sent = time.monotonic()
        try:
            status, body = api(
                self.cp, "POST", f"/api/v1/namespaces/{self.namespace}/pods", pod_manifest(SOURCE)
            )
            kind, detail = classify(status, body)
        except Exception as error:  # never lose a count
            kind, detail = UNAVAILABLE, repr(error)
        with self._lock:
            self.outcomes.append(Outcome(sent, time.monotonic(), kind, detail))
            self._in_flight -= 1

    def snapshot(self) -> list[Outcome]:
        with self._lock:
            return sorted(self.outcomes, key=lambda o: o.sent)

    def mapped_since(self, since: float) -> int:
        return sum(1 for o in self.snapshot() if o.sent >= since and o.kind == MAPPED_KIND)

    def converged(self, since: float) -> float | None:
        """Seconds from `since` to the first request after which every answer is 'mapped', once
        that has held for SETTLE seconds; None while it has not."""
        outcomes = [o for o in self.snapshot() if o.sent >= since]
        failures = [o for o in outcomes if o.kind != MAPPED_KIND]
        if not failures:
            after = outcomes
            recovered_at = since
        else:
            last_failure = max(failures, key=lambda o: o.sent)
            after = [o for o in outcomes if o.sent > last_failure.sent]
            if not after:
                return None
            recovered_at = after[0].sent
        if not after or time.monotonic() - recovered_at < SETTLE or len(after) < 10:
            return None
        return recovered_at - since


# --- one scenario ------------------------------------------------------------------------


@dataclass
class Scenario:
    """A namespace with ImageMaps in force and the stream of pods into it."""

    stack: Stack
    namespace: str
    fault: str
    written: dict[str, tuple[int, Any]] = field(default_factory=dict)
    """ImageMap name -> (generation, spec) as the test last wrote them."""
    stream: PodStream | None = None
    fault_started: float = 0.0
    fault_ended: float = 0.0
    change_made: float | None = None
    change: tuple[str, str] = (LATER_SOURCE, LATER_MAPPED)
    """The image the timed change maps, and what to."""
    notes: list[str] = field(default_factory=list)

    @property
    def cp(self) -> ControlPlane:
        return self.stack.cp

    def apply_imagemap(self, name: str, *entries: tuple[str, str]) -> None:
        manifest = {
            "apiVersion": "mapper.imagerelocation.pivotal.io/v1alpha1",
            "kind": "ImageMap",
            "metadata": {"name": name},
            "spec": {"map": [{"from": f, "to": t} for f, t in entries]},
        }
        out = self.cp.kubectl(
            "apply", "-n", self.namespace, "-f", "-", "-o", "json", input=json.dumps(manifest)
        ).stdout
        applied = json.loads(out)
        self.written[name] = (applied["metadata"]["generation"], applied["spec"])

    def make_change(self, source: str = LATER_SOURCE, mapped: str = LATER_MAPPED) -> None:
        """The change whose reflection is timed: a new ImageMap `later` for `source`."""
        self.apply_imagemap("later", (source, mapped))
        self.change = (source, mapped)
        self.change_made = time.monotonic()

    def spec_changes(self) -> list[str]:
        """ImageMaps whose spec or generation differ from what the test last wrote."""
        items = self.stack.get("imagemaps", "-n", self.namespace)["items"]
        changed = []
        found = {item["metadata"]["name"]: item for item in items}
        for name, (generation, spec) in self.written.items():
            item = found.get(name)
            if item is None:
                changed.append(f"{name}: gone")
            elif item["metadata"]["generation"] != generation or item["spec"] != spec:
                changed.append(
                    f"{name}: generation {generation} -> {item['metadata']['generation']}, "
                    f"spec {spec} -> {item['spec']}"
                )
        changed.extend(
            f"{name}: not written by the test" for name in set(found) - set(self.written)
        )
        return changed

    def persisted_pods(self) -> tuple[int, list[str]]:
        """(pods of the stream in the namespace, the images of those not mapped)."""
        status, body = api(
            self.cp,
            "GET",
            f"/api/v1/namespaces/{self.namespace}/pods?labelSelector=faults%3Dstream",
        )
        assert status == 200, body
        items = json.loads(body)["items"]
        images = [p["spec"]["containers"][0]["image"] for p in items]
        return len(items), [image for image in images if image != MAPPED]


def time_until(what: str, check: Callable[[], bool], since: float, timeout: float) -> float:
    wait_for(what, lambda: check() or None, timeout=timeout, interval=0.2)
    return time.monotonic() - since


def maps(cp: ControlPlane, namespace: str, image: str, expected: str) -> Callable[[], bool]:
    return lambda: dry_run_image(cp, namespace, image) == expected


def run_fault(
    stack: Stack,
    namespace: str,
    fault: str,
    inject: Callable[[Scenario], None],
    *,
    expect_interruption: bool = True,
) -> dict[str, Any]:
    """Set up, stream, inject, measure, check. `inject` returns once the component is back;
    it may call `make_change` itself (a change made during the fault), otherwise the change
    is made right after it."""
    scenario = Scenario(stack, namespace, fault)
    scenario.apply_imagemap("base", (SOURCE, MAPPED))
    stack.wait_ready(namespace, "base")
    wait_for("the active label", lambda: stack.namespace_active(namespace))
    wait_for("the webhook to map", maps(stack.cp, namespace, SOURCE, MAPPED), timeout=30)

    stream = scenario.stream = PodStream(stack.cp, namespace).start()
    figures: dict[str, Any] = {"fault": fault}
    try:
        baseline_start = time.monotonic()
        wait_for("a mapped baseline", lambda: stream.mapped_since(baseline_start) >= 10 or None)

        scenario.fault_started = time.monotonic()
        inject(scenario)
        scenario.fault_ended = time.monotonic()
        if scenario.change_made is None:
            scenario.make_change()
        assert scenario.change_made is not None
        change_reflected = time_until(
            "the change to be reflected",
            maps(stack.cp, namespace, *scenario.change),
            scenario.change_made,
            CONVERGE_BOUND,
        )
        converged = wait_for(
            "the stream to be all-mapped again",
            lambda: (c := stream.converged(scenario.fault_started)) is not None and (c,),
            timeout=CONVERGE_BOUND + SETTLE,
            interval=0.25,
        )[0]
    except BaseException:
        stream.stop()
        figures.update(stream_figures(scenario), notes=scenario.notes)
        record(figures)  # the figures of a failed run too
        raise
    stream.stop()
    figures.update(stream_figures(scenario))
    figures["stream_converged_s"] = round(converged, 2)
    figures["change_reflected_s"] = round(change_reflected, 2)
    figures["notes"] = scenario.notes
    record(figures)

    assert figures["unmapped"] == 0, figures
    assert figures["unmapped_in_namespace"] == 0, figures
    assert figures["spec_changes"] == 0, figures
    assert converged <= CONVERGE_BOUND, figures
    assert change_reflected <= CONVERGE_BOUND, figures
    if not expect_interruption:
        assert figures["rejected"] == 0, figures
        assert figures["unavailable"] == 0, figures
    return figures


def stream_figures(scenario: Scenario) -> dict[str, Any]:
    assert scenario.stream is not None
    outcomes = scenario.stream.snapshot()
    kinds = Counter(o.kind for o in outcomes)
    in_namespace, unmapped_images = scenario.persisted_pods()
    spec_changes = scenario.spec_changes()
    details = Counter(o.detail[:160] for o in outcomes if o.kind not in (MAPPED_KIND,)).most_common(
        4
    )
    return {
        "requests": len(outcomes),
        "created_mapped": kinds[MAPPED_KIND],
        "unmapped": kinds[UNMAPPED],
        "rejected": kinds[REJECTED],
        "unavailable": kinds[UNAVAILABLE],
        "ticks_skipped": scenario.stream.skipped,
        "pods_in_namespace": in_namespace,
        "unmapped_in_namespace": len(unmapped_images),
        "spec_changes": len(spec_changes),
        "spec_change_details": spec_changes,
        "fault_duration_s": round(scenario.fault_ended - scenario.fault_started, 2),
        "slowest_answer_s": round(max((o.done - o.sent for o in outcomes), default=0.0), 2),
        "other_answers": [f"{count}x {detail}" for detail, count in details],
        "timeline": timeline(outcomes, scenario.fault_started),
    }


def timeline(outcomes: list[Outcome], origin: float) -> str:
    """Answers per second of sending, from the fault's start: `+3s:M4R6` = 4 mapped, 6
    rejected (U unmapped, X unavailable)."""
    letters = {MAPPED_KIND: "M", UNMAPPED: "U", REJECTED: "R", UNAVAILABLE: "X"}
    seconds: dict[int, Counter[str]] = {}
    for outcome in outcomes:
        second = int((outcome.sent - origin) // 1) if origin else 0
        seconds.setdefault(second, Counter())[letters[outcome.kind]] += 1
    return " ".join(
        f"{second:+d}s:" + "".join(f"{k}{n}" for k, n in sorted(counts.items()))
        for second, counts in sorted(seconds.items())
    )


def record(figures: dict[str, Any]) -> None:
    FIGURES[figures["fault"]] = figures
    summary = ", ".join(
        f"{key}={figures[key]}"
        for key in (
            "requests",
            "created_mapped",
            "rejected",
            "unavailable",
            "unmapped",
            "unmapped_in_namespace",
            "spec_changes",
            "fault_duration_s",
            "slowest_answer_s",
            "stream_converged_s",
            "change_reflected_s",
        )
        if key in figures
    )
    print(f"\n[faults] {figures['fault']}: {summary}")
    for line in figures.get("other_answers", []) + figures.get("notes", []):
        print(f"[faults]   {line}")
    print(f"[faults]   timeline: {figures.get('timeline')}")
    print(f"[faults]   ticks skipped at the in-flight limit: {figures.get('ticks_skipped')}")
    report = os.environ.get(REPORT_ENV)
    if report:
        Path(report).write_text(json.dumps(FIGURES, indent=2, sort_keys=True) + "\n")


# --- keeping the session stack healthy -----------------------------------------------------


def _ready(url: str) -> bool:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=2, context=context) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture
def healthy_stack(stack: Stack) -> Iterator[Stack]:
    """The session stack, checked (and repaired, should a test have failed half-way) after."""
    yield stack
    if stack.hooks is None or stack.hooks.process is None or stack.hooks.process.poll() is not None:
        stack.start_hooks()
    if (
        stack.webhook is None
        or stack.webhook.process is None
        or stack.webhook.process.poll() is not None
    ):
        stack.start_webhook()
    wait_for("the hooks to be ready", lambda: _ready(stack.hooks_url), timeout=30)
    wait_for("the webhook to be ready", lambda: _ready(stack.webhook_url), timeout=60)


# --- the faults ----------------------------------------------------------------------------


def test_apiserver_restart(healthy_stack: Stack, namespace: str) -> None:
    def inject(scenario: Scenario) -> None:
        scenario.cp.restart_apiserver()

    figures = run_fault(healthy_stack, namespace, "apiserver-restart", inject)
    assert figures["unavailable"] > 0, figures  # the stream met the restart


def test_etcd_crash_and_restart(healthy_stack: Stack, namespace: str) -> None:
    def inject(scenario: Scenario) -> None:
        cp = scenario.cp
        cp.stop_etcd(graceful=False)  # a crash
        time.sleep(5)  # an outage the stream meets (a bare restart is over in about a second)
        cp.start_etcd()
        wait_for(
            "the API server to be ready again",
            lambda: api(cp, "GET", "/readyz", timeout=5)[0] == 200,
            timeout=CONVERGE_BOUND,
        )

    figures = run_fault(healthy_stack, namespace, "etcd-crash-5s-restart", inject)
    # The stream met the outage: the API server held its requests (or failed them).
    assert figures["slowest_answer_s"] >= 3 or figures["unavailable"] > 0, figures


def test_hooks_killed_and_restarted(healthy_stack: Stack, namespace: str) -> None:
    stack = healthy_stack

    def inject(scenario: Scenario) -> None:
        assert stack.hooks is not None
        stack.hooks.kill()
        # A change while the hooks are down: Metacontroller cannot sync it until they are back.
        scenario.make_change()
        time.sleep(3)
        condition = stack.imagemap_ready(scenario.namespace, "later")
        scenario.notes.append(f"'later' while the hooks were down: Ready condition {condition}")
        assert condition is None  # not synced: the hooks really were down
        stack.start_hooks()

    # The webhook serves from the ImageMaps' status: admission never notices the hooks.
    run_fault(stack, namespace, "hooks-kill-restart", inject, expect_interruption=False)


def test_webhook_killed_and_restarted(healthy_stack: Stack, namespace: str) -> None:
    stack = healthy_stack

    def inject(scenario: Scenario) -> None:
        assert stack.webhook is not None
        stack.webhook.kill()
        time.sleep(2)  # down long enough for the stream to meet it
        stack.start_webhook()

    figures = run_fault(stack, namespace, "webhook-kill-restart", inject)
    # failurePolicy Fail: pods are refused while the webhook is down, never created unmapped.
    assert figures["rejected"] > 0, figures


# --- watch expiry through etcd compaction ----------------------------------------------------


def etcd_call(cp: ControlPlane, method: str, body: dict[str, Any]) -> dict[str, Any]:
    """etcd's v3 JSON gateway (etcdctl is not built): `kv/range`, `kv/compaction`."""
    request = urllib.request.Request(
        f"{cp.etcd_url}/v3/{method}", data=json.dumps(body).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def etcd_compact_to_current(cp: ControlPlane) -> int:
    key = base64.b64encode(b"/registry").decode()
    revision = int(
        etcd_call(cp, "kv/range", {"key": key, "count_only": True})["header"]["revision"]
    )
    etcd_call(cp, "kv/compaction", {"revision": revision, "physical": True})
    return revision


IMAGEMAPS = "/apis/mapper.imagerelocation.pivotal.io/v1alpha1/imagemaps"


@pytest.fixture
def uncached_stack(tmp_path: Path) -> Iterator[Stack]:
    """The product on a control plane of its own, without the API server's watch cache.

    With the watch cache (the default, and the session's control plane) an API server restart
    alone expires every older resourceVersion: the cache starts afresh. Without it, watches are
    served by etcd, so a 410 Gone comes from etcd's compaction, which is the fault under test.
    """
    with (
        ControlPlane(apiserver_args=["--watch-cache=false"]) as cp,
        running_stack(cp, tmp_path) as stack,
    ):
        cp.kubectl("create", "namespace", "faults-compaction")
        try:
            yield stack
        finally:
            if stack.webhook is not None:
                stack.webhook.signal(signal.SIGCONT)  # never leave it frozen


def test_watch_expired_by_compaction_relists(uncached_stack: Stack) -> None:
    stack = uncached_stack
    namespace = "faults-compaction"

    def inject(scenario: Scenario) -> None:
        cp = scenario.cp
        assert stack.webhook is not None
        status, body = api(cp, "GET", IMAGEMAPS)
        assert status == 200, body
        seen = json.loads(body)["metadata"]["resourceVersion"]  # >= the webhook's own
        workers = stack.webhook.pids()
        # Freeze the webhook, so that it cannot follow what happens next through its watch.
        stack.webhook.signal(signal.SIGSTOP)
        frozen_at = time.monotonic()
        # Drop its watch connection (SIGKILL: a graceful stop would wait for the requests
        # hanging on the frozen webhook, and the freeze must stay short) ...
        cp.restart_apiserver(graceful=False)
        # ... change the ImageMaps behind its back ...
        scenario.apply_imagemap("missed", (LATER_SOURCE, LATER_MAPPED))
        stack.wait_ready(scenario.namespace, "missed")
        for index in range(5):  # more history for compaction to discard
            cp.kubectl("create", "configmap", f"filler-{index}", "-n", scenario.namespace)
        # ... and compact etcd past its resourceVersion: resuming the watch must get 410 Gone.
        revision = etcd_compact_to_current(cp)
        status, body = api(
            cp, "GET", f"{IMAGEMAPS}?watch=1&resourceVersion={seen}&timeoutSeconds=1"
        )
        assert b'"code":410' in body, (status, body)  # the fault is in place
        scenario.notes.append(
            f"webhook frozen; watch from resourceVersion {seen} answers 410 after compaction "
            f"at revision {revision}"
        )
        # Keep the freeze short: the test is about the watch, not about a stalled server.
        frozen_for = time.monotonic() - frozen_at
        assert frozen_for < 25, frozen_for
        stack.webhook.signal(signal.SIGCONT)
        scenario.notes.append(f"frozen for {frozen_for:.1f}s")
        # Only a fresh list can show it the ImageMap created while it was frozen.
        reflected = time_until(
            "the webhook to list again and map the missed change",
            maps(cp, scenario.namespace, LATER_SOURCE, LATER_MAPPED),
            time.monotonic(),
            CONVERGE_BOUND,
        )
        scenario.notes.append(f"missed change reflected {reflected:.2f}s after unfreezing")
        assert stack.webhook.pids() == workers  # the same worker: it listed, not restarted
        relists = [
            line
            for line in stack.webhook.log_tail(400).splitlines()
            if "expired" in line.lower() or "410" in line
        ]
        scenario.notes.append(f"webhook log: {relists[-1] if relists else 'no 410 line'}")

        # The change timed by run_fault, after the relist: the new watch must follow it.
        scenario.make_change(LAST_SOURCE, LAST_MAPPED)

    run_fault(stack, namespace, "watch-expired-by-compaction", inject)
    assert stack.get("namespace", namespace)["metadata"]["labels"][ACTIVE_LABEL] == "true"
