//! What the search index stores and how text is folded for it.
//!
//! Both database engines index the same folded text, so accent and case
//! folding and the splitting of Chinese, Japanese and Korean text behave the
//! same on PostgreSQL and SQLite: the text is lowercased, accents are
//! stripped (NFD without combining marks), every run of letters and digits
//! is a word, and a run of CJK characters, which has no spaces, becomes its
//! overlapping bigrams ("空调不制冷" → "空调 调不 不制 制冷"), so a two-
//! character word of it matches. A query is folded the same way and each of
//! its words matches as a prefix.

use serde::{Deserialize, Serialize};
use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};
use utoipa::ToSchema;

/// A kind of record the index holds. Knowledge-base articles join as one
/// more kind with their own writes keeping their entries current.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SearchKind {
    Ticket,
    Customer,
    Site,
    Asset,
    /// A knowledge-base article (issue 22).
    Article,
}

impl SearchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SearchKind::Ticket => "ticket",
            SearchKind::Customer => "customer",
            SearchKind::Site => "site",
            SearchKind::Asset => "asset",
            SearchKind::Article => "article",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::Ticket,
            Self::Customer,
            Self::Site,
            Self::Asset,
            Self::Article,
        ]
        .into_iter()
        .find(|k| k.as_str() == value)
    }
}

/// One record as the index holds it: what a hit shows (`title`,
/// `subtitle`, `ticket_number`) and the folded text it is found by, `head`
/// (weighted higher: number, title, serial) and `body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchEntry {
    pub kind: SearchKind,
    pub id: uuid::Uuid,
    pub title: String,
    pub subtitle: String,
    pub ticket_number: Option<String>,
    pub head: String,
    pub body: String,
}

/// A found record, best first.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SearchHit {
    pub kind: SearchKind,
    pub id: uuid::Uuid,
    pub title: String,
    pub subtitle: String,
    /// Tickets only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_number: Option<String>,
    /// Higher is better; comparable within one answer only.
    pub score: f64,
}

/// At most this many words of a query are used.
pub const MAX_QUERY_TERMS: usize = 12;

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF   // Hiragana, Katakana
        | 0x3400..=0x4DBF // CJK Extension A
        | 0x4E00..=0x9FFF // CJK Unified Ideographs
        | 0xAC00..=0xD7AF // Hangul syllables
        | 0xF900..=0xFAFF // CJK Compatibility Ideographs
        | 0x20000..=0x2FA1F)
}

/// The folded words of `text`, in order (CJK runs as bigrams).
pub fn words(text: &str) -> Vec<String> {
    let folded: String = text
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut cjk: Vec<char> = Vec::new();
    let flush_cjk = |cjk: &mut Vec<char>, words: &mut Vec<String>| {
        match cjk.len() {
            0 => {}
            1 => words.push(cjk[0].to_string()),
            _ => words.extend(cjk.windows(2).map(|pair| pair.iter().collect::<String>())),
        }
        cjk.clear();
    };
    for c in folded.chars() {
        if is_cjk(c) {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            cjk.push(c);
        } else if c.is_alphanumeric() {
            flush_cjk(&mut cjk, &mut words);
            word.push(c);
        } else {
            flush_cjk(&mut cjk, &mut words);
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
        }
    }
    flush_cjk(&mut cjk, &mut words);
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// `text` folded for the index: its words separated by spaces.
pub fn fold(text: &str) -> String {
    words(text).join(" ")
}

/// The words of a query, each to be matched as a prefix; duplicates dropped.
pub fn query_terms(query: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for word in words(query) {
        if !terms.contains(&word) {
            terms.push(word);
        }
        if terms.len() == MAX_QUERY_TERMS {
            break;
        }
    }
    terms
}

/// A ticket's number as words: `TR-000123` is found by `TR-000123`,
/// `000123` and `123`.
fn number_words(number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let trimmed = digits.trim_start_matches('0');
    format!("{number} {trimmed}")
}

/// What a ticket is found by, gathered from the ticket and the records it names.
#[derive(Debug, Clone, Default)]
pub struct TicketText<'a> {
    pub number: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub comments: Vec<String>,
    pub customer_name: &'a str,
    pub site_name: &'a str,
    pub site_address: &'a str,
    pub asset_serial: Option<&'a str>,
}

impl TicketText<'_> {
    pub fn entry(&self, id: uuid::Uuid) -> SearchEntry {
        let head = fold(&format!(
            "{} {} {}",
            number_words(self.number),
            self.title,
            self.asset_serial.unwrap_or_default()
        ));
        let mut body = fold(&format!(
            "{} {} {} {}",
            self.description, self.customer_name, self.site_name, self.site_address
        ));
        for comment in &self.comments {
            body.push(' ');
            body.push_str(&fold(comment));
        }
        SearchEntry {
            kind: SearchKind::Ticket,
            id,
            title: self.title.to_owned(),
            subtitle: format!("{} · {}", self.customer_name, self.site_name),
            ticket_number: Some(self.number.to_owned()),
            head,
            body,
        }
    }
}

/// A customer: found by name, email, phone and contact person.
pub fn customer_entry(
    id: uuid::Uuid,
    name: &str,
    email: Option<&str>,
    phone: Option<&str>,
    contact: Option<&str>,
) -> SearchEntry {
    SearchEntry {
        kind: SearchKind::Customer,
        id,
        title: name.to_owned(),
        subtitle: email.or(phone).unwrap_or_default().to_owned(),
        ticket_number: None,
        head: fold(name),
        body: fold(&format!(
            "{} {} {}",
            email.unwrap_or_default(),
            phone.unwrap_or_default(),
            contact.unwrap_or_default()
        )),
    }
}

/// A site: found by name and address (and its customer's name).
pub fn site_entry(id: uuid::Uuid, name: &str, address: &str, customer_name: &str) -> SearchEntry {
    SearchEntry {
        kind: SearchKind::Site,
        id,
        title: name.to_owned(),
        subtitle: address.to_owned(),
        ticket_number: None,
        head: fold(name),
        body: fold(&format!("{address} {customer_name}")),
    }
}

/// An asset: found by serial and model (and its site's name).
pub fn asset_entry(id: uuid::Uuid, serial: &str, model: &str, site_name: &str) -> SearchEntry {
    SearchEntry {
        kind: SearchKind::Asset,
        id,
        title: serial.to_owned(),
        subtitle: format!("{model} · {site_name}"),
        ticket_number: None,
        head: fold(serial),
        body: fold(&format!("{model} {site_name}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_and_accents() {
        assert_eq!(fold("Café CRÈME-brûlée"), "cafe creme brulee");
    }

    #[test]
    fn splits_cjk_into_bigrams() {
        assert_eq!(fold("空调不制冷"), "空调 调不 不制 制冷");
        assert_eq!(fold("A3空调"), "a3 空调");
        assert_eq!(query_terms("空调"), vec!["空调".to_owned()]);
    }

    #[test]
    fn numbers_are_found_without_leading_zeros() {
        let text = TicketText {
            number: "TR-000123",
            title: "Leak",
            ..Default::default()
        };
        let entry = text.entry(uuid::Uuid::nil());
        assert!(entry.head.split(' ').any(|w| w == "123"));
        assert!(entry.head.split(' ').any(|w| w == "000123"));
    }

    #[test]
    fn query_terms_are_unique_and_bounded() {
        assert_eq!(query_terms("pump PUMP Pümp"), vec!["pump".to_owned()]);
        let long = "a b c d e f g h i j k l m n o p";
        assert_eq!(query_terms(long).len(), MAX_QUERY_TERMS);
        assert!(query_terms(" -- ").is_empty());
    }
}
