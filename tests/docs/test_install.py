"""Installing from your registry, as README.md and docs/install.md say it: the image the page
builds and pushes is the image every Deployment runs, with kustomize (`images:` in
examples/install/) and with Helm (`image.repository`, `image.tag`), and Helm puts everything
in the namespace the command names."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from tests.docs.commands import ROOT, commands
from tests.rendering import documents, helm, helm_binary, kubectl_kustomize

README = ROOT / "README.md"
INSTALL = ROOT / "docs" / "install.md"


def pushed(page: Path) -> str:
    """The reference the page's `docker push` pushes (after its `docker build -t` of it)."""
    lines = [c.line for c in commands(page)]
    built = {m for line in lines for m in re.findall(r"docker build -t (\S+)", line)}
    pushes = {m for line in lines for m in re.findall(r"docker push (\S+)", line)}
    assert len(pushes) == 1, pushes
    assert pushes == built
    return pushes.pop()


def images(objects: list[dict[str, Any]]) -> dict[str, str]:
    return {o["metadata"]["name"]: c["image"] for o in objects if o["kind"] == "Deployment"
            for c in o["spec"]["template"]["spec"]["containers"]}


@pytest.mark.parametrize("page", [README, INSTALL], ids=lambda p: p.name)
def test_kustomize_runs_the_pushed_image(page: Path) -> None:
    applied = [c.line for c in commands(page) if c.line.startswith("kubectl apply -k examples/")]
    assert applied, "the page applies none of examples/"
    for line in applied:
        folder = ROOT / shlex.split(line)[-1]
        deployments = images(kubectl_kustomize(folder))
        assert deployments == {"image-mapper-hooks": pushed(page),
                               "image-mapper-webhook": pushed(page)}, line


def helm_installs(page: Path) -> list[list[str]]:
    """Every `helm install` of the page (sh blocks and inline code), as arguments."""
    text = page.read_text(encoding="utf-8")
    found = [c.line for c in commands(page) if c.line.startswith("helm install ")]
    found += [" ".join(m.split()) for m in re.findall(r"`(helm install [^`]+)`", text)]
    return [shlex.split(line) for line in found]


@pytest.mark.parametrize("page", [README, INSTALL], ids=lambda p: p.name)
def test_helm_runs_the_pushed_image_in_the_named_namespace(page: Path) -> None:
    binary = helm_binary()
    installs = [args for args in helm_installs(page) if "image.repository" in " ".join(args)]
    assert installs, "the page gives no helm install with an image"
    for args in installs:
        namespace = args[args.index("-n") + 1]
        options = [a for a in args[4:] if a != "--create-namespace"]
        objects = documents(helm(binary, "template", *args[2:4], *options).stdout)
        assert set(images(objects).values()) == {pushed(page)}, args
        assert {o["metadata"]["namespace"] for o in objects
                if "namespace" in o["metadata"]} == {namespace}
        assert "Namespace" not in {o["kind"] for o in objects}  # --create-namespace's
