"""The real Metacontroller, built from its pinned source, run out of cluster against a local
control plane (tests and `make demo`).

- `ensure_metacontroller()` builds it once (`build-metacontroller.sh`, cached like the control
  plane) and returns the folder with the binary and the CRDs of that source;
- `install_crds(cp)` applies those CRDs (CompositeController, DecoratorController,
  ControllerRevision) and waits until they are served;
- `point_hooks(cp, base_url)` makes the installed controllers call hooks served on this machine:
  a hook's `webhook.url` overrides its `service` and `path` (in-cluster Service names cannot
  resolve here), and everything else the project's manifests say (timeouts, `authorization`)
  is kept;
- `Metacontroller` runs the binary with the flags a cluster would give it (workers, client
  QPS, discovery interval), can be restarted, frozen or killed, and keeps its log.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.controlplane.cluster import ControlPlane, ControlPlaneError, tail
from tests.support.ports import free_port

BUILD_SCRIPT = Path(__file__).with_name("build-metacontroller.sh")
VERSION = "v4.17.2-175eac0"
CONTROLLERS = (
    ("compositecontroller", "image-mapper-imagemaps"),
    ("compositecontroller", "image-mapper-clusterimagemaps"),
    ("decoratorcontroller", "image-mapper-namespaces"),
)
HOOKS = ("customize", "sync")


def ensure_metacontroller() -> Path:
    """The folder holding `metacontroller` and `crds.yaml`, built on first use (3-6 minutes)."""
    override = os.environ.get("IMAGE_MAPPER_METACONTROLLER_BIN")
    if override:
        folder = Path(override)
    else:
        proc = subprocess.run(
            ["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False
        )
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines:
            raise ControlPlaneError(f"{BUILD_SCRIPT} failed with exit code {proc.returncode}")
        folder = Path(lines[-1])
    if not os.access(folder / "metacontroller", os.X_OK) or not (folder / "crds.yaml").is_file():
        raise ControlPlaneError(f"{folder} lacks metacontroller or crds.yaml")
    return folder


def install_crds(cp: ControlPlane, folder: Path | None = None) -> None:
    folder = folder or ensure_metacontroller()
    cp.kubectl("apply", "--server-side", "-f", str(folder / "crds.yaml"))
    for crd in ("compositecontrollers", "decoratorcontrollers", "controllerrevisions"):
        cp.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s",
            f"crd/{crd}.metacontroller.k8s.io",
        )


def point_hooks(cp: ControlPlane, base_url: str) -> None:
    """Each installed hook calls `base_url` + its own path."""
    for kind, name in CONTROLLERS:
        controller = cp.kubectl_json("get", kind, name)
        hooks = controller["spec"]["hooks"]  # type: ignore[index]
        patch = []
        for hook in HOOKS:
            webhook = hooks[hook]["webhook"]
            patch.append({
                "op": "add",
                "path": f"/spec/hooks/{hook}/webhook/url",
                "value": base_url.rstrip("/") + webhook["path"],
            })
        cp.kubectl("patch", kind, name, "--type=json", "-p", json.dumps(patch))


class Metacontroller:
    """One Metacontroller process against `cp`, as its Deployment would run it."""

    def __init__(
        self,
        cp: ControlPlane,
        log_path: Path,
        *,
        workers: int = 5,
        client_qps: float | None = None,
        client_burst: int | None = None,
        discovery_interval: str | None = None,
        extra_args: tuple[str, ...] = (),
        folder: Path | None = None,
    ) -> None:
        self.cp = cp
        self.log_path = log_path
        self.binary = (folder or ensure_metacontroller()) / "metacontroller"
        args = [
            str(self.binary),
            f"--kubeconfig={cp.kubeconfig}",
            f"--workers={workers}",
            "--zap-log-level=4",
        ]
        if discovery_interval is not None:
            # The default (30s) suits the tests: the CRDs are installed before it starts, and
            # discovery shares the client's request budget (--client-go-qps).
            args.append(f"--discovery-interval={discovery_interval}")
        if client_qps is not None:
            args.append(f"--client-go-qps={client_qps}")
        if client_burst is not None:
            args.append(f"--client-go-burst={client_burst}")
        self.args = [*args, *extra_args]
        self.metrics_port = free_port()
        self.health_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def argv(self) -> list[str]:
        return [*self.args, f"--metrics-address=127.0.0.1:{self.metrics_port}",
                f"--health-probe-bind-address=127.0.0.1:{self.health_port}"]

    def start(self, attempts: int = 3) -> Metacontroller:
        """Start it and wait until ready. A free port can be taken before it binds it (by
        any process's outgoing connection, its own to the API server included): then again
        with new ports."""
        for attempt in range(attempts):
            with self.log_path.open("ab") as log:
                log.write(f"\n==== {time.strftime('%H:%M:%S')} starting metacontroller\n"
                          .encode())
                log.flush()
                self.process = subprocess.Popen(
                    self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            try:
                self.wait_ready()
            except ControlPlaneError:
                exited = self.process.poll() is not None
                if (attempt + 1 == attempts or not exited
                        or "address already in use" not in self.log_tail(5)):
                    raise
                self.metrics_port, self.health_port = free_port(), free_port()
            else:
                break
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            with contextlib.suppress(OSError, urllib.error.URLError):
                url = f"http://127.0.0.1:{self.health_port}/readyz"
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            time.sleep(0.1)
        raise ControlPlaneError(f"metacontroller not ready after {timeout:.0f}s\n{self.log_tail()}")

    def _check_alive(self) -> None:
        if self.process is None:
            raise ControlPlaneError("metacontroller was not started")
        if self.process.poll() is not None:
            raise ControlPlaneError(
                f"metacontroller exited with {self.process.returncode}\n{self.log_tail()}"
            )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def kill(self) -> None:
        """As when its pod is killed: no clean shutdown."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text: str = response.read().decode()
            return text

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)
