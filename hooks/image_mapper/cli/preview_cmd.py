"""`image-mapper preview [-f imagemap.yaml] MANIFEST...`: manifests as they would run.

Modelled on `kyverno apply`: Pods, workloads with a pod template, Lists, multi-document files
or `helm template` output on standard input (`-`), printed with every image the webhook would
rewrite rewritten and the original-images annotation on the pod template, or as a diff. The
rewrite is the webhook's own (`image_mapper.cli.manifests`).

Which ImageMaps map which manifest (`mapping_for`): ImageMaps are grouped by
`metadata.namespace` (those without one are one group) and each group is decided on its own, as
the webhook decides each namespace. A manifest's namespace is its `metadata.namespace`, else
`-n`. It is mapped by its namespace's group; else by the ImageMaps without a namespace (they
would be created in whichever namespace they are applied to); a manifest without any namespace
is mapped by the only group there is, and when there are several (none without a namespace),
`-n` must say which: as for `map`, `-n` names the namespace whose ImageMaps decide. A manifest
whose own namespace has no ImageMaps is shown unchanged, and stderr says so. Warnings go to
stderr (`--quiet`: none).

ClusterImageMaps among the documents (in `-f` or the manifests) map what a manifest's
namespace's ImageMaps leave: those that select the namespace, by the labels of a Namespace
document among the manifests (design.md#clusterimagemap; `image_mapper.cli.layering`).
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from typing import Any

import yaml

from image_mapper.cli.documents import STDIN, located_imagemaps, read_documents
from image_mapper.cli.errors import CommandError
from image_mapper.cli.layering import ClusterMaps
from image_mapper.cli.manifests import preview
from image_mapper.cli.namespaces import pick, refuse_unstorable
from image_mapper.engine.acceptance import Decision, decide
from image_mapper.engine.imagemap import API_VERSION, GROUP, KIND, read_imagemaps
from image_mapper.engine.mapping import Mapping
from image_mapper.webhook.reporting import PREFIX

_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--filename", action="append", default=[], metavar="PATH",
                        help="an ImageMap YAML file or folder; one per -f, repeatable "
                             "(optional when the manifests hold the ImageMaps)")
    parser.add_argument("-n", "--namespace", default=None, metavar="NAMESPACE",
                        help="the namespace the manifests that name none are applied to, as "
                             "kubectl's -n: its ImageMaps map them; needed when the ImageMaps "
                             "are in several namespaces ('' for those without metadata.namespace)")
    parser.add_argument("-o", "--output", choices=("yaml", "json", "diff"), default="yaml",
                        help="the manifests as they would run, as YAML documents (default) or "
                             "one JSON List, or a unified diff of each changed document")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="print no warnings (images rewritten, ImageMaps not in force); "
                             "errors are still printed")
    parser.add_argument("manifests", nargs="+", metavar="MANIFEST",
                        help="YAML file or folder of manifests, or - for standard input "
                             "(e.g. `helm template ... | image-mapper preview -f maps.yaml -`)")
    parser.epilog = ("ImageMaps that would be rejected are reported on stderr; the exit status "
                     "is 0 all the same.")


def _namespace(document: dict[str, Any], default: str | None) -> str | None:
    metadata = document.get("metadata")
    namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
    return namespace if isinstance(namespace, str) and namespace else default


def _imagemap_in_manifests(where: str, document: dict[str, Any]) -> bool:
    if document.get("kind") != KIND or not str(document.get("apiVersion")).startswith(
            f"{GROUP}/"):
        return False  # an ImageMap of another group is someone else's resource
    if document.get("apiVersion") != API_VERSION:
        raise CommandError(f"{where}: an ImageMap must have apiVersion {API_VERSION}, "
                           f"not {document.get('apiVersion')!r}")
    metadata = document.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        raise CommandError(f"{where}: ImageMap has no metadata.name")
    return True


def _shown(namespace: str) -> str:
    return f"namespace {namespace}" if namespace else "manifests without a namespace (-n)"


def mapping_for(namespace: str | None, decisions: dict[str, Decision]) -> Decision | None:
    """The decision that maps a manifest in `namespace` (None: it names none and no -n was
    given); see the module's doc. Raises CommandError when the manifest names no namespace
    and the ImageMaps are in several: which would map it is the user's to say (-n), as for
    `map`."""
    if namespace is None:
        # ImageMaps without a namespace land where the manifest does: they map it.
        if "" in decisions or len(decisions) == 1:
            return decisions.get("") or next(iter(decisions.values()))
        pick({n: [d] for n, d in decisions.items()}, None)  # raises: several namespaces
        return None
    return decisions.get(namespace) or decisions.get("")


def _decisions(imagemaps: list[dict[str, Any]], quiet: bool) -> dict[str, Decision]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for imagemap in imagemaps:
        groups.setdefault(_namespace(imagemap, None) or "", []).append(imagemap)
    decisions = {namespace: decide(read_imagemaps(group)) for namespace, group in groups.items()}
    for namespace, decision in decisions.items():
        for verdict in decision.verdicts.values():
            if not verdict.ready and not quiet:
                name = f"{namespace}/{verdict.name}" if namespace else verdict.name
                print(f"image-mapper preview: ImageMap {name} is not in force: "
                      f"{verdict.reason}: {verdict.message}", file=sys.stderr)
    return decisions


def _yaml(document: object) -> str:
    text: str = yaml.dump(document, Dumper=_DUMPER, sort_keys=False, allow_unicode=True,
                          default_flow_style=False, width=1_000_000)
    return text


def _label(where: str, document: dict[str, Any]) -> str:
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return f"{where}: {document.get('kind')} {name}" if isinstance(name, str) else where


def run(args: argparse.Namespace) -> int:
    if args.filename.count(STDIN) + args.manifests.count(STDIN) > 1:
        raise CommandError("standard input (-) can be read only once")
    cluster = ClusterMaps()
    given = read_documents(args.filename) if args.filename else []
    located = located_imagemaps(args.filename, required=False, documents=given)
    for where, document in given:
        if isinstance(document, dict):
            cluster.add(where, document)
    if args.filename and not located and not cluster:
        raise CommandError(f"no ImageMap or ClusterImageMap ({API_VERSION}) found in "
                           f"{', '.join(args.filename)}")
    manifests: list[tuple[str, dict[str, Any]]] = []
    for where, document in read_documents(args.manifests):
        if not isinstance(document, dict):
            raise CommandError(
                f"{where}: expected a Kubernetes object, got {type(document).__name__}")
        if _imagemap_in_manifests(where, document):
            located.append((where, document))
        cluster.add(where, document)
        manifests.append((where, document))
    # What the cluster would refuse to store is no preview (the CRD's limits among it).
    refuse_unstorable(located)
    cluster.refuse_unstorable()
    imagemaps = [document for _, document in located]
    if not imagemaps and not cluster:
        raise CommandError(f"no ImageMap or ClusterImageMap ({API_VERSION}) found in "
                           f"{', '.join(args.filename + args.manifests)}")
    if args.namespace is not None and not cluster:
        pick({_namespace(m, None) or "": [m] for m in imagemaps}, args.namespace)  # or raises
    decisions = _decisions(imagemaps, args.quiet)
    # Every document is mapped before anything is printed: an error prints no half output.
    results: list[tuple[str, dict[str, Any], Any]] = []
    warnings: list[str] = list(cluster.not_in_force())
    unmapped: set[str] = set()
    for where, document in manifests:
        namespace = _namespace(document, args.namespace)
        decision = mapping_for(namespace, decisions)
        mapping = cluster.layered(
            namespace or "", decision.mapping if decision is not None else Mapping.EMPTY)
        result = preview(document, namespace=namespace or "", mapping=mapping)
        if (result.admission is not None and decision is None and not cluster
                and namespace not in unmapped):
            unmapped.add(namespace or "")
            warnings.append(f"no ImageMaps for {_shown(namespace or '')}: "
                            "its workloads are shown unchanged")
        for warning in (result.admission.response.get("warnings", [])
                        if result.admission is not None else []):
            # The webhook's warnings start with its own name, which this line already gives.
            warnings.append(f"{where}: {warning.removeprefix(PREFIX)}")
        results.append((where, document, result.manifest))
    if not args.quiet:
        for warning in warnings:
            print(f"image-mapper preview: {warning}", file=sys.stderr)
    out = sys.stdout
    if args.output == "json":
        json.dump({"apiVersion": "v1", "kind": "List",
                   "items": [manifest for _, _, manifest in results]}, out, indent=2,
                  ensure_ascii=False)
        out.write("\n")
        return 0
    for where, document, manifest in results:
        if args.output == "yaml":
            out.write("---\n" + _yaml(manifest))
        elif manifest is not document:
            label = _label(where, document)
            out.writelines(difflib.unified_diff(
                _yaml(document).splitlines(keepends=True),
                _yaml(manifest).splitlines(keepends=True),
                fromfile=f"{label} (as written)", tofile=f"{label} (as it would run)"))
    return 0
