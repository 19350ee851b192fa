"""The webhook server over TLS on 127.0.0.1: saturation, latency at fixed rates, rotation.

`image-mapper serve-webhook -f` runs as a subprocess (as in tests/webhook/test_serve_tls.py),
serving the sample's ImageMap with a certificate for localhost and 127.0.0.1. The load
generators are separate programs, so that the client's cost is not counted in the server's:

- wrk (Debian's `wrk`; `apt-get install wrk`), one thread (`-t1`), keep-alive connections:
  requests/s at saturation;
- vegeta (`github.com/tsenart/vegeta/v12`, built with `go install` into
  ~/.cache/image-mapper/tools when missing), `GOMAXPROCS=1`: a fixed request rate, open
  model, keep-alive, HDR latency percentiles; and, during certificate rotations, new TLS
  connections too (`-keepalive=false`), verifying the certificates against both CAs.

Every run has a fixed duration and rate, on loopback only. The load generator shares the
machine's cores with the server.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from benchmarks.bench_admission import SAMPLE_MAPLETS, sample_review
from benchmarks.candidates import IMAGEMAPS_VARIABLE, SHIPPED, Stack
from image_mapper.webhook.tls.certificates import make_ca, make_serving_cert
from tests.webhook.server import (
    SecretVolume,
    Server,
    free_port,
    start_command,
    start_server,
)

VEGETA_MODULE = "github.com/tsenart/vegeta/v12@v12.13.0"
TOOLS = Path.home() / ".cache" / "image-mapper" / "tools"


class Unavailable(Exception):
    """A load generator that is not installed and cannot be built here."""


def vegeta() -> str:
    """The vegeta binary, built from the Go module proxy on first use (about a minute)."""
    binary = TOOLS / "vegeta"
    if binary.is_file():
        return str(binary)
    go = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").is_file() else None
    )
    if go is None:
        raise Unavailable("vegeta is not built and Go is not installed")
    print(f"building vegeta into {TOOLS} (once) ...", flush=True)
    TOOLS.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [go, "install", VEGETA_MODULE],
        env={**os.environ, "GOBIN": str(TOOLS)},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not binary.is_file():
        raise Unavailable(f"go install {VEGETA_MODULE} failed: {done.stderr.strip()[-500:]}")
    return str(binary)


def versions() -> str:
    """The load generators, as the table names them."""
    found = []
    try:
        found.append(
            subprocess.run([wrk(), "-v"], capture_output=True, text=True, check=False)
            .stdout.split(" Copyright")[0]
            .strip()
        )
    except Unavailable:
        found.append("wrk not installed")
    binary = TOOLS / "vegeta"
    found.append(
        f"vegeta {VEGETA_MODULE.rpartition('@')[2]}" if binary.is_file() else "vegeta not built yet"
    )
    return ", ".join(found)


def wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise Unavailable("wrk is not installed (apt-get install wrk)")
    return found


# --- the server ---------------------------------------------------------------------------


@dataclass
class Pki:
    root: Path
    ca_cert: bytes
    ca_key: bytes
    trust: Path
    """Every CA the clients trust (the first, and the one a rotation moves to)."""
    second_ca: tuple[bytes, bytes]
    serial: int = 0

    @classmethod
    def make(cls, root: Path) -> Pki:
        now = dt.datetime.now(dt.UTC)
        ca_cert, ca_key = make_ca("bench CA", now=now, validity=dt.timedelta(days=2))
        second = make_ca("bench CA 2", now=now, validity=dt.timedelta(days=2))
        trust = root / "trust.pem"
        trust.write_bytes(ca_cert + second[0])
        return cls(root, ca_cert, ca_key, trust, second)

    def issue(self, *, second_ca: bool = False) -> tuple[bytes, bytes]:
        ca_cert, ca_key = self.second_ca if second_ca else (self.ca_cert, self.ca_key)
        return make_serving_cert(
            ca_cert,
            ca_key,
            ["localhost"],
            ip_addresses=["127.0.0.1"],
            now=dt.datetime.now(dt.UTC),
            validity=dt.timedelta(days=1),
        )


@dataclass
class Running:
    server: Server
    url: str
    body_file: Path
    pki: Pki
    volume: SecretVolume

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the server's process and its children so far."""
        return tree_cpu_seconds(self.server.process.pid)


def _start_stack(stack: Stack, *, imagemaps: Path, volume: SecretVolume, pki: Pki,
                 log: Path) -> Server:
    if stack.command is None:
        return start_server("-f", str(imagemaps), "--log-level", "warning",
                            "--shutdown-delay", "0", cert_file=volume.cert_file,
                            key_file=volume.key_file, ca_bundle=pki.trust, log=log)
    port = free_port()
    return start_command(stack.command(port, volume.cert_file, volume.key_file), port=port,
                         env={**os.environ, IMAGEMAPS_VARIABLE: str(imagemaps)},
                         ca_bundle=pki.trust, log=log)


@contextmanager
def running_server(stack: Stack = SHIPPED) -> Iterator[Running]:
    """`stack` serving the sample's ImageMap over TLS on 127.0.0.1, until the block ends."""
    with tempfile.TemporaryDirectory(prefix="image-mapper-bench-") as tmp:
        root = Path(tmp)
        pki = Pki.make(root)
        volume = SecretVolume(root / "tls")
        volume.publish(*pki.issue())
        imagemaps = root / "imagemaps.yaml"
        imagemaps.write_text(
            json.dumps(
                {
                    "apiVersion": "mapper.imagerelocation.pivotal.io/v1alpha1",
                    "kind": "ImageMap",
                    "metadata": {"name": "sample"},
                    "spec": {"map": SAMPLE_MAPLETS},
                }
            )
        )
        body_file = root / "review.json"
        body_file.write_bytes(sample_review())
        server = _start_stack(stack, imagemaps=imagemaps, volume=volume, pki=pki,
                              log=root / "server.log")
        try:
            yield Running(server, f"https://127.0.0.1:{server.port}/mutate", body_file, pki,
                          volume)
        finally:
            server.stop()
            log = (root / "server.log").read_text()
            if "Traceback" in log:
                print(f"{stack.name}: the server logged a traceback:\n{log[-3000:]}")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its living descendants (a master and its workers)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            total += _cpu_seconds(current)
            pending += _children(current)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


# --- saturation with wrk ------------------------------------------------------------------

_LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("{path}", "rb")
wrk.body = f:read("*a")
f:close()
"""


@dataclass
class Saturation:
    tool: str
    connections: int
    seconds: float
    requests: int
    rps: float
    errors: int
    server_cpu_us: float
    """CPU time of the server's worker per request (user + system)."""


def _wrk(running: Running, connections: int, seconds: float) -> tuple[int, float, int]:
    script = running.body_file.with_suffix(".lua")
    script.write_text(_LUA.replace("{path}", str(running.body_file)))
    done = subprocess.run(
        [
            wrk(),
            "-t1",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--timeout",
            "5s",
            "-s",
            str(script),
            running.url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    out = done.stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = 0
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), "
        r"timeout (\d+)",
        out,
    )
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        errors += int(non_2xx.group(1))
    return requests, rps, errors


def saturation(running: Running, *, connections: int, seconds: float) -> Saturation:
    try:
        tool = f"wrk -t1 -c{connections}"
        _wrk(running, connections, 1)  # warm up: connections, caches
        cpu = running.cpu_seconds()
        requests, rps, errors = _wrk(running, connections, seconds)
    except Unavailable:
        tool = f"vegeta -rate=0 -max-workers={connections} (wrk not installed)"
        cpu = running.cpu_seconds()
        report = attack(running, rate=0, seconds=seconds, workers=connections)
        requests, rps, errors = report.requests, report.throughput, report.failures
    cpu = running.cpu_seconds() - cpu
    return Saturation(
        tool, connections, seconds, requests, rps, errors, cpu / max(1, requests) * 1e6
    )


# --- fixed rates with vegeta --------------------------------------------------------------


@dataclass
class AttackReport:
    rate: float
    seconds: float
    requests: int
    throughput: float
    failures: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: list[str] = field(default_factory=list)


def _targets(running: Running) -> Path:
    targets = running.body_file.with_suffix(".targets")
    targets.write_text(
        f"POST {running.url}\nContent-Type: application/json\n@{running.body_file}\n"
    )
    return targets


def attack(
    running: Running,
    *,
    rate: int,
    seconds: float,
    keepalive: bool = True,
    workers: int | None = None,
    max_connections: int | None = None,
) -> AttackReport:
    """`rate` requests a second for `seconds` (rate 0: as fast as `workers` go)."""
    binary = vegeta()
    command = [
        binary,
        "attack",
        f"-targets={_targets(running)}",
        f"-rate={rate}/s",
        f"-duration={seconds:g}s",
        f"-root-certs={running.pki.trust}",
        "-timeout=5s",
        f"-keepalive={'true' if keepalive else 'false'}",
        "-http2=false",
    ]
    if max_connections is not None:  # else as many as the client needs, as Go's default
        command.append(f"-max-connections={max_connections}")
    if workers is not None:
        command += [f"-workers={workers}", f"-max-workers={workers}"]
    env = {**os.environ, "GOMAXPROCS": "1"}
    attack_run = subprocess.run(command, capture_output=True, env=env, check=True)
    report_run = subprocess.run(
        [binary, "report", "-type=json"],
        input=attack_run.stdout,
        capture_output=True,
        env=env,
        check=True,
    )
    report: dict[str, Any] = json.loads(report_run.stdout)
    latencies = report["latencies"]
    requests = int(report["requests"])
    ok = int(report.get("status_codes", {}).get("200", 0))
    return AttackReport(
        rate=rate,
        seconds=seconds,
        requests=requests,
        throughput=float(report["throughput"]),
        failures=requests - ok,
        p50_ms=latencies["50th"] / 1e6,
        p90_ms=latencies["90th"] / 1e6,
        p99_ms=latencies["99th"] / 1e6,
        max_ms=latencies["max"] / 1e6,
        errors=sorted(set(report.get("errors") or []))[:5],
    )


# --- certificate rotation under steady load -----------------------------------------------


@dataclass
class Rotation:
    rotations: int
    served: int
    """Rotations whose certificate new connections were then served with."""
    kept_alive: AttackReport
    new_connections: AttackReport
    probe_errors: list[str]
    """The probe's own connections (3 s timeout) that failed while waiting for a rotation."""

    @property
    def failures(self) -> int:
        return self.kept_alive.failures + self.new_connections.failures


def _served_serial(running: Running) -> int:
    context = ssl.create_default_context(cafile=str(running.pki.trust))
    with (
        socket.create_connection(("127.0.0.1", running.server.port), timeout=3) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as sock,
    ):
        der = sock.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def quiesce(running: Running, timeout: float = 20.0) -> float:
    """Wait until the server answers promptly again (after an overload, it still works off
    requests whose clients gave up); the seconds it took."""
    started = time.monotonic()
    prompt = 0
    while time.monotonic() - started < timeout and prompt < 3:
        asked = time.monotonic()
        try:
            status, _ = running.server.get("/healthz")
        except OSError:
            status = 0
        prompt = prompt + 1 if status == 200 and time.monotonic() - asked < 0.05 else 0
        time.sleep(0.1)
    return time.monotonic() - started


def rotation(
    running: Running,
    *,
    seconds: float = 8.0,
    rotations: int = 6,
    kept_alive_rate: int = 100,
    new_connection_rate: int = 20,
) -> Rotation:
    """Steady load on kept-alive and on new connections while the certificate rotates:
    kubelet-style symlink swaps, a torn write (key first, certificate 0.3 s later), and a
    move to another CA."""
    reports: dict[str, AttackReport] = {}

    def run(label: str, rate: int, keepalive: bool) -> None:
        reports[label] = attack(running, rate=rate, seconds=seconds, keepalive=keepalive)

    threads = [
        threading.Thread(target=run, args=("kept", kept_alive_rate, True)),
        threading.Thread(target=run, args=("new", new_connection_rate, False)),
    ]
    for thread in threads:
        thread.start()
    served = 0
    probe_errors: list[str] = []
    time.sleep(1.0)
    interval = (seconds - 2.0) / rotations
    for round_ in range(rotations):
        kind = ("swap", "torn", "new CA")[round_ % 3]
        cert, key = running.pki.issue(second_ca=kind == "new CA")
        if kind == "torn":
            running.volume.write_torn(cert, key, gap=0.3)
        else:
            running.volume.publish(cert, key)
        wanted = x509.load_pem_x509_certificate(cert).serial_number
        deadline = time.monotonic() + interval
        while time.monotonic() < deadline:
            try:
                if _served_serial(running) == wanted:
                    served += 1
                    break
            except OSError as error:  # counted by the load, if the server dropped it
                probe_errors.append(f"{type(error).__name__}: {error}")
            time.sleep(0.02)
        time.sleep(max(0.0, deadline - time.monotonic()))
    for thread in threads:
        thread.join()
    return Rotation(rotations, served, reports["kept"], reports["new"], probe_errors)
