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
    /// Write one tenant's data (JSON Lines per table) and media files into
    /// a directory; run again with the same `--out` to resume.
    Export {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// The archive directory (new, or an unfinished export to resume).
        #[arg(long)]
        out: PathBuf,
        /// Rows between two checkpoints of the archive.
        #[arg(long, default_value_t = 1000, hide = true)]
        checkpoint_rows: u64,
        /// Stop after this many rows, as an interrupted run would (tests).
        #[arg(long, hide = true)]
        stop_after_rows: Option<u64>,
    },
    /// Back up the embedded database (SQLite online backup) and the blob
    /// directory into a new directory, while the server runs.
    Backup {
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a `truckroll backup` into the configured database file and
    /// blob directory (both must be new).
    Restore {
        #[arg(long)]
        from: PathBuf,
    },
    /// Serve with a seeded demo city whose technicians move, take offers and
    /// finish jobs; prints the URL and the sign-in details.
    Demo {
        /// Technicians to seed.
        #[arg(long, default_value_t = 300)]
        technicians: usize,
        /// Customer sites to seed.
        #[arg(long, default_value_t = 80)]
        sites: usize,
        /// Name of the demo tenant (reused when it exists).
        #[arg(long, default_value = "demo")]
        tenant: String,
        /// Simulated seconds per real second.
        #[arg(long, default_value_t = 10.0)]
        speed: f64,
        /// Mean simulated seconds between new tickets.
        #[arg(long, default_value_t = 60.0)]
        ticket_every_secs: f64,
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
    /// Recompute the chain and check its seals and anchor (with
    /// `[governance] audit_key`); exits non-zero when anything is broken.
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
        Command::Demo {
            technicians,
            sites,
            tenant,
            speed,
            ticket_every_secs,
        } => {
            anyhow::ensure!(
                speed.is_finite()
                    && speed > 0.0
                    && ticket_every_secs.is_finite()
                    && ticket_every_secs > 0.0,
                "--speed and --ticket-every-secs must be positive numbers"
            );
            let options = crate::demo::DemoOptions {
                tenant,
                technicians,
                sites,
                ..crate::demo::DemoOptions::default()
            };
            demo(config, options, speed, ticket_every_secs).await
        }
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
            let blobs =
                crate::blob::open(&config.media, &config.data_dir, &config.auth.token_secret)?;
            let governance = &config.governance;
            let report = crate::governance::audit_key::verify_tenant(
                store.as_ref(),
                blobs.as_ref(),
                &governance.keyring()?,
                std::time::Duration::from_secs(governance.audit_seal_window_secs),
                found.id,
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            anyhow::ensure!(report.valid, "audit log of `{tenant}` is broken");
            Ok(())
        }
        Command::Export {
            tenant,
            out,
            checkpoint_rows,
            stop_after_rows,
        } => {
            use crate::governance::export::{ExportOptions, ExportedTenant, export_tenant};
            let store =
                store::connect(&config.database_url, config.database_max_connections).await?;
            let found = store
                .tenant_by_name(&tenant)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no tenant `{tenant}`"))?;
            let source = store::export::ExportSource::connect(&config.database_url).await?;
            let blobs =
                crate::blob::open(&config.media, &config.data_dir, &config.auth.token_secret)?;
            let options = ExportOptions {
                checkpoint_rows,
                stop_after_rows,
            };
            let exported = ExportedTenant {
                id: found.id,
                name: found.name,
            };
            let manifest = export_tenant(&source, blobs.as_ref(), &exported, &out, options).await?;
            let rows: u64 = manifest.tables.iter().map(|t| t.rows).sum();
            println!(
                "exported tenant `{tenant}` to {}: {} tables, {rows} rows, {} media files",
                out.display(),
                manifest.tables.len(),
                manifest.media
            );
            Ok(())
        }
        Command::Backup { out } => {
            let blob_dir = embedded_blob_dir(&config)?;
            let manifest =
                crate::governance::backup::backup(&config.database_url, &blob_dir, &out).await?;
            println!(
                "backed up {} ({} bytes) and {} objects ({} bytes) to {}",
                config::redact_url(&config.database_url),
                manifest.database_bytes,
                manifest.blobs,
                manifest.blob_bytes,
                out.display()
            );
            Ok(())
        }
        Command::Restore { from } => {
            let blob_dir = embedded_blob_dir(&config)?;
            let manifest =
                crate::governance::backup::restore(&from, &config.database_url, &blob_dir).await?;
            println!(
                "restored the backup of {} into {} and {} ({} objects)",
                manifest.created_at,
                config::redact_url(&config.database_url),
                blob_dir.display(),
                manifest.blobs
            );
            Ok(())
        }
    }
}

use crate::config;

/// The `fs` blob directory of the embedded default; backup and restore
/// cover only it (PostgreSQL and S3 have their own tools: README).
fn embedded_blob_dir(config: &Config) -> anyhow::Result<PathBuf> {
    anyhow::ensure!(
        config.is_sqlite() && config.media.backend == crate::blob::BlobBackend::Fs,
        "`truckroll backup` and `restore` cover the embedded default (SQLite and the fs blob \
         directory); for PostgreSQL and S3 use pg_dump or pg_basebackup and the bucket's own \
         copy (README, Backup and restore)"
    );
    Ok(crate::blob::fs_directory(&config.media, &config.data_dir))
}

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
    crate::http::launch_with_listener(config, store, listener, shutdown_signal()).await?;
    tracing::info!("shut down cleanly");
    Ok(())
}

async fn demo(
    config: Config,
    options: crate::demo::DemoOptions,
    speed: f64,
    ticket_every_secs: f64,
) -> anyhow::Result<()> {
    use crate::demo::{
        DEMO_PASSWORD, seed,
        sim::{SimOptions, Simulation},
    };
    let store = store::connect(&config.database_url, config.database_max_connections).await?;
    store.migrate().await?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let address = listener.local_addr()?;
    let state = crate::app::build_state(config, store).await?;
    let mut server = tokio::spawn(crate::http::launch_with_state(
        state.clone(),
        listener,
        shutdown_signal(),
    ));
    let base = format!("http://{address}");
    println!(
        "Seeding the demo city ({} technicians)…",
        options.technicians
    );
    let (world, client) = seed(state.store.as_ref(), state.tokens.clone(), &base, &options).await?;
    println!(
        "Truckroll demo running on {base}/\n  Open {base}/dispatch and sign in:\n    company:    {}\n    dispatcher: {}\n    manager:    {}\n    password:   {DEMO_PASSWORD}\n  Ctrl-C stops it.",
        world.tenant, world.dispatcher_email, world.manager_email
    );
    let sim_options = SimOptions {
        ticket_every: chrono::Duration::milliseconds((ticket_every_secs * 1000.0) as i64),
        ..SimOptions::default()
    };
    let step = std::time::Duration::from_secs(1);
    let sim_step = chrono::Duration::milliseconds((speed * 1000.0) as i64);
    let mut sim_now = chrono::Utc::now();
    let mut simulation = Simulation::new(client, world, sim_options, options.seed, sim_now);
    let mut ticks = tokio::time::interval(step);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            ended = &mut server => {
                ended??;
                return Ok(());
            }
        }
        sim_now += sim_step;
        match simulation.step(sim_now, sim_step).await {
            Ok(totals) => tracing::debug!(?totals, "demo step"),
            Err(error) => tracing::warn!(%error, "demo step failed"),
        }
    }
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
