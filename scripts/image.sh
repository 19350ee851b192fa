#!/usr/bin/env bash
# `make image`: builds image-mapper:dev from the unchanged Dockerfile with Debian's buildah.
#
# 1. buildah, podman, runc, debootstrap, fuse-overlayfs and uidmap, installed with apt-get where
#    missing (no stdin needed).
# 2. The base, python:3.11.14-slim-bookworm: pulled if a registry answers; otherwise a stand-in
#    of the same name, a Debian bookworm minbase with Python 3.11 (debootstrap, from the mirror
#    apt uses), this machine's CA bundle and pip configuration, imported with podman. The
#    stand-in's root file system is cached under ~/.cache/image-mapper/image, keyed by its inputs.
# 3. The image, rebuilt only when the Dockerfile, requirements.txt, pyproject.toml, README.md,
#    hooks/ or the base change (a stamp keyed by their hash and the base's image ID).
#
# IMAGE_MAPPER_IMAGE (default image-mapper:dev) names the result.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
IMAGE=${IMAGE_MAPPER_IMAGE:-image-mapper:dev}
BASE=docker.io/library/python:3.11.14-slim-bookworm
CACHE=${IMAGE_MAPPER_CACHE:-$HOME/.cache/image-mapper}/image
SUITE=bookworm
INCLUDE=python3,python3-venv,python-is-python3,ca-certificates
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
mkdir -p "$CACHE"
# One build at a time on this machine (checkouts share podman's storage and this cache).
exec 9>"$CACHE/lock"
flock 9

say() { echo "image: $*" >&2; }

# --- 1. tools -------------------------------------------------------------------------------
export PATH=$PATH:/usr/sbin:/sbin  # runc and debootstrap are there
missing=()
for tool in buildah:buildah podman:podman runc:runc debootstrap:debootstrap \
    fuse-overlayfs:fuse-overlayfs newuidmap:uidmap; do
    command -v "${tool%%:*}" >/dev/null || missing+=("${tool##*:}")
done
if ((${#missing[@]})); then
    say "installing ${missing[*]} with apt-get"
    if [[ $(id -u) -eq 0 ]]; then
        apt-get update -qq </dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" </dev/null >/dev/null
    elif command -v sudo >/dev/null; then
        sudo -n apt-get update -qq </dev/null
        sudo -n DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" </dev/null >/dev/null
    else
        say "please install the Debian packages: ${missing[*]}"
        exit 1
    fi
fi

# --- 2. the base ----------------------------------------------------------------------------
# The Debian mirror apt uses (deb822 sources first, then the one-line format).
mirror() {
    local files=(/etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list)
    local file
    for file in "${files[@]}"; do
        [[ -r $file ]] || continue
        if [[ $file == *.sources ]]; then
            awk '/^URIs:/ {uri=$2} /^Suites:/ && uri != "" {for (i = 2; i <= NF; i++)
                if ($i == "'$SUITE'") {print uri; exit}}' "$file"
        else
            awk '$1 == "deb" && $3 == "'$SUITE'" {print $2; exit}' "$file"
        fi
    done | grep -v -- '-security' | head -n1
}

# pip inside the build trusts and asks what pip outside does: the CA bundle, and the index
# (global pip configuration and PIP_INDEX_URL / PIP_EXTRA_INDEX_URL).
pip_conf() {
    echo "[global]"
    echo "cert = $CA_BUNDLE"
    local value
    for key in index-url extra-index-url trusted-host; do
        value=$(pip config get "global.$key" 2>/dev/null || true)
        [[ -n $value ]] && echo "$key = $value"
    done
    [[ -n ${PIP_INDEX_URL:-} ]] && echo "index-url = $PIP_INDEX_URL"
    [[ -n ${PIP_EXTRA_INDEX_URL:-} ]] && echo "extra-index-url = $PIP_EXTRA_INDEX_URL"
    true
}

base_id() { podman image inspect --format '{{.Id}}' "$BASE" 2>/dev/null || true; }
# The stand-in carries its key as a label; the real image sets PYTHON_VERSION.
base_label() {
    podman image inspect --format '{{index .Labels "io.image-mapper.standin"}}' "$BASE" 2>/dev/null || true
}
base_is_real() {
    podman image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$BASE" 2>/dev/null \
        | grep -q '^PYTHON_VERSION='
}

MIRROR=$(mirror)
[[ -n $MIRROR ]] || MIRROR=http://deb.debian.org/debian
PIP_CONF=$(pip_conf)
BASE_KEY=$(printf '%s\n' "$SUITE" "$INCLUDE" "$MIRROR" "$PIP_CONF" "$(sha256sum <"$CA_BUNDLE")" \
    | sha256sum | cut -c1-16)
BASE_TAR=$CACHE/standin-$BASE_KEY.tar

if base_is_real; then
    say "base: $BASE (the real one, pulled before)"
elif [[ $(base_label) == "$BASE_KEY" ]]; then
    say "base: the STAND-IN for $BASE (cached, key $BASE_KEY; the real one could not be pulled)"
elif say "base: pulling $BASE" && timeout 120 podman pull -q "$BASE" </dev/null >/dev/null 2>"$CACHE/pull.log"; then
    say "base: $BASE pulled"
else
    say "base: cannot pull $BASE: $(tail -n1 "$CACHE/pull.log")"
    say "base: using a STAND-IN of the same name: Debian $SUITE minbase with $INCLUDE"
    say "      from $MIRROR, this machine's CA bundle and pip configuration"
    if [[ ! -f $BASE_TAR ]]; then
        rootfs=$(mktemp -d "$CACHE/rootfs.XXXXXX")
        trap 'rm -rf "$rootfs"' EXIT
        start=$SECONDS
        debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$rootfs" "$MIRROR" \
            </dev/null >"$CACHE/debootstrap.log" 2>&1 || {
            tail -n 20 "$CACHE/debootstrap.log" >&2
            say "debootstrap failed (log: $CACHE/debootstrap.log)"
            exit 1
        }
        cp "$CA_BUNDLE" "$rootfs$CA_BUNDLE"
        echo "$PIP_CONF" >"$rootfs/etc/pip.conf"
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        tar -C "$rootfs" -cf "$BASE_TAR.part" .
        mv "$BASE_TAR.part" "$BASE_TAR"
        rm -rf "$rootfs"
        trap - EXIT
        say "base: stand-in root file system built in $((SECONDS - start)) s ($BASE_TAR)"
    fi
    podman import -q --change 'CMD ["python3"]' --change "LABEL io.image-mapper.standin=$BASE_KEY" \
        "$BASE_TAR" "$BASE" </dev/null >/dev/null
fi

# --- 3. the image ---------------------------------------------------------------------------
inputs_hash() {
    cd "$ROOT"
    find Dockerfile requirements.txt pyproject.toml README.md hooks -type f \
        ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | LC_ALL=C sort -z \
        | xargs -0 sha256sum | sha256sum | cut -c1-16
}
KEY="$(inputs_hash) $(base_id)"
STAMP=$CACHE/built.key
image_id=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
if [[ -n $image_id && -f $STAMP && $(cat "$STAMP") == "$KEY $image_id" ]]; then
    say "$IMAGE is up to date (inputs ${KEY%% *})"
    exit 0
fi
say "building $IMAGE from the Dockerfile (inputs ${KEY%% *})"
start=$SECONDS
rm -f "$STAMP"
(cd "$ROOT" && buildah bud --pull-never --isolation chroot --layers -t "$IMAGE" . </dev/null >&2)
new_id=$(podman image inspect --format '{{.Id}}' "$IMAGE")
echo "$KEY $new_id" >"$STAMP"
# The image this one replaces, now untagged: its venv layer alone is about 200 MB. (Only that
# one: the build's cached layers stay for the next build.)
if [[ -n $image_id && $image_id != "$new_id" ]]; then
    podman rmi "$image_id" >/dev/null 2>&1 || true
fi
say "$IMAGE built in $((SECONDS - start)) s: $(podman image inspect --format '{{.Size}}' "$IMAGE") bytes"
