#!/usr/bin/env bash
# `npm audit --omit=dev` gate for CI: fails on a high or critical advisory in a production dependency.
# The registry mirror of some build machines refuses the bulk-advisory endpoint (405); then there is
# nothing to check against and the script says so instead of failing the build on a missing service.
set -uo pipefail
report="$(npm audit --omit=dev --json 2>/dev/null)"
if node -e 'const r = JSON.parse(process.argv[1]); process.exit(r.statusCode && !r.metadata ? 0 : 1)' "$report"; then
  echo "audit: the registry's advisory endpoint is not available here ($(node -e 'console.log(JSON.parse(process.argv[1]).message)' "$report")); not checked"
  exit 0
fi
node -e '
const report = JSON.parse(process.argv[1]);
const counts = report.metadata.vulnerabilities;
console.log(`audit: production dependencies: ${JSON.stringify(counts)}`);
process.exit(counts.high + counts.critical > 0 ? 1 : 0);
' "$report"
