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
)

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
  tmp="$(mktemp -d)"
  GOBIN="$tmp" CGO_ENABLED=0 go install "$spec"
  built="$(find "$tmp" -maxdepth 1 -type f | head -n 1)"
  mv "$built" "$TOOLS_DIR/bin/$name"
  rmdir "$tmp"
  echo "$spec" > "$stamp"
done
