"""The webhook's edge to the API server, through the Kubernetes Python client.

Everything that talks to the cluster is here, behind the small protocols that the rest of the
webhook uses (`image_mapper.webhook.watcher.Source`, `image_mapper.webhook.tls.bootstrap.TLSStore`),
so that code stays testable with fakes and this module stays thin.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

from kubernetes import client, config, watch

from image_mapper.engine.imagemap import GROUP, PLURAL, VERSION
from image_mapper.engine.layers import CLUSTER_PLURAL
from image_mapper.serving.errors import ServeError
from image_mapper.webhook.tls.bootstrap import AlreadyExists, Conflict
from image_mapper.webhook.tls.certificates import SECRET_TYPE
from image_mapper.webhook.watcher import Gone, WatchEvent

ApiClient = client.ApiClient
ApiException = client.ApiException


def kube_client(*, kubeconfig: str | None = None, in_cluster: bool = False) -> client.ApiClient:
    """An API client from a kubeconfig file, the pod's ServiceAccount (`in_cluster`, or no
    kubeconfig in a pod), or ~/.kube/config; raises ServeError when none loads."""
    configuration = client.Configuration()
    try:
        if in_cluster or (not kubeconfig and "KUBERNETES_SERVICE_HOST" in os.environ):
            config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration)
        else:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, client_configuration=configuration)
    except (config.ConfigException, OSError) as error:
        raise ServeError(f"cannot load the Kubernetes configuration: {error}") from None
    return client.ApiClient(configuration)


def close(api_client: client.ApiClient) -> None:
    api_client.close()  # type: ignore[no-untyped-call]


class KubernetesSource:
    """One resource of the whole cluster: list, and watch from a resourceVersion."""

    def __init__(self, list_call: Callable[..., Any], *args: str,
                 connect_timeout: float = 10.0) -> None:
        self._list_call = list_call
        self._args = args
        self._watch = watch.Watch()  # type: ignore[no-untyped-call]
        self._connect_timeout = connect_timeout

    def list(self) -> tuple[list[dict[str, Any]], str]:
        try:
            listing = self._list_call(*self._args, _preload_content=False,
                                      _request_timeout=(self._connect_timeout, 60))
        except ApiException as error:
            if error.status == 410:
                raise Gone(str(error.reason)) from None
            raise
        body = cast(dict[str, Any], json.loads(listing.data))
        items = body.get("items") or []
        resource_version = str((body.get("metadata") or {}).get("resourceVersion", ""))
        return list(items), resource_version

    def watch(self, resource_version: str, *, timeout_seconds: int) -> Iterator[WatchEvent]:
        # With timeout_seconds set, Watch.stream makes one request and raises ApiException on
        # an ERROR event, 410 included, instead of retrying on its own.
        stream = self._watch.stream(  # type: ignore[no-untyped-call]
            self._list_call, *self._args,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout_seconds,
            # A read timeout beyond the server's own catches a silently dead connection.
            _request_timeout=(self._connect_timeout, timeout_seconds + 30),
        )
        try:
            for event in stream:
                yield {"type": event["type"], "object": event["raw_object"]}
        except ApiException as error:
            if error.status == 410:
                raise Gone(str(error.reason)) from None
            raise

    def interrupt(self) -> None:
        self._watch.stop()  # type: ignore[no-untyped-call]


def imagemap_source(api_client: client.ApiClient) -> KubernetesSource:
    """The ImageMaps of every namespace."""
    api = client.CustomObjectsApi(api_client)
    return KubernetesSource(api.list_cluster_custom_object, GROUP, VERSION, PLURAL)


def clusterimagemap_source(api_client: client.ApiClient) -> KubernetesSource:
    """The ClusterImageMaps."""
    api = client.CustomObjectsApi(api_client)
    return KubernetesSource(api.list_cluster_custom_object, GROUP, VERSION, CLUSTER_PLURAL)


def namespace_source(api_client: client.ApiClient) -> KubernetesSource:
    """The Namespaces, which hold the decision records."""
    return KubernetesSource(client.CoreV1Api(api_client).list_namespace)


class KubernetesTLSStore:
    """The TLS Secret in the webhook's namespace and the project's webhook configuration.

    RBAC: get/update of that Secret (by resourceNames), create of Secrets in the namespace,
    get/patch of that MutatingWebhookConfiguration (by resourceNames).
    """

    def __init__(
        self, api_client: client.ApiClient, *, namespace: str, secret_name: str,
        webhook_configuration: str,
    ) -> None:
        self._core = client.CoreV1Api(api_client)
        self._admission = client.AdmissionregistrationV1Api(api_client)
        self._serialize = api_client.sanitize_for_serialization
        self.namespace = namespace
        self.secret_name = secret_name
        self.webhook_configuration = webhook_configuration

    def read_secret(self) -> tuple[dict[str, str] | None, str] | None:
        try:
            secret = self._core.read_namespaced_secret(self.secret_name, self.namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        data = None if secret.data is None else {
            k: v if isinstance(v, str) else v.decode("ascii") for k, v in secret.data.items()}
        metadata = secret.metadata
        return data, str(metadata.resource_version if metadata is not None else "")

    def _body(self, data: dict[str, str], resource_version: str | None = None) -> client.V1Secret:
        metadata: dict[str, Any] = {
            "name": self.secret_name, "namespace": self.namespace,
            "labels": {"app.kubernetes.io/name": "image-mapper",
                       "app.kubernetes.io/component": "webhook"},
            "annotations": {f"{GROUP}/managed-by":
                            "image-mapper serve-webhook --bootstrap-tls"},
        }
        if resource_version is not None:
            metadata["resourceVersion"] = resource_version
        return client.V1Secret.model_validate(
            {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": SECRET_TYPE,
             "data": data})

    def create_secret(self, data: dict[str, str]) -> None:
        try:
            self._core.create_namespaced_secret(self.namespace, self._body(data))
        except ApiException as error:
            if error.status == 409:
                raise AlreadyExists(str(error.reason)) from None
            raise

    def replace_secret(self, data: dict[str, str], resource_version: str) -> None:
        try:
            self._core.replace_namespaced_secret(
                self.secret_name, self.namespace, self._body(data, resource_version))
        except ApiException as error:
            if error.status == 409:
                raise Conflict(str(error.reason)) from None
            raise

    def _configuration(self) -> dict[str, Any] | None:
        try:
            configuration = self._admission.read_mutating_webhook_configuration(
                self.webhook_configuration)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        serialized = self._serialize(configuration)  # type: ignore[no-untyped-call]
        return cast(dict[str, Any], serialized)

    def ca_bundles(self) -> list[tuple[str, str]] | None:
        configuration = self._configuration()
        if configuration is None:
            return None
        return [(str(w.get("name")), str((w.get("clientConfig") or {}).get("caBundle", "")))
                for w in configuration.get("webhooks") or []]

    def set_ca_bundles(self, names: Sequence[str], ca_bundle: str) -> None:
        configuration = self._configuration()
        if configuration is None:
            return
        operations: list[dict[str, Any]] = []
        for index, webhook in enumerate(configuration.get("webhooks") or []):
            if webhook.get("name") in names:
                # The test makes the patch fail rather than touch another webhook, should the
                # list have changed since it was read.
                operations.append({"op": "test", "path": f"/webhooks/{index}/name",
                                   "value": webhook["name"]})
                operations.append({"op": "add", "path": f"/webhooks/{index}/clientConfig/caBundle",
                                   "value": ca_bundle})
        if operations:
            self._admission.patch_mutating_webhook_configuration(
                self.webhook_configuration, operations,
                _content_type="application/json-patch+json")
