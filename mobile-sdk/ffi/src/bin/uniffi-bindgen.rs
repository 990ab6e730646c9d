//! Generates the foreign-language bindings from the built library:
//! `uniffi-bindgen generate --library libtruckroll_sdk_ffi.so --language python --out-dir out/`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
