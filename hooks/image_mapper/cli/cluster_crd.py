"""The ClusterImageMap CRD, made from the ImageMap CRD (design.md#clusterimagemap).

A ClusterImageMap has the ImageMap's spec (`map`, `mode`, `imagePullSecrets`, validated as
strictly), plus `namespaceSelector`, and the same status and printer columns. So its CRD is not
written by hand: `cluster_crd` derives it from `crds/imagemaps.yaml`, and
`python -m image_mapper.cli.cluster_crd > hooks/image_mapper/crds/clusterimagemaps.yaml`
(`make crds`) writes it; a test holds the shipped file equal to the derivation, so the two
schemas cannot drift apart.
"""

from __future__ import annotations

import copy
import sys
from importlib.resources import files
from typing import Any

import yaml

from image_mapper.engine.imagemap import GROUP
from image_mapper.engine.layers import CLUSTER_KIND, CLUSTER_PLURAL, CLUSTER_SHORT_NAME
from image_mapper.engine.selector import MAX_NAME, MAX_VALUES, OPERATORS

HEADER = """\
# The ClusterImageMap resource: maplets for every namespace its namespaceSelector selects.
# Generated from imagemaps.yaml by `make crds` (image_mapper.cli.cluster_crd): do not edit.
"""

LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
LABEL_KEY = (r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
             r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
MAX_EXPRESSIONS = 32
MAX_LABEL_KEY = 317
"""A prefix (253) and '/' and a name (63)."""

NAMESPACE_SELECTOR: dict[str, Any] = {
    "type": "object",
    "description": (
        "The namespaces whose pods this ClusterImageMap maps, by their labels (a standard "
        "label selector; absent: every namespace the webhook serves). A namespace's own "
        "ImageMaps come first: only an image none of them matches is mapped here."),
    "x-kubernetes-map-type": "atomic",
    "properties": {
        "matchLabels": {
            "type": "object",
            "description": "Labels the namespace must have, with these values.",
            "maxProperties": MAX_EXPRESSIONS,
            "additionalProperties": {"type": "string", "maxLength": MAX_NAME,
                                     "pattern": LABEL_VALUE},
        },
        "matchExpressions": {
            "type": "array",
            "description": "Requirements on the namespace's labels; all must hold.",
            "maxItems": MAX_EXPRESSIONS,
            "x-kubernetes-list-type": "atomic",
            "items": {
                "type": "object",
                "required": ["key", "operator"],
                "x-kubernetes-validations": [{
                    "rule": ("self.operator in ['In', 'NotIn'] ? "
                             "has(self.values) && size(self.values) > 0 : "
                             "!has(self.values) || size(self.values) == 0"),
                    "message": ("values must be non-empty for In and NotIn, and empty for "
                                "Exists and DoesNotExist"),
                }],
                "properties": {
                    "key": {"type": "string", "minLength": 1, "maxLength": MAX_LABEL_KEY,
                            "pattern": LABEL_KEY},
                    "operator": {"type": "string", "enum": list(OPERATORS)},
                    "values": {
                        "type": "array",
                        "maxItems": MAX_VALUES,
                        "x-kubernetes-list-type": "atomic",
                        "items": {"type": "string", "maxLength": MAX_NAME,
                                  "pattern": LABEL_VALUE},
                    },
                },
            },
        },
    },
}


def imagemap_crd() -> dict[str, Any]:
    """The packaged ImageMap CRD."""
    text = files("image_mapper").joinpath("crds", "imagemaps.yaml").read_text(encoding="utf-8")
    crd: dict[str, Any] = yaml.safe_load(text)
    return crd


def cluster_crd(imagemap: dict[str, Any]) -> dict[str, Any]:
    """The ClusterImageMap CRD of an ImageMap CRD: cluster-scoped, its own names, the same
    versions, printer columns, spec and status, plus `spec.namespaceSelector`; descriptions
    that speak of a namespace speak of the selected namespaces; a conflict names the other
    ClusterImageMap (`clusterImageMap`)."""
    crd = copy.deepcopy(imagemap)
    crd["metadata"] = {"name": f"{CLUSTER_PLURAL}.{GROUP}"}
    spec = crd["spec"]
    spec["scope"] = "Cluster"
    spec["names"] = {"kind": CLUSTER_KIND, "listKind": f"{CLUSTER_KIND}List",
                     "plural": CLUSTER_PLURAL, "singular": CLUSTER_KIND.lower(),
                     "shortNames": [CLUSTER_SHORT_NAME]}
    for version in spec["versions"]:
        for column in version.get("additionalPrinterColumns", []):
            if "description" in column:
                column["description"] = column["description"].replace("ImageMap",
                                                                      CLUSTER_KIND)
        schema = version["schema"]["openAPIV3Schema"]
        schema["description"] = ("Relocates the images of pods in every namespace it selects, "
                                 "where the namespace's own ImageMaps do not map them.")
        properties = schema["properties"]["spec"]["properties"]
        properties["mode"]["description"] = (
            "Enforce (the default) rewrites the images of pods created in the namespaces it "
            "selects. Audit rewrites nothing: each image it would rewrite gets an admission "
            "warning and is counted in a metric. Either way the ClusterImageMap is accepted or "
            "rejected alike.")
        properties["imagePullSecrets"]["description"] = (
            "Secrets that must exist in the pod's namespace (they are not copied there), added "
            "(when missing, after the pod's own) to the imagePullSecrets of a pod created with "
            "at least one image rewritten by this ClusterImageMap. Never removed, never added "
            "on update.")
        properties["namespaceSelector"] = copy.deepcopy(NAMESPACE_SELECTOR)
        status = schema["properties"]["status"]["properties"]
        status["mappings"]["description"] = status["mappings"]["description"].replace(
            "ImageMap", CLUSTER_KIND)
        status["deployedNamespaceSelector"] = {
            "type": "object",
            "description": "The accepted generation's namespaceSelector, when it has one.",
            "x-kubernetes-preserve-unknown-fields": True,
        }
        conflict = status["conflicts"]["items"]
        conflict["required"] = ["clusterImageMap" if r == "imageMap" else r
                                for r in conflict["required"]]
        conflict["properties"] = {
            ("clusterImageMap" if key == "imageMap" else key): (
                {**value, "description": "The other ClusterImageMap."}
                if key == "imageMap" else value)
            for key, value in conflict["properties"].items()}
    return crd


def render(crd: dict[str, Any]) -> str:
    """The CRD as the shipped file holds it."""
    return HEADER + yaml.safe_dump(crd, sort_keys=False, width=100)


def main() -> None:
    sys.stdout.write(render(cluster_crd(imagemap_crd())))


if __name__ == "__main__":
    main()
