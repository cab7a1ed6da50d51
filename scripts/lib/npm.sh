# Shared by the scripts that run npm in a package directory (web/build.sh, clients/js/*.sh).
# Source it from that directory:
#   npm_prepare NAME      no browser downloads or notices; `npm ci` only when node_modules is
#                         missing or older than package-lock.json; NAME is used in messages
#   check_flag NAME "$@"  prints 1 for `--check`, 0 for no argument, else usage and exit 2

npm_prepare() {
  # Nothing here may fetch a browser build; these keep it so even if a dependency ever tries.
  export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1 CYPRESS_INSTALL_BINARY=0
  export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
  if ! command -v npm >/dev/null 2>&1; then
    echo "$1: npm not found (Node >= 20.19 and npm are needed)" >&2
    exit 1
  fi
  # npm writes node_modules/.package-lock.json at every install: it is the install's timestamp.
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  fi
}

check_flag() {
  case "${2:-}" in
    "") echo 0 ;;
    --check) echo 1 ;;
    *) echo "usage: $1 [--check]" >&2; exit 2 ;;
  esac
}
