#!/usr/bin/env bash
# Build one family's image for real without a Docker engine or registry, and
# run it: buildah (vfs storage, chroot isolation) and podman (runc).
#
#   images/build-local.sh serving            # build, then smoke-test the image
#   images/build-local.sh registry --no-run  # build only
#
# Needs root and the Debian packages buildah, podman, runc and debootstrap
# (apt-get install -y buildah podman runc debootstrap). Only Debian's package
# mirror and PyPI are contacted:
# - the base is not pulled from a registry: debootstrap makes a Debian
#   bookworm minbase with python3 (3.11, as in python:3.11-slim-bookworm) and
#   python3-venv, imported once as localhost/kfp-governance-base:bookworm; the
#   Dockerfile gets it through its BASE_IMAGE argument and is otherwise the
#   one the release builds;
# - pip inside the build verifies PyPI with the host's CA bundle, mounted into
#   the build's RUN steps with a pip.conf (neither ends up in the image).
# Prints the build time, the image size and what ran inside.
set -euo pipefail
cd "$(dirname "$0")/.."

FAMILY="${1:?usage: images/build-local.sh validation|training|registry|serving [--no-run]}"
RUN_IT=1
[ "${2:-}" = "--no-run" ] && RUN_IT=0
[ -f "images/$FAMILY/Dockerfile" ] || { echo "no images/$FAMILY/Dockerfile" >&2; exit 2; }
for tool in buildah podman runc debootstrap; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y buildah podman runc debootstrap" >&2; exit 2; }
done

VERSION="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' src/kfp_governance/__init__.py)"
BASE=localhost/kfp-governance-base:bookworm
IMAGE="localhost/kfp-governance-$FAMILY:$VERSION"
HOST_CA="${HOST_CA:-/etc/ssl/certs/ca-certificates.crt}"
WORK="${WORK:-/var/tmp/kfp-governance-build}"
export STORAGE_DRIVER=vfs   # read by buildah and podman alike
mkdir -p "$WORK"

if ! buildah images --quiet "$BASE" >/dev/null 2>&1; then
    echo "== base: debootstrap bookworm minbase + python3, python3-venv"
    start=$(date +%s)
    rm -rf "$WORK/rootfs"
    # The mirror this machine's apt already uses (first deb URI), unless DEBIAN_MIRROR says otherwise.
    # (grep -s and `|| true`: a missing sources.list is normal on deb822-only machines and must not end the script)
    mirror="${DEBIAN_MIRROR:-$( { grep -shoE '^(URIs:|deb) +https?://[^ ]+' /etc/apt/sources.list \
        /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list || true; } | head -n 1 | awk '{print $NF}')}"
    [ -n "$mirror" ] || { echo "no Debian mirror found in /etc/apt; set DEBIAN_MIRROR" >&2; exit 2; }
    debootstrap --variant=minbase --include=python3,python3-venv bookworm "$WORK/rootfs" "$mirror" \
        >"$WORK/debootstrap.log"
    rm -rf "$WORK"/rootfs/var/cache/apt/archives/*.deb "$WORK"/rootfs/var/lib/apt/lists/*
    tar -C "$WORK/rootfs" -c . | podman import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["python3"]' - "$BASE" >/dev/null
    rm -rf "$WORK/rootfs"
    echo "   base made in $(( $(date +%s) - start )) s"
fi

# Build-time only: pip trusts the host's CA bundle. The context is the repo,
# less what COPY never needs (the 3 GB .venv above all).
cat >"$WORK/pip.conf" <<'EOF'
[global]
cert = /etc/ssl/certs/ca-certificates.crt
timeout = 180
EOF
cat >"$WORK/ignore" <<'EOF'
.git
.venv
.venv-tools
**/__pycache__
kfp-governance-run
local_outputs
EOF

# The commit stamped into the wheel (setup.py) and whether the package's
# sources differ from it: the build context has no .git, so pass both.
REVISION="$(git rev-parse --verify HEAD 2>/dev/null || echo unknown)"
REVISION_DIRTY=unknown
if [ "$REVISION" != unknown ]; then
    if [ -n "$(git status --porcelain --untracked-files=all -- src components pipelines pyproject.toml setup.py)" ]; then
        REVISION_DIRTY=true
    else
        REVISION_DIRTY=false
    fi
fi

echo "== build $IMAGE (images/$FAMILY/Dockerfile; commit $REVISION, dirty $REVISION_DIRTY)"
start=$(date +%s)
buildah bud --isolation chroot --layers=false \
    --ignorefile "$WORK/ignore" \
    -v "$HOST_CA:/etc/ssl/certs/ca-certificates.crt:ro" \
    -v "$WORK/pip.conf:/etc/pip.conf:ro" \
    --build-arg "BASE_IMAGE=$BASE" \
    --build-arg "VERSION=$VERSION" \
    --build-arg "REVISION=$REVISION" \
    --build-arg "REVISION_DIRTY=$REVISION_DIRTY" \
    --build-arg "IMAGE_REFERENCE=$IMAGE" \
    -f "images/$FAMILY/Dockerfile" -t "$IMAGE" . >"$WORK/build-$FAMILY.log" 2>&1 \
    || { tail -40 "$WORK/build-$FAMILY.log"; exit 1; }
build_s=$(( $(date +%s) - start ))
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
echo "   built in ${build_s} s; image size $(( size / 1000000 )) MB (uncompressed; log $WORK/build-$FAMILY.log)"

[ "$RUN_IT" = 1 ] || exit 0

# As Kubernetes runs it: non-root (the image's USER), read-only root
# filesystem, /tmp writable, no capabilities, no network.
run() {
    podman run --rm --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
        --network none --read-only --tmpfs /tmp --env HOME=/tmp --workdir /tmp --cap-drop ALL \
        --security-opt no-new-privileges "$@"
}
echo "== run: identity, Python and the package"
run "$IMAGE" sh -c 'id; python3 -c "import sys, kfp, kfp_governance; print(sys.version.split()[0], \"kfp\", kfp.__version__, \"kfp-governance\", kfp_governance.__version__)"'
echo "== run: the code version lineage records (build stamp, image)"
run --env "EXPECT_COMMIT=$REVISION" --env "EXPECT_IMAGE=$IMAGE" "$IMAGE" python3 -c '
import json, os
from kfp_governance.lineage import code_version
v = code_version()
print(json.dumps(v))
expected = None if os.environ["EXPECT_COMMIT"] == "unknown" else os.environ["EXPECT_COMMIT"]
assert v["git_commit"] == expected and v["commit_source"] == ("build-stamp" if expected else "unknown"), v
assert v["image"] == {"reference": os.environ["EXPECT_IMAGE"], "digest": None}, v'
if [ "$FAMILY" != serving ]; then
    run "$IMAGE" kfp-governance --help | head -20
fi
echo "== run: the load_data component's container command, as KFP starts a task, on the bundled data"
run -v "$PWD/images/smoke/component.py:/smoke.py:ro" "$IMAGE" python3 /smoke.py 2>&1 | grep -v '^ \|^{\|^}'
if [ "$FAMILY" = serving ]; then
    # The image's CMD on a model made inside it: train a small model with the
    # image's scikit-learn, start MLServer, ask for predict_proba over the
    # Open Inference Protocol v2, stop.
    echo "== run: mlserver start (the image's CMD) and one predict_proba request"
    run -v "$PWD/images/smoke/serving.py:/smoke.py:ro" "$IMAGE" python3 /smoke.py
fi
