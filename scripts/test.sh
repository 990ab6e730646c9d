#!/usr/bin/env bash
# The one test command: formatting, lints, and every test on SQLite and PostgreSQL.
#
# Needs: a Rust toolchain (cargo, rustfmt, clippy) and a PostgreSQL server.
# PostgreSQL is found through TEST_DATABASE_URL
# (default postgres://postgres@127.0.0.1:5432/postgres; the user must be allowed
# to CREATE DATABASE — every test gets its own database).
set -euo pipefail
cd "$(dirname "$0")/.."

export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

fail() {
    echo "scripts/test.sh: $*" >&2
    exit 1
}

command -v cargo >/dev/null || fail "cargo not found: install Rust from https://rustup.rs"

# host:port of TEST_DATABASE_URL, for a reachability check without psql.
pg_hostport() {
    local rest="${TEST_DATABASE_URL#*://}"
    rest="${rest#*@}"
    rest="${rest%%/*}"
    rest="${rest%%\?*}"
    local host="${rest%%:*}" port="5432"
    [[ "$rest" == *:* ]] && port="${rest##*:}"
    echo "${host:-127.0.0.1} ${port}"
}

pg_reachable() {
    local host port
    read -r host port < <(pg_hostport)
    (exec 3<>"/dev/tcp/${host}/${port}") 2>/dev/null
}

ensure_postgres() {
    pg_reachable && return 0
    # Installed but stopped (Debian/Ubuntu clusters): start it.
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
        local version
        version="$(ls /etc/postgresql | sort -V | tail -n1)"
        echo "PostgreSQL not reachable; starting cluster ${version}/main" >&2
        pg_ctlcluster --skip-systemctl-redirect "${version}" main start || true
        for _ in $(seq 1 30); do
            pg_reachable && return 0
            sleep 1
        done
    fi
    fail "PostgreSQL is not reachable at ${TEST_DATABASE_URL%%@*}@$(pg_hostport | tr ' ' ':').
Install and start it (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql && brew services start postgresql),
or point TEST_DATABASE_URL at a server where the user may CREATE DATABASE."
}

ensure_postgres

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== README quick start: \`cargo run -- …\` resolves the truckroll binary"
cargo run --locked --quiet -- --version

echo "== cargo test (SQLite and PostgreSQL at ${TEST_DATABASE_URL%%@*}@…)"
cargo test --workspace --locked "$@"
