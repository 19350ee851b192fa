#!/usr/bin/env bash
# Build a real helm binary from the Go module proxy and cache it outside the checkout.
#
#   tests/helm/build.sh          -> prints the path of the binary on the last stdout line
#
# Cache: ${IMAGE_MAPPER_CACHE:-$HOME/.cache/image-mapper}/tools/helm-<v>/helm
# Idempotent: if the binary exists it exits at once. Progress goes to stderr; the binary is
# written atomically (temp name + mv).
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"

CACHE_ROOT="${IMAGE_MAPPER_CACHE:-$HOME/.cache/image-mapper}"
BASE="$CACHE_ROOT/tools/helm-${HELM_VERSION}"
BIN="$BASE/helm"

log() { printf '[helm build.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [[ -x "$BIN" ]]; then
    echo "$BIN"
    exit 0
fi

mkdir -p "$BASE/src"
# Serialise concurrent builds (two test sessions starting at once).
exec 9>"$BASE/.build.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9
    if [[ -x "$BIN" ]]; then
        echo "$BIN"
        exit 0
    fi
fi

command -v go >/dev/null 2>&1 || { log "ERROR: go is not on PATH"; exit 1; }
log "go: $(go version)"
export GOFLAGS="${GOFLAGS:-} -mod=mod"
export CGO_ENABLED=0
START=$(date +%s)

src="$BASE/src"
rm -f "$src/go.mod" "$src/go.sum"
(
    cd "$src"
    go mod init image-mapper.local/helm-build >/dev/null 2>&1
    log "helm $HELM_VERSION: resolving module graph"
    go get "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" >&2
    go mod edit -toolchain=none
    # As helm's Makefile: the Kubernetes version `helm template` and `helm lint` assume is the
    # one of the client-go it is built with (v0.<minor>.<patch> is Kubernetes 1.<minor>).
    local_k8s=$(go list -f '{{.Version}}' -m k8s.io/client-go)
    minor=${local_k8s#v0.}; minor=${minor%%.*}
    ld="-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
    for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
        ld+=" -X ${pkg}.k8sVersionMajor=1 -X ${pkg}.k8sVersionMinor=${minor}"
    done
    log "helm: compiling for Kubernetes 1.${minor} (a few minutes on a cold 2-core machine)"
    go build -p "${BUILD_JOBS:-2}" -trimpath -ldflags="$ld" \
        -o "$BASE/.helm.tmp" helm.sh/helm/v3/cmd/helm >&2
)
chmod 0755 "$BASE/.helm.tmp"
mv -f "$BASE/.helm.tmp" "$BIN"
log "installed $BIN in $(( $(date +%s) - START ))s"
echo "$BIN"
