//! Reading the tenants' IMAP mailboxes: one watcher per enabled mailbox
//! (on the replica holding the `intake_imap` lease) logs in, takes every
//! unseen message in, marks it `\Seen` once intake has recorded it, and
//! then waits with IDLE where the server offers it (otherwise it sleeps)
//! until the next poll. A message that failed stays unseen and is tried
//! again on the next poll; the intake record keeps a redelivery from
//! making a second ticket.

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_imap::{Session, extensions::idle::IdleResponse};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
    sync::watch,
    task::JoinHandle,
};
use tokio_rustls::{TlsConnector, rustls};
use uuid::Uuid;

use super::{Intake, IntakeError};
use crate::store::{intake::Channel, intake::Mailbox};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A connection to an IMAP server, plain or TLS.
pub trait ImapIo: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> ImapIo for T {}

type ImapSession = Session<Box<dyn ImapIo>>;

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, String),
    #[error("login refused: {0}")]
    Login(String),
    #[error("IMAP: {0}")]
    Protocol(#[from] async_imap::error::Error),
    #[error(transparent)]
    Seal(#[from] super::SealError),
    #[error("intake: {0}")]
    Intake(#[from] IntakeError),
}

/// What one pass over a mailbox did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Unseen messages found.
    pub found: usize,
    /// Taken in (a ticket, a comment, dropped, or a duplicate) and marked seen.
    pub taken: usize,
}

fn tls_connector() -> Result<TlsConnector, ImapError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ImapError::Connect("TLS".into(), e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Connects and logs in.
async fn open(intake: &Intake, mailbox: &Mailbox) -> Result<ImapSession, ImapError> {
    let address = format!("{}:{}", mailbox.host, mailbox.port);
    let connect_error = |e: String| ImapError::Connect(address.clone(), e);
    // Resolved here and checked against `[egress]`, then connected to the
    // checked addresses: a name that now resolves inward reaches nothing.
    let resolved: Vec<std::net::SocketAddr> = tokio::net::lookup_host(&address)
        .await
        .map_err(|e| connect_error(e.to_string()))?
        .collect();
    let permitted: Vec<std::net::SocketAddr> = resolved
        .iter()
        .copied()
        .filter(|candidate| intake.egress.permits(candidate.ip()))
        .collect();
    if permitted.is_empty() {
        return Err(connect_error(match resolved.first() {
            Some(refused) => crate::egress::EgressError::Internal(refused.ip()).to_string(),
            None => "the host does not resolve".into(),
        }));
    }
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&permitted[..]))
        .await
        .map_err(|_| connect_error("timed out".into()))?
        .map_err(|e| connect_error(e.to_string()))?;
    let io: Box<dyn ImapIo> = if mailbox.tls {
        let name = rustls::pki_types::ServerName::try_from(mailbox.host.clone())
            .map_err(|e| connect_error(e.to_string()))?;
        let tls = tls_connector()?
            .connect(name, tcp)
            .await
            .map_err(|e| connect_error(e.to_string()))?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let mut client = async_imap::Client::new(io);
    client
        .read_response()
        .await
        .map_err(|e| connect_error(e.to_string()))?
        .ok_or_else(|| connect_error("closed before the greeting".into()))?;
    let password = intake.sealer.open(
        mailbox.tenant_id,
        &mailbox.username,
        &mailbox.password_sealed,
    )?;
    let mut session = client
        .login(&mailbox.username, &password)
        .await
        .map_err(|(e, _)| ImapError::Login(e.to_string()))?;
    session.select(&mailbox.folder).await?;
    Ok(session)
}

/// Takes in every unseen message of the selected folder.
async fn take_unseen(
    intake: &Intake,
    mailbox: &Mailbox,
    session: &mut ImapSession,
) -> Result<PollReport, ImapError> {
    let mut uids: Vec<u32> = session.uid_search("UNSEEN").await?.into_iter().collect();
    uids.sort_unstable();
    let mut report = PollReport {
        found: uids.len(),
        taken: 0,
    };
    for uid in uids {
        // PEEK: the message stays unseen until intake has recorded it.
        let fetched: Vec<_> = session
            .uid_fetch(uid.to_string(), "BODY.PEEK[]")
            .await?
            .try_collect()
            .await?;
        let Some(raw) = fetched.iter().find_map(|f| f.body().map(<[u8]>::to_vec)) else {
            continue;
        };
        let outcome = intake
            .receive_email(mailbox.tenant_id, Channel::Imap, Some(mailbox.id), &raw)
            .await;
        match outcome {
            Ok(_) | Err(IntakeError::TooLarge(_)) => {
                let _: Vec<_> = session
                    .uid_store(uid.to_string(), "+FLAGS (\\Seen)")
                    .await?
                    .try_collect()
                    .await?;
                report.taken += 1;
            }
            // Nothing can be taken in until an admin sets intake up: say so
            // on the mailbox (`last_error`) instead of retrying each message.
            Err(error @ IntakeError::NotConfigured) => return Err(error.into()),
            Err(error) => {
                tracing::warn!(mailbox = %mailbox.id, uid, %error, "message left unseen for the next poll");
            }
        }
    }
    Ok(report)
}

/// One pass over `mailbox` on a connection of its own (the admin's "poll now").
pub async fn poll_once(intake: &Intake, mailbox: &Mailbox) -> Result<PollReport, ImapError> {
    let result = async {
        let mut session = open(intake, mailbox).await?;
        let report = take_unseen(intake, mailbox, &mut session).await?;
        let _ = session.logout().await;
        Ok(report)
    }
    .await;
    record(intake, mailbox, result.as_ref().err()).await;
    result
}

async fn record(intake: &Intake, mailbox: &Mailbox, error: Option<&ImapError>) {
    let message = error.map(ToString::to_string);
    if let Err(e) = intake
        .dispatch
        .store
        .mailbox_polled(
            mailbox.tenant_id,
            mailbox.id,
            Utc::now(),
            message.as_deref(),
        )
        .await
    {
        tracing::warn!(mailbox = %mailbox.id, error = %e, "could not record the poll");
    }
}

/// One connection's life: take the unseen messages, wait (IDLE or sleep),
/// again, until an error ends it.
async fn session_loop(intake: &Intake, mailbox: &Mailbox) -> Result<(), ImapError> {
    let every = Duration::from_secs(intake.config.poll_interval_secs);
    let mut session = open(intake, mailbox).await?;
    let idle = intake.config.use_idle && session.capabilities().await?.has_str("IDLE");
    loop {
        let report = take_unseen(intake, mailbox, &mut session).await?;
        if report.found > 0 {
            tracing::info!(mailbox = %mailbox.id, ?report, "mailbox polled");
        }
        record(intake, mailbox, None).await;
        if idle {
            let mut handle = session.idle();
            handle.init().await?;
            let answer = {
                let (wait, _stop) = handle.wait_with_timeout(every);
                wait.await
            };
            session = handle.done().await?;
            match answer? {
                IdleResponse::NewData(_)
                | IdleResponse::Timeout
                | IdleResponse::ManualInterrupt => {}
            }
        } else {
            tokio::time::sleep(every).await;
            session.noop().await?;
        }
    }
}

/// Watches one mailbox until aborted, reconnecting after errors.
async fn watch_mailbox(intake: Intake, mailbox: Mailbox) {
    let every = Duration::from_secs(intake.config.poll_interval_secs);
    loop {
        if let Err(error) = session_loop(&intake, &mailbox).await {
            tracing::warn!(mailbox = %mailbox.id, %error, "mailbox watcher failed; retrying");
            record(&intake, &mailbox, Some(&error)).await;
        }
        tokio::time::sleep(every).await;
    }
}

/// A task aborted when its handle is dropped.
#[derive(Debug)]
struct Watcher {
    version: DateTime<Utc>,
    task: JoinHandle<()>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Keeps one watcher per enabled mailbox while this replica leads
/// `intake_imap`; a changed mailbox gets a fresh watcher.
pub async fn run(intake: Intake, leading: watch::Receiver<bool>) {
    let every = Duration::from_secs(intake.config.poll_interval_secs.min(5));
    let mut watchers: HashMap<Uuid, Watcher> = HashMap::new();
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        if !*leading.borrow() {
            watchers.clear();
            continue;
        }
        let mailboxes = match intake.dispatch.store.enabled_mailboxes().await {
            Ok(mailboxes) => mailboxes,
            Err(error) => {
                tracing::warn!(%error, "cannot list mailboxes");
                continue;
            }
        };
        watchers.retain(|id, w| {
            mailboxes
                .iter()
                .any(|m| m.id == *id && m.updated_at == w.version)
        });
        for mailbox in mailboxes {
            if watchers.contains_key(&mailbox.id) {
                continue;
            }
            let version = mailbox.updated_at;
            let id = mailbox.id;
            let task = tokio::spawn(watch_mailbox(intake.clone(), mailbox));
            watchers.insert(id, Watcher { version, task });
        }
    }
}
