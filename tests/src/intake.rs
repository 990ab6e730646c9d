//! Email intake fixtures: messages built by Python's `email` package
//! (`tests/fixtures/intake/make_mail.py`) as a mail client builds them, the
//! real IMAP server `scripts/test.sh` starts (dovecot; `TEST_IMAP_HOST`,
//! `TEST_IMAP_PORT`, `TEST_IMAP_PASSWORD`), and intake set up for a tenant.

use std::{io::Write, path::PathBuf, process::Stdio};

use base64::{Engine, engine::general_purpose::STANDARD};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::app::{TestApp, TestTenant};

pub const IMAP_HOST_VAR: &str = "TEST_IMAP_HOST";
pub const IMAP_PORT_VAR: &str = "TEST_IMAP_PORT";
pub const IMAP_PASSWORD_VAR: &str = "TEST_IMAP_PASSWORD";

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/intake/make_mail.py")
}

/// A message to build; see `make_mail.py` for the keys.
#[derive(Debug, Clone)]
pub struct Mail {
    spec: serde_json::Map<String, Value>,
}

impl Mail {
    pub fn new(from: &str, subject: &str) -> Self {
        let mut spec = serde_json::Map::new();
        spec.insert("from".into(), json!(from));
        spec.insert("subject".into(), json!(subject));
        spec.insert(
            "message_id".into(),
            json!(format!("{}@mail.example.test", Uuid::now_v7())),
        );
        Self { spec }
    }

    fn set(mut self, key: &str, value: Value) -> Self {
        self.spec.insert(key.into(), value);
        self
    }

    pub fn text(self, text: &str) -> Self {
        self.set("text", json!(text))
    }
    pub fn html(self, html: &str) -> Self {
        self.set("html", json!(html))
    }
    /// Charset of the text parts: utf-8 (default), gbk, gb2312, iso-8859-1.
    pub fn charset(self, charset: &str) -> Self {
        self.set("charset", json!(charset))
    }
    /// `base64` or `quoted-printable` for the text parts.
    pub fn transfer(self, transfer: &str) -> Self {
        self.set("transfer", json!(transfer))
    }
    pub fn message_id(self, id: &str) -> Self {
        self.set("message_id", json!(id))
    }
    pub fn in_reply_to(self, id: &str) -> Self {
        self.set("in_reply_to", json!(id))
            .set("references", json!([id]))
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let headers = self.spec.entry("headers").or_insert_with(|| json!({}));
        headers[name] = json!(value);
        self
    }
    pub fn attach(mut self, content_type: &str, filename: &str, bytes: &[u8]) -> Self {
        self.push_attachment(
            json!({"base64": STANDARD.encode(bytes), "content_type": content_type,
                                    "filename": filename}),
        );
        self
    }
    pub fn inline_image(mut self, content_type: &str, cid: &str, bytes: &[u8]) -> Self {
        self.push_attachment(
            json!({"base64": STANDARD.encode(bytes), "content_type": content_type,
                                    "filename": format!("{cid}.img"), "inline_cid": cid}),
        );
        self
    }
    fn push_attachment(&mut self, attachment: Value) {
        let list = self.spec.entry("attachments").or_insert_with(|| json!([]));
        if let Some(list) = list.as_array_mut() {
            list.push(attachment);
        }
    }

    pub fn id(&self) -> String {
        self.spec["message_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The raw message, as `make_mail.py` writes it.
    pub fn build(&self) -> Vec<u8> {
        let mut child = std::process::Command::new("python3")
            .arg(script())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs (scripts/test.sh checks it is installed)");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(Value::Object(self.spec.clone()).to_string().as_bytes())
            .expect("spec written");
        let out = child.wait_with_output().expect("make_mail.py finishes");
        assert!(
            out.status.success(),
            "make_mail.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

/// Sets intake up for `tenant` (fallback site `site`, category `repair`,
/// slug `{tenant}-desk`, our address `help@acme.test`), changed by
/// `extra`; returns the settings.
pub async fn set_up(app: &TestApp, tenant: &TestTenant, site: Uuid, extra: Value) -> Value {
    let mut body = json!({
        "slug": format!("{}-desk", tenant.name),
        "category": "repair",
        "priority": "P3",
        "site_id": site,
        "own_addresses": ["help@acme.test"],
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            body.insert(k.clone(), v.clone());
        }
    }
    app.send(
        reqwest::Method::PUT,
        "/v1/intake/settings",
        Some(&tenant.admin_token),
        Some(&body),
    )
    .await
    .expect(StatusCode::OK)
}

/// A new intake token for `tenant`.
pub async fn intake_token(app: &TestApp, tenant: &TestTenant) -> String {
    let body = app
        .send(
            reqwest::Method::POST,
            "/v1/intake/token",
            Some(&tenant.admin_token),
            None,
        )
        .await
        .expect(StatusCode::CREATED);
    body["token"].as_str().expect("token").to_owned()
}

/// Posts a raw message to `POST /v1/intake/email` with `token`.
pub async fn post_mail(app: &TestApp, token: &str, raw: Vec<u8>) -> (StatusCode, Value) {
    let response = app
        .client
        .post(format!("{}/v1/intake/email", app.base_url))
        .bearer_auth(token)
        .header("content-type", "message/rfc822")
        .body(raw)
        .send()
        .await
        .expect("request reaches the server");
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// The IMAP server of the test run.
#[derive(Debug, Clone)]
pub struct ImapServer {
    pub host: String,
    pub port: u16,
    pub password: String,
}

impl ImapServer {
    pub fn from_env() -> Self {
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!(
                    "{name} is not set: run the tests through scripts/test.sh, which starts dovecot \
                     (apt-get install dovecot-imapd), or point TEST_IMAP_HOST/TEST_IMAP_PORT/TEST_IMAP_PASSWORD at an IMAP server"
                )
            })
        };
        Self {
            host: var(IMAP_HOST_VAR),
            port: var(IMAP_PORT_VAR)
                .parse()
                .expect("TEST_IMAP_PORT is a port"),
            password: var(IMAP_PASSWORD_VAR),
        }
    }

    async fn session(&self, user: &str) -> async_imap::Session<tokio::net::TcpStream> {
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .expect("IMAP server reachable");
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.expect("greeting");
        client
            .login(user, &self.password)
            .await
            .map_err(|(e, _)| e)
            .expect("IMAP login")
    }

    /// Delivers `raw` into `user`'s INBOX (IMAP APPEND), unseen.
    pub async fn append(&self, user: &str, raw: &[u8]) {
        let mut session = self.session(user).await;
        session
            .append("INBOX", None, None, raw)
            .await
            .expect("APPEND");
        session.logout().await.ok();
    }

    /// UIDs of `user`'s unseen messages.
    pub async fn unseen(&self, user: &str) -> Vec<u32> {
        let mut session = self.session(user).await;
        session.select("INBOX").await.expect("SELECT");
        let mut uids: Vec<u32> = session
            .uid_search("UNSEEN")
            .await
            .expect("SEARCH")
            .into_iter()
            .collect();
        uids.sort_unstable();
        session.logout().await.ok();
        uids
    }
}
