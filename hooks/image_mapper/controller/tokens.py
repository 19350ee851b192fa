"""The bearer tokens the hooks accept, read from a file or a mounted Secret, reloaded when they
change, so that a token can be rotated without a restart.

Metacontroller reads a hook's `authorization.secretRef` only when it builds the controller, that
is when the controller's `.spec` changes: restarting the hooks with a new token leaves every
call at 401. Rotation is therefore done in three steps, each safe on its own
(docs/configuration.md): add the new token to the Secret under a new key (the hooks accept
every key of the mounted Secret), point both controllers at the new key (a `.spec` change:
Metacontroller rebuilds them and sends the new token), then remove the old key.

`path` is a file holding one token, or a folder (a Secret volume) in which every file holds one;
the kubelet's own entries (`..data` and the like, starting with a dot) are skipped. A reload
that finds no token keeps the tokens it had (a Secret volume is briefly empty mid-update).
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from image_mapper.serving.errors import ServeError

log = logging.getLogger(__name__)

CHECK_SECONDS = 1.0
"""How often the files are looked at again, at most (a hook call triggers the look)."""


class Tokens:
    """The accepted tokens; `accepts` is called from the server's threads."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._stamp = self._look()
        try:
            tokens = _read(path, strict=True)
        except (OSError, UnicodeDecodeError) as error:
            raise ServeError(f"cannot read the hooks token from {path}: {error}") from None
        if not tokens:
            raise ServeError(f"the hooks token file {path} is empty; put the token in it (or "
                             "one per file in a folder), or leave out --token-file to serve "
                             "without a token check")
        self._expected = _expected(tokens)
        self._checked = self._clock()

    def accepts(self, header: str | None) -> bool:
        """Whether an Authorization header carries one of the tokens."""
        self._refresh()
        if header is None:
            return False
        given = header.encode()
        # Every token is compared, so the time taken does not tell which one nearly matched.
        matches = [hmac.compare_digest(given, expected) for expected in self._expected]
        return any(matches)

    def __len__(self) -> int:
        return len(self._expected)

    def _refresh(self) -> None:
        now = self._clock()
        if now - self._checked < CHECK_SECONDS or not self._lock.acquire(blocking=False):
            return
        try:
            self._checked = now
            stamp = self._look()
            if stamp == self._stamp:
                return
            tokens = _read(self.path)
            if not tokens:
                log.warning("no hooks token in %s any more: keeping the %d accepted until one "
                            "is there", self.path, len(self._expected))
                return
            self._stamp = stamp
            if _expected(tokens) != self._expected:
                self._expected = _expected(tokens)
                log.info("hooks tokens reloaded from %s: %d accepted", self.path, len(tokens))
        finally:
            self._lock.release()

    def _look(self) -> tuple[tuple[str, int, int], ...]:
        """What changes when a token is written: names, sizes and times of the files."""
        try:
            files = _files(self.path)
            return tuple((f.name, *_stat(f)) for f in files)
        except OSError:
            return ()


def _stat(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(f for f in path.iterdir() if not f.name.startswith(".") and f.is_file())
    return [path]


def _read(path: Path, *, strict: bool = False) -> list[str]:
    try:
        tokens = [f.read_text(encoding="utf-8").strip() for f in _files(path)]
    except (OSError, UnicodeDecodeError) as error:
        if strict:
            raise
        log.warning("cannot read the hooks token from %s: %s", path, error)
        return []
    return [token for token in tokens if token]


def _expected(tokens: list[str]) -> tuple[bytes, ...]:
    return tuple(sorted({f"Bearer {token}".encode() for token in tokens}))
