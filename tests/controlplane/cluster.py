"""A real, local Kubernetes control plane for end-to-end tests and demos.

Runs etcd, kube-apiserver and kube-controller-manager (built from the Go module
proxy by ``build.sh`` and cached outside the checkout) on free loopback ports.
There is no scheduler and no kubelet: Pods are created but stay ``Pending``.

Typical use::

    with ControlPlane() as cp:
        cp.kubectl("create", "namespace", "demo")
        token = cp.service_account_token("demo", "default")

Nothing happens at import time; processes are started by :meth:`ControlPlane.start`.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, TypeVar

from tests.support.ports import free_ports

K8S_VERSION = "v1.35.4"
ETCD_VERSION = "v3.6.16"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager")
BUILD_SCRIPT = Path(__file__).resolve().with_name("build.sh")

SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
# Controllers that only make sense with a cloud provider.
CLOUD_CONTROLLERS = (
    "cloud-node-lifecycle-controller",
    "node-route-controller",
    "service-lb-controller",
)

T = TypeVar("T")


class ControlPlaneError(RuntimeError):
    """Building, starting or talking to the control plane failed."""


class KubectlError(subprocess.CalledProcessError):
    """A ``kubectl`` call exited non-zero; the message includes its stderr."""

    def __str__(self) -> str:
        cmd = " ".join(self.cmd) if isinstance(self.cmd, list) else str(self.cmd)
        return f"{cmd!r} exited {self.returncode}: {(self.stderr or '').strip()}"


# --------------------------------------------------------------------------- binaries


def cache_root() -> Path:
    """Root of the out-of-checkout cache (``$IMAGE_MAPPER_CACHE`` or ``~/.cache/image-mapper``)."""
    env = os.environ.get("IMAGE_MAPPER_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "image-mapper"


def default_bin_dir() -> Path:
    """Where ``build.sh`` puts the binaries for the pinned versions."""
    k8s = os.environ.get("K8S_VERSION", K8S_VERSION)
    etcd = os.environ.get("ETCD_VERSION", ETCD_VERSION)
    return cache_root() / "controlplane" / f"k8s-{k8s}-etcd-{etcd}" / "bin"


def _binaries_present(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / name, os.X_OK) for name in BINARIES)


def ensure_binaries(*, quiet: bool = False) -> Path:
    """Return the directory holding etcd, kube-apiserver and kube-controller-manager.

    ``$IMAGE_MAPPER_CONTROLPLANE_BIN`` overrides the location (no build then).
    Otherwise the cached binaries are used, or ``build.sh`` builds them (10-20
    minutes the first time on a 2-core machine; its progress goes to stderr).
    """
    override = os.environ.get("IMAGE_MAPPER_CONTROLPLANE_BIN")
    if override:
        bin_dir = Path(override)
        if not _binaries_present(bin_dir):
            raise ControlPlaneError(
                f"IMAGE_MAPPER_CONTROLPLANE_BIN={override} lacks one of {', '.join(BINARIES)}"
            )
        return bin_dir
    bin_dir = default_bin_dir()
    if _binaries_present(bin_dir):
        return bin_dir
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL if quiet else None,
        text=True,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise ControlPlaneError(f"{BUILD_SCRIPT} failed with exit code {proc.returncode}")
    bin_dir = Path(lines[-1])
    if not _binaries_present(bin_dir):
        raise ControlPlaneError(f"{BUILD_SCRIPT} reported {bin_dir} but binaries are missing")
    return bin_dir


# --------------------------------------------------------------------------- helpers








def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a text file ('' if it doesn't exist)."""
    try:
        data = path.read_bytes()[-64 * 1024 :]
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def generate_rsa_key(path: Path) -> None:
    """Write a 2048-bit RSA private key (PEM) to ``path``."""
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
    except ImportError:
        subprocess.run(
            ["openssl", "genrsa", "-out", str(path), "2048"],
            check=True,
            capture_output=True,
        )
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
    path.chmod(0o600)


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child after fork
    """preexec_fn: have the kernel SIGKILL the child when its parent dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


WORKDIR_PREFIX = "image-mapper-cp-"
_OWNER_FILE = ".owner-pid"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_workdirs(tmp: Path | None = None) -> list[Path]:
    """Remove temp dirs left by control planes whose Python process was killed.

    Only dirs with an owner-pid file of a dead process are removed; dirs kept on
    purpose (``keep_workdir`` or a failed start) have no such file.
    """
    removed: list[Path] = []
    base = tmp or Path(tempfile.gettempdir())
    for path in base.glob(WORKDIR_PREFIX + "*"):
        try:
            pid = int((path / _OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue
        if not _pid_alive(pid):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


# All started, not yet stopped control planes; stopped by an atexit fallback.
_LIVE: weakref.WeakSet[ControlPlane] = weakref.WeakSet()
_ATEXIT_LOCK = threading.Lock()
_atexit_registered = False


def _stop_all_live() -> None:
    for cp in list(_LIVE):
        with contextlib.suppress(Exception):
            cp.stop()


def _register_atexit() -> None:
    global _atexit_registered
    with _ATEXIT_LOCK:
        if not _atexit_registered:
            atexit.register(_stop_all_live)
            _atexit_registered = True


@dataclass
class _Component:
    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    log_file: IO[bytes] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


# --------------------------------------------------------------------------- ControlPlane


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager on loopback.

    Attributes available after :meth:`start`: :attr:`kubeconfig`, :attr:`server`,
    :attr:`admin_token`, :attr:`ca_file`, :attr:`workdir`, :attr:`timings`.

    Parameters:
        bin_dir: directory with the three binaries (default: :func:`ensure_binaries`).
        extra_tokens: static tokens for the token-auth file, ``user -> (token, groups)``.
        apiserver_args / controller_manager_args: extra flags appended verbatim.
        ready_timeout: seconds to wait for each component to become ready.
        keep_workdir: leave the temp dir (logs, certs, etcd data) after :meth:`stop`.
        die_with_parent: on Linux, have the kernel kill the components if this
            process dies without cleaning up (PR_SET_PDEATHSIG). It fires when the
            *thread* that called :meth:`start` exits, so pass ``False`` when starting
            from a short-lived thread.
    """

    def __init__(
        self,
        *,
        bin_dir: Path | None = None,
        extra_tokens: Mapping[str, tuple[str, Sequence[str]]] | None = None,
        apiserver_args: Sequence[str] = (),
        controller_manager_args: Sequence[str] = (),
        ready_timeout: float = 120.0,
        keep_workdir: bool = False,
        die_with_parent: bool = True,
        kubectl_path: str | None = None,
    ) -> None:
        self._bin_dir = bin_dir
        self.extra_tokens = dict(extra_tokens or {})
        self.apiserver_args = list(apiserver_args)
        self.controller_manager_args = list(controller_manager_args)
        self.ready_timeout = ready_timeout
        self.keep_workdir = keep_workdir
        self.die_with_parent = die_with_parent
        self.kubectl_path = kubectl_path or shutil.which("kubectl") or "/usr/bin/kubectl"

        self.workdir: Path | None = None
        self.admin_token = secrets.token_hex(24)
        self._kcm_token = secrets.token_hex(24)
        self.etcd_port = 0
        self.etcd_peer_port = 0
        self.apiserver_port = 0
        self.timings: dict[str, float] = {}
        self._components: dict[str, _Component] = {}
        self._lock = threading.RLock()
        self._started = False

    # ----------------------------------------------------------------- properties

    def _require_workdir(self) -> Path:
        if self.workdir is None:
            raise ControlPlaneError("control plane is not started")
        return self.workdir

    @property
    def server(self) -> str:
        """The apiserver URL, e.g. ``https://127.0.0.1:34567``."""
        if not self.apiserver_port:
            raise ControlPlaneError("control plane is not started")
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.etcd_port}"

    @property
    def kubeconfig(self) -> Path:
        """Admin kubeconfig (static token in group ``system:masters``, CA-verified)."""
        return self._require_workdir() / "admin.kubeconfig"

    @property
    def ca_file(self) -> Path:
        """PEM bundle the apiserver's serving certificate verifies against."""
        return self._require_workdir() / "pki" / "apiserver.crt"

    @property
    def log_dir(self) -> Path:
        return self._require_workdir() / "logs"

    @property
    def bin_dir(self) -> Path:
        if self._bin_dir is None:
            self._bin_dir = ensure_binaries()
        return self._bin_dir

    def log_path(self, component: str) -> Path:
        """Log file of ``etcd``, ``kube-apiserver`` or ``kube-controller-manager``."""
        return self.log_dir / f"{component}.log"

    def env(self) -> dict[str, str]:
        """``os.environ`` plus ``KUBECONFIG`` pointing at the admin kubeconfig."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    # ----------------------------------------------------------------- lifecycle

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> ControlPlane:
        """Build/find the binaries, start all components and wait until ready."""
        with self._lock:
            if self._started:
                return self
            t0 = time.monotonic()
            bin_dir = self.bin_dir
            self.timings["binaries"] = time.monotonic() - t0
            _register_atexit()
            self._started = True
            _LIVE.add(self)
            try:
                self._prepare(bin_dir)
                t = time.monotonic()
                self._start_component("etcd")
                self._wait_etcd()
                self.timings["etcd"] = time.monotonic() - t
                t = time.monotonic()
                self._start_component("kube-apiserver")
                self._wait_apiserver()
                self.timings["kube-apiserver"] = time.monotonic() - t
                self._write_kubeconfigs()
                t = time.monotonic()
                self._start_component("kube-controller-manager")
                self._wait_controller_manager()
                self.timings["kube-controller-manager"] = time.monotonic() - t
            except ControlPlaneError:
                self.stop(keep_workdir=True)  # keep the logs named in the error
                raise
            except BaseException:
                self.stop()
                raise
            self.timings["start"] = time.monotonic() - t0
            return self

    def stop(self, timeout: float = 15.0, *, keep_workdir: bool | None = None) -> None:
        """Stop all components (SIGTERM, then SIGKILL) and remove the temp dir.

        The temp dir is kept if ``keep_workdir`` (default: the constructor's) is true.
        Safe to call more than once and on a control plane that never started.
        """
        keep = self.keep_workdir if keep_workdir is None else keep_workdir
        with self._lock:
            for name in ("kube-controller-manager", "kube-apiserver", "etcd"):
                self._stop_component(name, timeout=timeout)
            self._components.clear()
            _LIVE.discard(self)
            if self.workdir is not None and not keep:
                shutil.rmtree(self.workdir, ignore_errors=True)
                self.workdir = None
            elif self.workdir is not None:
                (self.workdir / _OWNER_FILE).unlink(missing_ok=True)
            self._started = False

    # ----------------------------------------------------------------- faults

    def stop_etcd(self, *, graceful: bool = True) -> None:
        """Stop etcd: SIGTERM (graceful; ~7s while the apiserver is connected) or SIGKILL."""
        self._stop_component("etcd", graceful=graceful)

    def start_etcd(self) -> None:
        """Start etcd again (same ports and data dir) and wait until it is healthy."""
        self._start_component("etcd")
        self._wait_etcd()

    def restart_etcd(self, *, wait_apiserver: bool = True, graceful: bool = True) -> None:
        """Stop and start etcd; by default also wait until the apiserver is ready again.

        ``graceful=False`` SIGKILLs etcd (a crash) instead of SIGTERM.
        """
        with self._lock:
            self.stop_etcd(graceful=graceful)
            self.start_etcd()
            if wait_apiserver and self._components.get("kube-apiserver"):
                self._wait_apiserver()

    def stop_apiserver(self, *, graceful: bool = True) -> None:
        """Stop kube-apiserver: SIGTERM (graceful, ~1s) or SIGKILL."""
        self._stop_component("kube-apiserver", graceful=graceful)

    def start_apiserver(self) -> None:
        """Start kube-apiserver again on the same port and wait for ``/readyz``."""
        self._start_component("kube-apiserver")
        self._wait_apiserver()

    def restart_apiserver(self, *, graceful: bool = True) -> None:
        """Stop and start kube-apiserver on the same port; wait until ready.

        ``graceful=False`` SIGKILLs it (a crash) instead of SIGTERM.
        """
        with self._lock:
            self.stop_apiserver(graceful=graceful)
            self.start_apiserver()

    # ----------------------------------------------------------------- clients

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run the system ``kubectl`` against this control plane as admin."""
        cmd = [self.kubectl_path, f"--kubeconfig={self.kubeconfig}", *args]
        proc = subprocess.run(
            cmd,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise KubectlError(proc.returncode, cmd, proc.stdout, proc.stderr)
        return proc

    def kubectl_json(self, *args: str, timeout: float = 60.0) -> dict[str, object]:
        """``kubectl <args> -o json`` parsed."""
        out = self.kubectl(*args, "-o", "json", timeout=timeout).stdout
        data = json.loads(out)
        if not isinstance(data, dict):
            raise ControlPlaneError(f"unexpected kubectl output: {out[:200]}")
        return data

    def service_account_token(
        self, namespace: str, name: str, *, duration: str | None = None, create: bool = False
    ) -> str:
        """A bound token for ServiceAccount ``namespace/name`` (TokenRequest API).

        With ``create=True`` the ServiceAccount is created first if missing.
        """
        if create:
            exists = self.kubectl("get", "serviceaccount", name, "-n", namespace, check=False)
            if exists.returncode != 0:
                self.kubectl("create", "serviceaccount", name, "-n", namespace)
        args = ["create", "token", name, "-n", namespace]
        if duration:
            args.append(f"--duration={duration}")
        return self.kubectl(*args).stdout.strip()

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: object | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, bytes]:
        """A raw HTTPS request to the apiserver (stdlib only); returns (status, body)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {token or self.admin_token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
                return int(resp.status), resp.read()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read()

    # ----------------------------------------------------------------- internals

    def _prepare(self, bin_dir: Path) -> None:
        sweep_stale_workdirs()
        workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
        self.workdir = workdir
        (workdir / _OWNER_FILE).write_text(f"{os.getpid()}\n")
        for sub in ("pki", "logs", "etcd-data"):
            (workdir / sub).mkdir(mode=0o700)
        self.etcd_port, self.etcd_peer_port, self.apiserver_port = free_ports(3)

        sa_key = workdir / "pki" / "sa.key"
        generate_rsa_key(sa_key)

        tokens = workdir / "tokens.csv"
        rows = [
            (self.admin_token, "admin", "admin", ["system:masters"]),
            (self._kcm_token, "system:kube-controller-manager", "kcm", ["system:masters"]),
        ]
        for user, (token, groups) in self.extra_tokens.items():
            rows.append((token, user, user, list(groups)))
        tokens.write_text(
            "".join(f'{tok},{user},{uid},"{",".join(groups)}"\n' for tok, user, uid, groups in rows)
        )
        tokens.chmod(0o600)

        etcd_peer = f"http://127.0.0.1:{self.etcd_peer_port}"
        self._add_component(
            "etcd",
            [
                str(bin_dir / "etcd"),
                "--name=default",
                f"--data-dir={workdir / 'etcd-data'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={etcd_peer}",
                f"--initial-advertise-peer-urls={etcd_peer}",
                f"--initial-cluster=default={etcd_peer}",
                "--initial-cluster-state=new",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        self._add_component(
            "kube-apiserver",
            [
                str(bin_dir / "kube-apiserver"),
                "--bind-address=127.0.0.1",
                f"--secure-port={self.apiserver_port}",
                "--advertise-address=127.0.0.1",
                "--endpoint-reconciler-type=none",
                f"--etcd-servers={self.etcd_url}",
                f"--cert-dir={workdir / 'pki'}",
                f"--token-auth-file={tokens}",
                "--authorization-mode=Node,RBAC",
                f"--service-account-key-file={sa_key}",
                f"--service-account-signing-key-file={sa_key}",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--allow-privileged=true",
                "--profiling=false",
                # Close watches on SIGTERM; otherwise shutdown waits for the
                # controller-manager's watches (up to the 60s request timeout).
                "--shutdown-watch-termination-grace-period=2s",
                *self.apiserver_args,
            ],
        )
        controllers = ",".join(["*", *(f"-{c}" for c in CLOUD_CONTROLLERS)])
        self._add_component(
            "kube-controller-manager",
            [
                str(bin_dir / "kube-controller-manager"),
                f"--kubeconfig={workdir / 'kcm.kubeconfig'}",
                f"--controllers={controllers}",
                f"--service-account-private-key-file={sa_key}",
                f"--root-ca-file={workdir / 'pki' / 'apiserver.crt'}",
                "--use-service-account-credentials=false",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                "--profiling=false",
                *self.controller_manager_args,
            ],
        )

    def _add_component(self, name: str, argv: list[str]) -> None:
        self._components[name] = _Component(name, argv, self.log_path(name))

    def _start_component(self, name: str) -> None:
        comp = self._components.get(name)
        if comp is None:
            raise ControlPlaneError(f"unknown or not prepared component {name!r}")
        if comp.running:
            return
        if comp.log_file is not None:
            comp.log_file.close()
        comp.log_file = comp.log_path.open("ab")
        comp.log_file.write(f"\n==== {time.strftime('%H:%M:%S')} starting {name}\n".encode())
        comp.log_file.flush()
        kill_with_parent = self.die_with_parent and sys.platform == "linux"
        comp.process = subprocess.Popen(
            comp.argv,
            stdin=subprocess.DEVNULL,
            stdout=comp.log_file,
            stderr=subprocess.STDOUT,
            cwd=self._require_workdir(),
            start_new_session=True,  # a terminal Ctrl-C reaches only us; we stop in order
            preexec_fn=_die_with_parent if kill_with_parent else None,  # noqa: PLW1509
        )

    def _stop_component(self, name: str, timeout: float = 15.0, *, graceful: bool = True) -> None:
        comp = self._components.get(name)
        if comp is None:
            return
        proc = comp.process
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(timeout=10)
        comp.process = None
        if comp.log_file is not None:
            comp.log_file.close()
            comp.log_file = None

    def _fail(self, name: str, message: str) -> ControlPlaneError:
        comp = self._components.get(name)
        status = ""
        if comp is not None and comp.process is not None and comp.process.poll() is not None:
            status = f" (exited with code {comp.process.returncode})"
        log = self.log_path(name)
        return ControlPlaneError(
            f"{name}: {message}{status}\n--- last lines of {log} ---\n{tail(log)}"
        )

    def _wait_for(self, name: str, check: Callable[[], bool], what: str) -> None:
        comp = self._components[name]

        def probe() -> bool:
            if not comp.running:
                raise self._fail(name, "process exited while waiting for " + what)
            return check()

        deadline = time.monotonic() + self.ready_timeout
        while True:
            try:
                if probe():
                    return
            except ControlPlaneError:
                raise
            except Exception:  # not ready yet
                pass
            if time.monotonic() >= deadline:
                raise self._fail(name, f"not ready after {self.ready_timeout:.0f}s ({what})")
            time.sleep(0.2)

    def _wait_etcd(self) -> None:
        def healthy() -> bool:
            with urllib.request.urlopen(self.etcd_url + "/health", timeout=2) as resp:
                return bool(json.loads(resp.read()).get("health") == "true")

        self._wait_for("etcd", healthy, f"GET {self.etcd_url}/health")

    def _wait_apiserver(self) -> None:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE

        def ready() -> bool:
            req = urllib.request.Request(self.server + "/readyz")
            req.add_header("Authorization", f"Bearer {self.admin_token}")
            with urllib.request.urlopen(req, timeout=5, context=ctx) as resp:
                return int(resp.status) == 200

        self._wait_for("kube-apiserver", ready, f"GET {self.server}/readyz")

    def _wait_controller_manager(self) -> None:
        # The serviceaccount controller creates default/default once its
        # informers have synced: a real sign that the controllers run.
        def has_default_sa() -> bool:
            status, _ = self.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")
            return status == 200

        self._wait_for("kube-controller-manager", has_default_sa, "ServiceAccount default/default")

    def _write_kubeconfigs(self) -> None:
        workdir = self._require_workdir()
        _write_kubeconfig(
            workdir / "admin.kubeconfig", self.server, self.ca_file, "admin", self.admin_token
        )
        _write_kubeconfig(
            workdir / "kcm.kubeconfig",
            self.server,
            self.ca_file,
            "system:kube-controller-manager",
            self._kcm_token,
        )


def _write_kubeconfig(path: Path, server: str, ca_file: Path, user: str, token: str) -> None:
    """Write a kubeconfig (JSON is valid YAML, so no YAML library is needed)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "image-mapper",
                "cluster": {"server": server, "certificate-authority": str(ca_file)},
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {"name": "image-mapper", "context": {"cluster": "image-mapper", "user": user}}
        ],
        "current-context": "image-mapper",
        "preferences": {},
    }
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)


def running_control_planes() -> Iterable[ControlPlane]:
    """Control planes started in this process and not stopped yet."""
    return list(_LIVE)
