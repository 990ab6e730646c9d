//! The SDK as a command-line phone (`truckroll-sdk` binary), for the README
//! walk-through and for tests that kill a real process.
//!
//! ```text
//! truckroll-sdk --db phone.db --server http://127.0.0.1:8080 sign-in --tenant acme --email t@acme.test --password …
//! truckroll-sdk --db phone.db --server … sync
//! truckroll-sdk --db phone.db --server … note <ticket> "replaced the pump"
//! truckroll-sdk --db phone.db --server … status <ticket> accept
//! truckroll-sdk --db phone.db --server … photo <ticket> pump.jpg
//! truckroll-sdk --db phone.db --server … signature <ticket> --signer "Ada Lovelace" --strokes @sig.json
//! truckroll-sdk --db phone.db --server … upload
//! truckroll-sdk --db phone.db --server … offers
//! truckroll-sdk --db phone.db --server … offer-accept <offer>
//! truckroll-sdk --db phone.db --server … ping --lat 52.52 --lon 13.40 --accuracy-m 8
//! truckroll-sdk --db phone.db --server … comment <ticket> "parts ordered"
//! truckroll-sdk --db phone.db --server … availability on_break
//! truckroll-sdk --db phone.db --server … send
//! truckroll-sdk --db phone.db packet <ticket>
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use async_trait::async_trait;
use clap::{Parser, Subcommand};
use truckroll_sync::protocol::Exchange;
use truckroll_sync::{HoldReason, Position, StatusAction};

use std::time::Duration;

use crate::{
    Backoff, BaseUrl, Client, ClientConfig, Edit, HttpTransport, MediaEntry, SdkError, SdkResult,
    SignatureCapture, Transport, UploadOptions,
};

#[derive(Debug, Parser)]
#[command(
    name = "truckroll-sdk",
    about = "A technician's phone on the command line"
)]
struct Cli {
    /// The local database (one per installation).
    #[arg(long, env = "TRUCKROLL_SDK_DB")]
    db: PathBuf,
    /// The Truckroll server.
    #[arg(
        long,
        env = "TRUCKROLL_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    server: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Signs in and registers this installation as a device.
    SignIn {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long, env = "TRUCKROLL_PASSWORD")]
        password: String,
        /// The push provider's token, registered with the device.
        #[arg(long)]
        push_token: Option<String>,
    },
    /// Syncs with the server now (prints the report as JSON).
    Sync {
        /// Test hook: after the first exchange reached the server, print
        /// `exchanged` and stall before applying the answer.
        #[arg(long, hide = true)]
        stall_after_exchange: bool,
    },
    /// The tickets on this device (JSON).
    Tickets,
    /// One ticket as this device holds it (JSON).
    Show { ticket: String },
    /// Appends a line to the work notes.
    Note { ticket: String, text: String },
    /// Appends `count` numbered note lines, printing `ack N` after each is
    /// stored (for crash tests).
    NoteLoop {
        ticket: String,
        #[arg(long)]
        count: u32,
        #[arg(long, default_value = "line")]
        prefix: String,
    },
    /// Records a status action: accept, start_travel, check_in, hold, resume,
    /// complete_work, rework, decline, close.
    Status {
        ticket: String,
        action: StatusAction,
        #[arg(long, requires = "lon")]
        lat: Option<f64>,
        #[arg(long, requires = "lat")]
        lon: Option<f64>,
        #[arg(long)]
        accuracy_m: Option<f64>,
        /// For hold: waiting_customer or waiting_parts.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Adds a part.
    Part {
        ticket: String,
        part_number: String,
        #[arg(long, default_value_t = 1.0)]
        quantity: f64,
        #[arg(long)]
        serial: Option<String>,
    },
    /// Any edit, as JSON (see `truckroll_sdk::Edit`).
    Edit { ticket: String, json: String },
    /// Local edits (JSON), optionally only `pending` ones.
    Outbox {
        #[arg(long)]
        state: Option<String>,
    },
    /// Refused local versions (JSON).
    Quarantine,
    /// Writes a quarantined version's Automerge bytes to a file.
    ExportQuarantined { id: i64, file: PathBuf },
    /// Attaches a photo (works offline: queued until `upload`). Prints the
    /// reference id, SHA-256 and queue row as JSON.
    Photo {
        ticket: String,
        file: PathBuf,
        /// image/jpeg, image/png, image/heic or image/webp (default: told
        /// from the bytes).
        #[arg(long)]
        content_type: Option<String>,
        /// Test hook: after queueing, print `queued` and stall.
        #[arg(long, hide = true)]
        then_stall: bool,
    },
    /// Captures the customer's signature (works offline: queued until
    /// `upload`).
    Signature {
        ticket: String,
        /// Who signed.
        #[arg(long)]
        signer: String,
        /// The canvas and strokes as JSON, or `@file`:
        /// {"width":300,"height":100,"strokes":[[{"x":10,"y":80},{"x":60,"y":20}]]}
        #[arg(long)]
        strokes: String,
        #[arg(long, requires = "lon")]
        lat: Option<f64>,
        #[arg(long, requires = "lat")]
        lon: Option<f64>,
    },
    /// The media outbox (JSON), optionally only rows still to upload.
    Media {
        #[arg(long)]
        open: bool,
    },
    /// Uploads queued photos and signatures (sync, begin, PUT to storage,
    /// complete, sync), retrying with exponential backoff and jitter.
    /// Prints each step reached and the report as JSON.
    Upload {
        /// Attempts per step before giving up for this run.
        #[arg(long, default_value_t = 6)]
        attempts: u32,
        /// First backoff pause in milliseconds (doubles, capped at a minute, jittered).
        #[arg(long, default_value_t = 500)]
        initial_backoff_ms: u64,
        /// Test hook: stall once a row reaches this step (begun, uploaded, done).
        #[arg(long, hide = true)]
        stall_after: Option<String>,
    },
    /// Open offers (JSON): from the server, or the phone's copy offline.
    Offers,
    /// Accepts an offer; offline the answer is queued (`"outcome": "queued"`)
    /// and sent by `send`. Prints the outcome as JSON.
    OfferAccept { offer: String },
    /// Declines an offer with a reason (works offline like `offer-accept`).
    OfferDecline {
        offer: String,
        #[arg(long)]
        reason: String,
    },
    /// Every answer given on this phone, with its outcome (JSON).
    OfferAnswers,
    /// Hands the phone a position; kept if one is due (prints the decision).
    Ping {
        #[arg(long, allow_hyphen_values = true)]
        lat: f64,
        #[arg(long, allow_hyphen_values = true)]
        lon: f64,
        #[arg(long, default_value_t = 10.0)]
        accuracy_m: f64,
        #[arg(long)]
        speed_mps: Option<f64>,
        #[arg(long)]
        heading_deg: Option<f64>,
        /// Device time of the fix (RFC 3339; default now).
        #[arg(long)]
        at: Option<String>,
    },
    /// Pings not yet on the server (JSON).
    Pings,
    /// Sets how often a position is kept, in seconds.
    LocationInterval { seconds: u64 },
    /// Sets or rotates the push token (`--clear` removes it).
    PushToken {
        token: Option<String>,
        #[arg(long, conflicts_with = "token")]
        clear: bool,
    },
    /// Signs out (clears the push token on the server when reachable).
    SignOut,
    /// A ticket's comments (JSON; the phone's copy offline).
    Comments { ticket: String },
    /// Writes a comment (works offline; sent once by `send`).
    Comment {
        ticket: String,
        text: String,
        /// Visible to the customer (default: staff only).
        #[arg(long)]
        public: bool,
    },
    /// Sets availability: available, on_break or off_duty (no argument:
    /// prints it).
    Availability { status: Option<String> },
    /// Sends what waits: offer answers, availability, push token, comments,
    /// location pings (prints the report as JSON).
    Send,
    /// The job packet of a ticket (address, contact, asset, instructions,
    /// office comments), from the local store: works offline.
    Packet {
        ticket: String,
        /// Print the stored packet as JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Stalls (for a test to kill the process) after the first exchange.
#[derive(Debug)]
struct StallAfterExchange(HttpTransport);

#[async_trait]
impl Transport for StallAfterExchange {
    async fn exchange(&self, token: &str, request: &Exchange) -> SdkResult<Exchange> {
        let answer = self.0.exchange(token, request).await?;
        println!("exchanged");
        let _ = std::io::stdout().flush();
        std::future::pending::<()>().await;
        Ok(answer)
    }
}

fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("cannot print: {e}"),
    }
}

async fn run(cli: Cli) -> SdkResult<()> {
    let mut config = ClientConfig::new(&cli.server);
    if let Command::Sync {
        stall_after_exchange: true,
    } = &cli.command
    {
        let http = HttpTransport::new(BaseUrl::new(&cli.server))?;
        config.transport = Some(Arc::new(StallAfterExchange(http)));
    }
    let client = Client::open(&cli.db, config).await?;
    match cli.command {
        Command::SignIn {
            tenant,
            email,
            password,
            push_token,
        } => {
            if let Some(token) = push_token {
                client.set_push_token(Some(&token)).await?;
            }
            let session = client.sign_in(&tenant, &email, &password).await?;
            println!("signed in; device {}", session.device_id);
        }
        Command::Offers => print_json(&client.offers().await?),
        Command::OfferAccept { offer } => print_json(&client.accept_offer(&offer).await?),
        Command::OfferDecline { offer, reason } => {
            print_json(&client.decline_offer(&offer, &reason).await?);
        }
        Command::OfferAnswers => print_json(&client.offer_answers().await?),
        Command::Ping {
            lat,
            lon,
            accuracy_m,
            speed_mps,
            heading_deg,
            at,
        } => {
            let device_time_ms = match at {
                Some(at) => Some(
                    chrono::DateTime::parse_from_rfc3339(&at)
                        .map_err(|e| SdkError::Invalid(format!("--at: {e}")))?
                        .timestamp_millis(),
                ),
                None => None,
            };
            let fix = crate::LocationFix {
                lat,
                lon,
                accuracy_m,
                speed_mps,
                heading_deg,
                device_time_ms,
            };
            print_json(&client.record_location(fix).await?);
        }
        Command::Pings => print_json(&client.pending_pings().await?),
        Command::LocationInterval { seconds } => {
            client
                .set_location_interval(Duration::from_secs(seconds))
                .await?;
        }
        Command::PushToken { token, clear } => {
            let token = if clear { None } else { token };
            if token.is_none() && !clear {
                print_json(&client.push_token().await?);
            } else {
                print_json(&client.set_push_token(token.as_deref()).await?);
            }
        }
        Command::SignOut => print_json(&client.sign_out().await?),
        Command::Comments { ticket } => print_json(&client.comments(&ticket).await?),
        Command::Comment {
            ticket,
            text,
            public,
        } => {
            let visibility = if public {
                crate::CommentVisibility::Public
            } else {
                crate::CommentVisibility::Internal
            };
            print_json(&client.add_comment(&ticket, &text, visibility).await?);
        }
        Command::Availability { status } => match status.as_deref() {
            None => print_json(&client.availability().await?),
            Some(text) => {
                let status = match text {
                    "available" => crate::Availability::Available,
                    "on_break" => crate::Availability::OnBreak,
                    "off_duty" => crate::Availability::OffDuty,
                    other => {
                        return Err(SdkError::Invalid(format!(
                            "`{other}`: availability is available, on_break or off_duty"
                        )));
                    }
                };
                print_json(&client.set_availability(status).await?);
            }
        },
        Command::Send => print_json(&client.flush_outboxes().await?),
        Command::Sync { .. } => print_json(&client.sync_now().await?),
        Command::Tickets => print_json(&client.tickets().await?),
        Command::Show { ticket } => print_json(&client.ticket(&ticket).await?),
        Command::Note { ticket, text } => {
            client
                .edit(&ticket, Edit::NotesAppend { text: text + "\n" })
                .await?;
        }
        Command::NoteLoop {
            ticket,
            count,
            prefix,
        } => {
            for i in 0..count {
                let text = format!("{prefix} {i}\n");
                client.edit(&ticket, Edit::NotesAppend { text }).await?;
                println!("ack {i}");
                let _ = std::io::stdout().flush();
            }
        }
        Command::Status {
            ticket,
            action,
            lat,
            lon,
            accuracy_m,
            reason,
        } => {
            let position = lat.zip(lon).map(|(lat, lon)| Position {
                lat,
                lon,
                accuracy_m,
            });
            if action == StatusAction::Hold
                && reason
                    .as_deref()
                    .is_none_or(|r| r.parse::<HoldReason>().is_err())
            {
                return Err(SdkError::Api {
                    status: 400,
                    detail: "hold needs --reason waiting_customer or waiting_parts".into(),
                });
            }
            let id = client
                .edit(
                    &ticket,
                    Edit::Status {
                        action,
                        position,
                        reason,
                    },
                )
                .await?;
            println!("{}", id.unwrap_or_default());
        }
        Command::Part {
            ticket,
            part_number,
            quantity,
            serial,
        } => {
            let id = client
                .edit(
                    &ticket,
                    Edit::AddPart {
                        part_number,
                        quantity,
                        serial,
                    },
                )
                .await?;
            println!("{}", id.unwrap_or_default());
        }
        Command::Edit { ticket, json } => {
            let edit: Edit = serde_json::from_str(&json).map_err(|e| SdkError::Api {
                status: 400,
                detail: format!("not an edit: {e}"),
            })?;
            let id = client.edit(&ticket, edit).await?;
            println!("{}", id.unwrap_or_default());
        }
        Command::Outbox { state } => print_json(&client.outbox(state.as_deref()).await?),
        Command::Quarantine => print_json(&client.quarantine().await?),
        Command::Photo {
            ticket,
            file,
            content_type,
            then_stall,
        } => {
            let bytes = std::fs::read(&file).map_err(|e| {
                SdkError::InvalidMedia(format!("cannot read {}: {e}", file.display()))
            })?;
            let content_type = match content_type {
                Some(c) => c,
                None => crate::media::sniffed_type(&bytes)
                    .ok_or_else(|| {
                        SdkError::InvalidMedia(
                            "not a JPEG, PNG, HEIC or WebP image; give --content-type".into(),
                        )
                    })?
                    .to_owned(),
            };
            let captured = client.attach_photo(&ticket, bytes, &content_type).await?;
            print_json(&captured);
            if then_stall {
                println!("queued");
                let _ = std::io::stdout().flush();
                std::future::pending::<()>().await;
            }
        }
        Command::Signature {
            ticket,
            signer,
            strokes,
            lat,
            lon,
        } => {
            let text = match strokes.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path)
                    .map_err(|e| SdkError::InvalidMedia(format!("cannot read {path}: {e}")))?,
                None => strokes,
            };
            let strokes = serde_json::from_str(&text)
                .map_err(|e| SdkError::InvalidMedia(format!("strokes: {e}")))?;
            let captured = client
                .capture_signature(
                    &ticket,
                    SignatureCapture {
                        signer_name: signer,
                        strokes,
                        position: lat.zip(lon),
                    },
                )
                .await?;
            print_json(&captured);
        }
        Command::Media { open } => print_json(&client.media_queue(open).await?),
        Command::Upload {
            attempts,
            initial_backoff_ms,
            stall_after,
        } => {
            let hook = move |row: &MediaEntry| {
                println!("{} {} {}", row.seq, row.kind, row.step);
                let _ = std::io::stdout().flush();
                stall_after.as_deref() == Some(row.step.as_str())
            };
            let options = UploadOptions {
                backoff: Backoff {
                    initial: Duration::from_millis(initial_backoff_ms),
                    max: Duration::from_secs(60),
                    attempts,
                },
                on_step: Some(&hook),
            };
            print_json(&client.upload_media_with(&options).await?);
        }
        Command::Packet { ticket, json } => match client.packet(&ticket).await? {
            Some(packet) if json => print_json(&packet),
            Some(packet) => print!("{}", crate::packet::render(&packet)),
            None => return Err(SdkError::NotReceived(ticket)),
        },
        Command::ExportQuarantined { id, file } => {
            let bytes = client.export_quarantined(id).await?;
            std::fs::write(&file, bytes).map_err(|e| SdkError::Transport(e.to_string()))?;
        }
    }
    Ok(())
}

/// Parses the command line and runs the command.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
