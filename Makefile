# The README's two commands are `make demo` and `make test`; .ci/run runs `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

TOOLS := $(HOME)/.cache/image-mapper/tools
CHECKOV_VENV := $(TOOLS)/checkov-3.3.30

.PHONY: all prerequisites python-prerequisites venv lint unit test e2e demo bench controlplane helm registry tools image crds clean

all: test

# Python 3.11+, venv, Go, kubectl: installed with apt-get where Debian has them.
prerequisites:
	@scripts/prerequisites.sh

# Only what the virtual environment needs: venv, unit and lint run without Go.
python-prerequisites:
	@scripts/prerequisites.sh python

# A virtual environment with the pinned requirements, rebuilt when they change.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml | python-prerequisites
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

# etcd, kube-apiserver and kube-controller-manager, built once from the Go module proxy,
# and the real Metacontroller, built from its pinned source in third_party/metacontroller;
# all cached under ~/.cache/image-mapper (a fresh clone on the same machine reuses them).
controlplane: prerequisites
	tests/controlplane/build.sh
	tests/controlplane/build-metacontroller.sh

# checkov in its own virtual environment, cached outside the checkout like the binaries
# (its folder is named by version; the stamp is written last, so an interrupted install is redone).
$(CHECKOV_VENV)/.installed:
	rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

# helm, built once from the Go module proxy and cached like the control plane (tests/helm/build.sh):
# the chart's tests lint, render and install it with it.
helm: prerequisites
	tests/helm/build.sh

# distribution's registry and crane, built once from the Go module proxy and cached like helm
# (tests/registry/build.sh): `image-mapper verify` is tested against real registries with them.
registry: prerequisites
	tests/registry/build.sh

tools: $(CHECKOV_VENV)/.installed helm registry

# image-mapper:dev from the unchanged Dockerfile with Debian's buildah (installed with apt-get),
# on the real base if a registry answers, else on a stand-in of the same name built with
# debootstrap; rebuilt only when the Dockerfile, requirements, pyproject.toml, README.md or
# hooks/ change (scripts/image.sh). tests/image builds it the same way within `make test`.
image: venv
	$(BIN)/hadolint Dockerfile
	scripts/image.sh

# The ClusterImageMap CRD is made from the ImageMap CRD (tests/manifests holds them equal).
crds: venv
	$(BIN)/python -m image_mapper.cli.cluster_crd > hooks/image_mapper/crds/clusterimagemaps.yaml

lint: venv
	$(BIN)/ruff check hooks tests benchmarks
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest -m "not e2e and not image and not registry"

e2e: venv controlplane registry
	$(BIN)/pytest -m e2e

test: venv controlplane tools lint
	$(BIN)/pytest

demo: venv controlplane
	$(BIN)/python -m tests.e2e.demo

# wrk with apt-get; vegeta built from the Go module proxy on first use (benchmarks/bench_server.py).
bench: venv registry
	@scripts/prerequisites.sh bench
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
