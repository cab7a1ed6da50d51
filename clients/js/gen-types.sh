#!/usr/bin/env bash
# Generates src/openapi.ts, the TypeScript types of Portcullis's OpenAPI document
# (openapi-typescript), which src/types.ts builds the SDK's request and response types on.
#
#   clients/js/gen-types.sh                  write src/openapi.ts (commit it)
#   clients/js/gen-types.sh --check          fail if src/openapi.ts is not what the document
#                                            generates (run by run-tests.sh)
#   OPENAPI=URL-or-FILE clients/js/gen-types.sh ...   another document than `portcullis openapi`
#
# The document is validated first (scripts/check-openapi). Needs Node >= 20, npm, Rust (to build
# the document), python3.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"

# shellcheck source=../../scripts/lib/npm.sh
. ../../scripts/lib/npm.sh
check=$(check_flag clients/js/gen-types.sh "$@")
npm_prepare clients/js/gen-types.sh

work=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-gen-types.XXXXXX")
trap 'rm -rf "$work"' EXIT
../../scripts/check-openapi --print ${OPENAPI:+"$OPENAPI"} >"$work/openapi.json"
npx --no-install openapi-typescript "$work/openapi.json" --output "$work/openapi.ts" >"$work/log" 2>&1 || {
  cat "$work/log" >&2
  exit 1
}

if [ "$check" -eq 0 ]; then
  cp "$work/openapi.ts" src/openapi.ts
  echo "gen-types.sh: wrote src/openapi.ts"
  exit 0
fi
if ! diff -u src/openapi.ts "$work/openapi.ts" >"$work/diff"; then
  head -n 60 "$work/diff" >&2
  echo "gen-types.sh: src/openapi.ts is stale: it is not what the OpenAPI document generates." >&2
  echo "Run clients/js/gen-types.sh and commit src/openapi.ts." >&2
  exit 1
fi
echo "gen-types.sh: src/openapi.ts is up to date"
