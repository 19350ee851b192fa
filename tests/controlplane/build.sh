#!/usr/bin/env bash
# Build real control-plane binaries (etcd, kube-apiserver, kube-controller-manager)
# from the Go module proxy and cache them outside the checkout.
#
#   tests/controlplane/build.sh          -> prints the bin dir on the last stdout line
#
# Cache: ${IMAGE_MAPPER_CACHE:-$HOME/.cache/image-mapper}/controlplane/k8s-<v>-etcd-<v>/bin
# Idempotent: if all three binaries exist and are executable it exits at once.
# Progress goes to stderr. Binaries are written atomically (temp name + mv).
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.35.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
# Staging modules (k8s.io/api, k8s.io/client-go, ...) are published as v0.<minor>.<patch>.
STAGING_VERSION="v0.${K8S_VERSION#v1.}"

CACHE_ROOT="${IMAGE_MAPPER_CACHE:-$HOME/.cache/image-mapper}"
BASE="$CACHE_ROOT/controlplane/k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}"
BIN="$BASE/bin"
BINARIES=(etcd kube-apiserver kube-controller-manager)

log() { printf '[build.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

all_present() {
    local b
    for b in "${BINARIES[@]}"; do
        [[ -x "$BIN/$b" ]] || return 1
    done
    return 0
}

# Warm path: nothing to do.
if all_present; then
    echo "$BIN"
    exit 0
fi

mkdir -p "$BIN" "$BASE/src"

# Serialise concurrent builds (e.g. two test sessions starting at once).
exec 9>"$BASE/.build.lock"
if command -v flock >/dev/null 2>&1; then
    if ! flock -n 9; then
        log "another build is running; waiting for $BASE/.build.lock"
        flock 9
    fi
    if all_present; then
        echo "$BIN"
        exit 0
    fi
fi

command -v go >/dev/null 2>&1 || { log "ERROR: go is not on PATH"; exit 1; }
log "go: $(go version)"
export GOFLAGS="${GOFLAGS:-} -mod=mod"
export CGO_ENABLED=0
JOBS="${BUILD_JOBS:-2}"
START=$(date +%s)

# install_bin NAME: move $BIN/.NAME.tmp into place atomically.
install_bin() {
    chmod 0755 "$BIN/.$1.tmp"
    mv -f "$BIN/.$1.tmp" "$BIN/$1"
    log "installed $BIN/$1 ($(du -h "$BIN/$1" | cut -f1))"
}

build_etcd() {
    local src="$BASE/src/etcd"
    mkdir -p "$src"
    log "etcd $ETCD_VERSION: preparing wrapper module in $src"
    cat >"$src/main.go" <<'GO'
// Wrapper main package: the same as go.etcd.io/etcd/server/v3's main.go.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
GO
    rm -f "$src/go.mod" "$src/go.sum"
    (
        cd "$src"
        go mod init image-mapper.local/etcd-build >/dev/null 2>&1
        go mod edit -require="go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
        # The toolchain line of etcd's go.mod must not force a download.
        log "etcd: resolving module graph"
        go mod tidy >&2
        go mod edit -toolchain=none
        log "etcd: compiling (this takes a few minutes on a cold cache)"
        go build -p "$JOBS" -trimpath -ldflags='-s -w' -o "$BIN/.etcd.tmp" . >&2
    )
    install_bin etcd
}

build_k8s() {
    local src="$BASE/src/kubernetes"
    mkdir -p "$src"
    log "kubernetes $K8S_VERSION: preparing wrapper module in $src"
    rm -f "$src/go.mod" "$src/go.sum" "$src/tools.go"
    local gomod
    gomod=$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" |
        sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
    [[ -f "$gomod" ]] || { log "ERROR: could not download go.mod of k8s.io/kubernetes@${K8S_VERSION}"; exit 1; }
    # Staging modules = those replaced with ./staging/src/k8s.io/... in kubernetes' own go.mod.
    local staging
    staging=$(go mod edit -json "$gomod" | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Replace") or []:
    if r["New"]["Path"].startswith("./staging/"):
        print(r["Old"]["Path"])
' 2>/dev/null || true)
    if [[ -z "$staging" ]]; then
        # Fallback without python3: parse the replace block textually.
        staging=$(sed -n 's#^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/src/.*#\1#p' "$gomod")
    fi
    [[ -n "$staging" ]] || { log "ERROR: no staging replaces found in $gomod"; exit 1; }
    log "kubernetes: $(wc -l <<<"$staging") staging modules -> ${STAGING_VERSION}"
    (
        cd "$src"
        go mod init image-mapper.local/kubernetes-build >/dev/null 2>&1
        go mod edit -require="k8s.io/kubernetes@${K8S_VERSION}"
        local args=() m
        while read -r m; do
            [[ -n "$m" ]] && args+=("-replace=${m}=${m}@${STAGING_VERSION}")
        done <<<"$staging"
        go mod edit "${args[@]}"
        log "kubernetes: resolving module graph (downloads several hundred MB on a cold module cache)"
        # go get adds exactly the requirements (and go.sum lines) needed to build the commands.
        go get "k8s.io/kubernetes/cmd/kube-apiserver@${K8S_VERSION}" \
            "k8s.io/kubernetes/cmd/kube-controller-manager@${K8S_VERSION}" >&2
        go mod edit -toolchain=none
        local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
        local ld="-s -w"
        local pkg
        for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
            ld+=" -X ${pkg}.gitVersion=${K8S_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
            ld+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
        done
        local cmd
        for cmd in kube-apiserver kube-controller-manager; do
            if [[ -x "$BIN/$cmd" ]]; then
                log "$cmd already built"
                continue
            fi
            log "kubernetes: compiling $cmd (10-20 minutes on a cold 2-core machine)"
            go build -p "$JOBS" -trimpath -ldflags="$ld" -o "$BIN/.$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd" >&2
            install_bin "$cmd"
        done
    )
}

[[ -x "$BIN/etcd" ]] || build_etcd
[[ -x "$BIN/kube-apiserver" && -x "$BIN/kube-controller-manager" ]] || build_k8s

all_present || { log "ERROR: build finished but binaries are missing in $BIN"; exit 1; }
log "done in $(( $(date +%s) - START ))s"
echo "$BIN"
