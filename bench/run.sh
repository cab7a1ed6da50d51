#!/usr/bin/env bash
# Portcullis benchmark harness. See bench/README.md.
#
# Builds the server and the bare axum baseline in release mode, starts both on
# 127.0.0.1, drives them with wrk, prints a table, writes
# bench/results/latest.json, and prints as its last line:
#
#   summary: session_ratio=<x.xx> ...
#
# Every figure that matters is a ratio against the baseline measured in the
# same run: the runs of all scenarios are interleaved round by round, so a
# machine that gets slower or faster during the run affects both sides alike.
#
# Usage: bench/run.sh [--duration 10s] [--runs 3] [--warmup 2s] [--skip-build]
#                     [--out FILE] [--store sqlite|postgres]
#
# Progress goes to stderr; the table and the summary line go to stdout.

set -euo pipefail
export LC_ALL=C

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT_DIR=$(cd "$BENCH_DIR/.." && pwd)
RESULTS_DIR="$BENCH_DIR/results"
RESULTS_FILE="$RESULTS_DIR/latest.json"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/portcullis-target}"
[[ $CARGO_TARGET_DIR == /* ]] || CARGO_TARGET_DIR="$PWD/$CARGO_TARGET_DIR"
SERVER_BIN="$CARGO_TARGET_DIR/release/portcullis"
BASELINE_BIN="$CARGO_TARGET_DIR/release/portcullis-bench-baseline"
REFRESH_BIN="$CARGO_TARGET_DIR/release/refresh-load"

# wrk settings (BENCH.md: -t2 -c64 -d10s, 3 runs, median kept).
THREADS=2
CONNECTIONS=64
DURATION=10s
RUNS=3
WARMUP=2s
SKIP_BUILD=0
STORE=sqlite
# The bench account is test / $BENCH_PASSWORD (the demo's test / test on SQLite).
BENCH_PASSWORD=test
# --store postgres: a database made for the run on this server, dropped at exit.
PG_ADMIN_URL="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}"
PG_DB=""

READY_TIMEOUT_S=30
MAX_RUN_S=600

# Keep per-request logging out of the measurement unless asked for: the
# server reads its level from log.level (PORTCULLIS_LOG__LEVEL), the baseline
# logs nothing.
export PORTCULLIS_LOG__LEVEL="${PORTCULLIS_LOG__LEVEL:-warn}"
export RUST_LOG="${RUST_LOG:-warn}"

# ---------------------------------------------------------------------------
# helpers

# shellcheck source=lib/common.sh
source "$BENCH_DIR/lib/common.sh"

usage() {
    cat <<'EOF'
Usage: bench/run.sh [options]

  --duration D   length of each measured wrk run (default 10s; e.g. 2s, 1m)
  --runs N       measured runs per scenario, median kept (default 3)
  --warmup D     unrecorded warm-up run per scenario, 0s to skip (default 2s)
  --skip-build   use the release binaries already in $CARGO_TARGET_DIR
  --out FILE     where to write the JSON results (default bench/results/latest.json)
  --store S      sqlite (the embedded default) or postgres (a fresh database on
                 $BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432)
  -h, --help     this text

CARGO_TARGET_DIR defaults to /var/cache/portcullis-target.
PORTCULLIS_LOG__LEVEL and RUST_LOG default to "warn" for the servers under test.
EOF
}

# duration_s D: wrk duration ("10s", "2m", "0s", "10") -> whole seconds.
duration_s() {
    local d=$1
    if [[ $d =~ ^([0-9]+)s?$ ]]; then
        echo $((10#${BASH_REMATCH[1]}))
    elif [[ $d =~ ^([0-9]+)m$ ]]; then
        echo $((10#${BASH_REMATCH[1]} * 60))
    else
        return 1
    fi
}

parse_args() {
    while (($# > 0)); do
        case $1 in
        --duration)
            (($# >= 2)) || die "--duration needs a value"
            DURATION=$2
            shift 2
            ;;
        --duration=*)
            DURATION=${1#*=}
            shift
            ;;
        --runs)
            (($# >= 2)) || die "--runs needs a value"
            RUNS=$2
            shift 2
            ;;
        --runs=*)
            RUNS=${1#*=}
            shift
            ;;
        --warmup)
            (($# >= 2)) || die "--warmup needs a value"
            WARMUP=$2
            shift 2
            ;;
        --warmup=*)
            WARMUP=${1#*=}
            shift
            ;;
        --out)
            (($# >= 2)) || die "--out needs a value"
            RESULTS_FILE=$2
            shift 2
            ;;
        --out=*)
            RESULTS_FILE=${1#*=}
            shift
            ;;
        --skip-build)
            SKIP_BUILD=1
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

    local secs
    secs=$(duration_s "$DURATION") || die "bad --duration '$DURATION' (use e.g. 10s or 1m)"
    ((secs >= 1 && secs <= MAX_RUN_S)) || die "--duration must be between 1s and ${MAX_RUN_S}s"
    DURATION="${secs}s"
    secs=$(duration_s "$WARMUP") || die "bad --warmup '$WARMUP' (use e.g. 2s, or 0s to skip)"
    ((secs <= MAX_RUN_S)) || die "--warmup must be at most ${MAX_RUN_S}s"
    WARMUP="${secs}s"
    if ! [[ $RUNS =~ ^[0-9]+$ ]] || ((10#$RUNS < 1 || 10#$RUNS > 20)); then
        die "--runs must be an integer between 1 and 20"
    fi
    RUNS=$((10#$RUNS))
    [[ $STORE == sqlite || $STORE == postgres ]] || die "--store must be sqlite or postgres"
}

# ---------------------------------------------------------------------------
# processes under test: started in the background, always stopped at exit

WORK_DIR=""
PIDS=()
declare -A SERVICE_NAME=()

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        local i
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
    pg_drop_db
    if [[ -n $WORK_DIR && -d $WORK_DIR ]]; then
        rm -rf -- "$WORK_DIR"
    fi
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
        return
    fi
    local port i
    for ((i = 0; i < 100; i++)); do
        port=$((20000 + RANDOM % 30000))
        if ! (: >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    die "could not find a free port on 127.0.0.1"
}

# start_service NAME CMD...: runs CMD in the background inside $WORK_DIR, with
# its output in $WORK_DIR/NAME.log; sets STARTED_PID.
STARTED_PID=""
start_service() {
    local name=$1
    shift
    log "starting $name: $*"
    (cd "$WORK_DIR" && exec env TMPDIR="$WORK_DIR/tmp-$name" "$@") \
        >"$WORK_DIR/$name.log" 2>&1 &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
    SERVICE_NAME[$STARTED_PID]=$name
}

# check_services: dies if a process under test has exited, with its status
# and the end of its output.
check_services() {
    local pid name rc
    for pid in "${PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null && continue
        name=${SERVICE_NAME[$pid]}
        rc=0
        wait "$pid" 2>/dev/null || rc=$?
        if ((rc > 128)); then
            rc="$rc (killed by signal $((rc - 128)): $(kill -l $((rc - 128)) 2>/dev/null || echo '?'))"
        fi
        log "$name exited while being measured, exit status $rc; the end of its output:"
        tail -n 20 "$WORK_DIR/$name.log" | cut -c1-300 >&2 || true
        die "$name exited while being measured"
    done
}

# wait_ready NAME BASE_URL PID: waits until BASE_URL/readyz answers 200.
wait_ready() {
    local name=$1 url=$2 pid=$3
    local deadline=$((SECONDS + READY_TIMEOUT_S)) code
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited before it was ready; its output:"
            tail -n 40 "$WORK_DIR/$name.log" >&2 || true
            die "$name did not start"
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url/readyz" || true)
        [[ $code == 200 ]] && break
        if ((SECONDS >= deadline)); then
            log "$name output so far:"
            tail -n 40 "$WORK_DIR/$name.log" >&2 || true
            die "$name: GET $url/readyz did not answer 200 within ${READY_TIMEOUT_S}s (last status: ${code:-none})"
        fi
        sleep 0.2
    done
    log "$name ready at $url"
}

# ---------------------------------------------------------------------------
# setup steps

ensure_wrk() {
    command -v wrk >/dev/null 2>&1 && return
    log "wrk not found: installing the Debian package"
    command -v apt-get >/dev/null 2>&1 || die "wrk is missing and apt-get is not available"
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "wrk is missing: install it (apt-get install wrk) as root"
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update -qq >&2 || die "apt-get update failed"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2 ||
        die "apt-get install wrk failed"
    command -v wrk >/dev/null 2>&1 || die "wrk still not found after installing it"
}

build() {
    if ((SKIP_BUILD)); then
        log "skipping the build (--skip-build)"
    else
        log "building release binaries (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
        (cd "$ROOT_DIR" && cargo build --release -p portcullis-server -p portcullis-bench-baseline -p portcullis-bench-loadgen) >&2 ||
            die "cargo build failed"
    fi
    [[ -x $SERVER_BIN ]] || die "server binary not found: $SERVER_BIN"
    [[ -x $BASELINE_BIN ]] || die "baseline binary not found: $BASELINE_BIN"
}

BASELINE_URL=""
SERVER_URL=""

start_baseline() {
    local port
    port=$(free_port)
    start_service baseline "$BASELINE_BIN" "127.0.0.1:$port"
    local pid=$STARTED_PID
    BASELINE_URL="http://127.0.0.1:$port"
    wait_ready baseline "$BASELINE_URL" "$pid"
    # The port was free when picked: make sure this process is the one on it.
    grep -qxF "listening on $BASELINE_URL" "$WORK_DIR/baseline.log" ||
        die "baseline did not report 'listening on $BASELINE_URL'"
}

start_server() {
    local port
    port=$(free_port)
    # Every load comes from one address and one user: the login and refresh rate limits
    # would refuse it, so they are off for the measurement (lockout stays on).
    if [[ $STORE == postgres ]]; then
        # The same demo account on a Postgres database of the run's own.
        pg_create_db "portcullis_bench_$$"
        export PORTCULLIS_STORE__URL="$PG_ADMIN_URL/$PG_DB"
        export PORTCULLIS_SERVER__DATA_DIR="$WORK_DIR/server-data"
        # The demo's user name; its password must pass the policy outside --demo.
        export BENCH_PASSWORD=bench-password
        printf '%s\n' "$BENCH_PASSWORD" | "$SERVER_BIN" user add test --password-stdin >/dev/null || die "cannot create the bench user"
        start_service server env PORTCULLIS_LIMITS__ENABLED=false "$SERVER_BIN" serve --bind "127.0.0.1:$port"
    else
        start_service server env PORTCULLIS_LIMITS__ENABLED=false "$SERVER_BIN" serve --demo --bind "127.0.0.1:$port"
    fi
    SERVER_URL="http://127.0.0.1:$port"
    wait_ready server "$SERVER_URL" "$STARTED_PID"
}

# ---------------------------------------------------------------------------
# scenarios
#
# scenario NAME URL LUA_SCRIPT SUMMARY_KEY TARGET [REFERENCE]
#   registers a wrk scenario. SUMMARY_KEY ("" for none) is the key printed in
#   the summary line with the ratio of this scenario's median req/s to the
#   median req/s of REFERENCE (default: baseline). TARGET is the minimal ratio
#   from BENCH.md ("" for none); it is shown, never enforced. Anything the Lua
#   script needs (a cookie, a token) is passed through exported variables.

SCENARIOS=()
declare -A SC_URL=() SC_SCRIPT=() SC_KEY=() SC_TARGET=() SC_REF=()
declare -A SC_RPS=() SC_P99=() SC_ERROR=()

scenario() {
    (($# >= 5)) || die "scenario: NAME URL LUA_SCRIPT SUMMARY_KEY TARGET [REFERENCE]"
    local name=$1
    [[ -f $BENCH_DIR/$3 ]] || die "scenario $name: no script $BENCH_DIR/$3"
    SCENARIOS+=("$name")
    SC_URL[$name]=$2
    SC_SCRIPT[$name]=$BENCH_DIR/$3
    SC_KEY[$name]=$4
    SC_TARGET[$name]=$5
    SC_REF[$name]=${6:-baseline}
    SC_RPS[$name]=""
    SC_P99[$name]=""
}

# to_ms VALUE: a wrk latency ("812.00us", "1.52ms", "2.01s", "1.00m") -> ms.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (match(v, /^[0-9.]+/) == 0) { exit 1 }
        n = substr(v, 1, RLENGTH); u = substr(v, RLENGTH + 1)
        if (u == "us") f = 0.001; else if (u == "ms") f = 1; else if (u == "s") f = 1000
        else if (u == "m") f = 60000; else if (u == "h") f = 3600000; else exit 1
        printf "%.3f", n * f
    }'
}

# run_wrk NAME DURATION: one wrk run of scenario NAME. On success sets RUN_RPS
# and RUN_P99 (ms); on failure returns 1 with the reason in RUN_ERROR.
RUN_RPS="" RUN_P99="" RUN_ERROR=""
run_wrk() {
    local name=$1 duration=$2 out rc=0 secs
    secs=$(duration_s "$duration")
    RUN_RPS="" RUN_P99="" RUN_ERROR=""
    out=$(timeout --kill-after=5 $((secs + 30)) \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"$duration" --latency \
        -s "${SC_SCRIPT[$name]}" "${SC_URL[$name]}" 2>&1) || rc=$?
    printf '%s\n' "$out" >>"$WORK_DIR/wrk-$name.log"
    check_services
    if ((rc != 0)); then
        RUN_ERROR="wrk exited with status $rc: $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
        return 1
    fi

    local check rps p99
    check=$(printf '%s\n' "$out" | grep '^bench-check:' | tail -n 1 || true)
    rps=$(printf '%s\n' "$out" | awk '$1 == "Requests/sec:" { print $2 }')
    p99=$(printf '%s\n' "$out" | awk '$1 == "99%" { print $2 }')
    if [[ -z $check || -z $rps || -z $p99 ]]; then
        RUN_ERROR="could not read wrk's output (see below)"
        printf '%s\n' "$out" >&2
        return 1
    fi

    # check: "bench-check: requests=N non200=N first_status=S connect=N ..."
    local -A c=()
    local kv
    for kv in ${check#bench-check:}; do
        c[${kv%%=*}]=${kv#*=}
    done
    if ((c[requests] == 0)); then
        RUN_ERROR="no response at all"
        return 1
    fi
    if ((c[non200] > 0)); then
        RUN_ERROR="${c[non200]} of ${c[requests]} responses were not 200 (first: ${c[first_status]})"
        return 1
    fi
    local errs=$((c[connect] + c[read] + c[write] + c[timeout]))
    if ((errs > 0)); then
        RUN_ERROR="socket errors: connect ${c[connect]}, read ${c[read]}, write ${c[write]}, timeout ${c[timeout]}"
        return 1
    fi

    RUN_RPS=$rps
    RUN_P99=$(to_ms "$p99") || {
        RUN_ERROR="unknown latency unit in '$p99'"
        return 1
    }
}

# run_scenarios: an optional warm-up of each scenario, then RUNS rounds in
# which each scenario is measured once, in the order they were registered.
run_scenarios() {
    local name round
    if [[ $WARMUP != 0s ]]; then
        for name in "${SCENARIOS[@]}"; do
            log "warm-up $name ($WARMUP)"
            run_wrk "$name" "$WARMUP" || SC_ERROR[$name]="warm-up: $RUN_ERROR"
        done
    fi
    for ((round = 1; round <= RUNS; round++)); do
        for name in "${SCENARIOS[@]}"; do
            [[ -n ${SC_ERROR[$name]:-} ]] && continue
            if run_wrk "$name" "$DURATION"; then
                SC_RPS[$name]+="$RUN_RPS "
                SC_P99[$name]+="$RUN_P99 "
                log "run $round/$RUNS $name: $RUN_RPS req/s, p99 $RUN_P99 ms"
            else
                SC_ERROR[$name]="run $round: $RUN_ERROR"
                log "run $round/$RUNS $name: ERROR: $RUN_ERROR"
            fi
        done
    done
}

# median NUMBERS...: the median (mean of the two middle values if even).
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END {
            if (NR == 0) exit 1
            if (NR % 2) printf "%.3f", v[(NR + 1) / 2]
            else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2
        }'
}

# ---------------------------------------------------------------------------
# scenario preparation

# Logs in as the demo user and exports BENCH_SESSION_COOKIE, the value of the
# portcullis_session cookie, for bench/session_check.lua.
prepare_session() {
    local jar="$WORK_DIR/cookies.txt" hdr="$WORK_DIR/login-headers.txt"
    local body="$WORK_DIR/login-body.txt" code token session
    : >"$jar"

    code=$(curl -sS --max-time 10 -c "$jar" -b "$jar" -D "$hdr" -o "$body" \
        -w '%{http_code}' "$SERVER_URL/api/getcsrf") || die "GET /api/getcsrf failed"
    [[ $code == 200 ]] || die "GET /api/getcsrf answered $code: $(head -c 300 "$body")"
    token=$(tr -d '\r' <"$hdr" | awk -F': *' 'tolower($1) == "x-csrftoken" { print $2 }' | tail -n 1)
    [[ -n $token ]] || die "GET /api/getcsrf sent no X-CSRFToken header"
    cookie_value "$jar" portcullis_csrf >/dev/null ||
        die "GET /api/getcsrf set no usable portcullis_csrf cookie; Set-Cookie seen: $(set_cookies "$hdr")"

    code=$(curl -sS --max-time 30 -c "$jar" -b "$jar" -D "$hdr" -o "$body" -w '%{http_code}' \
        -H 'Content-Type: application/json' -H "X-CSRFToken: $token" \
        --data "{\"username\":\"test\",\"password\":\"$BENCH_PASSWORD\"}" \
        "$SERVER_URL/api/login") || die "POST /api/login failed"
    [[ $code == 200 ]] || die "POST /api/login answered $code: $(head -c 300 "$body")"
    grep -Eq '"login"[[:space:]]*:[[:space:]]*true' "$body" ||
        die "POST /api/login did not answer {\"login\":true}: $(head -c 300 "$body")"
    session=$(cookie_value "$jar" portcullis_session) ||
        die "POST /api/login set no usable portcullis_session cookie; Set-Cookie seen: $(set_cookies "$hdr")"

    # The cookie must open /api/data before it is worth measuring.
    code=$(curl -sS --max-time 10 -o "$body" -w '%{http_code}' \
        -H "Cookie: portcullis_session=$session" "$SERVER_URL/api/data") ||
        die "GET /api/data failed"
    [[ $code == 200 ]] || die "GET /api/data with the session cookie answered $code: $(head -c 300 "$body")"
    grep -Eq '"username"[[:space:]]*:[[:space:]]*"test"' "$body" ||
        die "GET /api/data did not answer {\"username\":\"test\"}: $(head -c 300 "$body")"

    export BENCH_SESSION_COOKIE=$session
    log "logged in as test; GET /api/data answers 200"
}

# Logs in through the token routes and exports BENCH_ACCESS_TOKEN for
# bench/jwt_check.lua. The token lives 15 minutes, longer than any run.
prepare_jwt() {
    local body="$WORK_DIR/token-login.txt" code token
    code=$(curl -sS --max-time 30 -o "$body" -w '%{http_code}' -H 'Content-Type: application/json' \
        --data "{\"username\":\"test\",\"password\":\"$BENCH_PASSWORD\"}" "$SERVER_URL/auth/login") || die "POST /auth/login failed"
    [[ $code == 200 ]] || die "POST /auth/login answered $code: $(head -c 300 "$body")"
    token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$body") ||
        die "POST /auth/login sent no access_token: $(head -c 300 "$body")"
    code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" \
        "$SERVER_URL/api/me") || die "GET /api/me failed"
    [[ $code == 200 ]] || die "GET /api/me with the access token answered $code"
    export BENCH_ACCESS_TOKEN=$token
    log "token login done; GET /api/me answers 200"
}

# Refresh rotations per second: bench/loadgen's refresh-load drives 64 families'
# chains (each refresh uses the token the previous one returned), RUNS times.
REFRESH_RUNS=()
REFRESH_MEDIAN=""
REFRESH_ERROR=""
run_refresh() {
    local i out rate errors secs
    secs=$(duration_s "$DURATION")
    for ((i = 1; i <= RUNS; i++)); do
        out=$("$REFRESH_BIN" "$SERVER_URL" "$secs" 64) || { REFRESH_ERROR="refresh-load failed"; return; }
        rate=$(sed -n 's/.* rate=\([0-9.]*\).*/\1/p' <<<"$out")
        errors=$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<<"$out")
        log "refresh run $i: $out"
        if [[ -z $rate || $errors != 0 ]]; then
            REFRESH_ERROR="run $i: $out"
            return
        fi
        REFRESH_RUNS+=("$rate")
    done
    # shellcheck disable=SC2086
    REFRESH_MEDIAN=$(median ${REFRESH_RUNS[*]})
}

# cookie_value JAR NAME: the value of cookie NAME in a curl cookie jar
# (HttpOnly cookies are written with a "#HttpOnly_" prefix on the domain).
cookie_value() {
    awk -F'\t' -v n="$2" 'NF >= 7 && $6 == n && ($1 !~ /^#/ || $1 ~ /^#HttpOnly_/) { v = $7; f = 1 }
        END { if (!f || v == "") exit 1; print v }' "$1"
}

# set_cookies HEADERS: the Set-Cookie lines of a header dump, on one line.
set_cookies() {
    tr -d '\r' <"$1" | grep -i '^set-cookie:' | tr '\n' ' ' || echo "none"
}

# ---------------------------------------------------------------------------
# report

json_str() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\t'/\\t}
    s=${s//$'\n'/\\n}
    s=${s//$'\r'/}
    printf '"%s"' "$s"
}

json_num_list() {
    local first=1 v out="["
    for v in "$@"; do
        ((first)) || out+=", "
        out+=$v
        first=0
    done
    printf '%s]' "$out"
}

declare -A MED_RPS=() MED_P99=() RATIO=()

compute() {
    local name ref
    for name in "${SCENARIOS[@]}"; do
        # shellcheck disable=SC2086 # word splitting of the run lists is wanted
        if [[ -z ${SC_ERROR[$name]:-} ]]; then
            MED_RPS[$name]=$(median ${SC_RPS[$name]})
            MED_P99[$name]=$(median ${SC_P99[$name]})
        fi
    done
    for name in "${SCENARIOS[@]}"; do
        ref=${SC_REF[$name]}
        [[ $name == "$ref" ]] && continue
        if [[ -n ${MED_RPS[$name]:-} && -n ${MED_RPS[$ref]:-} ]]; then
            RATIO[$name]=$(awk -v a="${MED_RPS[$name]}" -v b="${MED_RPS[$ref]}" \
                'BEGIN { if (b > 0) printf "%.4f", a / b; else exit 1 }') || true
        fi
    done
}

print_table() {
    local name ratio target
    printf '\n'
    printf 'machine: %s cores, %s\n' "$NPROC" "$CPU_MODEL"
    printf 'wrk -t%s -c%s -d%s, %s run(s) per scenario, median kept\n\n' \
        "$THREADS" "$CONNECTIONS" "$DURATION" "$RUNS"
    printf '%-16s %14s %10s %8s %8s\n' scenario "req/s" "p99 ms" ratio target
    printf '%-16s %14s %10s %8s %8s\n' "----------------" "--------------" "----------" "--------" "--------"
    for name in "${SCENARIOS[@]}"; do
        target=${SC_TARGET[$name]:--}
        [[ $target == - ]] || target=">=$target"
        if [[ -n ${SC_ERROR[$name]:-} ]]; then
            printf '%-16s %14s %10s %8s %8s\n' "$name" ERROR - - "$target"
            continue
        fi
        ratio=-
        [[ -n ${RATIO[$name]:-} ]] && ratio=$(printf '%.2f' "${RATIO[$name]}")
        printf '%-16s %14.1f %10.3f %8s %8s\n' "$name" "${MED_RPS[$name]}" "${MED_P99[$name]}" \
            "$ratio" "$target"
    done
    if [[ -n $REFRESH_MEDIAN ]]; then
        printf '%-16s %14.1f %10s %8s %8s\n' refresh "$REFRESH_MEDIAN" - - ">=4800/s"
    else
        printf '%-16s %14s %10s %8s %8s\n' refresh ERROR - - ">=4800/s"
    fi
    local any=0
    [[ -z $REFRESH_ERROR ]] || { any=1; printf '\nerror: refresh: %s\n' "$REFRESH_ERROR"; }
    for name in "${SCENARIOS[@]}"; do
        if [[ -n ${SC_ERROR[$name]:-} ]]; then
            ((any)) || printf '\n'
            any=1
            printf 'error: %s: %s\n' "$name" "${SC_ERROR[$name]}"
        fi
    done
    printf '\n'
}

write_json() {
    local name commit dirty date tmp first=1
    commit=$(git -C "$ROOT_DIR" rev-parse HEAD 2>/dev/null || true)
    dirty=null
    if [[ -n $commit ]]; then
        if [[ -n $(git -C "$ROOT_DIR" status --porcelain -- . ':!bench/results' 2>/dev/null) ]]; then
            dirty=true
        else
            dirty=false
        fi
    fi
    date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    mkdir -p "$(dirname "$RESULTS_FILE")"
    tmp="$RESULTS_FILE.tmp.$$"
    {
        printf '{\n'
        printf '  "date": %s,\n' "$(json_str "$date")"
        printf '  "store": %s,\n' "$(json_str "$STORE")"
        printf '  "git_commit": %s,\n' "$([[ -n $commit ]] && json_str "$commit" || echo null)"
        printf '  "git_dirty": %s,\n' "$dirty"
        printf '  "machine": {\n'
        printf '    "nproc": %s,\n' "$NPROC"
        printf '    "cpu_model": %s,\n' "$(json_str "$CPU_MODEL")"
        printf '    "kernel": %s\n' "$(json_str "$(uname -sr)")"
        printf '  },\n'
        printf '  "wrk": {\n'
        printf '    "version": %s,\n' "$(json_str "$WRK_VERSION")"
        printf '    "threads": %s,\n' "$THREADS"
        printf '    "connections": %s,\n' "$CONNECTIONS"
        printf '    "duration_s": %s,\n' "$(duration_s "$DURATION")"
        printf '    "warmup_s": %s,\n' "$(duration_s "$WARMUP")"
        printf '    "runs": %s\n' "$RUNS"
        printf '  },\n'
        printf '  "scenarios": {'
        for name in "${SCENARIOS[@]}"; do
            ((first)) || printf ','
            first=0
            printf '\n    %s: {\n' "$(json_str "$name")"
            printf '      "path": %s,\n' "$(json_str "/${SC_URL[$name]#http://*/}")"
            printf '      "script": %s,\n' "$(json_str "bench/${SC_SCRIPT[$name]#"$BENCH_DIR"/}")"
            # shellcheck disable=SC2086 # word splitting of the run lists is wanted
            printf '      "rps_runs": %s,\n' "$(json_num_list ${SC_RPS[$name]})"
            # shellcheck disable=SC2086
            printf '      "p99_ms_runs": %s,\n' "$(json_num_list ${SC_P99[$name]})"
            printf '      "rps_median": %s,\n' "${MED_RPS[$name]:-null}"
            printf '      "p99_ms_median": %s,\n' "${MED_P99[$name]:-null}"
            if [[ $name == "${SC_REF[$name]}" ]]; then
                printf '      "reference": null,\n'
            else
                printf '      "reference": %s,\n' "$(json_str "${SC_REF[$name]}")"
            fi
            printf '      "ratio": %s,\n' "${RATIO[$name]:-null}"
            printf '      "target_ratio": %s,\n' "${SC_TARGET[$name]:-null}"
            printf '      "summary_key": %s,\n' \
                "$([[ -n ${SC_KEY[$name]} ]] && json_str "${SC_KEY[$name]}" || echo null)"
            printf '      "error": %s\n' \
                "$([[ -n ${SC_ERROR[$name]:-} ]] && json_str "${SC_ERROR[$name]}" || echo null)"
            printf '    }'
        done
        printf '\n  },\n'
        printf '  "summary": {'
        first=1
        for name in "${SCENARIOS[@]}"; do
            [[ -n ${SC_KEY[$name]} ]] || continue
            ((first)) || printf ','
            first=0
            printf '\n    %s: %s' "$(json_str "${SC_KEY[$name]}")" "${RATIO[$name]:-null}"
        done
        printf '\n  },\n'
        # shellcheck disable=SC2086
        printf '  "refresh": {"families": 64, "rotations_per_s_runs": %s, "rotations_per_s_median": %s, "target": 4800, "error": %s},\n' \
            "$(json_num_list ${REFRESH_RUNS[*]})" "${REFRESH_MEDIAN:-null}" \
            "$([[ -n $REFRESH_ERROR ]] && json_str "$REFRESH_ERROR" || echo null)"
        # shellcheck disable=SC2086 # word splitting of the run list is wanted
        printf '  "refresh": {"families": 64, "rotations_per_s_runs": %s, "rotations_per_s_median": %s, "target": 4800, "error": %s},\n' \
            "$(json_num_list ${REFRESH_RUNS[*]})" "${REFRESH_MEDIAN:-null}" \
            "$([[ -n $REFRESH_ERROR ]] && json_str "$REFRESH_ERROR" || echo null)"
        printf '  "summary_line": %s\n' "$(json_str "$SUMMARY")"
        printf '}\n'
    } >"$tmp"
    mv -f -- "$tmp" "$RESULTS_FILE"
    log "results written to $RESULTS_FILE"
}

SUMMARY=""
FAILED=0

make_summary() {
    local name parts=()
    for name in "${SCENARIOS[@]}"; do
        [[ -n ${SC_KEY[$name]} ]] || continue
        if [[ -n ${RATIO[$name]:-} ]]; then
            parts+=("${SC_KEY[$name]}=$(printf '%.2f' "${RATIO[$name]}")")
        else
            parts+=("${SC_KEY[$name]}=error")
        fi
    done
    for name in "${SCENARIOS[@]}"; do
        [[ -z ${SC_ERROR[$name]:-} ]] || FAILED=1
    done
    if [[ -n $REFRESH_MEDIAN ]]; then
        parts+=("refresh_rotations_per_s=$(printf '%.0f' "$REFRESH_MEDIAN")")
    else
        parts+=("refresh_rotations_per_s=error")
        FAILED=1
    fi
    SUMMARY="summary: ${parts[*]}"
}

# ---------------------------------------------------------------------------

main() {
    parse_args "$@"
    install_traps

    ensure_wrk
    command -v curl >/dev/null 2>&1 || die "curl is required"
    build

    WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-bench.XXXXXX")
    mkdir -p "$WORK_DIR/tmp-baseline" "$WORK_DIR/tmp-server"

    NPROC=$(nproc)
    CPU_MODEL=$(awk -F': *' '$1 ~ /^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
    CPU_MODEL=${CPU_MODEL:-unknown}
    WRK_VERSION=$(wrk -v 2>&1 | head -n 1 || true)

    start_baseline
    start_server

    # Scenarios, in the order they run in each round. Adding one: prepare what
    # its Lua script needs (exported variables), then register it.
    scenario baseline "$BASELINE_URL/hello" baseline.lua "" ""

    prepare_session
    scenario session_check "$SERVER_URL/api/data" session_check.lua session_ratio 0.70

    prepare_jwt
    scenario jwt_check "$SERVER_URL/api/me" jwt_check.lua jwt_ratio 0.75

    run_scenarios
    run_refresh
    compute
    make_summary
    write_json
    print_table
    ((FAILED)) && log "some scenarios failed: their ratio is reported as 'error'"
    # Nothing may be printed after this line: scripts read it with tail -n 1.
    printf '%s\n' "$SUMMARY"
    ((FAILED == 0)) || exit 1
}

main "$@"
