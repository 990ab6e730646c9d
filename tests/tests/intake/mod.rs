/// `POST /v1/intake/email`: new tickets, charsets, threading, loops, limits.
mod email;
/// The public web form: endpoints and the page in Chromium.
mod form;
/// IMAP mailboxes against a real dovecot.
mod imap;
