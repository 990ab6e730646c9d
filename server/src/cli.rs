//! The `truckroll` command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::{
    auth::password,
    config::Config,
    domain::people::{NewUser, Role, validate_tenant_name},
    store,
};

#[derive(Debug, Parser)]
#[command(
    name = "truckroll",
    version,
    about = "Field-service backend: dispatch, offline sync, SLAs"
)]
pub struct Cli {
    /// TOML configuration file (settings may also come from TRUCKROLL_* variables).
    #[arg(long, global = true, env = "TRUCKROLL_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server (applies pending migrations first).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Check a tenant's audit hash chain.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant and its first admin user.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        admin_email: String,
        #[arg(long, env = "TRUCKROLL_ADMIN_PASSWORD")]
        admin_password: String,
        #[arg(long, default_value = "Administrator")]
        admin_name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the chain; exits non-zero when it is broken.
    Verify {
        #[arg(long)]
        tenant: String,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    init_tracing(config.log_json);
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            store::connect(&config.database_url, config.database_max_connections)
                .await?
                .migrate()
                .await?;
            println!(
                "migrations applied to {}",
                config::redact_url(&config.database_url)
            );
            Ok(())
        }
        Command::Tenant {
            command:
                TenantCommand::Create {
                    name,
                    admin_email,
                    admin_password,
                    admin_name,
                },
        } => {
            validate_tenant_name(&name)?;
            let admin = NewUser {
                email: admin_email,
                name: admin_name,
                role: Role::Admin,
                password: admin_password,
            };
            admin.validate()?;
            let store =
                store::connect(&config.database_url, config.database_max_connections).await?;
            store.migrate().await?;
            let hash = password::hash(admin.password.clone()).await?;
            let (tenant, user) = store.create_tenant(&name, &admin, &hash).await?;
            println!(
                "tenant `{}` created ({}); admin {} ({})",
                tenant.name, tenant.id, user.email, user.id
            );
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::Verify { tenant },
        } => {
            let store =
                store::connect(&config.database_url, config.database_max_connections).await?;
            let found = store
                .tenant_by_name(&tenant)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no tenant `{tenant}`"))?;
            let report = store.verify_audit(found.id).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            anyhow::ensure!(report.valid, "audit chain of `{tenant}` is broken");
            Ok(())
        }
    }
}

use crate::config;

async fn serve(config: Config) -> anyhow::Result<()> {
    let store = store::connect(&config.database_url, config.database_max_connections).await?;
    store.migrate().await?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let address = listener.local_addr()?;
    tracing::info!(%address, database = %config::redact_url(&config.database_url), "truckroll listening");
    println!("Truckroll listening on http://{address}");
    if config.is_sqlite() {
        println!(
            "Embedded database: {}\nNo tenant yet? Create one:\n  truckroll tenant create --name acme --admin-email admin@acme.test --admin-password 'change-me-please'",
            config.database_url
        );
    }
    crate::launch_with_listener(config, store, listener, shutdown_signal()).await?;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

fn init_tracing(json: bool) {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let result = if json {
        fmt().json().with_env_filter(filter).try_init()
    } else {
        fmt().with_env_filter(filter).try_init()
    };
    // Already initialised (tests): keep the existing subscriber.
    drop(result);
}
