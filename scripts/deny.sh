#!/usr/bin/env bash
# Supply chain: cargo-deny against deny.toml (DECISIONS.md "Supply chain").
#
# Licences, bans (duplicate versions are listed, wildcards and banned crates
# fail) and sources are checked on every run; they need the lock file and
# its crates (fetched first).
#
# Advisories need the RustSec database, a git repository cargo-deny clones
# from GitHub. Where GitHub is out of reach the script says so in a banner
# and goes on; set DENY_ADVISORY_DB to a local clone or mirror of
# the advisory-db repository to check against it instead, and
# REQUIRE_ADVISORIES=1 to fail when no database can be had.
set -euo pipefail
cd "$(dirname "$0")/.."

# cargo-deny 0.20.2 builds on rustc 1.88+ (and 1.95 here); about five
# minutes to install on one core, once.
CARGO_DENY_VERSION=0.20.2
# cargo-deny's directory for its default database URL.
ADVISORY_DIR="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/advisory-db-3157b0e258782691"

fail() {
    echo "scripts/deny.sh: $*" >&2
    exit 1
}

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if ! cargo deny --version 2>/dev/null | grep -qx "cargo-deny ${CARGO_DENY_VERSION}"; then
    echo "== installing cargo-deny ${CARGO_DENY_VERSION} (crates.io)"
    cargo install cargo-deny --version "${CARGO_DENY_VERSION}" --locked \
        || fail "could not install cargo-deny: run \`cargo install cargo-deny --version ${CARGO_DENY_VERSION} --locked\`"
fi

# cargo-deny reads every package of the lock file, including those only
# other platforms build (Android, Windows, iOS); a fresh machine has only
# downloaded what this one builds, so fetch the rest first (crates.io).
echo "== cargo fetch: every crate of Cargo.lock, for every platform"
cargo fetch --locked || fail "cargo fetch could not download the crates of Cargo.lock (crates.io unreachable?)"

echo "== cargo deny: licences, bans, sources (deny.toml)"
cargo deny --offline check --hide-inclusion-graph licenses bans sources \
    || fail "cargo deny found a licence, ban or source outside deny.toml (see above)"

if [ -n "${DENY_ADVISORY_DB:-}" ]; then
    echo "== RustSec database from DENY_ADVISORY_DB=${DENY_ADVISORY_DB}"
    rm -rf "${ADVISORY_DIR}"
    mkdir -p "$(dirname "${ADVISORY_DIR}")"
    git clone --quiet "${DENY_ADVISORY_DB}" "${ADVISORY_DIR}" \
        || fail "DENY_ADVISORY_DB=${DENY_ADVISORY_DB} is not a git repository of the RustSec advisory database"
elif timeout 30 git ls-remote https://github.com/rustsec/advisory-db HEAD >/dev/null 2>&1; then
    # (`cargo deny fetch db` exits 0 even when it could not update an
    # existing copy, so reachability is checked first.)
    cargo deny fetch db || fail "could not fetch the RustSec database"
    echo "== RustSec database fetched"
else
    echo "scripts/deny.sh: the RustSec advisory repository is out of reach; using a local copy if there is one" >&2
fi

if git -C "${ADVISORY_DIR}" rev-parse --verify -q HEAD >/dev/null 2>&1; then
    db_date="$(git -C "${ADVISORY_DIR}" log -1 --format=%cs)"
    age_days=$(( ($(date +%s) - $(git -C "${ADVISORY_DIR}" log -1 --format=%ct)) / 86400 ))
    echo "== cargo deny: advisories against the RustSec database of ${db_date} (${age_days} days old)"
    [ "${age_days}" -le 30 ] \
        || echo "scripts/deny.sh: WARNING: the RustSec database is ${age_days} days old; newer advisories are not checked" >&2
    cargo deny --offline check advisories \
        || fail "cargo deny found an advisory for a dependency (see above; deny.toml [advisories] ignore needs a reason)"
else
    cat >&2 <<'BANNER'
######################################################################
## ADVISORIES NOT CHECKED: the RustSec advisory database could not  ##
## be fetched (no access to its git repository from this machine).  ##
## Licences, bans and sources were checked. Set DENY_ADVISORY_DB to ##
## a local clone of the advisory-db repository to check them.       ##
######################################################################
BANNER
    [ "${REQUIRE_ADVISORIES:-0}" != 1 ] || fail "REQUIRE_ADVISORIES=1 and no advisory database"
fi
