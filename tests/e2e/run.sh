#!/usr/bin/env bash
# The browser end-to-end suite: every deployment mode in headless Chromium behind real nginx.
#
#   tests/e2e/run.sh                     all scenarios
#   tests/e2e/run.sh forward-auth ...    only these (names: the files in tests/e2e/scenarios)
#   tests/e2e/run.sh --list              the scenario names
#
# Installs what is missing (scripts/install-e2e-deps), builds the server (debug), then runs the
# scenarios with Node's test runner. Each scenario starts its own Portcullis and nginx on free
# ports and ends them by PID. E2E_KEEP=1 keeps every scenario's directory (logs, generated
# nginx.conf); a failed scenario's is always kept and named in the failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

names() { for f in "$here"/scenarios/*.test.js; do basename "$f" .test.js; done; }
if [ "${1:-}" = "--list" ]; then names; exit 0; fi

files=()
for name in "$@"; do
  file="$here/scenarios/${name%.test.js}.test.js"
  if [ ! -f "$file" ]; then
    echo "run.sh: no scenario '$name'; there are: $(names | tr '\n' ' ')" >&2
    exit 2
  fi
  files+=("$file")
done
[ ${#files[@]} -gt 0 ] || files=("$here"/scenarios/*.test.js)

"$repo/scripts/install-e2e-deps"

# The same shared target directory as scripts/test.
if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  if mkdir -p /var/cache/portcullis-target 2>/dev/null && [ -w /var/cache/portcullis-target ]; then
    export CARGO_TARGET_DIR=/var/cache/portcullis-target
  else
    export CARGO_TARGET_DIR="$repo/target"
  fi
fi
(cd "$repo" && cargo build --quiet -p portcullis-server)
# (Not PORTCULLIS_BIN: Portcullis reads every PORTCULLIS_* variable as configuration.)
export E2E_PORTCULLIS_BIN="$CARGO_TARGET_DIR/debug/portcullis"

cd "$here"
echo "e2e: ${#files[@]} scenario file(s): $(for f in "${files[@]}"; do basename "$f" .test.js; done | tr '\n' ' ')"
# Two scenario files at a time (the machines have two cores). The runner's summary (tests, pass,
# fail, duration_ms) closes the output.
exec node --test --test-concurrency=2 --test-timeout=90000 --test-force-exit --test-reporter=spec "${files[@]}"
