#!/usr/bin/env bash
# What `make demo` and `make test` need from the machine, installed with apt-get where Debian
# has it, otherwise a clear message. Idempotent and quiet when everything is there.
#   scripts/prerequisites.sh          everything (the control plane needs Go and kubectl)
#   scripts/prerequisites.sh python   only what the virtual environment needs (make venv, unit,
#                                     lint: no Go)
#   scripts/prerequisites.sh bench    that, and the load generator wrk for `make bench` (its
#                                     vegeta is built with Go by the benchmark itself)
set -euo pipefail

PYTHON=${PYTHON:-python3}
missing_debian=()

need_apt() { missing_debian+=("$1"); }

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || {
    echo "prerequisites: Python 3.11 or newer is needed as '$PYTHON' (set PYTHON=...)" >&2
    exit 1
}
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || need_apt python3-venv
command -v git >/dev/null || need_apt git
command -v make >/dev/null || need_apt make
command -v curl >/dev/null || need_apt curl
[[ "${1:-}" == bench ]] && { command -v wrk >/dev/null || need_apt wrk; }

if ((${#missing_debian[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_debian[@]}"
    elif command -v sudo >/dev/null; then
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_debian[@]}"
    else
        echo "prerequisites: please install the Debian packages: ${missing_debian[*]}" >&2
        exit 1
    fi
fi

[[ "${1:-}" == python || "${1:-}" == bench ]] && exit 0

# Go builds etcd and kube-apiserver v1.35 (which needs Go 1.24 or newer); Debian's is older.
if ! command -v go >/dev/null; then
    echo "prerequisites: Go 1.24 or newer is needed to build the control plane (https://go.dev/dl/)" >&2
    exit 1
fi
go_minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
if ((go_minor < 24)); then
    echo "prerequisites: Go 1.24 or newer is needed, found $(go env GOVERSION)" >&2
    exit 1
fi
if ! command -v kubectl >/dev/null; then
    echo "prerequisites: kubectl is needed (https://kubernetes.io/docs/tasks/tools/)" >&2
    exit 1
fi
