#!/usr/bin/env bash
# Builds the pinned Go tools the tests and benchmarks use into a cache outside the clone,
# skipping any tool whose pinned version is already built. CI runs in a fresh clone every time,
# while Go's module and build caches (and this folder) stay on the machine.
#
# Usage: scripts/tools.sh [tool ...]      (no argument = all tools)
# Prints nothing but progress; the folder is $CI_TOOLS_DIR (default ~/.cache/customer-intelligence/tools).
set -euo pipefail

TOOLS_DIR="${CI_TOOLS_DIR:-$HOME/.cache/customer-intelligence/tools}"

# name  module/package@version — the one place tool versions are pinned.
declare -A TOOLS=(
  [ghz]="github.com/bojand/ghz/cmd/ghz@v0.121.0"
  [grpc-health-probe]="github.com/grpc-ecosystem/grpc-health-probe@v0.4.62"
  [helm]="helm.sh/helm/v3/cmd/helm@v3.22.0"
  [kubeconform]="github.com/yannh/kubeconform/cmd/kubeconform@v0.7.0"
  [grpcurl]="github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3"
  # Jaeger's go.mod has replace directives, so `go install` refuses it; it is built as a tool
  # dependency of a throwaway module instead (see build_wrapped).
  [jaeger]="wrapped:github.com/jaegertracing/jaeger/cmd/jaeger@v1.76.0"
  # promtool comes from Debian's prometheus package (its go.mod has replace/exclude directives too);
  # only the binary is extracted, no Prometheus server is installed or started.
  [promtool]="deb:prometheus=2.42.0+ds-5+deb12u1:usr/bin/promtool"
)

# Builds a program whose module cannot be `go install`ed (replace directives): as a `go get -tool`
# dependency of a temporary module, where only the main module's replaces count.
build_wrapped() {
  local spec="$1" out="$2" dir
  dir="$(mktemp -d)"
  (cd "$dir" && go mod init tools.local >/dev/null 2>&1 && go get -tool "$spec" && CGO_ENABLED=0 go build -o "$out" "${spec%@*}")
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

mkdir -p "$TOOLS_DIR/bin"
wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=("${!TOOLS[@]}")

for name in "${wanted[@]}"; do
  spec="${TOOLS[$name]:-}"
  if [ -z "$spec" ]; then
    echo "tools.sh: unknown tool '$name' (known: ${!TOOLS[*]})" >&2
    exit 2
  fi
  stamp="$TOOLS_DIR/bin/.$name.version"
  if [ -x "$TOOLS_DIR/bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$spec" ]; then
    continue
  fi
  echo "tools.sh: building $name ($spec)"
  case "$spec" in
    wrapped:*) build_wrapped "${spec#wrapped:}" "$TOOLS_DIR/bin/$name" ;;
    deb:*)
      IFS=: read -r _ package file <<< "$spec"
      extract_deb "$package" "$file" "$TOOLS_DIR/bin/$name"
      ;;
    *)
      tmp="$(mktemp -d)"
      GOBIN="$tmp" CGO_ENABLED=0 go install "$spec"
      mv "$(find "$tmp" -maxdepth 1 -type f | head -n 1)" "$TOOLS_DIR/bin/$name"
      rmdir "$tmp"
      ;;
  esac
  echo "$spec" > "$stamp"
done
