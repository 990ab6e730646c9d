//! Field-level validation errors collected before anything is written.

use std::borrow::Cow;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON pointer-like path of the offending field, e.g. `location.lat`.
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.summary())]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_result(self) -> Result<(), Self> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }

    fn summary(&self) -> String {
        self.0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// What a field holding a NUL character (U+0000) is told when refused.
pub const NUL_MESSAGE: &str = "must not contain NUL characters (U+0000)";

/// `text` without its NUL characters: PostgreSQL cannot store them in text
/// or JSON, and SQLite would. For text that must not be lost (mail, a
/// phone's notes); input a client can correct is refused with
/// [`NUL_MESSAGE`] instead.
pub fn without_nul(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', ""))
    } else {
        Cow::Borrowed(text)
    }
}

/// `text` without the control characters [`check_text`] refuses (NUL
/// included; line breaks and tabs stay), for text taken as it comes (mail).
pub fn printable(text: &str) -> Cow<'_, str> {
    let refused = |c: char| c.is_control() && c != '\n' && c != '\r' && c != '\t';
    if text.chars().any(refused) {
        Cow::Owned(text.chars().filter(|c| !refused(*c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

/// Checks a required, trimmed, bounded text field.
pub fn check_text(errors: &mut ValidationErrors, field: &str, value: &str, max_chars: usize) {
    if value.trim().is_empty() {
        errors.add(field, "must not be empty");
    } else if value.chars().count() > max_chars {
        errors.add(field, format!("must be at most {max_chars} characters"));
    } else if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        errors.add(field, "must not contain control characters");
    }
}

/// Checks an optional bounded text field (empty allowed).
pub fn check_optional_text(
    errors: &mut ValidationErrors,
    field: &str,
    value: &str,
    max_chars: usize,
) {
    if value.chars().count() > max_chars {
        errors.add(field, format!("must be at most {max_chars} characters"));
    } else if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        errors.add(field, "must not contain control characters");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_problem() {
        let mut errors = ValidationErrors::new();
        check_text(&mut errors, "name", "  ", 10);
        check_text(&mut errors, "title", "abcdefghijkl", 10);
        check_optional_text(&mut errors, "notes", "bell\u{7}", 10);
        check_text(&mut errors, "ok", "Robert'); DROP TABLE tickets;--", 100);
        assert_eq!(errors.0.len(), 3);
        assert_eq!(errors.0[0].field, "name");
        assert!(
            errors
                .to_string()
                .contains("title: must be at most 10 characters")
        );
    }
}
