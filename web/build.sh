#!/usr/bin/env bash
# Builds the built-in SPA into web/dist, which is committed and embedded in the portcullis
# crate (so building or running the server never needs Node).
#
#   web/build.sh           npm ci when needed, type-check (svelte-check), vite build → web/dist
#   web/build.sh --check   the same into a temporary directory; fails if web/dist differs
#
# The build is deterministic: the same sources give byte-identical files, so --check can tell
# whether the committed web/dist is what the sources build to. It needs Node >= 20.19 and npm
# (the npm registry is reached only when node_modules is missing or older than the lock file).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"

# shellcheck source=../scripts/lib/npm.sh
. ../scripts/lib/npm.sh
check=$(check_flag web/build.sh "$@")
npm_prepare web/build.sh

# Type-check the components and the SDK source they import; quiet unless something is wrong.
if ! typecheck=$(npx --no-install svelte-check --tsconfig ./tsconfig.json --fail-on-warnings 2>&1); then
  echo "$typecheck" >&2
  echo "web/build.sh: svelte-check found problems" >&2
  exit 1
fi

if [ "$check" -eq 0 ]; then
  npx --no-install vite build --logLevel warn
  echo "web/build.sh: built web/dist"
  exit 0
fi

out=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-web-check.XXXXXX")
trap 'rm -rf "$out"' EXIT
npx --no-install vite build --logLevel warn --outDir "$out/dist" --emptyOutDir
if ! diff -rq "$out/dist" dist >"$out/diff" 2>&1; then
  cat "$out/diff" >&2
  echo "web/build.sh: web/dist is stale: it is not what web/ and clients/js/src build to." >&2
  echo "Run web/build.sh and commit web/dist." >&2
  exit 1
fi
echo "web/build.sh: web/dist is up to date"
