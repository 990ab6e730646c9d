//! `truckroll-sdk`: a technician's phone on the command line; see
//! `truckroll_sdk::cli`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    truckroll_sdk::cli::main().await
}
