#!/usr/bin/env bash
# Type-checks and tests the TypeScript SDK. Needs only Node >= 20 and npm (the npm registry is
# reached only when node_modules is missing or older than package-lock.json).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

# Nothing here may fetch a browser build; these keep it so even if a dependency ever tries.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1 CYPRESS_INSTALL_BINARY=0
export npm_config_update_notifier=false

# npm writes node_modules/.package-lock.json at every install: it is the install's timestamp.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

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
