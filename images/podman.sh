#!/usr/bin/env bash
# podman the way the tests (test/images/) run the built images, on machines like CI's: runc with the
# cgroupfs manager and no default ulimits (crun refuses hybrid cgroups and this machine's rlimits;
# images/containers.conf), and a storage of its own under build/podman (overlay; set
# MESHGATE_PODMAN_DRIVER=vfs where the filesystem cannot carry overlay, e.g. overlay itself). Usage: images/podman.sh load -i build/images/meshgate.oci.tar,
# images/podman.sh run --rm meshgate/meshgate:0.1.0 --version. On an ordinary machine, plain
# `podman` or `docker` does the same (docs/install.md#images).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
driver=${MESHGATE_PODMAN_DRIVER:-overlay}
store=${MESHGATE_PODMAN_STORE:-$(cd "$here/.." && pwd)/build/podman}/$driver
command -v podman >/dev/null 2>&1 ||
  { echo "images/podman.sh: podman not found: install Debian's packages with 'apt-get install podman runc buildah mmdebstrap skopeo uidmap binutils' (as root)" >&2; exit 127; }
command -v runc >/dev/null 2>&1 ||
  { echo "images/podman.sh: runc not found: install it with 'apt-get install runc' (as root)" >&2; exit 127; }
export CONTAINERS_CONF="$here/containers.conf"
exec podman --runtime runc --cgroup-manager=cgroupfs --events-backend=file \
  --root "$store/storage" --runroot "$store/run" --storage-driver "$driver" "$@"
