//! Ticket custom fields, validated by the JSON Schema of the ticket's category.

use serde_json::Value;

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
    for error in validator.iter_errors(fields) {
        errors.add(
            format!("custom_fields{}", error.instance_path),
            error.to_string(),
        );
    }
    errors.into_result()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
