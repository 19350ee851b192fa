"""The TLS bootstrap: the I/O around the rotation plan (`image_mapper.webhook.tls.rotation`).

Create-if-absent of the Secret, so replicas agree (on 409 AlreadyExists the winner's Secret is
read and used); updates with the resourceVersion read, so concurrent rotations do not overwrite
each other; the files the server reads; and the caBundle of the project's
MutatingWebhookConfiguration. Where the Secret and the configuration live is a `TLSStore`: the
API server (`image_mapper.webhook.kube`), or a fake in tests.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from image_mapper.serving.errors import describe_error
from image_mapper.webhook.tls.certificates import Material, TLSError, describe_certificate_file
from image_mapper.webhook.tls.rotation import RotationPolicy, plan

log = logging.getLogger(__name__)


# --- the files the server reads ---------------------------------------------------------------


def write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Replace `path` in one rename: a reader sees the old content or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_files(material: Material, cert_file: Path, key_file: Path) -> bool:
    """Write the serving certificate and key where the server reads them; True if changed.

    The key goes first: until the certificate follows, the reloader keeps the old context.
    """
    try:
        unchanged = (cert_file.read_bytes(), key_file.read_bytes()) == (material.cert,
                                                                        material.key)
    except OSError:
        unchanged = False
    if unchanged:
        return False
    write_atomically(key_file, material.key, 0o600)
    write_atomically(cert_file, material.cert, 0o644)
    return True


# --- the Secret and the webhook configuration -------------------------------------------------


class AlreadyExists(Exception):
    """Create lost a race: another replica created the Secret first (HTTP 409)."""


class Conflict(Exception):
    """Update lost a race: the Secret changed since it was read (HTTP 409)."""


class TLSStore(Protocol):
    """Where the material lives and whom it must be told to: the API server, or a fake."""

    def read_secret(self) -> tuple[dict[str, str] | None, str] | None:
        """(data, resourceVersion) of the Secret, or None when there is none."""
        ...

    def create_secret(self, data: dict[str, str]) -> None:
        """Raises AlreadyExists."""
        ...

    def replace_secret(self, data: dict[str, str], resource_version: str) -> None:
        """Raises Conflict."""
        ...

    def ca_bundles(self) -> list[tuple[str, str]] | None:
        """(webhook name, caBundle) of each webhook of the configuration; None if absent."""
        ...

    def set_ca_bundles(self, names: Sequence[str], ca_bundle: str) -> None: ...


@dataclass
class TLSBootstrap:
    """Keeps the Secret, the files and the webhook configuration's caBundle in step."""

    store: TLSStore
    cert_file: Path
    key_file: Path
    dns_names: Sequence[str]
    policy: RotationPolicy = field(default_factory=RotationPolicy)
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    complete: bool = False
    """The last round reached the webhook configuration."""

    def ensure(self) -> Material:
        """One round: make or renew the Secret as needed, write the files, patch caBundle."""
        material = self._ensure_secret()
        if write_files(material, self.cert_file, self.key_file):
            log.info("wrote %s (%s)", self.cert_file,
                     describe_certificate_file(str(self.cert_file)))
        self._ensure_ca_bundle(material.ca_bundle)
        return material

    def _ensure_secret(self) -> Material:
        stored = self.store.read_secret()
        if stored is None:
            planned = plan(None, now=self.clock(), dns_names=self.dns_names, policy=self.policy)
            assert planned is not None
            try:
                self.store.create_secret(planned.material.to_secret_data())
            except AlreadyExists:
                log.info("another replica created the TLS Secret first; using it")
                return self._read_winner()
            log.info("TLS Secret: %s", planned.reason)
            return planned.material
        data, resource_version = stored
        material = Material.from_secret_data(data)
        planned = plan(material, now=self.clock(), dns_names=self.dns_names, policy=self.policy)
        if planned is None:
            assert material is not None
            return material
        try:
            self.store.replace_secret(planned.material.to_secret_data(), resource_version)
        except Conflict:
            log.info("another replica updated the TLS Secret first; using it")
            return self._read_winner()
        log.info("TLS Secret: %s", planned.reason)
        return planned.material

    def _read_winner(self) -> Material:
        stored = self.store.read_secret()
        material = Material.from_secret_data(stored[0]) if stored is not None else None
        if material is None:
            raise TLSError("the TLS Secret another replica wrote cannot be read")
        return material

    def _ensure_ca_bundle(self, ca_bundle: bytes) -> None:
        wanted = base64.b64encode(ca_bundle).decode("ascii")
        current = self.store.ca_bundles()
        self.complete = current is not None
        if current is None:
            log.warning("the MutatingWebhookConfiguration is absent: its caBundle will be set "
                        "once it exists")
            return
        stale = [name for name, bundle in current if bundle != wanted]
        if stale:
            self.store.set_ca_bundles(stale, wanted)
            log.info("set the caBundle of webhooks %s", ", ".join(stale))

    def run(self, stopping: threading.Event, interval: float, retry: float = 5.0) -> None:
        """Call `ensure` every `interval` seconds until `stopping` is set; every `retry`
        seconds while the last round failed or found no webhook configuration."""
        while not stopping.wait(interval if self.complete else min(retry, interval)):
            try:
                self.ensure()
            except Exception as error:  # the API server is away: try again soon
                self.complete = False
                log.warning("TLS check failed (%s); retrying in %.0fs", describe_error(error),
                            min(retry, interval))
