#!/usr/bin/env bash
# Build the real Metacontroller from the pinned source archive in third_party/metacontroller
# (its dependencies come from the Go module proxy) and cache it outside the checkout.
#
#   tests/controlplane/build-metacontroller.sh   -> prints the binary's folder on the last stdout line
#
# Cache: ${IMAGE_MAPPER_CACHE:-$HOME/.cache/image-mapper}/metacontroller/<commit>/bin
# The folder also keeps the CRDs of that source (crds.yaml), applied by the tests and the demo,
# and Metacontroller's own install kustomization (production/), applied by tests/e2e/operating.
# Idempotent: a warm cache exits at once. Progress goes to stderr.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SOURCE_DIR="${METACONTROLLER_SOURCE:-$ROOT/third_party/metacontroller}"
COMMIT=175eac0
VERSION="v4.17.2-$COMMIT"
ARCHIVE="$SOURCE_DIR/metacontroller-$COMMIT.tar.gz"

CACHE_ROOT="${IMAGE_MAPPER_CACHE:-$HOME/.cache/image-mapper}"
BASE="$CACHE_ROOT/metacontroller/$COMMIT"
BIN="$BASE/bin"

log() { printf '[build-metacontroller.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

present() { [[ -x "$BIN/metacontroller" && -f "$BIN/crds.yaml" ]]; }

# Metacontroller's install kustomization, taken from the source next to a binary built before it
# was kept (a cache of an older checkout); without the source it stays missing, and the test that
# applies it says so.
keep_production() {
    [[ -f "$BIN/production/kustomization.yaml" || ! -f "$ARCHIVE" ]] && return 0
    (cd "$SOURCE_DIR" && sha256sum --quiet -c SHA256SUMS) || {
        log "ERROR: $ARCHIVE does not match $SOURCE_DIR/SHA256SUMS"
        exit 1
    }
    local work
    work="$(mktemp -d "$BASE/.production.XXXXXX")"
    tar -xzf "$ARCHIVE" -C "$work" "metacontroller-$COMMIT/manifests/production"
    rm -rf "$BIN/production"
    mv "$work/metacontroller-$COMMIT/manifests/production" "$BIN/production"
    rm -rf "$work"
}

if present; then
    keep_production
    echo "$BIN"
    exit 0
fi

[[ -f "$ARCHIVE" ]] || {
    log "ERROR: Metacontroller's source is not at $ARCHIVE (set METACONTROLLER_SOURCE to its folder)"
    exit 1
}
command -v go >/dev/null 2>&1 || { log "ERROR: go is not on PATH"; exit 1; }

mkdir -p "$BIN"
exec 9>"$BASE/.build.lock"
if command -v flock >/dev/null 2>&1; then
    flock -n 9 || { log "another build is running; waiting for $BASE/.build.lock"; flock 9; }
    if present; then
        echo "$BIN"
        exit 0
    fi
fi

(cd "$SOURCE_DIR" && sha256sum --quiet -c SHA256SUMS) || {
    log "ERROR: $ARCHIVE does not match $SOURCE_DIR/SHA256SUMS"
    exit 1
}

START=$(date +%s)
WORK="$BASE/src"
rm -rf "$WORK"
mkdir -p "$WORK"
tar -xzf "$ARCHIVE" -C "$WORK"
SRC="$WORK/metacontroller-$COMMIT"
log "go: $(go version); compiling Metacontroller $VERSION (3-6 minutes on a cold cache)"
(
    cd "$SRC"
    # The go line names a toolchain at least as new as the one here; never download another.
    GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod go build -p "${BUILD_JOBS:-2}" -trimpath \
        -ldflags "-X main.version=$VERSION -s -w" -o "$BIN/.metacontroller.tmp" ./pkg/cmd/metacontroller >&2
)
cp "$SRC/manifests/production/metacontroller-crds-v1.yaml" "$BIN/.crds.yaml.tmp"
mv -f "$BIN/.crds.yaml.tmp" "$BIN/crds.yaml"
rm -rf "$BIN/production"
cp -r "$SRC/manifests/production" "$BIN/production"
chmod 0755 "$BIN/.metacontroller.tmp"
mv -f "$BIN/.metacontroller.tmp" "$BIN/metacontroller"
rm -rf "$WORK"
log "installed $BIN/metacontroller in $(( $(date +%s) - START ))s"
echo "$BIN"
