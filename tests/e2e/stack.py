"""The whole product on a real control plane: shared by the e2e tests and `make demo`.

- etcd, kube-apiserver and kube-controller-manager (tests/controlplane);
- the real Metacontroller (built from its pinned source, tests/controlplane/metacontroller.py):
  its CRDs first, so that `kubectl apply -k metacontroller/` (or a kustomization over it, or
  `helm install` of the chart: `install_with`) installs the project's real manifests unchanged,
  then the controller itself, out of cluster, with its default workers and client throttling;
- the MutatingWebhookConfiguration re-pointed from its Service (which cannot route without
  kube-proxy) to `url: https://localhost:PORT/mutate`;
- `image-mapper serve-hooks` and `image-mapper serve-webhook` as real processes, the webhook
  under its own ServiceAccount token with the project's RBAC and bootstrapping its own TLS
  (the Secret, the caBundle) exactly as in a cluster;
- the installed controllers' hooks re-pointed to the local hooks server (`webhook.url`).

With `image=`, the hooks and the webhook run as that container image instead (podman, as the
Deployments run it: uid 65532, read-only root, no capabilities, the host's network), with the
same args; the files they read are mounted into the container read-only, the webhook's TLS
folder read-write at /run/image-mapper/tls, as its Deployment's emptyDir.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tests.controlplane.cluster import ControlPlane
from tests.controlplane.metacontroller import Metacontroller, install_crds, point_hooks
from tests.image import podman
from tests.support.ports import free_ports
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "metacontroller"
SAMPLE = ROOT / "samples" / "bootcamp-imagemap.yaml"
NAMESPACE = "image-mapper"
WEBHOOK_CONFIGURATION = "image-mapper"
HOOKS_DEPLOYMENT = "image-mapper-hooks"
HOOKS_TOKEN_OVERLAY = ROOT / "overlays" / "hooks-token"
WEBHOOK_SERVICE_ACCOUNT = "image-mapper-webhook"
HOOKS_TOKEN_SECRET = "image-mapper-hooks-token"
ACTIVE_LABEL = "mapper.imagerelocation.pivotal.io/active"
ORIGINAL_IMAGES = "mapper.imagerelocation.pivotal.io/original-images"

BOOTCAMP = "gcr.io/google-samples/kubernetes-bootcamp:v1"
RELOCATED = "registry.example.com/kubernetes-bootcamp:v1"

T = TypeVar("T")


def create_hooks_token(cp: ControlPlane, namespace: str) -> str:
    """The Secret the hooks-token component tells the operator to create before installing,
    in the install's namespace (created here); the token."""
    value = secrets.token_urlsafe(32)
    cp.kubectl("create", "namespace", namespace)
    cp.kubectl("create", "secret", "generic", HOOKS_TOKEN_SECRET, "-n", namespace,
               f"--from-literal=token={value}")
    return value








@dataclass
class Server:
    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    container: str | None = None
    """The podman container's name when the server runs from the image."""

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, **self.env},
        )
        log.close()

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        # podman run passes SIGTERM on to the container and exits with its status.
        self.process.terminate()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            if self.container is not None:
                podman.remove(self.container)
            self.process.kill()
            return self.process.wait(5)

    def pids(self) -> list[int]:
        """The process and all its descendants, parents first."""
        if self.process is None or self.process.poll() is not None:
            return []
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                # "pid (comm) state ppid ...": comm may hold spaces, so split after ')'.
                ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(stat.parent.name))
        found: list[int] = []
        queue = [self.process.pid]
        while queue:
            pid = queue.pop(0)
            found.append(pid)
            queue.extend(children.get(pid, []))
        return found

    def signal(self, sig: int) -> None:
        """Send `sig` to the process and its descendants (SIGSTOP/SIGCONT to freeze a server)."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def kill(self) -> None:
        """SIGKILL the process and its descendants, as when a container is killed."""
        self.signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _get(url: str, context: ssl.SSLContext | None = None) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code


class Stack:
    """Starts and stops the product around a started ControlPlane."""

    def __init__(
        self,
        control_plane: ControlPlane,
        workdir: Path,
        manifests: Path = MANIFESTS,
        *,
        metacontroller_args: dict[str, Any] | None = None,
        image: str | None = None,
        namespace: str = NAMESPACE,
        install_with: Callable[[ControlPlane], None] | None = None,
    ) -> None:
        self.cp = control_plane
        self.namespace = namespace
        """The namespace the manifests install the hooks and the webhook into."""
        self.install_with = install_with
        """How the product is installed; None: `kubectl apply -k` of `manifests`."""
        self.image = image
        """The container image to run the hooks and the webhook from; None: this venv."""
        self.workdir = workdir
        self.manifests = manifests
        """What `kubectl apply -k` installs: `metacontroller/` or an overlay of it."""
        self.hooks_port, self.webhook_port = free_ports(2)  # two distinct ports
        self.hooks_url = f"http://127.0.0.1:{self.hooks_port}"
        self.webhook_url = f"https://localhost:{self.webhook_port}"
        self.hooks: Server | None = None
        self.webhook: Server | None = None
        self.metacontroller: Metacontroller | None = None
        self.metacontroller_args = dict(metacontroller_args or {})
        """Keyword arguments of `Metacontroller` (workers, client_qps, client_burst)."""
        self.webhook_kubeconfig = workdir / "webhook.kubeconfig"
        self.tls_dir = workdir / "tls"
        self._secret_volumes: list[tuple[dict[str, Any], Path]] = []

    # --- install ----------------------------------------------------------------------------

    def install(self) -> None:
        """The project's manifests, as `kubectl apply -k` installs them (design.md#installing)."""
        install_crds(self.cp)
        if self.install_with is None:
            self.cp.kubectl("apply", "-k", str(self.manifests))
        else:
            self.install_with(self.cp)
        # In-cluster Service names cannot resolve here: the hooks are served on 127.0.0.1.
        point_hooks(self.cp, self.hooks_url)
        self.cp.kubectl(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/imagemaps.mapper.imagerelocation.pivotal.io",
        )
        # Service references cannot route without kube-proxy: the API server calls by URL.
        self.cp.kubectl(
            "patch",
            "mutatingwebhookconfiguration",
            WEBHOOK_CONFIGURATION,
            "--type=json",
            "-p",
            json.dumps(
                [
                    {
                        "op": "replace",
                        "path": "/webhooks/0/clientConfig",
                        "value": {"url": f"{self.webhook_url}/mutate"},
                    }
                ]
            ),
        )

    # --- processes --------------------------------------------------------------------------

    def _server(
        self,
        name: str,
        args: list[str],
        env: dict[str, str] | None = None,
        volumes: tuple[str, ...] = (),
    ) -> Server:
        """`image-mapper ARGS` as a process of this venv or, with `self.image`, a container."""
        log = self.workdir / f"{name}.log"
        if self.image is None:
            return Server(name, [sys.executable, "-m", "image_mapper", *args], log, env or {})
        container = f"image-mapper-e2e-{name}-{self.hooks_port}"
        podman.remove(container)
        argv = podman.run_argv(
            self.image, container, args, tmp=self.workdir / f"{name}-tmp", volumes=volumes, env=env
        )
        return Server(name, argv, log, container=container)

    def start_hooks(self) -> Server:
        environment = self._hooks_environment()
        mounts = self.workdir / "mounts"
        self.hooks = self._server(
            "hooks",
            ["serve-hooks", "--host", "127.0.0.1", "--port", str(self.hooks_port)],
            environment,
            # The Secret volumes, at the paths the environment names (written by this test).
            (f"{mounts}:{mounts}:ro",) if mounts.exists() else (),
        )
        self.hooks.start()
        wait_for(
            "the hooks server to be ready",
            lambda: self._check_alive(self.hooks) and _get(f"{self.hooks_url}/readyz") == 200,
            timeout=30,
        )
        return self.hooks

    def _hooks_environment(self) -> dict[str, str]:
        """The environment the installed hooks Deployment gives its container. A path in it
        under a Secret volume's mount is that Secret's key, or the whole Secret as a folder,
        written here as the kubelet mounts it (`sync_secret_volumes` writes it again); the
        Pod's namespace from the downward API is the Deployment's."""
        deployment = self.cp.kubectl_json(
            "get", "deployment", HOOKS_DEPLOYMENT, "-n", self.namespace)
        pod: dict[str, Any] = deployment["spec"]["template"]["spec"]  # type: ignore[index]
        (container,) = pod["containers"]
        volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
        environment: dict[str, str] = {}
        self._secret_volumes = []
        for variable in container.get("env", []):
            field = variable.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
            if field == "metadata.namespace":  # the downward API, as the kubelet fills it
                environment[variable["name"]] = self.namespace
                continue
            value: str = variable["value"]
            for mount in container.get("volumeMounts", []):
                root = mount["mountPath"].rstrip("/")
                if value != root and not value.startswith(root + "/"):
                    continue
                secret = volumes[mount["name"]]["secret"]
                local = self.workdir / "mounts" / mount["name"]
                self._secret_volumes.append((secret, local))
                value = str(local / value.removeprefix(root).lstrip("/"))
            environment[variable["name"]] = value.rstrip("/")
        self.sync_secret_volumes()
        return environment

    def sync_secret_volumes(self) -> None:
        """Write the hooks' Secret volumes from the Secrets as they are now (keys added,
        changed or removed), as the kubelet does some time after a Secret changes."""
        for secret, local in self._secret_volumes:
            data: dict[str, str] = self.cp.kubectl_json(  # type: ignore[assignment]
                "get", "secret", secret["secretName"], "-n", self.namespace).get("data") or {}
            items = secret.get("items") or [{"key": key, "path": key} for key in data]
            wanted = {item["path"]: item["key"] for item in items}
            local.mkdir(parents=True, exist_ok=True)
            for existing in local.iterdir():
                if existing.name not in wanted:
                    existing.unlink()
            for path, key in wanted.items():
                (local / path).write_bytes(base64.b64decode(data[key]))

    def _write_webhook_kubeconfig(self) -> None:
        """The webhook's own ServiceAccount token: it runs with the project's RBAC only."""
        token = self.cp.service_account_token(self.namespace, WEBHOOK_SERVICE_ACCOUNT)
        self.webhook_kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "webhook",
                    "clusters": [
                        {
                            "name": "local",
                            "cluster": {
                                "server": self.cp.server,
                                "certificate-authority": str(self.cp.ca_file),
                            },
                        }
                    ],
                    "users": [{"name": "webhook", "user": {"token": token}}],
                    "contexts": [
                        {
                            "name": "webhook",
                            "context": {
                                "cluster": "local",
                                "user": "webhook",
                                "namespace": self.namespace,
                            },
                        }
                    ],
                }
            )
        )

    def start_webhook(self) -> Server:
        self._write_webhook_kubeconfig()
        self.tls_dir.mkdir(exist_ok=True)
        kubeconfig, tls = self.webhook_kubeconfig, self.tls_dir
        volumes: tuple[str, ...] = ()
        if self.image is not None:
            # The container's uid writes the TLS folder (the Deployment's emptyDir) and reads
            # the kubeconfig, which names the control plane's CA by its path: both mounted.
            os.chown(self.tls_dir, podman.UID, podman.UID)
            os.chown(self.webhook_kubeconfig, podman.UID, podman.UID)
            self.webhook_kubeconfig.chmod(0o600)
            kubeconfig, tls = Path("/run/image-mapper/kubeconfig"), Path(podman.TLS_DIR)
            volumes = (
                f"{self.webhook_kubeconfig}:{kubeconfig}:ro",
                f"{self.cp.ca_file}:{self.cp.ca_file}:ro",
                f"{self.tls_dir}:{tls}",
            )
        self.webhook = self._server(
            "webhook",
            [
                "serve-webhook",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.webhook_port),
                "--kubeconfig",
                str(kubeconfig),
                "--bootstrap-tls",
                "--namespace",
                self.namespace,
                "--tls-dns-name",
                "localhost",
                "--cert-file",
                str(tls / "tls.crt"),
                "--key-file",
                str(tls / "tls.key"),
                "--shutdown-delay",
                "0",
                "--graceful-timeout",
                "5",
            ],
            volumes=volumes,
        )
        self.webhook.start()
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        wait_for(
            "the webhook to be ready",
            lambda: (
                self._check_alive(self.webhook)
                and _get(f"{self.webhook_url}/readyz", context) == 200
            ),
            timeout=60,
        )
        wait_for(
            "the webhook's caBundle",
            lambda: (
                self.cp.kubectl(
                    "get",
                    "mutatingwebhookconfiguration",
                    WEBHOOK_CONFIGURATION,
                    "-o",
                    "jsonpath={.webhooks[0].clientConfig.caBundle}",
                ).stdout
                or None
            ),
        )
        return self.webhook

    def start_metacontroller(self) -> Metacontroller:
        self.metacontroller = Metacontroller(
            self.cp, self.workdir / "metacontroller.log", **self.metacontroller_args
        ).start()
        return self.metacontroller

    def _check_alive(self, server: Server | None) -> bool:
        if server is None or server.process is None:
            return False
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        return True

    def start(self) -> Stack:
        self.install()
        self.start_hooks()
        self.start_webhook()
        self.start_metacontroller()
        return self

    def stop(self) -> None:
        if self.metacontroller is not None:
            self.metacontroller.stop()
        for server in (self.webhook, self.hooks):
            if server is not None:
                server.stop()

    # --- helpers for scenarios --------------------------------------------------------------

    def apply(self, manifest: str, namespace: str | None = None) -> None:
        args = ["apply", "-f", "-"] + (["-n", namespace] if namespace else [])
        self.cp.kubectl(*args, input=manifest)

    def get(self, *args: str) -> dict[str, Any]:
        return self.cp.kubectl_json("get", *args)

    def imagemap_ready(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Ready condition once the hooks synced the current generation."""
        obj = self.get("imagemap", name, "-n", namespace)
        status = obj.get("status") or {}
        if status.get("observedGeneration") != obj["metadata"]["generation"]:
            return None
        for condition in status.get("conditions") or []:
            if condition.get("type") == "Ready":
                result: dict[str, Any] = condition
                return result
        return None

    def wait_ready(
        self, namespace: str, name: str, status: str = "True", timeout: float = 60
    ) -> dict[str, Any]:
        return wait_for(
            f"imagemap {namespace}/{name} Ready={status}",
            lambda: (c := self.imagemap_ready(namespace, name)) and c["status"] == status and c,
            timeout=timeout,
        )

    def hook_calls(self) -> dict[tuple[str, str], int]:
        """Calls the hooks server answered, by (hook path, outcome), from its /metrics."""
        with urllib.request.urlopen(f"{self.hooks_url}/metrics", timeout=5) as response:
            text = response.read().decode()
        calls: dict[tuple[str, str], int] = {}
        for line in text.splitlines():
            match = re.fullmatch(
                r'image_mapper_hook_calls_total\{hook="([^"]+)",outcome="([^"]+)"\} (\S+)', line)
            if match:
                calls[(match[1], match[2])] = int(float(match[3]))
        return calls

    def walkthrough(self, namespace: str) -> dict[str, Any]:
        """The original prototype's walk-through in a new `namespace`: the sample ImageMap,
        `kubectl wait` until it is Ready, the webhook's view of it, then `kubectl run` of the
        bootcamp image; the pod as created."""
        self.cp.kubectl("create", "namespace", namespace)
        self.cp.kubectl("apply", "-n", namespace, "-f", str(SAMPLE))
        self.cp.kubectl("wait", "-n", namespace, "--for=condition=Ready", "--timeout=60s",
                        "imagemap/bootcamp-sample")
        self.webhook_has_mapping(namespace, BOOTCAMP, RELOCATED)
        self.cp.kubectl("run", "bootcamp", f"--image={BOOTCAMP}", "-n", namespace,
                        "--restart=Never")
        return self.get("pod", "bootcamp", "-n", namespace)

    def namespace_active(self, namespace: str) -> bool:
        labels = self.get("namespace", namespace)["metadata"].get("labels") or {}
        return labels.get(ACTIVE_LABEL) == "true"

    def webhook_has_mapping(
        self, namespace: str, image: str, expected: str, timeout: float = 30
    ) -> None:
        """Wait until the webhook's view maps `image` in `namespace` (via a server-side dry run)."""

        def mapped() -> bool:
            pod = self.dry_run_pod(namespace, image)
            return bool(pod["spec"]["containers"][0]["image"] == expected)

        wait_for(f"the webhook to map {image} in {namespace}", mapped, timeout=timeout)

    def dry_run_pod(self, namespace: str, image: str) -> dict[str, Any]:
        out = self.cp.kubectl(
            "run",
            f"probe-{int(time.time() * 1000) % 100000}",
            f"--image={image}",
            "-n",
            namespace,
            "--restart=Never",
            "--dry-run=server",
            "-o",
            "json",
        ).stdout
        result: dict[str, Any] = json.loads(out)
        return result


@contextlib.contextmanager
def running_stack(
    control_plane: ControlPlane,
    workdir: Path,
    manifests: Path = MANIFESTS,
    *,
    metacontroller_args: dict[str, Any] | None = None,
    image: str | None = None,
    namespace: str = NAMESPACE,
    install_with: Callable[[ControlPlane], None] | None = None,
) -> Iterator[Stack]:
    stack = Stack(
        control_plane, workdir, manifests, metacontroller_args=metacontroller_args, image=image,
        namespace=namespace, install_with=install_with,
    )
    try:
        yield stack.start()
    finally:
        stack.stop()
