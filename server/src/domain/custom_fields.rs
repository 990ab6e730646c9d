//! Ticket custom fields, validated by the JSON Schema of the ticket's category.

use std::collections::BTreeMap;

use serde_json::Value;
use truckroll_sync::{CustomValue, Limits};

use super::ValidationErrors;

/// Whether `schema` is a usable JSON Schema for custom fields.
pub fn check_schema(schema: &Value) -> Result<(), String> {
    if !schema.is_object() {
        return Err("must be a JSON Schema object".into());
    }
    jsonschema::meta::validate(schema).map_err(|e| format!("is not a valid JSON Schema: {e}"))?;
    jsonschema::validator_for(schema).map_err(|e| format!("cannot be used: {e}"))?;
    Ok(())
}

/// Every way `fields` violates `schema`, each named by its JSON pointer.
pub fn validate(schema: &Value, fields: &Value) -> Result<(), ValidationErrors> {
    let validator = jsonschema::validator_for(schema).map_err(|e| {
        ValidationErrors::single("custom_fields", format!("category schema unusable: {e}"))
    })?;
    let mut errors = ValidationErrors::new();
    // PostgreSQL cannot store NUL in text or JSON; a phone's document
    // reaches the row through here too, not only REST's body check.
    nul_strings(fields, "custom_fields", &mut errors);
    for error in validator.iter_errors(fields) {
        errors.add(
            format!("custom_fields{}", error.instance_path),
            error.to_string(),
        );
    }
    errors.into_result()
}

fn nul_strings(value: &Value, path: &str, errors: &mut ValidationErrors) {
    match value {
        Value::String(text) if text.contains('\0') => {
            errors.add(path.to_owned(), super::validation::NUL_MESSAGE);
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                nul_strings(item, &format!("{path}/{i}"), errors);
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                let here = format!("{path}/{}", key.replace('\0', ""));
                if key.contains('\0') {
                    errors.add(here, "must not contain NUL characters (U+0000)");
                } else {
                    nul_strings(item, &here, errors);
                }
            }
        }
        _ => {}
    }
}

/// A custom field's value as the ticket document holds it: scalars only
/// (objects and arrays stay in the ticket row, office-only).
pub fn to_document(value: &Value) -> Option<CustomValue> {
    Some(match value {
        Value::Null => CustomValue::Null,
        Value::Bool(b) => CustomValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => CustomValue::Int(i),
            None => CustomValue::F64(n.as_f64().filter(|f| f.is_finite())?),
        },
        Value::String(s) => CustomValue::Str(s.clone()),
        Value::Array(_) | Value::Object(_) => return None,
    })
}

/// A document custom value as the ticket row's `custom_fields` shows it; a
/// timestamp becomes an RFC 3339 string (UTC, milliseconds).
pub fn from_document(value: &CustomValue) -> Value {
    match value {
        CustomValue::Null => Value::Null,
        CustomValue::Bool(b) => Value::Bool(*b),
        CustomValue::Int(i) => Value::from(*i),
        CustomValue::F64(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        CustomValue::Str(s) => Value::String(s.clone()),
        CustomValue::Timestamp(ms) => chrono::DateTime::<chrono::Utc>::from_timestamp_millis(*ms)
            .map_or(Value::from(*ms), |t| {
                Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            }),
    }
}

/// The custom fields of a ticket row (`fields`, a JSON object) that its
/// document holds: scalar values whose key and text fit the document's
/// limits, at most as many as the document may hold (the first by key).
/// The others are office-only and stay in the row.
pub fn in_document(fields: &Value) -> BTreeMap<String, CustomValue> {
    let limits = Limits::default();
    let fits = |s: &str| !s.is_empty() && s.chars().count() <= limits.max_string_chars;
    let mut out = BTreeMap::new();
    let mut keys: Vec<(&String, &Value)> = fields
        .as_object()
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    for (key, value) in keys {
        if out.len() == limits.max_custom_fields {
            break;
        }
        let Some(v) = to_document(value) else {
            continue;
        };
        if fits(key)
            && !matches!(&v, CustomValue::Str(s) if s.chars().count() > limits.max_string_chars)
        {
            out.insert(key.clone(), v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn document_values_round_trip() {
        let fields =
            json!({"a": 1, "b": 2.5, "c": "x", "d": null, "e": true, "f": [1], "g": {"h": 1}});
        let doc = in_document(&fields);
        assert_eq!(
            doc.keys().map(String::as_str).collect::<Vec<_>>(),
            ["a", "b", "c", "d", "e"]
        );
        for (k, v) in &doc {
            assert_eq!(&from_document(v), &fields[k.as_str()]);
        }
        assert_eq!(
            from_document(&CustomValue::Timestamp(1_767_225_600_000)),
            json!("2026-01-01T00:00:00.000Z")
        );
        assert!(in_document(&json!({"long": "x".repeat(2001)})).is_empty());
    }

    #[test]
    fn rejects_broken_schemas() {
        assert!(check_schema(&json!({"type": "object"})).is_ok());
        assert!(check_schema(&json!({"type": "banana"})).is_err());
        assert!(check_schema(&json!("string")).is_err());
    }

    #[test]
    fn names_each_violation() {
        let schema = json!({
            "type": "object",
            "properties": {"refrigerant": {"enum": ["R32", "R410A"]}, "kw": {"type": "number", "maximum": 50}},
            "required": ["refrigerant"],
            "additionalProperties": false
        });
        assert!(validate(&schema, &json!({"refrigerant": "R32", "kw": 7.5})).is_ok());
        let errors = validate(&schema, &json!({"kw": 99, "colour": "red"})).expect_err("invalid");
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"custom_fields/kw"), "{fields:?}");
        assert!(fields.contains(&"custom_fields"), "{fields:?}");
    }
}
