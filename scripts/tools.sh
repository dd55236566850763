#!/usr/bin/env bash
# Builds the pinned Go tools the tests and benchmarks use (and installs the few that come from PyPI or
# Debian) into a cache outside the clone, skipping any tool whose pinned version is already built. CI runs
# in a fresh clone every time, while Go's module and build caches (and this folder) stay on the machine.
#
# Usage: scripts/tools.sh [tool ...]   no argument: every tool but the local cluster's
#        scripts/tools.sh cluster      the local cluster's (Kubernetes, etcd, CoreDNS, metrics-server)
# Versions are pinned in scripts/versions.sh. Prints nothing but progress; the folder is $CI_TOOLS_DIR
# (default ~/.cache/customer-intelligence/tools).
set -euo pipefail

TOOLS_DIR="${CI_TOOLS_DIR:-$HOME/.cache/customer-intelligence/tools}"
# shellcheck source=scripts/versions.sh
source "$(dirname "$0")/versions.sh"

# Builds a program whose module cannot be `go install`ed (replace directives): as a `go get -tool`
# dependency of a temporary module, where only the main module's replaces count.
build_wrapped() {
  local spec="$1" out="$2" dir
  dir="$(mktemp -d)"
  (cd "$dir" && go mod init tools.local >/dev/null 2>&1 && go get -tool "$spec" && CGO_ENABLED=0 go build -o "$out" "${spec%@*}")
  rm -rf "$dir"
}

# Builds Kubernetes' own binaries (KUBE_BINARIES) from the k8s.io/kubernetes module. It cannot be `go install`ed:
# its go.mod replaces the k8s.io/* staging modules with folders of its own tree. As a dependency of a throwaway
# module whose go.mod replaces each of them with its published version (v0.<minor>.<patch>) it builds as is.
# The version is stamped as the release build does, since Helm reads the API server's for .Capabilities.
build_kube() {
  local spec="$1" out="$2" version staging dir gomod module minor ldflags
  version="${spec#*@}"
  staging="v0.${version#v1.}"
  minor="${version#v1.}" && minor="${minor%%.*}"
  dir="$(mktemp -d)"
  (
    cd "$dir"
    go mod init kubernetes-tools.local >/dev/null 2>&1
    gomod="$(go mod download -json "$spec" | sed -n 's/.*"GoMod": "\(.*\)",*$/\1/p')"
    for module in $(sed -n 's#^\t\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod"); do
      go mod edit -replace "$module=$module@$staging"
    done
    go get -tool $(printf "${spec%@*}/cmd/%s@$version " "${KUBE_BINARIES[@]}")
    ldflags="-s -w"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    done
    CGO_ENABLED=0 go build -ldflags "$ldflags" -o "$out/" $(printf "${spec%@*}/cmd/%s " "${KUBE_BINARIES[@]}")
  )
  rm -rf "$dir"
}

# Extracts one file from a pinned Debian package without installing it.
extract_deb() {
  local package="$1" file="$2" out="$3" dir
  dir="$(mktemp -d)"
  if ! (cd "$dir" && apt-get download "$package" >/dev/null 2>&1); then
    apt-get update >/dev/null
    (cd "$dir" && apt-get download "$package" >/dev/null)
  fi
  dpkg -x "$dir"/*.deb "$dir/root"
  cp "$dir/root/$file" "$out"
  rm -rf "$dir"
}

# The files a tool's entry produces in $TOOLS_DIR/bin.
outputs() {
  case "${TOOLS[$1]}" in
    kube:*) printf '%s\n' "${KUBE_BINARIES[@]}" ;;
    *) echo "$1" ;;
  esac
}

built() {
  local file
  [ "$(cat "$TOOLS_DIR/bin/.$1.version" 2>/dev/null)" = "${TOOLS[$1]}" ] || return 1
  for file in $(outputs "$1"); do [ -x "$TOOLS_DIR/bin/$file" ] || return 1; done
  # A "pypi:" launcher runs a program in a virtual environment elsewhere: it must still start.
  [[ "${TOOLS[$1]}" != pypi:* ]] || "$TOOLS_DIR/bin/$1" --version >/dev/null 2>&1
}

mkdir -p "$TOOLS_DIR/bin"
wanted=("$@")
if [ ${#wanted[@]} -eq 0 ]; then
  for name in "${!TOOLS[@]}"; do
    [[ " ${CLUSTER_TOOLS[*]} " == *" $name "* ]] || wanted+=("$name")
  done
elif [ "${wanted[*]}" = cluster ]; then
  wanted=("${CLUSTER_TOOLS[@]}")
fi

for name in "${wanted[@]}"; do
  spec="${TOOLS[$name]:-}"
  if [ -z "$spec" ]; then
    echo "tools.sh: unknown tool '$name' (known: ${!TOOLS[*]}, or 'cluster' for ${CLUSTER_TOOLS[*]})" >&2
    exit 2
  fi
  built "$name" && continue
  echo "tools.sh: building $name ($spec)"
  started=$SECONDS
  case "$spec" in
    wrapped:*) build_wrapped "${spec#wrapped:}" "$TOOLS_DIR/bin/$name" ;;
    kube:*) build_kube "${spec#kube:}" "$TOOLS_DIR/bin" ;;
    deb:*)
      IFS=: read -r _ package file <<< "$spec"
      extract_deb "$package" "$file" "$TOOLS_DIR/bin/$name"
      ;;
    pypi:*)
      read -r -a items <<< "${spec#pypi:}"
      "$(dirname "$0")/lib/pypi-tool.sh" "$name" "$TOOLS_DIR/bin/$name" "${items[@]}"
      ;;
    *)
      tmp="$(mktemp -d)"
      GOBIN="$tmp" CGO_ENABLED=0 go install "$spec"
      mv "$(find "$tmp" -maxdepth 1 -type f | head -n 1)" "$TOOLS_DIR/bin/$name"
      rmdir "$tmp"
      ;;
  esac
  echo "$spec" > "$TOOLS_DIR/bin/.$name.version"
  echo "tools.sh: built $name in $((SECONDS - started)) s"
done
