"""What an admission tells people: the warnings of the response (design.md#relocation-settings),
and the log line.

Warnings reach whoever ran `kubectl run` or `kubectl apply`: one per image rewritten,
`image-mapper: <container>: <original> -> <result> (ImageMap <name>)` (`ClusterImageMap <name>`
for the cluster's layer), or `would map` instead of `->` for a map in Audit mode. The API
server keeps at most 4,096 characters of warnings per request from all webhooks together (past
that it cuts every warning to 256), drops a warning with a control character, and merges
identical ones; so the webhook sends at most
`MAX_IMAGE_WARNINGS` warnings (past that, the first ones and then one `... and K more images`
line), each at most `MAX_WARNING_LENGTH` characters (long images shortened in the middle, long
names at the end, with `…`), control characters replaced: 2,560 characters in all at most.

The log line is for the cluster's operators: one `info` record per pod that had images
rewritten (or audited), with structured fields (`extra=`) for a JSON formatter.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

from image_mapper.engine.mapping import Match

log = logging.getLogger(__name__)

PREFIX = "image-mapper: "
MAX_IMAGE_WARNINGS = 10
"""Warnings per response; past that, the last one counts the images not listed."""
MAX_WARNING_LENGTH = 256
"""Characters per warning: what the API server cuts every warning to once a request's warnings
pass 4,096 characters, so ours are never cut."""
MAX_NAME_IN_WARNING = 63
"""Characters of a container's or ImageMap's name in a warning (a container name has at most
63 once validated)."""
MAX_POD_NAME = 253
"""A pod's name is at most this long once the API server has validated it."""
MAX_LOGGED_IMAGES = 100
"""Images listed in one log record (its `images` field); `images_total` counts them all."""

_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
"""Control characters (which the API server refuses in a warning) and lone surrogates (which
have no UTF-8 form); a pod's names and images are unvalidated when the webhook sees them."""


class Rewrite(NamedTuple):
    """One image of a pod that a maplet rewrote (or, in Audit mode, would have rewritten)."""

    container: str
    match: Match


def _arrow(rewrite: Rewrite) -> str:
    """`->` for an image rewritten; `would map` for one an Audit ImageMap only reports."""
    return "would map" if rewrite.match.audit else "->"


def warning(rewrite: Rewrite) -> str:
    """`image-mapper: <container>: <original> -> <result> (ImageMap <name>)` (`would map` in
    Audit mode), at most MAX_WARNING_LENGTH characters: when too long, the
    two images are shortened in their middle (their registry and tag or digest end stay)."""
    match = rewrite.match
    head = f"{PREFIX}{_cut(rewrite.container, MAX_NAME_IN_WARNING)}: "
    tail = f" ({match.kind} {_cut(match.image_map, MAX_NAME_IN_WARNING)})"
    arrow = _arrow(rewrite)
    image, result = match.image, match.result
    room = MAX_WARNING_LENGTH - len(head) - len(tail) - len(arrow) - 2
    if len(image) + len(result) > room:
        # The room left over by the shorter image goes to the longer one.
        keep = max(room // 2, room - len(result))
        image = _shortened(image, keep)
        result = _shortened(result, room - len(image))
    return _UNPRINTABLE.sub("\ufffd", f"{head}{image} {arrow} {result}{tail}")


def _shortened(text: str, limit: int) -> str:
    """`text`, its middle replaced by `…` to fit `limit` characters."""
    if len(text) <= limit:
        return text
    front = (limit - 1) // 2
    return text[:front] + "…" + text[len(text) - (limit - 1 - front):]


def _cut(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, ending with `…`."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def printable(text: str, limit: int) -> str:
    """`text` with control characters replaced, cut to `limit` characters (ending with `…`)."""
    return _UNPRINTABLE.sub("\ufffd", _cut(text, limit))


def warnings_for(rewrites: Sequence[Rewrite]) -> list[str]:
    """The admission response's warnings for these images, in the pod's order, bounded."""
    if len(rewrites) <= MAX_IMAGE_WARNINGS:
        shown, more = rewrites, 0
    else:
        shown, more = rewrites[: MAX_IMAGE_WARNINGS - 1], len(rewrites) - MAX_IMAGE_WARNINGS + 1
    warnings = [warning(rewrite) for rewrite in shown]
    if more:
        warnings.append(f"{PREFIX}... and {more} more images")
    return warnings


def log_admission(*, namespace: str, pod: object, rewrites: Sequence[Rewrite],
                  dry_run: bool) -> None:
    """One info line for a pod whose images were rewritten or audited; nothing otherwise."""
    if not rewrites or not log.isEnabledFor(logging.INFO):
        return
    name = printable(pod_name(pod), MAX_POD_NAME)
    rewritten = sum(1 for r in rewrites if not r.match.audit)
    audited = len(rewrites) - rewritten
    said = [f"{rewritten} rewritten"] if rewritten else []
    said += [f"{audited} would be (Audit)"] if audited else []
    listed = "; ".join(warning(r).removeprefix(PREFIX) for r in rewrites[:MAX_IMAGE_WARNINGS])
    more = len(rewrites) - MAX_IMAGE_WARNINGS
    log.info(
        "pod %s/%s%s: images %s: %s%s", namespace, name, " (dry run)" if dry_run else "",
        ", ".join(said), listed,
        f"; and {more} more" if more > 0 else "",
        extra={
            "namespace": namespace,
            "pod": name,
            "dry_run": dry_run,
            "images": [_logged(r) for r in rewrites[:MAX_LOGGED_IMAGES]],
            "images_total": len(rewrites),
        },
    )


def pod_name(pod: object) -> str:
    """The pod's name, else its `generateName` (a pod of a ReplicaSet has only that when it is
    created), else empty."""
    metadata = pod.get("metadata") if isinstance(pod, dict) else None
    if not isinstance(metadata, dict):
        return ""
    for key in ("name", "generateName"):
        value = metadata.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _logged(rewrite: Rewrite) -> dict[str, Any]:
    match = rewrite.match
    # Images that matched are at most MAX_INPUT_LENGTH; a container's name is not checked yet.
    return {"container": printable(rewrite.container, MAX_POD_NAME), "original": match.image,
            "result": match.result, "imageMap": match.image_map, "kind": match.kind,
            "mode": match.settings.mode}
