#!/usr/bin/env bash
# The one test command: formatting, lints, and every test on SQLite and PostgreSQL.
#
# Needs: a Rust toolchain (cargo, rustfmt, clippy) and a PostgreSQL server;
# installs and starts s3s-fs (an S3-compatible server) for the media tests,
# dovecot (an IMAP server, Debian's dovecot-imapd) for the email intake tests,
# a JDK, JNA and kotlinc (npm package kotlin-compiler) for the Kotlin
# binding test, and cargo-deny (crates.io) for the supply-chain check.
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

# The pages' tests drive Debian's Chromium through Playwright (tests/browser).
ensure_browser() {
    local chromium="${CHROMIUM:-/usr/bin/chromium}"
    if [ ! -x "$chromium" ]; then
        if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
            echo "Chromium not found; installing it (apt-get install chromium)" >&2
            { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } >&2 \
                || fail "apt-get install chromium failed"
        else
            fail "$chromium not found: install Chromium (Debian/Ubuntu: sudo apt-get install chromium) or set CHROMIUM"
        fi
    fi
    command -v node >/dev/null && command -v npm >/dev/null \
        || fail "node and npm not found: install Node.js >= 18 (Debian/Ubuntu: apt-get install nodejs npm)"
    if [ ! -d tests/browser/node_modules/playwright-core ] \
        || [ tests/browser/package-lock.json -nt tests/browser/node_modules/.package-lock.json ]; then
        echo "== npm ci (tests/browser)"
        (cd tests/browser && npm ci --no-audit --no-fund) || fail "npm ci in tests/browser failed"
    fi
}

ensure_browser

# The service report tests read the PDFs with poppler's pdftotext, pdfimages
# and pdffonts, and set a tenant's report in Noto Sans CJK (Debian's
# fonts-noto-cjk) to check CJK text.
ensure_report_tools() {
    local missing=()
    for tool in pdftotext pdfimages pdffonts; do
        command -v "$tool" >/dev/null || missing=(poppler-utils)
    done
    [ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing+=(fonts-noto-cjk)
    [ "${#missing[@]}" -eq 0 ] && return 0
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        echo "Installing ${missing[*]} for the service report tests (apt-get install ${missing[*]})" >&2
        { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"; } >&2 \
            || fail "apt-get install ${missing[*]} failed"
    else
        fail "${missing[*]} not installed: the service report tests need them (Debian/Ubuntu: sudo apt-get install ${missing[*]})"
    fi
}

ensure_report_tools

# The sync protocol's independent client (tests/js-client): @automerge/automerge
# and ws, pinned in its package-lock.json; Node.js >= 20 (global fetch).
ensure_js_client() {
    command -v node >/dev/null && command -v npm >/dev/null \
        || fail "node and npm not found: the JS sync client test needs Node.js >= 20 (Debian/Ubuntu: apt-get install nodejs npm)"
    local major
    major="$(node -p 'process.versions.node.split(".")[0]')"
    [ "${major}" -ge 20 ] || fail "Node.js $(node --version) is too old: the JS sync client test needs Node.js >= 20"
    if [ ! -d tests/js-client/node_modules/@automerge/automerge ] \
        || [ tests/js-client/package-lock.json -nt tests/js-client/node_modules/.package-lock.json ]; then
        echo "== npm ci (tests/js-client)"
        (cd tests/js-client && npm ci --no-audit --no-fund) || fail "npm ci in tests/js-client failed"
    fi
}

ensure_js_client

# The media tests need a real S3-compatible server: s3s-fs (crates.io) on a
# loopback port with one bucket, stopped when this script exits. Set
# TEST_S3_ENDPOINT (and _BUCKET, _ACCESS_KEY, _SECRET_KEY) to use
# another server instead (not TRUCKROLL_*: those are configuration keys).
# Newer s3s-fs releases need a newer rustc.
S3S_FS_VERSION=0.14.1

ensure_s3s_fs() {
    if [ -n "${TEST_S3S_FS:-}" ]; then
        [ -x "${TEST_S3S_FS}" ] || fail "TEST_S3S_FS=${TEST_S3S_FS} is not executable"
        return 0
    fi
    if ! command -v s3s-fs >/dev/null; then
        echo "== installing s3s-fs ${S3S_FS_VERSION} (S3-compatible server for the media tests)"
        cargo install s3s-fs --version "${S3S_FS_VERSION}" --locked --features binary \
            || fail "could not install s3s-fs: run \`cargo install s3s-fs --version ${S3S_FS_VERSION} --locked --features binary\`"
        export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
    fi
    TEST_S3S_FS="$(command -v s3s-fs)" || fail "s3s-fs is not on PATH after installing it"
    export TEST_S3S_FS
}

# Every service this script starts is stopped on exit, whichever started.
stop_services() {
    stop_s3
    declare -F stop_imap >/dev/null && stop_imap
    declare -F stop_smtp >/dev/null && stop_smtp
    return 0
}

port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start_s3() {
    if [ -n "${TEST_S3_ENDPOINT:-}" ]; then
        echo "== media tests use the S3 server at ${TEST_S3_ENDPOINT}"
        return 0
    fi
    S3_DIR="$(mktemp -d -t truckroll-s3.XXXXXX)"
    mkdir -p "${S3_DIR}/data/media"
    local port=""
    for _ in $(seq 1 50); do
        local candidate=$((20000 + RANDOM % 20000))
        if port_free "${candidate}"; then port="${candidate}"; break; fi
    done
    [ -n "${port}" ] || fail "no free loopback port for s3s-fs"
    "${TEST_S3S_FS}" --host 127.0.0.1 --port "${port}" \
        --access-key truckroll-test --secret-key truckroll-test-secret \
        "${S3_DIR}/data" >"${S3_DIR}/s3s-fs.log" 2>&1 &
    S3_PID=$!
    trap stop_services EXIT
    for _ in $(seq 1 100); do
        port_free "${port}" || break
        kill -0 "${S3_PID}" 2>/dev/null || fail "s3s-fs exited: $(cat "${S3_DIR}/s3s-fs.log")"
        sleep 0.2
    done
    port_free "${port}" && fail "s3s-fs did not listen on 127.0.0.1:${port}: $(cat "${S3_DIR}/s3s-fs.log")"
    export TEST_S3_ENDPOINT="http://127.0.0.1:${port}"
    export TEST_S3_BUCKET=media
    export TEST_S3_ACCESS_KEY=truckroll-test
    export TEST_S3_SECRET_KEY=truckroll-test-secret
    echo "== s3s-fs $("${TEST_S3S_FS}" --version | awk '{print $2}') on ${TEST_S3_ENDPOINT} (bucket media)"
}

stop_s3() {
    if [ -n "${S3_PID:-}" ]; then
        kill "${S3_PID}" 2>/dev/null || true
        wait "${S3_PID}" 2>/dev/null || true
    fi
    [ -n "${S3_DIR:-}" ] && rm -rf "${S3_DIR}"
    return 0
}

# The email intake tests read a real IMAP server: Debian's dovecot-imapd, run
# as a local instance with its own configuration in a temp dir on a free
# loopback port (plaintext login allowed on loopback, any user name with the
# password below, one maildir per user name, so every test has its own
# mailbox), stopped when this script exits. Set TEST_IMAP_HOST/_PORT/
# _PASSWORD to use another server instead.
ensure_dovecot() {
    [ -n "${TEST_IMAP_HOST:-}" ] && return 0
    if ! command -v dovecot >/dev/null || [ ! -x /usr/lib/dovecot/imap ]; then
        if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
            echo "== installing dovecot-imapd (IMAP server for the email intake tests)" >&2
            { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q dovecot-imapd; } >&2 \
                || fail "apt-get install dovecot-imapd failed"
        else
            fail "dovecot not found: install it (Debian/Ubuntu: sudo apt-get install dovecot-imapd) or set TEST_IMAP_HOST/TEST_IMAP_PORT/TEST_IMAP_PASSWORD"
        fi
    fi
}

start_imap() {
    if [ -n "${TEST_IMAP_HOST:-}" ]; then
        echo "== intake tests use the IMAP server at ${TEST_IMAP_HOST}:${TEST_IMAP_PORT:-143}"
        return 0
    fi
    IMAP_DIR="$(mktemp -d -t truckroll-imap.XXXXXX)"
    chmod 755 "${IMAP_DIR}"
    mkdir -p "${IMAP_DIR}/mail" "${IMAP_DIR}/run" "${IMAP_DIR}/state"
    local port=""
    for _ in $(seq 1 50); do
        local candidate=$((20000 + RANDOM % 20000))
        if port_free "${candidate}"; then port="${candidate}"; break; fi
    done
    [ -n "${port}" ] || fail "no free loopback port for dovecot"
    # Dovecot's login processes refuse to run as root: as root, use the
    # package's unprivileged users; otherwise run everything as ourselves.
    local internal login mail_user mail_group
    if [ "$(id -u)" = 0 ]; then
        internal=dovecot login=dovenull mail_user=dovecot mail_group=dovecot
        chown dovecot:dovecot "${IMAP_DIR}/mail"
    else
        internal="$(id -un)" login="$(id -un)" mail_user="$(id -u)" mail_group="$(id -g)"
    fi
    export TEST_IMAP_PASSWORD=truckroll-imap-test
    cat >"${IMAP_DIR}/dovecot.conf" <<CONF
protocols = imap
listen = 127.0.0.1
base_dir = ${IMAP_DIR}/run
state_dir = ${IMAP_DIR}/state
log_path = ${IMAP_DIR}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = ${internal}
default_internal_group = $(id -gn "${internal}")
default_login_user = ${login}
first_valid_uid = 0
mail_location = maildir:${IMAP_DIR}/mail/%u
passdb {
  driver = static
  args = password=${TEST_IMAP_PASSWORD}
}
userdb {
  driver = static
  args = uid=${mail_user} gid=${mail_group} home=${IMAP_DIR}/mail/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
  chroot =
}
service anvil {
  chroot =
}
CONF
    dovecot -c "${IMAP_DIR}/dovecot.conf" || fail "dovecot did not start: $(cat "${IMAP_DIR}/dovecot.log" 2>/dev/null)"
    for _ in $(seq 1 100); do
        port_free "${port}" || break
        sleep 0.2
    done
    port_free "${port}" && fail "dovecot did not listen on 127.0.0.1:${port}: $(cat "${IMAP_DIR}/dovecot.log")"
    export TEST_IMAP_HOST=127.0.0.1
    export TEST_IMAP_PORT="${port}"
    echo "== dovecot $(dovecot --version | awk '{print $1}') IMAP on ${TEST_IMAP_HOST}:${TEST_IMAP_PORT}"
}

stop_imap() {
    if [ -n "${IMAP_DIR:-}" ] && [ -f "${IMAP_DIR}/run/master.pid" ]; then
        kill "$(cat "${IMAP_DIR}/run/master.pid")" 2>/dev/null || true
        sleep 0.5
    fi
    [ -n "${IMAP_DIR:-}" ] && rm -rf "${IMAP_DIR}"
    return 0
}

command -v python3 >/dev/null || fail "python3 not found (the layering check and the SDK's Python binding test need it): apt-get install python3"

# The notification tests and benchmark need a real SMTP server: aiosmtpd
# (PyPI) run by scripts/smtp_sink.py, which writes every accepted message to
# a directory. Tests that stop and restart the server start their own
# instance through TEST_SMTP_SINK; the shared one is TEST_SMTP_HOST/_PORT/_DIR.
ensure_smtp_sink() {
    if ! python3 -c "import aiosmtpd" 2>/dev/null; then
        echo "== installing aiosmtpd (SMTP server for the notification tests)"
        python3 -m pip install --quiet aiosmtpd 2>/dev/null \
            || python3 -m pip install --quiet --break-system-packages aiosmtpd \
            || fail "could not install aiosmtpd: run \`python3 -m pip install aiosmtpd\`"
        python3 -c "import aiosmtpd" 2>/dev/null || fail "aiosmtpd is not importable after installing it"
    fi
    TEST_SMTP_SINK="$(cd "$(dirname "$0")" && pwd)/smtp_sink.py"
    export TEST_SMTP_SINK
}

start_smtp() {
    SMTP_DIR="$(mktemp -d -t truckroll-smtp.XXXXXX)"
    local port=""
    for _ in $(seq 1 50); do
        local candidate=$((20000 + RANDOM % 20000))
        if port_free "${candidate}"; then port="${candidate}"; break; fi
    done
    [ -n "${port}" ] || fail "no free loopback port for the SMTP sink"
    python3 "${TEST_SMTP_SINK}" --port "${port}" --dir "${SMTP_DIR}/mail" >"${SMTP_DIR}/smtp.log" 2>&1 &
    SMTP_PID=$!
    trap stop_services EXIT
    for _ in $(seq 1 100); do
        port_free "${port}" || break
        kill -0 "${SMTP_PID}" 2>/dev/null || fail "the SMTP sink exited: $(cat "${SMTP_DIR}/smtp.log")"
        sleep 0.2
    done
    port_free "${port}" && fail "the SMTP sink did not listen on 127.0.0.1:${port}: $(cat "${SMTP_DIR}/smtp.log")"
    export TEST_SMTP_HOST=127.0.0.1 TEST_SMTP_PORT="${port}" TEST_SMTP_DIR="${SMTP_DIR}/mail"
    echo "== SMTP sink (aiosmtpd) on ${TEST_SMTP_HOST}:${TEST_SMTP_PORT} writing to ${TEST_SMTP_DIR}"
}

stop_smtp() {
    if [ -n "${SMTP_PID:-}" ]; then
        kill "${SMTP_PID}" 2>/dev/null || true
        wait "${SMTP_PID}" 2>/dev/null || true
    fi
    [ -n "${SMTP_DIR:-}" ] && rm -rf "${SMTP_DIR}"
    return 0
}

# The Kotlin binding test (tests/tests/sdk/kotlin.rs) compiles UniFFI's
# Kotlin with a Kotlin 2 compiler and runs it on the JVM through JNA.
# Debian's `kotlin` (1.3) is too old; the npm package `kotlin-compiler`
# ships JetBrains' kotlinc, unpacked once into the target dir. JNA and the
# JDK come from Debian (libjna-java, default-jdk-headless).
KOTLIN_COMPILER_VERSION=2.4.20
ensure_kotlin() {
    if ! command -v java >/dev/null || [ ! -e /usr/share/java/jna.jar ]; then
        if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
            echo "== installing a JDK and JNA for the Kotlin binding test (apt-get install default-jdk-headless libjna-java)" >&2
            { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q default-jdk-headless libjna-java; } >&2 \
                || fail "apt-get install default-jdk-headless libjna-java failed"
        else
            fail "java or /usr/share/java/jna.jar not found: install a JDK and JNA (Debian/Ubuntu: apt-get install default-jdk-headless libjna-java)"
        fi
    fi
    local dir="${CARGO_TARGET_DIR:-target}/kotlin-compiler-${KOTLIN_COMPILER_VERSION}"
    if [ ! -x "${dir}/package/bin/kotlinc" ]; then
        echo "== unpacking kotlinc ${KOTLIN_COMPILER_VERSION} (npm package kotlin-compiler) into ${dir}"
        mkdir -p "${dir}"
        (cd "${dir}" && npm pack --silent "kotlin-compiler@${KOTLIN_COMPILER_VERSION}" >/dev/null \
            && tar xzf "kotlin-compiler-${KOTLIN_COMPILER_VERSION}.tgz" \
            && rm "kotlin-compiler-${KOTLIN_COMPILER_VERSION}.tgz") \
            || fail "could not fetch the npm package kotlin-compiler@${KOTLIN_COMPILER_VERSION}"
        chmod +x "${dir}"/package/bin/*
    fi
    # Not TRUCKROLL_…: the server reads every TRUCKROLL_ variable as configuration.
    TEST_KOTLINC="$(cd "${dir}/package/bin" && pwd)/kotlinc"
    export TEST_KOTLINC
}
ensure_kotlin

ensure_s3s_fs
start_s3
ensure_dovecot
start_imap
trap stop_services EXIT
ensure_smtp_sink
start_smtp

echo "== layers: no import runs up a layer, no circles (ARCHITECTURE.md)"
python3 scripts/layers.py || fail "the server's layering is broken: see the lines above and ARCHITECTURE.md"

echo "== supply chain: cargo deny (deny.toml; scripts/deny.sh)"
scripts/deny.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== README quick start: \`cargo run -- …\` resolves the truckroll binary"
cargo run --locked --quiet -- --version

echo "== SDK bindings: the UniFFI library and uniffi-bindgen for the Python and Kotlin binding tests"
cargo build --locked -p truckroll-sdk-ffi

echo "== cargo test (SQLite and PostgreSQL at ${TEST_DATABASE_URL%%@*}@…)"
cargo test --workspace --locked "$@"

echo "== schemathesis against /openapi.json (admin and technician; scripts/schemathesis.sh)"
scripts/schemathesis.sh
