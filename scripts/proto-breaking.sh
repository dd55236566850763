#!/usr/bin/env bash
# Fails when the protos break wire/JSON compatibility with the previous commit of main.
# Skips (with a message) when there is no previous commit or it had no protos yet.
set -euo pipefail
against="${PROTO_BREAKING_AGAINST:-HEAD~1}"
if ! git rev-parse --verify --quiet "$against^{commit}" >/dev/null; then
  echo "proto:breaking: no commit $against to compare with; skipped"
  exit 0
fi
if ! git cat-file -e "$against:proto/buf.yaml" 2>/dev/null; then
  echo "proto:breaking: $against has no proto/buf.yaml yet; skipped"
  exit 0
fi
exec npx buf breaking proto --against ".git#ref=$(git rev-parse "$against"),subdir=proto"
