# Helpers for making OCI images without a registry or a Docker engine: buildah builds them into its own store,
# archives of them are kept in $IMAGES_DIR, and containerd (the local cluster's) imports those archives.
# Sourced by scripts/image.sh and scripts/cluster.sh.
# shellcheck shell=bash

CACHE_DIR="${CI_CACHE_DIR:-$HOME/.cache/customer-intelligence}"
TOOLS_BIN="${CI_TOOLS_DIR:-$CACHE_DIR/tools}/bin"
# Image archives (docker-archive format, one image each) that `scripts/cluster.sh up` imports into the cluster.
IMAGES_DIR="$CACHE_DIR/images"
# The local cluster's state folder and its containerd socket (scripts/cluster.sh).
CLUSTER_DIR="${CLUSTER_DIR:-${TMPDIR:-/tmp}/customer-intelligence-cluster}"
CONTAINERD_SOCKET="$CLUSTER_DIR/containerd/containerd.sock"

# Installs the Debian packages named, when one of them is missing (a fresh machine has only Debian's base).
ensure_debian_packages() {
  local missing=() package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing Debian packages: ${missing[*]}" >&2
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    apt-get update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# True when buildah's store holds the image.
have_image() {
  buildah inspect --type image "$1" >/dev/null 2>&1
}

# Commits an image whose file system is the folder $1 (copied as is, owners and modes kept), named $2, with
# buildah config options after that (e.g. --entrypoint '["/pause"]' --user 65535).
image_from_rootfs() {
  local rootfs="$1" name="$2" container mount
  shift 2
  container="$(buildah from scratch)"
  mount="$(buildah mount "$container")"
  cp -a "$rootfs/." "$mount/"
  buildah umount "$container" >/dev/null
  buildah config --os linux --arch amd64 "$@" "$container"
  buildah commit --quiet --rm "$container" "$name" >/dev/null
}

# Writes image $1 from buildah's store to $IMAGES_DIR/<file>.tar (docker-archive, so containerd keeps the name),
# and imports it into the cluster's containerd when the cluster is running.
save_image() {
  local name="$1" file
  file="$IMAGES_DIR/$(echo "$name" | tr '/:' '__').tar"
  mkdir -p "$IMAGES_DIR"
  rm -f "$file.partial"
  buildah push --quiet "$name" "docker-archive:$file.partial:$name" >/dev/null
  mv "$file.partial" "$file"
  if [ -S "$CONTAINERD_SOCKET" ]; then import_image "$file"; fi
}

# Imports an image archive into the cluster's containerd (namespace k8s.io, where the kubelet looks).
import_image() {
  ctr --address "$CONTAINERD_SOCKET" --namespace k8s.io images import --no-unpack=false "$1" >/dev/null
}
