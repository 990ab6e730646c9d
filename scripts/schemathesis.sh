#!/usr/bin/env bash
# Schemathesis against /openapi.json of a fresh embedded server (SQLite, the
# `fs` blob store), once signed in as an admin and once as a technician.
# Fails on any 5xx, any answer that does not match its documented schema,
# and any undocumented content type. Examples per operation are bounded
# (SCHEMATHESIS_EXAMPLES, default 6) so the run stays near two minutes.
#
# Installs schemathesis (pinned, PyPI) into a venv beside the build
# (${CARGO_TARGET_DIR:-target}/schemathesis-VERSION) the first time; fails
# with a message when it cannot.
#
# Four operations take bodies schemathesis cannot generate (raw MIME, a
# PDF, a font file, an article attachment) and are left out — the last by
# its path, so listing an article's attachments is left out with it; their
# own tests cover them (api::knowledge for the attachments). So is
# /v1/maintenance/plans: schemathesis 4.32.5's example generator fails on
# its request schema inside Hypothesis ("Inconsistent results", an error of
# the tool, not an answer of the server); api::schedule tests it. And
# /v1/intake/mailboxes/{id}/poll: it connects to the mailbox's IMAP server,
# and for a generated host that cannot be reached it answers 503 (a
# dependency is unavailable) by design; intake::imap tests it.
#
# Usage: scripts/schemathesis.sh [extra `st run` options]
set -euo pipefail

ST_VERSION="4.32.5"
EXAMPLES="${SCHEMATHESIS_EXAMPLES:-6}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-${ROOT}/target}"
VENV="${TARGET}/schemathesis-${ST_VERSION}"

fail() {
    echo "schemathesis.sh: $*" >&2
    exit 1
}

if [ ! -x "${VENV}/bin/st" ]; then
    echo "== installing schemathesis ${ST_VERSION} into ${VENV}"
    python3 -m venv "${VENV}" \
        || fail "could not create a Python venv: install python3-venv (apt-get install python3-venv)"
    "${VENV}/bin/pip" install --quiet "schemathesis==${ST_VERSION}" \
        || { rm -rf "${VENV}"; fail "could not install schemathesis ${ST_VERSION} from PyPI"; }
fi
"${VENV}/bin/st" --version >/dev/null 2>&1 || fail "schemathesis in ${VENV} does not run; delete the folder and retry"

cargo build --locked --quiet --bin truckroll
BIN="${TARGET}/debug/truckroll"
[ -x "${BIN}" ] || fail "no server binary at ${BIN}"

WORK="$(mktemp -d -t truckroll-schemathesis.XXXXXX)"
SERVER_PID=""
cleanup() {
    if [ -n "${SERVER_PID}" ]; then
        kill "${SERVER_PID}" 2>/dev/null || true
        wait "${SERVER_PID}" 2>/dev/null || true
    fi
    rm -rf "${WORK}"
}
trap cleanup EXIT

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
BASE="http://127.0.0.1:${PORT}"
export TRUCKROLL_LISTEN="127.0.0.1:${PORT}"
export TRUCKROLL_DATA_DIR="${WORK}/data"
export TRUCKROLL_AUTH__TOKEN_SECRET="schemathesis-token-secret-0123456789abcdef"
# Generated requests sign in far more often than people do.
export TRUCKROLL_AUTH__LOGIN_PER_ADDRESS_PER_MINUTE=100000
export TRUCKROLL_AUTH__LOGIN_PER_ACCOUNT_PER_MINUTE=100000
export TRUCKROLL_AUTH__LOGIN_FAILURES_BEFORE_DELAY=100000
export TRUCKROLL_NOTIFY__PUBLIC_REQUESTS_PER_MINUTE=100000
export TRUCKROLL_GOVERNANCE__METRICS_TOKEN="schemathesis-metrics-token"
export RUST_LOG="${RUST_LOG:-warn}"

PASSWORD="schemathesis-admin-passphrase"
"${BIN}" migrate >"${WORK}/migrate.log" 2>&1 || fail "migrate failed: $(cat "${WORK}/migrate.log")"
"${BIN}" tenant create --name acme --admin-email admin@acme.test --admin-password "${PASSWORD}" \
    >"${WORK}/tenant.log" 2>&1 || fail "tenant create failed: $(cat "${WORK}/tenant.log")"
"${BIN}" serve >"${WORK}/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    curl -fsS "${BASE}/readyz" >/dev/null 2>&1 && break
    kill -0 "${SERVER_PID}" 2>/dev/null || fail "the server exited: $(tail -20 "${WORK}/server.log")"
    sleep 0.2
done
curl -fsS "${BASE}/readyz" >/dev/null || fail "the server did not become ready: $(tail -20 "${WORK}/server.log")"

json_field() {
    python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}
login() {
    curl -fsS -X POST "${BASE}/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"tenant\": \"acme\", \"email\": \"$1\", \"password\": \"${PASSWORD}\"}" | json_field access_token
}
ADMIN_TOKEN="$(login admin@acme.test)" || fail "the admin could not sign in"
curl -fsS -X POST "${BASE}/v1/users" -H "authorization: Bearer ${ADMIN_TOKEN}" -H 'content-type: application/json' \
    -d "{\"email\": \"tech@acme.test\", \"name\": \"Tech\", \"role\": \"technician\", \"password\": \"${PASSWORD}\"}" \
    >/dev/null || fail "could not create the technician"
TECH_TOKEN="$(login tech@acme.test)" || fail "the technician could not sign in"

run_as() {
    local who="$1" token="$2"
    shift 2
    echo "== schemathesis ${ST_VERSION} as ${who}: ${EXAMPLES} examples per operation"
    "${VENV}/bin/st" run "${BASE}/openapi.json" \
        --checks not_a_server_error,response_schema_conformance,content_type_conformance \
        --max-examples "${EXAMPLES}" \
        --phases examples,coverage,fuzzing \
        --seed 19 \
        --workers 2 \
        --request-timeout 30 \
        --suppress-health-check all \
        --no-color \
        --header "Authorization: Bearer ${token}" \
        --exclude-path-regex '^/v1/(intake/email|reports/verify/\{code\}|service-reports/settings/font|maintenance/plans|intake/mailboxes/\{id\}/poll|knowledge/articles/\{id\}/attachments)$' \
        "$@"
}

status=0
run_as admin "${ADMIN_TOKEN}" "$@" || status=1
run_as technician "${TECH_TOKEN}" "$@" || status=1
if [ "${status}" -ne 0 ]; then
    echo "schemathesis found answers that break the OpenAPI document (above); server log: ${WORK}/server.log" >&2
    tail -50 "${WORK}/server.log" >&2
fi
exit "${status}"
