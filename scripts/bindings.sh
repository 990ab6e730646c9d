#!/usr/bin/env bash
# Generates the SDK's foreign-language bindings (Kotlin, Swift, Python) from
# the built truckroll-sdk-ffi library into OUT_DIR (default target/bindings).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/bindings}"
target="${CARGO_TARGET_DIR:-target}"
cargo build -p truckroll-sdk-ffi --release
case "$(uname -s)" in
    Darwin) lib="$target/release/libtruckroll_sdk_ffi.dylib" ;;
    *) lib="$target/release/libtruckroll_sdk_ffi.so" ;;
esac
for language in kotlin swift python; do
    "$target/release/uniffi-bindgen" generate --library "$lib" --language "$language" --out-dir "$out/$language"
done
cp "$lib" "$out/python/"
echo "bindings in $out/{kotlin,swift,python}; link or bundle $lib with the app"
