//! CSV text for the exports (RFC 4180 lines, CRLF), and the reader the
//! imports use.

/// One field: quoted when it holds a separator, quote or line break; a
/// leading `=`, `+`, `-` or `@` is prefixed with `'` so a spreadsheet shows
/// text a customer or technician typed instead of evaluating it as a formula.
pub fn field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) && value.parse::<f64>().is_err() {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// A CSV text that is not well formed: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct CsvError {
    pub line: usize,
    pub message: String,
}

/// Reads RFC 4180 text (quoted fields may hold separators, quotes and line
/// breaks; CRLF or LF; a BOM is skipped) into records, each with the line
/// number it starts on (1-based).
pub fn records(text: &str) -> Result<Vec<(usize, Vec<String>)>, CsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut start = 1;
    let mut quoted = false;
    let mut after_quote = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => {
                    quoted = false;
                    after_quote = true;
                }
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() && !after_quote => quoted = true,
            ',' => {
                record.push(std::mem::take(&mut field));
                after_quote = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                out.push((start, std::mem::take(&mut record)));
                after_quote = false;
                line += 1;
                start = line;
            }
            _ if after_quote => {
                return Err(CsvError {
                    line,
                    message: "text after a closing quote".into(),
                });
            }
            _ => field.push(c),
        }
    }
    if quoted {
        return Err(CsvError {
            line: start,
            message: "a quoted field is not closed".into(),
        });
    }
    if !field.is_empty() || !record.is_empty() || after_quote {
        record.push(field);
        out.push((start, record));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(field("hvac"), "hvac");
        assert_eq!(field("a,\"b\""), "\"a,\"\"b\"\"\"");
    }

    #[test]
    fn formulas_become_text_and_negative_numbers_stay_numbers() {
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(field("-2.5"), "-2.5");
    }

    #[test]
    fn records_keep_quoted_separators_and_start_lines() {
        let parsed = records("a,b\r\n\"x,\"\"y\"\"\",\"two\nlines\"\nlast,\n").unwrap_or_default();
        assert_eq!(
            parsed,
            vec![
                (1, vec!["a".to_owned(), "b".to_owned()]),
                (2, vec!["x,\"y\"".to_owned(), "two\nlines".to_owned()]),
                (4, vec!["last".to_owned(), String::new()]),
            ]
        );
        assert_eq!(records("\"open").map_err(|e| e.line), Err(1));
    }
}
