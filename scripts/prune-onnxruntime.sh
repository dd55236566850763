#!/bin/sh
# Keeps only the linux-x64 native binaries of onnxruntime-node (the package ships every platform's, ~290 MB).
# Used by the Dockerfile after `npm ci --omit=dev`; test/chart/dockerfile.test.ts runs it on a copy of the
# package's folder layout.
#
# Usage: scripts/prune-onnxruntime.sh <path to node_modules/onnxruntime-node>
set -eu

package="${1:?usage: prune-onnxruntime.sh <node_modules/onnxruntime-node>}"
found=0
for napi in "$package"/bin/napi-v*; do
  [ -d "$napi" ] || continue
  [ -d "$napi/linux/x64" ] || { echo "prune-onnxruntime: $napi/linux/x64 is missing" >&2; exit 1; }
  found=1
  for platform in "$napi"/*; do
    [ "$(basename "$platform")" = linux ] || rm -rf "$platform"
  done
  for arch in "$napi"/linux/*; do
    [ "$(basename "$arch")" = x64 ] || rm -rf "$arch"
  done
done
[ "$found" = 1 ] || { echo "prune-onnxruntime: no $package/bin/napi-v*/ folder" >&2; exit 1; }
