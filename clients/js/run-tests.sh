#!/usr/bin/env bash
# Type-checks and tests the TypeScript SDK. Needs only Node >= 20 and npm (the npm registry is
# reached only when node_modules is missing or older than package-lock.json).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

# shellcheck source=../../scripts/lib/npm.sh
. ../../scripts/lib/npm.sh
npm_prepare clients/js/run-tests.sh

npm run --silent typecheck
npm run --silent build
results=node_modules/.vitest-results.json
rm -f "$results"
status=0
npm test --silent -- --reporter=default --reporter=json --outputFile="$results" || status=$?
if [ -f "$results" ]; then
  # A plain closing line any CI log reader understands.
  node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(`vitest: ${r.numPassedTests} passed, ${r.numFailedTests} failed`)' "$results"
fi
exit "$status"
