"""A test-only stand-in for Metacontroller, which cannot be built here.

It follows Metacontroller's documented protocol (docs/src/api/ of metacontroller/metacontroller:
compositecontroller.md, decoratorcontroller.md, customize.md, hook.md) for what this project
uses, and nothing more:

- it reads the CompositeControllers and DecoratorControllers installed in the API server (as
  `kubectl apply -k` put them there);
- for each parent (or decorated target) it POSTs the customize hook with
  `{controller, parent}`, resolves the returned `relatedResources` rules (apiVersion, resource,
  labelSelector or namespace/names; a namespaced parent only sees its own namespace), then POSTs
  the sync hook: composite `{controller, parent, children, related, finalizing: false}` with
  one (empty) entry in `children` per child rule; decorator `{controller, object, attachments,
  related, finalizing: false}`. `related` is keyed `<Kind>.<apiVersion>`, then by name (or
  `namespace/name` when the parent is cluster scoped), as the docs give it;
- a composite response's `status` completely replaces the parent's status, written through the
  status subresource (and only when it differs, as Metacontroller does);
- a decorator response's `labels` and `annotations` are merged into the target's metadata,
  a `null` value removing the key;
- it syncs again whenever a parent, target or related object changes, and after
  `resyncAfterSeconds`;
- hook URLs are rerouted to the hooks server under test (the YAML's in-cluster Service URLs
  cannot resolve here); the path is kept;
- a hook's `webhook.authorization` (hook.md) sends `Authorization: <type> <credential>`, the
  type defaulting to `Bearer`, the credential read from the Secret key it names when the
  controller is first seen, as Metacontroller resolves it.

It polls the API server for changes (every `interval` seconds) instead of running informers:
the behaviour the hooks see is the same, and polling survives API server restarts untouched.
It never ships in the product.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("metacontroller-driver")

Obj = dict[str, Any]


class ConflictError(RuntimeError):
    """The API server refused a write made against an older resourceVersion."""


@dataclass
class Resource:
    """A resource rule resolved against API discovery."""

    api_version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def group_version(self) -> tuple[str, str]:
        group, _, version = self.api_version.rpartition("/")
        return group, version

    @property
    def key(self) -> str:
        """`<Kind>.<apiVersion>`, the key of children, attachments and related maps."""
        return f"{self.kind}.{self.api_version}"


@dataclass
class HookCallRecord:
    url: str
    status: int
    seconds: float


@dataclass
class DriverStats:
    calls: list[HookCallRecord] = field(default_factory=list)
    status_writes: int = 0
    metadata_patches: int = 0
    errors: list[str] = field(default_factory=list)


class MetacontrollerDriver:
    def __init__(
        self,
        server: str,
        token: str,
        ca_file: Path,
        hooks_base_url: str,
        *,
        interval: float = 0.1,
    ) -> None:
        self.hooks_base_url = hooks_base_url.rstrip("/")
        self.interval = interval
        self.stats = DriverStats()
        self._server = server.rstrip("/")
        self._token = token
        self._tls = ssl.create_default_context(cafile=str(ca_file))
        self._composites = self._controllers("compositecontrollers")
        self._decorators = self._controllers("decoratorcontrollers")
        if not self._composites or not self._decorators:
            raise RuntimeError("no CompositeController or no DecoratorController installed")
        self._credentials: dict[str, str] = {}
        self._resources: dict[tuple[str, str], Resource] = {}
        self._seen: dict[str, str] = {}  # fingerprint of each sync's inputs
        self._resync_at: dict[str, float] = {}
        self._pass_cache: dict[tuple[str, str, str | None, str | None], list[Obj]] = {}
        self._customized: dict[tuple[str, str, str], list[Obj]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> MetacontrollerDriver:
        self._thread = threading.Thread(target=self._run, name="metacontroller", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        pass

    def __enter__(self) -> MetacontrollerDriver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait for a full pass in which nothing needed syncing."""
        self._idle.clear()
        if not self._idle.wait(timeout):
            raise TimeoutError("metacontroller driver did not settle")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                changed = self.reconcile_once()
            except Exception as error:  # keep going, like a controller does
                self.stats.errors.append(repr(error))
                log.warning("reconcile failed: %r", error)
                changed = True
            if not changed:
                self._idle.set()
            self._stop.wait(self.interval)

    # --- API access -----------------------------------------------------------------------

    def _resource(self, api_version: str, plural: str) -> Resource:
        cached = self._resources.get((api_version, plural))
        if cached is not None:
            return cached
        group, _, version = api_version.rpartition("/")
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        body = self._get(path)
        for entry in body["resources"]:
            if entry["name"] == plural:
                resource = Resource(api_version, plural, entry["kind"], entry["namespaced"])
                self._resources[(api_version, plural)] = resource
                return resource
        raise RuntimeError(f"{api_version} has no resource {plural!r}")

    def _collection_path(self, resource: Resource, namespace: str | None) -> str:
        group, version = resource.group_version
        base = f"/apis/{group}/{version}" if group else f"/api/{version}"
        if resource.namespaced and namespace:
            return f"{base}/namespaces/{namespace}/{resource.plural}"
        return f"{base}/{resource.plural}"

    def _object_path(self, resource: Resource, obj: Obj) -> str:
        meta = obj["metadata"]
        return f"{self._collection_path(resource, meta.get('namespace'))}/{meta['name']}"

    def _call_api(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        query: dict[str, str] | None = None,
    ) -> Any:
        url = self._server + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        request = urllib.request.Request(
            url,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Content-Type": content_type,
                "Accept": "application/json",
                "Authorization": f"Bearer {self._token}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10, context=self._tls) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            if error.code == 409:
                raise ConflictError(f"{method} {path}: 409 Conflict") from None
            raise

    def _get(self, path: str, query: dict[str, str] | None = None) -> Any:
        return self._call_api("GET", path, query=query)

    def _list(
        self, resource: Resource, namespace: str | None = None, label_selector: str | None = None
    ) -> list[Obj]:
        # One list per pass and query, like an informer's cache would serve it.
        cache_key = (resource.api_version, resource.plural, namespace, label_selector)
        cached = self._pass_cache.get(cache_key)
        if cached is not None:
            return cached
        items = self._list_uncached(resource, namespace, label_selector)
        self._pass_cache[cache_key] = items
        return items

    def _list_uncached(
        self, resource: Resource, namespace: str | None, label_selector: str | None
    ) -> list[Obj]:
        query = {"labelSelector": label_selector} if label_selector else None
        body = self._get(self._collection_path(resource, namespace), query)
        items: list[Obj] = body["items"]
        group_kind = {"apiVersion": resource.api_version, "kind": resource.kind}
        return [{**group_kind, **item} for item in items]

    # --- the protocol ---------------------------------------------------------------------

    def _controllers(self, plural: str) -> list[Obj]:
        items: list[Obj] = self._get(f"/apis/metacontroller.k8s.io/v1alpha1/{plural}")["items"]
        return items

    def _hook_url(self, hook: Obj) -> str:
        webhook = hook["webhook"]
        url = webhook.get("url")
        path = urllib.parse.urlparse(url).path if url else webhook["path"]
        return self.hooks_base_url + path

    def _authorization(self, hook: Obj) -> dict[str, str]:
        """The hook's `Authorization` header, if it has `webhook.authorization` (hook.md)."""
        authorization = hook["webhook"].get("authorization")
        if authorization is None:
            return {}
        ref = authorization["secretRef"]
        where = f"{ref['namespace']}/{ref['name']}/{ref['key']}"
        credential = self._credentials.get(where)
        if credential is None:
            secret = self._get(f"/api/v1/namespaces/{ref['namespace']}/secrets/{ref['name']}")
            credential = base64.b64decode(secret["data"][ref["key"]]).decode()
            self._credentials[where] = credential
        return {"Authorization": f"{authorization.get('type', 'Bearer')} {credential}"}

    def _post(self, hook: Obj, body: Obj) -> Obj:
        url = self._hook_url(hook)
        data = json.dumps(body).encode()
        request = urllib.request.Request(
            url,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json", **self._authorization(hook)},
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=10) as response:
            payload = response.read()
            self.stats.calls.append(
                HookCallRecord(url, response.status, time.perf_counter() - started)
            )
        result: Obj = json.loads(payload)
        return result

    def _related(self, controller: Obj, parent: Obj, parent_resource: Resource) -> Obj:
        hooks = controller["spec"].get("hooks", {})
        related: Obj = {}
        if "customize" not in hooks:
            return related
        # The related rules may only depend on the parent (customize.md): ask once per version.
        cache_key = (
            controller["metadata"]["name"],
            parent["metadata"]["uid"],
            parent["metadata"]["resourceVersion"],
        )
        rules = self._customized.get(cache_key)
        if rules is None:
            answer = self._post(hooks["customize"], {"controller": controller, "parent": parent})
            rules = answer.get("relatedResources") or []
            self._customized[cache_key] = rules
        for rule in rules:
            resource = self._resource(rule["apiVersion"], rule["resource"])
            namespace = rule.get("namespace")
            if parent_resource.namespaced:
                # A namespaced parent only sees its own namespace (customize.md).
                namespace = parent["metadata"]["namespace"]
            selector = rule.get("labelSelector")
            objects = self._list(resource, namespace, _selector_string(selector))
            names = rule.get("names")
            if names:
                objects = [o for o in objects if o["metadata"]["name"] in names]
            group = related.setdefault(resource.key, {})
            for obj in objects:
                meta = obj["metadata"]
                key = meta["name"]
                if not parent_resource.namespaced and resource.namespaced:
                    key = f"{meta['namespace']}/{meta['name']}"
                group[key] = obj
        return related

    def reconcile_once(self) -> bool:
        """One pass over every controller's objects; True when any hook had to be called."""
        self._pass_cache.clear()
        changed = False
        for controller in self._composites:
            changed |= self._reconcile_composite(controller)
        for controller in self._decorators:
            changed |= self._reconcile_decorator(controller)
        return changed

    def _due(self, key: str, fingerprint: str) -> bool:
        due_at = self._resync_at.get(key)
        if due_at is not None and time.monotonic() >= due_at:
            del self._resync_at[key]
            return True
        return self._seen.get(key) != fingerprint

    def _reconcile_composite(self, controller: Obj) -> bool:
        spec = controller["spec"]
        parent_rule = spec["parentResource"]
        resource = self._resource(parent_rule["apiVersion"], parent_rule["resource"])
        changed = False
        for parent in self._list(resource):
            if parent["metadata"].get("deletionTimestamp"):
                continue
            related = self._related(controller, parent, resource)
            key = f"composite/{self._object_path(resource, parent)}"
            fingerprint = _fingerprint(parent, related)
            if not self._due(key, fingerprint):
                continue
            changed = True
            children = {
                self._resource(c["apiVersion"], c["resource"]).key: {}
                for c in spec.get("childResources") or []
            }
            response = self._post(
                spec["hooks"]["sync"],
                {
                    "controller": controller,
                    "parent": parent,
                    "children": children,
                    "related": related,
                    "finalizing": False,
                },
            )
            if response.get("children"):
                raise RuntimeError(f"unexpected children from the sync hook: {response}")
            status = response.get("status")
            if status is not None and status != parent.get("status"):
                body = {**parent, "status": status}
                try:
                    parent = self._call_api(
                        "PUT", self._object_path(resource, parent) + "/status", body
                    )
                    self.stats.status_writes += 1
                except ConflictError:  # a newer version arrived: sync it next pass
                    continue
            self._seen[key] = _fingerprint(parent, related)
            self._schedule(key, response)
        return changed

    def _reconcile_decorator(self, controller: Obj) -> bool:
        spec = controller["spec"]
        changed = False
        for rule in spec["resources"]:
            resource = self._resource(rule["apiVersion"], rule["resource"])
            selector = _selector_string(rule.get("labelSelector"))
            for target in self._list(resource, label_selector=selector):
                if target["metadata"].get("deletionTimestamp"):
                    continue
                if not _annotations_match(rule.get("annotationSelector"), target):
                    continue
                related = self._related(controller, target, resource)
                key = f"decorator/{self._object_path(resource, target)}"
                fingerprint = _fingerprint(target, related)
                if not self._due(key, fingerprint):
                    continue
                changed = True
                attachments = {
                    self._resource(a["apiVersion"], a["resource"]).key: {}
                    for a in spec.get("attachments") or []
                }
                response = self._post(
                    spec["hooks"]["sync"],
                    {
                        "controller": controller,
                        "object": target,
                        "attachments": attachments,
                        "related": related,
                        "finalizing": False,
                    },
                )
                if response.get("attachments"):
                    raise RuntimeError(f"unexpected attachments from the sync hook: {response}")
                patch = _metadata_patch(target, response)
                if patch:
                    target = self._call_api(
                        "PATCH",
                        self._object_path(resource, target),
                        {"metadata": patch},
                        "application/merge-patch+json",
                    )
                    self.stats.metadata_patches += 1
                self._seen[key] = _fingerprint(target, related)
                self._schedule(key, response)
        return changed

    def _schedule(self, key: str, response: Obj) -> None:
        after = response.get("resyncAfterSeconds")
        if isinstance(after, int | float) and after > 0:
            self._resync_at[key] = time.monotonic() + float(after)


def _fingerprint(obj: Obj, related: Obj) -> str:
    versions = sorted(
        (kind, name, o["metadata"].get("resourceVersion", ""))
        for kind, group in related.items()
        for name, o in group.items()
    )
    return json.dumps([obj["metadata"].get("resourceVersion"), versions])


def _selector_string(selector: Obj | None) -> str | None:
    if not selector:
        return None
    parts = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        if operator == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif operator == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif operator == "Exists":
            parts.append(key)
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts) or None


def _annotations_match(selector: Obj | None, obj: Obj) -> bool:
    if not selector:
        return True
    annotations = obj["metadata"].get("annotations") or {}
    return all(annotations.get(k) == v for k, v in (selector.get("matchAnnotations") or {}).items())


def _metadata_patch(target: Obj, response: Obj) -> Obj:
    """A merge patch of the labels and annotations that differ; null removes a key."""
    patch: Obj = {}
    for field_name in ("labels", "annotations"):
        wanted = response.get(field_name) or {}
        current = target["metadata"].get(field_name) or {}
        changes = {
            k: v
            for k, v in wanted.items()
            if (v is None and k in current) or (v is not None and current.get(k) != v)
        }
        if changes:
            patch[field_name] = changes
    return patch
