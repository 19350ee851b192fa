"""Each component's ServiceAccount against the real API server with RBAC on (design.md#installing).

The project's RBAC (metacontroller/*.yaml) gives:

- `image-mapper-webhook` (the webhook): get/list/watch ImageMaps in every namespace and
  ClusterImageMaps (ClusterRole image-mapper-webhook); get/patch of the MutatingWebhookConfiguration
  `image-mapper` only (ClusterRole image-mapper-webhook-tls, by resourceNames); get/update of
  its Secret `image-mapper-webhook-tls`, and create of Secrets, in `image-mapper` only
  (Role image-mapper-webhook-tls);
- `image-mapper-hooks` (the hooks): nothing. Metacontroller calls the hooks and sends them all
  they decide on; their ServiceAccount has no binding and mounts no token.

THE ONE ALLOWED EXCEPTION: `create` on Secrets cannot be limited by resourceNames (the name is
not known when a create is authorized; RBAC ignores resourceNames for create), so the webhook
may create any Secret in `image-mapper`. It still cannot read, list, watch, update, patch or
delete any Secret but its own, so it cannot read back what it created; the residual risk is that
it could create a `kubernetes.io/service-account-token` Secret for another ServiceAccount of
`image-mapper` (whose token it could not read), or fill the namespace with Secrets.

Shown three ways, each table-driven: real requests with each ServiceAccount's own bound token
(writes as server-side dry runs: authorization comes before the dry run, so a 403 is a refusal
and anything else is an authorized request, without side effects); `kubectl auth can-i
--as=system:serviceaccount:image-mapper:<sa>` for the same checks; and the complete rule set
from a SelfSubjectRulesReview, compared exactly with what is granted to any authenticated
ServiceAccount plus the grants above (so that any added permission fails a test).
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.controlplane.cluster import ControlPlane
from tests.e2e.stack import NAMESPACE, WEBHOOK_CONFIGURATION, Stack

pytestmark = pytest.mark.e2e

WEBHOOK = "image-mapper-webhook"
HOOKS = "image-mapper-hooks"
TLS_SECRET = "image-mapper-webhook-tls"
OTHER = "least-privilege"
"""A namespace of the test's own, with an ImageMap and a Secret."""
DECOY = "least-privilege-decoy"
"""A Secret in both namespaces, and a Mutating- and ValidatingWebhookConfiguration."""
IMAGEMAP = "probe"

GROUP = "mapper.imagerelocation.pivotal.io"
ADMISSION = "admissionregistration.k8s.io"

# resource -> (API path prefix, group for `kubectl auth can-i`, namespaced)
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "imagemaps": (f"/apis/{GROUP}/v1alpha1", GROUP, True),
    "clusterimagemaps": (f"/apis/{GROUP}/v1alpha1", GROUP, False),
    "secrets": ("/api/v1", "", True),
    "pods": ("/api/v1", "", True),
    "configmaps": ("/api/v1", "", True),
    "serviceaccounts": ("/api/v1", "", True),
    "namespaces": ("/api/v1", "", False),
    "mutatingwebhookconfigurations": (f"/apis/{ADMISSION}/v1", ADMISSION, False),
    "validatingwebhookconfigurations": (f"/apis/{ADMISSION}/v1", ADMISSION, False),
    "deployments": ("/apis/apps/v1", "apps", True),
    "roles": ("/apis/rbac.authorization.k8s.io/v1", "rbac.authorization.k8s.io", True),
    "clusterrolebindings": (
        "/apis/rbac.authorization.k8s.io/v1",
        "rbac.authorization.k8s.io",
        False,
    ),
    "customresourcedefinitions": (
        "/apis/apiextensions.k8s.io/v1",
        "apiextensions.k8s.io",
        False,
    ),
    "compositecontrollers": (
        "/apis/metacontroller.k8s.io/v1alpha1",
        "metacontroller.k8s.io",
        False,
    ),
}


@dataclass(frozen=True)
class Access:
    verb: str
    resource: str
    name: str = ""
    namespace: str = ""
    """'' for a cluster-scoped resource, or every namespace."""
    subresource: str = ""

    @property
    def id(self) -> str:
        target = "/".join(p for p in (self.resource, self.name, self.subresource) if p)
        return f"{self.verb}-{target}-in-{self.namespace or 'cluster'}"


# --- the tables ----------------------------------------------------------------------------

WEBHOOK_ALLOWED = [
    Access("get", "imagemaps", IMAGEMAP, OTHER),
    Access("list", "imagemaps", namespace=OTHER),
    Access("list", "imagemaps"),
    Access("watch", "imagemaps"),
    # The ClusterImageMaps, whose decision record is on the project's Namespace.
    Access("get", "clusterimagemaps", IMAGEMAP),
    Access("list", "clusterimagemaps"),
    Access("watch", "clusterimagemaps"),
    # The Namespaces hold the decision records the webhook follows (read only).
    Access("get", "namespaces", OTHER),
    Access("list", "namespaces"),
    Access("watch", "namespaces"),
    Access("get", "secrets", TLS_SECRET, NAMESPACE),
    Access("update", "secrets", TLS_SECRET, NAMESPACE),
    # THE EXCEPTION: create cannot be limited by name (see the module's docstring).
    Access("create", "secrets", namespace=NAMESPACE),
    Access("get", "mutatingwebhookconfigurations", WEBHOOK_CONFIGURATION),
    Access("patch", "mutatingwebhookconfigurations", WEBHOOK_CONFIGURATION),
]

REFUSED_TO_EVERY_COMPONENT = [
    # Secrets other than its own, anywhere; any listing; any other verb on its own.
    Access("get", "secrets", DECOY, NAMESPACE),
    Access("get", "secrets", DECOY, OTHER),
    Access("get", "secrets", DECOY, "kube-system"),
    Access("list", "secrets", namespace=NAMESPACE),
    Access("list", "secrets"),
    Access("watch", "secrets", TLS_SECRET, NAMESPACE),
    Access("update", "secrets", DECOY, NAMESPACE),
    Access("patch", "secrets", TLS_SECRET, NAMESPACE),
    Access("delete", "secrets", TLS_SECRET, NAMESPACE),
    Access("deletecollection", "secrets", namespace=NAMESPACE),
    Access("create", "secrets", namespace=OTHER),
    # Pods.
    Access("get", "pods", "any", OTHER),
    Access("list", "pods", namespace=OTHER),
    Access("list", "pods"),
    Access("create", "pods", namespace=OTHER),
    Access("create", "pods", namespace=NAMESPACE),
    Access("delete", "pods", "any", OTHER),
    # Writing ImageMaps or their status.
    Access("create", "imagemaps", namespace=OTHER),
    Access("update", "imagemaps", IMAGEMAP, OTHER),
    Access("patch", "imagemaps", IMAGEMAP, OTHER),
    Access("update", "imagemaps", IMAGEMAP, OTHER, "status"),
    Access("patch", "imagemaps", IMAGEMAP, OTHER, "status"),
    Access("delete", "imagemaps", IMAGEMAP, OTHER),
    Access("deletecollection", "imagemaps", namespace=OTHER),
    # Webhook configurations other than its own, and anything but get/patch of its own.
    Access("get", "mutatingwebhookconfigurations", DECOY),
    Access("patch", "mutatingwebhookconfigurations", DECOY),
    Access("list", "mutatingwebhookconfigurations"),
    Access("watch", "mutatingwebhookconfigurations"),
    Access("create", "mutatingwebhookconfigurations"),
    Access("update", "mutatingwebhookconfigurations", WEBHOOK_CONFIGURATION),
    Access("delete", "mutatingwebhookconfigurations", WEBHOOK_CONFIGURATION),
    Access("get", "validatingwebhookconfigurations", DECOY),
    Access("patch", "validatingwebhookconfigurations", DECOY),
    Access("list", "validatingwebhookconfigurations"),
    Access("create", "validatingwebhookconfigurations"),
    Access("delete", "validatingwebhookconfigurations", DECOY),
    # Everything else a compromised component would want.
    Access("get", "configmaps", "kube-root-ca.crt", NAMESPACE),
    Access("create", "serviceaccounts", HOOKS, NAMESPACE, "token"),
    Access("patch", "deployments", WEBHOOK, NAMESPACE),
    Access("patch", "namespaces", OTHER),
    Access("delete", "namespaces", OTHER),
    Access("create", "roles", namespace=NAMESPACE),
    Access("create", "clusterrolebindings"),
    Access("patch", "customresourcedefinitions", f"imagemaps.{GROUP}"),
    Access("delete", "customresourcedefinitions", f"imagemaps.{GROUP}"),
    Access("patch", "compositecontrollers", "image-mapper-imagemaps"),
]

CASES = (
    [pytest.param(WEBHOOK, a, True, id=f"webhook-can-{a.id}") for a in WEBHOOK_ALLOWED]
    + [
        pytest.param(WEBHOOK, a, False, id=f"webhook-cannot-{a.id}")
        for a in REFUSED_TO_EVERY_COMPONENT
    ]
    # The hooks need no API access at all: not even what the webhook may do.
    + [
        pytest.param(HOOKS, a, False, id=f"hooks-cannot-{a.id}")
        for a in WEBHOOK_ALLOWED + REFUSED_TO_EVERY_COMPONENT
    ]
)


# --- requests ------------------------------------------------------------------------------


def call(
    cp: ControlPlane,
    method: str,
    path: str,
    token: str,
    body: object | None = None,
    *,
    content_type: str = "application/json",
) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(cp.server + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", content_type)
    context = ssl.create_default_context(cafile=str(cp.ca_file))
    try:
        with urllib.request.urlopen(request, timeout=15, context=context) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


def paths(access: Access) -> tuple[str, str]:
    """(collection path, object path) of `access`."""
    prefix, _, namespaced = RESOURCES[access.resource]
    scope = f"/namespaces/{access.namespace}" if namespaced and access.namespace else ""
    collection = f"{prefix}{scope}/{access.resource}"
    item = f"{collection}/{access.name}" + (f"/{access.subresource}" if access.subresource else "")
    return collection, item


def attempt(cp: ControlPlane, token: str, access: Access) -> tuple[int, bytes]:
    """Make the request `access` describes with `token`; writes are server-side dry runs."""
    collection, item = paths(access)
    verb = access.verb
    if verb == "get":
        return call(cp, "GET", item, token)
    if verb == "list":
        return call(cp, "GET", collection, token)
    if verb == "watch":
        selector = f"&fieldSelector=metadata.name%3D{access.name}" if access.name else ""
        return call(cp, "GET", f"{collection}?watch=1&timeoutSeconds=1{selector}", token)
    if verb == "create":
        path = f"{item}?dryRun=All" if access.subresource else f"{collection}?dryRun=All"
        return call(cp, "POST", path, token, creation_body(access))
    if verb == "update":
        return call(cp, "PUT", f"{item}?dryRun=All", token, current(cp, item, access))
    if verb == "patch":
        patch = {"metadata": {"annotations": {"least-privilege/probe": "1"}}}
        return call(
            cp,
            "PATCH",
            f"{item}?dryRun=All",
            token,
            patch,
            content_type="application/merge-patch+json",
        )
    if verb == "delete":
        return call(cp, "DELETE", f"{item}?dryRun=All", token)
    if verb == "deletecollection":
        return call(cp, "DELETE", f"{collection}?dryRun=All", token)
    raise AssertionError(f"no request for verb {verb}")


def creation_body(access: Access) -> dict[str, Any]:
    if access.subresource == "token":
        return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    if access.resource == "secrets":
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"generateName": "least-privilege-probe-"},
            "type": "Opaque",
        }
    # Refused before validation: the body only has to be JSON.
    return {"metadata": {"generateName": "least-privilege-probe-"}}


def current(cp: ControlPlane, item: str, access: Access) -> dict[str, Any]:
    """The object as the admin reads it (a valid update body), or a stub."""
    status, body = cp.request("GET", item)
    if status == 200:
        result: dict[str, Any] = json.loads(body)
        return result
    return {"metadata": {"name": access.name, "namespace": access.namespace}}


def can_i(cp: ControlPlane, sa: str, access: Access) -> bool:
    _, group, namespaced = RESOURCES[access.resource]
    resource = f"{access.resource}.{group}" if group else access.resource
    target = f"{resource}/{access.name}" if access.name else resource
    args = ["auth", "can-i", access.verb, target, f"--as=system:serviceaccount:{NAMESPACE}:{sa}"]
    args += ["-n", access.namespace] if namespaced and access.namespace else ["--all-namespaces"]
    if access.subresource:
        args.append(f"--subresource={access.subresource}")
    answer = cp.kubectl(*args, check=False)
    assert answer.returncode in (0, 1), answer.stderr
    return answer.returncode == 0


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def objects(stack: Stack) -> Iterator[ControlPlane]:
    """The objects the tables name: an ImageMap and Secrets to read, configurations to patch."""
    cp = stack.cp
    cp.kubectl("create", "namespace", OTHER)
    decoy_configuration = {"metadata": {"name": DECOY}, "webhooks": []}
    manifests = [
        {
            "apiVersion": f"{GROUP}/v1alpha1",
            "kind": "ImageMap",
            "metadata": {"name": IMAGEMAP, "namespace": OTHER},
            "spec": {"map": [{"from": "least-privilege.example/a:1", "to": "b.example/a:1"}]},
        },
        {
            "apiVersion": f"{GROUP}/v1alpha1",
            "kind": "ClusterImageMap",
            "metadata": {"name": IMAGEMAP},
            "spec": {"map": [{"from": "least-privilege.example/c:1", "to": "b.example/c:1"}]},
        },
        *(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": DECOY, "namespace": namespace},
                "stringData": {"password": "decoy"},
            }
            for namespace in (NAMESPACE, OTHER)
        ),
        {
            "apiVersion": f"{ADMISSION}/v1",
            "kind": "MutatingWebhookConfiguration",
            **decoy_configuration,
        },
        {
            "apiVersion": f"{ADMISSION}/v1",
            "kind": "ValidatingWebhookConfiguration",
            **decoy_configuration,
        },
    ]
    for manifest in manifests:
        cp.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    # The webhook has bootstrapped its TLS Secret (the Stack waits for the caBundle).
    cp.kubectl("get", "secret", TLS_SECRET, "-n", NAMESPACE)
    yield cp
    cp.kubectl("delete", "secret", DECOY, "-n", NAMESPACE, "--ignore-not-found", check=False)
    cp.kubectl("delete", "clusterimagemap", IMAGEMAP, "--ignore-not-found", check=False)
    for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
        cp.kubectl("delete", kind, DECOY, "--ignore-not-found", check=False)
    cp.kubectl("delete", "namespace", OTHER, "--wait=false", check=False)


@pytest.fixture(scope="module")
def tokens(objects: ControlPlane) -> dict[str, str]:
    """A bound token of each component's ServiceAccount, and of one with no binding at all."""
    cp = objects
    return {
        WEBHOOK: cp.service_account_token(NAMESPACE, WEBHOOK),
        HOOKS: cp.service_account_token(NAMESPACE, HOOKS),
        "nobody": cp.service_account_token(OTHER, "least-privilege-nobody", create=True),
    }


# --- requests and can-i, from the tables ---------------------------------------------------


@pytest.mark.parametrize(("sa", "access", "allowed"), CASES)
def test_real_request(
    objects: ControlPlane, tokens: dict[str, str], sa: str, access: Access, allowed: bool
) -> None:
    status, body = attempt(objects, tokens[sa], access)
    if allowed:
        assert status in (200, 201), (status, body[:400])
    else:
        assert status == 403, (status, body[:400])
        assert b"Forbidden" in body


@pytest.mark.parametrize(("sa", "access", "allowed"), CASES)
def test_can_i(objects: ControlPlane, sa: str, access: Access, allowed: bool) -> None:
    assert can_i(objects, sa, access) is allowed


# --- the complete rule sets ----------------------------------------------------------------

Rule = tuple[str, str, str, str]
"""(verb, API group, resource, resource name or '*'); non-resource: ('get', 'url', path, '')."""


def rules(cp: ControlPlane, token: str, namespace: str) -> set[Rule]:
    status, body = call(
        cp,
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
        token,
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectRulesReview",
            "spec": {"namespace": namespace},
        },
    )
    assert status == 201, body
    review = json.loads(body)["status"]
    assert not review.get("incomplete"), review
    found: set[Rule] = set()
    for rule in review.get("resourceRules") or []:
        for verb in rule["verbs"]:
            for group in rule.get("apiGroups") or [""]:
                for resource in rule.get("resources") or []:
                    for name in rule.get("resourceNames") or ["*"]:
                        found.add((verb, group, resource, name))
    for rule in review.get("nonResourceRules") or []:
        for verb in rule["verbs"]:
            for url in rule.get("nonResourceURLs") or []:
                found.add((verb, "url", url, ""))
    return found


WEBHOOK_EVERYWHERE: set[Rule] = {
    ("get", GROUP, "imagemaps", "*"),
    ("list", GROUP, "imagemaps", "*"),
    ("watch", GROUP, "imagemaps", "*"),
    ("get", GROUP, "clusterimagemaps", "*"),
    ("list", GROUP, "clusterimagemaps", "*"),
    ("watch", GROUP, "clusterimagemaps", "*"),
    ("get", "", "namespaces", "*"),
    ("list", "", "namespaces", "*"),
    ("watch", "", "namespaces", "*"),
    ("get", ADMISSION, "mutatingwebhookconfigurations", WEBHOOK_CONFIGURATION),
    ("patch", ADMISSION, "mutatingwebhookconfigurations", WEBHOOK_CONFIGURATION),
}
WEBHOOK_IN_ITS_NAMESPACE = WEBHOOK_EVERYWHERE | {
    ("get", "", "secrets", TLS_SECRET),
    ("update", "", "secrets", TLS_SECRET),
    ("create", "", "secrets", "*"),  # THE EXCEPTION: not limited by name
}


@pytest.mark.parametrize(
    ("sa", "namespace", "expected"),
    [
        pytest.param(WEBHOOK, NAMESPACE, WEBHOOK_IN_ITS_NAMESPACE, id="webhook-in-image-mapper"),
        pytest.param(WEBHOOK, OTHER, WEBHOOK_EVERYWHERE, id="webhook-in-another-namespace"),
        pytest.param(HOOKS, NAMESPACE, set(), id="hooks-in-image-mapper"),
        pytest.param(HOOKS, OTHER, set(), id="hooks-in-another-namespace"),
    ],
)
def test_complete_rules(
    objects: ControlPlane, tokens: dict[str, str], sa: str, namespace: str, expected: set[Rule]
) -> None:
    """Exactly the grants above, beyond what every authenticated ServiceAccount has."""
    baseline = rules(objects, tokens["nobody"], namespace)
    granted = rules(objects, tokens[sa], namespace)
    assert baseline <= granted
    assert granted - baseline == expected


@pytest.mark.parametrize(
    ("sa", "expected"),
    [
        pytest.param(
            WEBHOOK,
            {
                f"ClusterRoleBinding/{WEBHOOK}",
                f"ClusterRoleBinding/{WEBHOOK}-tls",
                f"RoleBinding/{NAMESPACE}/{WEBHOOK}-tls",
            },
            id="webhook",
        ),
        pytest.param(HOOKS, set(), id="hooks"),
    ],
)
def test_bindings(objects: ControlPlane, sa: str, expected: set[str]) -> None:
    """The bindings naming the ServiceAccount, or every ServiceAccount of its namespace."""
    found = set()
    for kind, listing in (
        ("ClusterRoleBinding", objects.kubectl_json("get", "clusterrolebindings")),
        ("RoleBinding", objects.kubectl_json("get", "rolebindings", "--all-namespaces")),
    ):
        for binding in listing["items"]:  # type: ignore[attr-defined]
            for subject in binding.get("subjects") or []:
                names_it = (
                    subject.get("kind") == "ServiceAccount"
                    and subject.get("name") == sa
                    and subject.get("namespace") == NAMESPACE
                ) or (
                    subject.get("kind") == "Group"
                    and subject.get("name") == f"system:serviceaccounts:{NAMESPACE}"
                )
                if names_it:
                    meta = binding["metadata"]
                    scope = f"{meta['namespace']}/" if "namespace" in meta else ""
                    found.add(f"{kind}/{scope}{meta['name']}")
    assert found == expected


def test_hooks_service_account_mounts_no_token(objects: ControlPlane) -> None:
    account = objects.kubectl_json("get", "serviceaccount", HOOKS, "-n", NAMESPACE)
    assert account["automountServiceAccountToken"] is False
