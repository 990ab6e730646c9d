//! A raw MIME message as intake needs it: who sent it, what it answers,
//! its text (HTML turned into text, every charset decoded), its files, and
//! whether it is machine mail that must never become a ticket.

use mail_parser::{HeaderValue, MessageParser, MimeHeaders};

use super::quote::strip_quoted;
use crate::domain::validation::printable;

/// A file carried by the message (attachment or inline image).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub name: Option<String>,
    /// As the message declared it; the media checks sniff the bytes.
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// What intake reads from one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingMail {
    /// Without angle brackets; `None` when the message has none.
    pub message_id: Option<String>,
    /// The sender's address, lowercased; empty when there is none.
    pub from: String,
    pub from_name: Option<String>,
    pub subject: String,
    /// The new text of the message: quoted history and signature removed.
    pub text: String,
    /// In-Reply-To then References, without angle brackets.
    pub references: Vec<String>,
    pub attachments: Vec<Attachment>,
    /// Why this is machine mail (auto-reply, bounce, bulk), if it is.
    pub automated: Option<String>,
    /// Control characters (NUL among them) were removed from its text:
    /// PostgreSQL cannot store NUL, and a customer's mail is kept rather
    /// than refused.
    pub cleaned: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a MIME message")]
pub struct Unparseable;

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(list) => list.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    }
}

pub(super) fn bare_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_owned()
}

/// Reads `raw`. Fails only when nothing in it looks like a message.
pub fn parse(raw: &[u8]) -> Result<IncomingMail, Unparseable> {
    let message = MessageParser::default().parse(raw).ok_or(Unparseable)?;
    if message.headers().is_empty() {
        return Err(Unparseable);
    }
    let from_addr = message.from().and_then(|a| a.first());
    let from = from_addr
        .and_then(|a| a.address())
        .map(|a| a.trim().to_lowercase())
        .unwrap_or_default();
    let from_name = from_addr
        .and_then(|a| a.name())
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    let subject = message.subject().unwrap_or_default().trim().to_owned();
    let body = message
        .body_text(0)
        .map(|t| t.into_owned())
        .unwrap_or_default();
    // The direct parent first, then the thread newest first.
    let mut candidates = ids(message.in_reply_to());
    candidates.extend(ids(message.references()).into_iter().rev());
    let mut references: Vec<String> = Vec::new();
    for id in candidates.iter().map(|r| bare_id(r)) {
        if !id.is_empty() && !references.contains(&id) {
            references.push(id);
        }
    }

    let mut attachments = Vec::new();
    for part in message.attachments() {
        // A forwarded message is not a file for the ticket.
        if part.is_message() || part.is_text() && part.attachment_name().is_none() {
            continue;
        }
        let content_type = part.content_type().map_or_else(
            || "application/octet-stream".to_owned(),
            |c| match c.subtype() {
                Some(sub) => format!("{}/{}", c.ctype(), sub).to_lowercase(),
                None => c.ctype().to_lowercase(),
            },
        );
        let bytes = part.contents().to_vec();
        if bytes.is_empty() {
            continue;
        }
        attachments.push(Attachment {
            name: part.attachment_name().map(str::to_owned),
            content_type,
            bytes,
        });
    }

    let automated = automated(&message, &from);
    let mut mail = IncomingMail {
        message_id: message.message_id().map(bare_id).filter(|m| !m.is_empty()),
        from,
        from_name,
        subject,
        text: strip_quoted(&body),
        references,
        attachments,
        automated,
        cleaned: false,
    };
    mail.clean();
    Ok(mail)
}

impl IncomingMail {
    /// Removes control characters from every text that is stored.
    fn clean(&mut self) {
        let mut cleaned = false;
        let mut fix = |text: &mut String| {
            let fixed = match printable(text) {
                std::borrow::Cow::Owned(fixed) => Some(fixed),
                std::borrow::Cow::Borrowed(_) => None,
            };
            if let Some(fixed) = fixed {
                *text = fixed;
                cleaned = true;
            }
        };
        fix(&mut self.from);
        fix(&mut self.subject);
        fix(&mut self.text);
        for text in self
            .message_id
            .iter_mut()
            .chain(self.from_name.iter_mut())
            .chain(self.automated.iter_mut())
            .chain(self.references.iter_mut())
        {
            fix(text);
        }
        for attachment in &mut self.attachments {
            fix(&mut attachment.content_type);
            if let Some(name) = &mut attachment.name {
                fix(name);
            }
        }
        self.cleaned = cleaned;
    }
}

/// RFC 3834 and the de-facto headers of auto-responders, bounces and bulk mail.
fn automated(message: &mail_parser::Message<'_>, from: &str) -> Option<String> {
    let header = |name: &str| {
        message
            .header_raw(name)
            .map(|v| v.trim().to_ascii_lowercase())
    };
    if let Some(value) = header("Auto-Submitted")
        && value != "no"
    {
        return Some(format!("Auto-Submitted: {value}"));
    }
    if let Some(value) = header("Precedence")
        && matches!(value.as_str(), "bulk" | "junk" | "list" | "auto_reply")
    {
        return Some(format!("Precedence: {value}"));
    }
    for name in ["X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress"] {
        if let Some(value) = header(name) {
            return Some(format!("{name}: {value}"));
        }
    }
    if header("List-Id").is_some() || header("List-Unsubscribe").is_some() {
        return Some("mailing list (List-Id/List-Unsubscribe)".into());
    }
    if let Some(value) = header("Return-Path")
        && value.replace(' ', "") == "<>"
    {
        return Some("empty Return-Path (a bounce)".into());
    }
    let local = from.split('@').next().unwrap_or_default();
    if matches!(local, "mailer-daemon" | "postmaster") {
        return Some(format!("sent by {local}"));
    }
    if message.is_content_type("multipart", "report") {
        return Some("delivery report".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(headers: &str, body: &str) -> Vec<u8> {
        format!("{headers}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}")
            .into_bytes()
    }

    #[test]
    fn reads_sender_subject_and_threading_headers() {
        let raw = mail(
            "From: Ann Lee <Ann@Example.com>\r\nSubject: Boiler broken\r\nMessage-ID: <a1@x>\r\nIn-Reply-To: <p@x>\r\nReferences: <r@x> <p@x>",
            "It leaks.\r\n",
        );
        let m = parse(&raw).expect("parses");
        assert_eq!(m.from, "ann@example.com");
        assert_eq!(m.from_name.as_deref(), Some("Ann Lee"));
        assert_eq!(m.subject, "Boiler broken");
        assert_eq!(m.message_id.as_deref(), Some("a1@x"));
        assert_eq!(m.references, vec!["p@x", "r@x"]);
        assert_eq!(m.automated, None);
    }

    #[test]
    fn machine_mail_is_recognised() {
        for (header, why) in [
            ("Auto-Submitted: auto-replied", "Auto-Submitted"),
            ("Precedence: bulk", "Precedence"),
            ("X-Autoreply: yes", "X-Autoreply"),
            ("Return-Path: <>", "Return-Path"),
            ("List-Id: <news.example.com>", "mailing list"),
        ] {
            let raw = mail(&format!("From: a@b.c\r\nSubject: x\r\n{header}"), "x");
            let m = parse(&raw).expect("parses");
            assert!(
                m.automated.as_deref().is_some_and(|a| a.contains(why)),
                "{header}: {:?}",
                m.automated
            );
        }
        let raw = mail(
            "From: MAILER-DAEMON@mx.example.com\r\nSubject: failure",
            "x",
        );
        assert!(parse(&raw).expect("parses").automated.is_some());
        let raw = mail("From: a@b.c\r\nAuto-Submitted: no\r\nSubject: x", "x");
        assert_eq!(parse(&raw).expect("parses").automated, None);
    }
}
