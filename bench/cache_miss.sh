#!/usr/bin/env bash
# Session cache misses. See bench/README.md ("Session cache misses").
#
# Builds bench/cachemiss in release mode and runs it: N sessions created by one
# instance, then validated once each by a fresh instance (empty session cache)
# per run. The last line it prints is:
#
#   summary: cache_miss_per_s=<median rate>
#
# Usage: bench/cache_miss.sh [--sessions N] [--concurrency C] [--runs R]
#                            [--store sqlite|postgres|URL] [--skip-build]
#
# --store postgres: a database bench_cachemiss_<pid> created on $BENCH_PG_URL
# (default postgres://postgres@127.0.0.1:5432) for the run, dropped at exit.

set -euo pipefail
export LC_ALL=C

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT_DIR=$(cd "$BENCH_DIR/.." && pwd)

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/portcullis-target}"
[[ $CARGO_TARGET_DIR == /* ]] || CARGO_TARGET_DIR="$PWD/$CARGO_TARGET_DIR"
BIN="$CARGO_TARGET_DIR/release/cache-miss"

PG_ADMIN_URL="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}"
PG_DB=""
SKIP_BUILD=0
STORE=sqlite
PASS=()

# The library logs through tracing; warnings only, as for the server under bench/run.sh.
export RUST_LOG="${RUST_LOG:-warn}"

# shellcheck source=lib/common.sh
source "$BENCH_DIR/lib/common.sh"

usage() {
    cat <<'EOF'
Usage: bench/cache_miss.sh [options]

  --sessions N     sessions created, each validated once per run (default 10000)
  --concurrency C  concurrent validating tasks (default 8)
  --runs R         runs, each on a fresh instance; the median is kept (default 3)
  --store S        sqlite (a fresh temporary file, the default), postgres (a fresh
                   database on $BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432)
                   or a store URL used as it is
  --skip-build     use the release binary already in $CARGO_TARGET_DIR
  -h, --help       this text

CARGO_TARGET_DIR defaults to /var/cache/portcullis-target; RUST_LOG to "warn".
EOF
}

parse_args() {
    while (($# > 0)); do
        case $1 in
        --sessions | --concurrency | --runs)
            (($# >= 2)) || die "$1 needs a value"
            PASS+=("$1" "$2")
            shift 2
            ;;
        --sessions=* | --concurrency=* | --runs=*)
            PASS+=("$1")
            shift
            ;;
        --store)
            (($# >= 2)) || die "--store needs a value"
            STORE=$2
            shift 2
            ;;
        --store=*)
            STORE=${1#*=}
            shift
            ;;
        --skip-build)
            SKIP_BUILD=1
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            usage >&2
            die "unknown argument: $1"
            ;;
        esac
    done
}

cleanup() { pg_drop_db; }

main() {
    parse_args "$@"
    install_traps

    if ((SKIP_BUILD)); then
        log "skipping the build (--skip-build)"
    else
        log "building release binary (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
        (cd "$ROOT_DIR" && cargo build --release -p portcullis-bench-cachemiss) >&2 || die "cargo build failed"
    fi
    [[ -x $BIN ]] || die "bench binary not found: $BIN"

    case $STORE in
    sqlite) ;;
    postgres)
        pg_create_db "bench_cachemiss_$$"
        PASS+=(--store "$PG_ADMIN_URL/$PG_DB")
        ;;
    *) PASS+=(--store "$STORE") ;;
    esac

    log "machine: $(nproc) cores, $(awk -F': *' '$1 ~ /^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)"
    # Not exec: the trap drops the database once the bench has ended.
    "$BIN" "${PASS[@]}"
}

main "$@"
