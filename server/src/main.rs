use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    truckroll_server::cli::run(truckroll_server::cli::Cli::parse()).await
}
