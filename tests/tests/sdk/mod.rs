/// The SDK's command-line phone, built by cargo for this crate's tests.
const SDK_PHONE: &str = env!("CARGO_BIN_EXE_sdk-phone");

mod articles;
mod catchup;
mod convergence;
mod day;
mod kotlin;
mod media;
mod packet;
mod python;
mod sync;
mod work;
