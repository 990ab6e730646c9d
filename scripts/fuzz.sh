#!/usr/bin/env bash
# Bounded fuzzing of the sync protocol (fuzz/): the server's frame and
# sync-message handling (`sync_frame`) and the document validator
# (`document`), each for FUZZ_SECONDS (default 60).
#
#   scripts/fuzz.sh                 # both targets, 60 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh document
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`; installed here if missing) and
# a C++ compiler (libFuzzer is built from source). Runs on stable Rust: the
# targets are built with `--sanitizer none` (coverage instrumentation only;
# the fuzzed crates forbid unsafe code, so AddressSanitizer, which needs
# nightly's -Zsanitizer, would add little). Not part of scripts/test.sh: a
# cold build takes about ten minutes on two cores (BENCHMARKS.md).
#
# A crash leaves its input in fuzz/artifacts/<target>/; keep it as a
# regression test (sync/tests/protocol/fuzz_regressions.rs) and fix the bug.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

fail() {
    echo "scripts/fuzz.sh: $*" >&2
    exit 1
}

command -v cargo >/dev/null || fail "cargo not found: install Rust from https://rustup.rs"
if ! command -v cargo-fuzz >/dev/null; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked || fail "could not install cargo-fuzz: run \`cargo install cargo-fuzz\`"
fi

seconds="${FUZZ_SECONDS:-60}"
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(sync_frame document)

# With CARGO_TARGET_DIR set, build under it (fuzz/ is its own workspace).
target_dir=()
[ -n "${CARGO_TARGET_DIR:-}" ] && target_dir=(--target-dir "${CARGO_TARGET_DIR}/fuzz")

echo "== cargo fuzz build (--sanitizer none, release)"
cargo fuzz build --sanitizer none -O "${target_dir[@]}" || fail "cargo fuzz build failed"
for target in "${targets[@]}"; do
    mkdir -p "corpus/${target}"
    seeds=()
    [ -d "seeds/${target}" ] && seeds=("seeds/${target}")
    echo "== cargo fuzz run ${target} (${seconds} s)"
    cargo fuzz run --sanitizer none -O "${target_dir[@]}" "${target}" "corpus/${target}" "${seeds[@]}" -- \
        -max_total_time="${seconds}" -max_len=8192 -len_control=0 -print_final_stats=1 \
        || fail "${target} found a crash: see fuzz/artifacts/${target}/ (keep the input as a regression test)"
done
