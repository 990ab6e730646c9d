//! The SDK's command-line phone, built with the tests so they can start it
//! as a real process and kill it (`CARGO_BIN_EXE_sdk-phone`).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    truckroll_sdk::cli::main().await
}
