#!/usr/bin/env bash
# Build a real OCI registry (distribution's `registry`) and go-containerregistry's `crane` from
# the Go module proxy and cache them outside the checkout, like the control plane.
#
#   tests/registry/build.sh          -> prints the bin dir on the last stdout line
#
# Cache: ${IMAGE_MAPPER_CACHE:-$HOME/.cache/image-mapper}/tools/registry-<v>-crane-<v>/bin
# Idempotent: if both binaries exist it exits at once; concurrent builds wait on a lock.
# Progress goes to stderr; binaries are written atomically (temp name + mv).
set -euo pipefail

DISTRIBUTION_VERSION="${DISTRIBUTION_VERSION:-v3.1.2}"
CRANE_VERSION="${CRANE_VERSION:-v0.22.1}"

CACHE_ROOT="${IMAGE_MAPPER_CACHE:-$HOME/.cache/image-mapper}"
BASE="$CACHE_ROOT/tools/registry-${DISTRIBUTION_VERSION}-crane-${CRANE_VERSION}"
BIN="$BASE/bin"

log() { printf '[registry build.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

all_present() { [[ -x "$BIN/registry" && -x "$BIN/crane" ]]; }

if all_present; then
    echo "$BIN"
    exit 0
fi

mkdir -p "$BIN" "$BASE/src"
# Serialise concurrent builds (two test sessions starting at once).
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

# build NAME MODULE PACKAGE VERSION: `go get` the command into a wrapper module, then compile it.
build() {
    local name=$1 module=$2 package=$3 version=$4
    local src="$BASE/src/$name"
    mkdir -p "$src"
    rm -f "$src/go.mod" "$src/go.sum"
    (
        cd "$src"
        go mod init "image-mapper.local/${name}-build" >/dev/null 2>&1
        log "$name $version: resolving module graph"
        go get "${package}@${version}" >&2
        # The toolchain line of the module's go.mod must not force a download.
        go mod edit -toolchain=none
        log "$name: compiling"
        go build -p "$JOBS" -trimpath -ldflags="-s -w -X ${module}/version.version=${version}" \
            -o "$BIN/.$name.tmp" "$package" >&2
    )
    chmod 0755 "$BIN/.$name.tmp"
    mv -f "$BIN/.$name.tmp" "$BIN/$name"
    log "installed $BIN/$name ($(du -h "$BIN/$name" | cut -f1))"
}

[[ -x "$BIN/registry" ]] || build registry github.com/distribution/distribution/v3 \
    github.com/distribution/distribution/v3/cmd/registry "$DISTRIBUTION_VERSION"
[[ -x "$BIN/crane" ]] || build crane github.com/google/go-containerregistry \
    github.com/google/go-containerregistry/cmd/crane "$CRANE_VERSION"

all_present || { log "ERROR: build finished but binaries are missing in $BIN"; exit 1; }
log "done in $(( $(date +%s) - START ))s"
echo "$BIN"
