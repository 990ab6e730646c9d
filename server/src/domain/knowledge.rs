//! Knowledge-base articles: what an article is, what an edit may contain,
//! how it is found (its search entry), and the words a draft ticket is
//! matched by when articles are suggested for it.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::ValidationErrors;
use super::search::{SearchEntry, SearchKind, fold, words};
use super::validation::{check_optional_text, check_text};

/// Who may read an article: office and technicians only, or also the
/// public (the request form's suggestions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Internal,
    Public,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Internal => "internal",
            Visibility::Public => "public",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Internal, Self::Public]
            .into_iter()
            .find(|v| v.as_str() == value)
    }
}

/// The editable content of an article: what every version keeps.
// Not `deny_unknown_fields`: an article flattens this into its own fields,
// and the OpenAPI document would then forbid them (schemathesis ST108).
// The writes take their own types that refuse unknown fields
// (`http::knowledge::NewArticle`, `ArticleEdit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ArticleContent {
    pub title: String,
    /// Markdown; raw HTML in it is shown as text, never run.
    #[serde(default)]
    pub body: String,
    /// The article's own grouping (e.g. "Heating"); empty for none.
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Asset models (as written on the asset) the article applies to.
    #[serde(default)]
    pub asset_models: Vec<String>,
    /// Ticket categories the article applies to.
    #[serde(default)]
    pub ticket_categories: Vec<String>,
    pub visibility: Visibility,
}

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_BODY_CHARS: usize = 100_000;
pub const MAX_LIST_ITEMS: usize = 50;
pub const MAX_ITEM_CHARS: usize = 100;

fn check_list(errors: &mut ValidationErrors, field: &str, items: &[String]) {
    if items.len() > MAX_LIST_ITEMS {
        errors.add(field, format!("at most {MAX_LIST_ITEMS} entries"));
    }
    for (i, item) in items.iter().enumerate() {
        check_text(errors, &format!("{field}[{i}]"), item, MAX_ITEM_CHARS);
    }
}

/// `items` trimmed, without duplicates, in their first order.
fn tidy(items: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    items
        .iter()
        .map(|i| i.trim().to_owned())
        .filter(|i| seen.insert(i.clone()))
        .collect()
}

impl ArticleContent {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        check_text(&mut errors, "title", &self.title, MAX_TITLE_CHARS);
        check_optional_text(&mut errors, "body", &self.body, MAX_BODY_CHARS);
        check_optional_text(&mut errors, "category", &self.category, MAX_ITEM_CHARS);
        check_list(&mut errors, "tags", &self.tags);
        check_list(&mut errors, "asset_models", &self.asset_models);
        check_list(&mut errors, "ticket_categories", &self.ticket_categories);
        errors.into_result()
    }

    /// The content as stored: title, category and list entries trimmed,
    /// list duplicates dropped.
    pub fn normalized(&self) -> Self {
        Self {
            title: self.title.trim().to_owned(),
            body: self.body.clone(),
            category: self.category.trim().to_owned(),
            tags: tidy(&self.tags),
            asset_models: tidy(&self.asset_models),
            ticket_categories: tidy(&self.ticket_categories),
            visibility: self.visibility,
        }
    }

    /// What the article is found by: title and tags weigh more than the
    /// body, category and asset models.
    pub fn search_entry(&self, id: Uuid) -> SearchEntry {
        SearchEntry {
            kind: SearchKind::Article,
            id,
            title: self.title.clone(),
            subtitle: self.category.clone(),
            ticket_number: None,
            head: fold(&format!("{} {}", self.title, self.tags.join(" "))),
            body: fold(&format!(
                "{} {} {} {}",
                self.body,
                self.category,
                self.asset_models.join(" "),
                self.ticket_categories.join(" ")
            )),
        }
    }
}

/// An article as it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Article {
    pub id: Uuid,
    pub tenant_id: Uuid,
    #[serde(flatten)]
    pub content: ArticleContent,
    /// 1 for the first version, one more for every edit or revert.
    pub version: i32,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_by: Option<Uuid>,
    pub updated_at: DateTime<Utc>,
}

/// One kept version of an article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ArticleVersion {
    pub version: i32,
    #[serde(flatten)]
    pub content: ArticleContent,
    pub edited_by: Option<Uuid>,
    pub edited_at: DateTime<Utc>,
    /// The version this one restored, for a revert.
    pub reverted_from: Option<i32>,
}

/// The "this helped" votes of an article.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Feedback {
    pub helpful: u64,
    pub not_helpful: u64,
}

/// A file attached to an article (a wiring diagram, a manual as PDF); the
/// bytes are in the blob store, addressed by their SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ArticleAttachment {
    pub id: Uuid,
    pub article_id: Uuid,
    /// The file name as uploaded (no path).
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// An attachment to record: its bytes are already stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttachment {
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

/// Words too common to tell articles apart, dropped from a draft's text.
const STOP_WORDS: &[&str] = &[
    "about", "after", "again", "all", "also", "and", "any", "are", "been", "before", "but", "can",
    "cannot", "could", "did", "does", "doesn", "don", "for", "from", "had", "has", "have", "her",
    "his", "how", "its", "just", "not", "now", "our", "out", "please", "she", "since", "some",
    "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "too",
    "very", "was", "way", "were", "what", "when", "which", "while", "who", "why", "will", "with",
    "would", "you", "your",
];

/// At most this many words of a draft are matched.
pub const MAX_SUGGESTION_TERMS: usize = 32;

/// The words a draft ticket's text is matched by, any of them enough:
/// folded as the index is (`domain::search`), without stop words and
/// Latin words shorter than three letters, each once.
pub fn suggestion_terms(text: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    words(text)
        .into_iter()
        .filter(|w| {
            w.chars().any(is_wide) || (w.chars().count() >= 3 && !STOP_WORDS.contains(&w.as_str()))
        })
        .filter(|w| seen.insert(w.clone()))
        .take(MAX_SUGGESTION_TERMS)
        .collect()
}

/// A character of a script written without spaces (its words are bigrams).
fn is_wide(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content() -> ArticleContent {
        ArticleContent {
            title: " Reset the boiler ".into(),
            body: "Hold **reset** for 5 s".into(),
            category: "Heating".into(),
            tags: vec!["boiler".into(), " boiler".into(), "reset".into()],
            asset_models: vec!["Vaillant ecoTEC".into()],
            ticket_categories: vec!["hvac".into()],
            visibility: Visibility::Internal,
        }
    }

    #[test]
    fn normalizing_trims_and_drops_duplicates() {
        let n = content().normalized();
        assert_eq!(n.title, "Reset the boiler");
        assert_eq!(n.tags, vec!["boiler".to_owned(), "reset".to_owned()]);
    }

    #[test]
    fn validation_names_every_bad_field() {
        let mut bad = content();
        bad.title = "  ".into();
        bad.tags = vec![String::new()];
        let errors = bad.validate().expect_err("invalid");
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["title", "tags[0]"]);
    }

    #[test]
    fn entry_weighs_title_and_tags() {
        let entry = content().normalized().search_entry(Uuid::nil());
        assert_eq!(entry.kind, SearchKind::Article);
        assert_eq!(entry.head, "reset the boiler boiler reset");
        assert!(entry.body.contains("vaillant ecotec"));
    }

    #[test]
    fn suggestion_terms_drop_noise_and_keep_chinese() {
        assert_eq!(
            suggestion_terms("The boiler is leaking, the boiler"),
            vec!["boiler".to_owned(), "leaking".to_owned()]
        );
        assert_eq!(
            suggestion_terms("空调不制冷"),
            vec!["空调", "调不", "不制", "制冷"]
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        );
    }
}
