#!/usr/bin/env bash
# The one bench command (issue 18, item 7): builds the release binaries once,
# then runs each section beside its peer in the same run and prints the
# lines BENCHMARKS.md quotes.
#
#   scripts/bench.sh [ingest|merge|index|live|sla|all]     (default: all)
#
# Needs PostgreSQL at TEST_DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/postgres); `ingest` also needs wrk and
# pgbench (Debian: apt-get install wrk postgresql-client). BENCH_SECONDS sets
# the length of each timed run (default 20); BENCH_NO_BUILD=1 skips the build. Results go to stdout and to
# $BENCH_OUT (default target/bench-<section>.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

SECTION=${1:-all}
DB_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
TARGET=${CARGO_TARGET_DIR:-target}
BIN=$TARGET/release
RUN_SECONDS=${BENCH_SECONDS:-20}
OUT=${BENCH_OUT:-$TARGET/bench-$SECTION.txt}
PORT=${BENCH_PORT:-8099}
WORK=$(mktemp -d /tmp/truckroll-bench.XXXXXX)
SERVER_PID=

cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

say() { echo "$@" | tee -a "$OUT"; }

need() {
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "bench.sh: $tool is not installed" >&2; exit 1; }
    done
}

# $DB_URL with its database replaced by $1.
with_db() {
    local base=${DB_URL%%\?*} query=
    [ "$base" != "$DB_URL" ] && query="?${DB_URL#*\?}"
    echo "${base%/*}/$1$query"
}

fresh_db() {
    psql "$DB_URL" -q -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null
}

build() {
    local bins=(--bin truckroll --bin truckroll-load --bin merge-bench --bin truckroll-live-load)
    case $SECTION in
        sla | all) bins+=(--bin sla-bench) ;;
    esac
    cargo build --release --locked -p truckroll-server -p truckroll-tests "${bins[@]}"
}

start_server() {
    "$BIN/truckroll" serve >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 200); do
        curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && return 0
        sleep 0.1
    done
    echo "bench.sh: the server did not start; its log:" >&2
    cat "$WORK/server.log" >&2
    exit 1
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}

# CPU seconds (user + system) used so far by the processes named.
cpu_seconds() {
    local ticks=0 pid
    for pid in "$@"; do
        [ -r "/proc/$pid/stat" ] || continue
        ticks=$((ticks + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
    done
    echo "$ticks $(getconf CLK_TCK)" | awk '{ printf "%.2f", $1 / $2 }'
}

# CPU seconds used so far by the whole PostgreSQL server: its live processes
# plus what its exited backends used (the postmaster's reaped children), so
# that connections opened or closed during a run are all counted.
postgres_cpu_seconds() {
    local postmaster ticks=0 pid
    postmaster=$(pgrep -o -x postgres) || { echo 0; return; }
    ticks=$(awk '{ print $16 + $17 }' "/proc/$postmaster/stat")
    for pid in $(pgrep -x postgres); do
        [ -r "/proc/$pid/stat" ] || continue
        ticks=$((ticks + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
    done
    echo "$ticks $(getconf CLK_TCK)" | awk '{ printf "%.2f", $1 / $2 }'
}

# wrk's requests/s and p50/p99 (ms) from its --latency output, as one line.
wrk_summary() {
    awk '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) }
        /Requests\/sec/ { rps = $2 } /Non-2xx/ { bad = $NF }
        END { printf "%.0f requests/s, p50 %.2f ms, p99 %.2f ms, non-2xx %d\n", rps, p50, p99, bad }' "$1"
}

ingest() {
    need wrk pgbench psql curl
    local db=truckroll_bench_ingest technicians=200
    fresh_db $db
    export TRUCKROLL_DATABASE_URL
    TRUCKROLL_DATABASE_URL=$(with_db $db)
    export TRUCKROLL_LISTEN=127.0.0.1:$PORT TRUCKROLL_DATA_DIR=$WORK/data \
        TRUCKROLL_DATABASE_MAX_CONNECTIONS=16 \
        TRUCKROLL_AUTH__TOKEN_SECRET=bench-secret-bench-secret-bench-secret-01 \
        TRUCKROLL_AUTH__LOGIN_PER_ADDRESS_PER_MINUTE=1000000 \
        TRUCKROLL_AUTH__LOGIN_PER_ACCOUNT_PER_MINUTE=1000000
    "$BIN/truckroll" migrate >/dev/null
    "$BIN/truckroll" tenant create --name load --admin-email admin@load.test \
        --admin-password change-me-please >/dev/null
    say "== ingest: one-ping requests, PostgreSQL, $technicians technicians, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
    # Creates the technicians (first run) and warms up.
    export TRUCKROLL_PINGS__GROUP_COMMIT=true
    start_server
    "$BIN/truckroll-load" --url "http://127.0.0.1:$PORT" --technicians $technicians --batch 1 \
        --concurrency 64 --seconds 3 >/dev/null
    : >"$WORK/tokens"
    # One token per line (the login answer ends without a newline).
    local token
    for i in $(seq 0 $((technicians - 1))); do
        token=$(curl -sf "http://127.0.0.1:$PORT/v1/auth/login" -H 'content-type: application/json' \
            -d "{\"tenant\":\"load\",\"email\":\"tech$i@load.test\",\"password\":\"load-test-password\"}" |
            sed -E 's/.*"access_token":"([^"]+)".*/\1/') || { echo "bench.sh: tech$i could not sign in" >&2; exit 1; }
        echo "$token" >>"$WORK/tokens"
    done
    stop_server
    for mode in true false; do
        export TRUCKROLL_PINGS__GROUP_COMMIT=$mode
        start_server
        local label="group commit"
        [ $mode = false ] && label="one transaction per request (before)"
        local server_cpu database_cpu
        server_cpu=$(cpu_seconds "$SERVER_PID")
        database_cpu=$(postgres_cpu_seconds)
        PING_TOKENS=$WORK/tokens wrk -t2 -c128 -d"${RUN_SECONDS}s" --latency -s scripts/bench/ping.lua \
            "http://127.0.0.1:$PORT" >"$WORK/wrk-pings" 2>&1
        server_cpu=$(echo "$(cpu_seconds "$SERVER_PID") $server_cpu $RUN_SECONDS" | awk '{ printf "%.0f%%", ($1 - $2) / $3 * 100 }')
        database_cpu=$(echo "$(postgres_cpu_seconds) $database_cpu $RUN_SECONDS" | awk '{ printf "%.0f%%", ($1 - $2) / $3 * 100 }')
        say "pings, $label, wrk -t2 -c128: $(wrk_summary "$WORK/wrk-pings"); server CPU $server_cpu, PostgreSQL CPU $database_cpu (100% = one core)"
        "$BIN/truckroll-load" --url "http://127.0.0.1:$PORT" --technicians $technicians --batch 1 \
            --concurrency 128 --seconds "$RUN_SECONDS" >"$WORK/load" 2>/dev/null
        say "pings, $label, truckroll-load --batch 1 --concurrency 128: $(cat "$WORK/load")"
        if [ $mode = true ]; then
            wrk -t2 -c128 -d"${RUN_SECONDS}s" --latency "http://127.0.0.1:$PORT/healthz" >"$WORK/wrk-health" 2>&1
            say "peer: GET /healthz, wrk -t2 -c128: $(wrk_summary "$WORK/wrk-health")"
        fi
        stop_server
    done
    psql "$TRUCKROLL_DATABASE_URL" -q -f scripts/bench/ping_peer_setup.sql >/dev/null
    pgbench -n -M prepared -c 16 -j 2 -T "$RUN_SECONDS" -D technicians=$technicians \
        -f scripts/bench/ping_peer.sql "$TRUCKROLL_DATABASE_URL" >"$WORK/pgbench" 2>&1
    say "peer: pgbench -c 16, one INSERT + one UPDATE per transaction: $(awk '/^tps/ { tps = $3 } /latency average/ { lat = $4 } END { printf "%.0f tps, latency average %s ms\n", tps, lat }' "$WORK/pgbench")"
    unset TRUCKROLL_DATABASE_URL TRUCKROLL_PINGS__GROUP_COMMIT
    psql "$DB_URL" -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
}

merge() {
    say "== merge: one note appended to each of 20 tickets per sync, 30 syncs; raw automerge on the same bytes"
    for backend in sqlite postgres; do
        local flag=
        [ $backend = postgres ] && flag=--postgres
        for cache in default 0; do
            local cache_flag=()
            [ $cache = 0 ] && cache_flag=(--cache-bytes 0)
            say "$(TEST_DATABASE_URL=$DB_URL "$BIN/merge-bench" $flag "${cache_flag[@]}" 2>/dev/null)"
        done
    done
}

index() {
    say "== index: nearest candidates, R-tree vs linear scan (criterion; builds its own bench target)"
    cargo bench --locked -p truckroll-server --bench dispatch_index 2>&1 | tee -a "$OUT" | grep -E 'time:|^dispatch' || true
}

live() {
    need psql curl
    local db=truckroll_bench_live technicians=${LIVE_TECHNICIANS:-50000} dispatchers=${LIVE_DISPATCHERS:-50}
    local secret=bench-secret-bench-secret-bench-secret-01
    fresh_db $db
    export TRUCKROLL_DATABASE_URL
    TRUCKROLL_DATABASE_URL=$(with_db $db)
    export TRUCKROLL_LISTEN=127.0.0.1:$PORT TRUCKROLL_DATA_DIR=$WORK/data \
        TRUCKROLL_DATABASE_MAX_CONNECTIONS=16 TRUCKROLL_AUTH__TOKEN_SECRET=$secret
    "$BIN/truckroll" migrate >/dev/null
    "$BIN/truckroll" tenant create --name load --admin-email admin@load.test \
        --admin-password change-me-please >/dev/null
    local load=("$BIN/truckroll-live-load" --url "http://127.0.0.1:$PORT" --database-url "$TRUCKROLL_DATABASE_URL"
        --token-secret "$secret" --tenant load --technicians "$technicians" --interval-secs 10)
    # Creates the technicians; not measured.
    start_server
    "${load[@]}" --dispatchers 1 --seconds 2 --warmup-secs 0 >/dev/null
    stop_server
    # Measured from the first second after a start: no warm-up. Each
    # dispatcher watching its own strip (a territory) first, then all of
    # them watching the whole world (every ping to every socket).
    for bounded in true false; do
        local view="each its own strip of the city"
        [ $bounded = false ] && view="whole world in view"
        start_server
        say "== live: $technicians technicians pinging every 10 s, $dispatchers dispatchers ($view), one replica started just before, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
        "${load[@]}" --dispatchers "$dispatchers" --bounded $bounded --seconds "$RUN_SECONDS" \
            --warmup-secs 0 --server-pid "$SERVER_PID" 2>&1 | tee -a "$OUT"
        stop_server
    done
    unset TRUCKROLL_DATABASE_URL
    psql "$DB_URL" -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
}

sla() {
    say "== sla: a month's report at 1 000 000 tickets, SQL engine vs the in-app engine"
    TEST_DATABASE_URL=$DB_URL "$BIN/sla-bench" report 1000000 2>&1 | tee -a "$OUT"
}

: >"$OUT"
# BENCH_NO_BUILD=1: measure the binaries already in $BIN as they are.
[ "${BENCH_NO_BUILD:-0}" = 1 ] || build
case $SECTION in
    ingest) ingest ;;
    merge) merge ;;
    index) index ;;
    live) live ;;
    sla) sla ;;
    all) ingest; merge; index; live; sla ;;
    *) echo "usage: scripts/bench.sh [ingest|merge|index|live|sla|all]" >&2; exit 2 ;;
esac
echo "bench.sh: results in $OUT"
