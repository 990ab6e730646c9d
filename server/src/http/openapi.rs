//! Completes the generated OpenAPI document once, for every route, so no
//! handler has to remember: each `{name}` of a path template is declared as
//! a path parameter, error answers are documented as
//! `application/problem+json` (what `error.rs` sends), and operation ids are
//! unique.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Applies every completion to `document` (an OpenAPI 3.1 document as JSON).
pub fn complete(document: &mut Value) {
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (template, item) in paths.iter_mut() {
        let names = template_names(template);
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for method in METHODS {
            let Some(operation) = item.get_mut(method).and_then(Value::as_object_mut) else {
                continue;
            };
            declare_path_parameters(operation, &names);
            problem_content_types(operation);
        }
    }
    unique_operation_ids(paths);
}

/// `{id}` and `{*key}`-style names of a template, in order.
fn template_names(template: &str) -> Vec<String> {
    template
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .map(|name| name.trim_start_matches('*').to_owned())
        .collect()
}

fn declare_path_parameters(operation: &mut Map<String, Value>, names: &[String]) {
    if names.is_empty() {
        return;
    }
    let parameters = operation
        .entry("parameters")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Some(parameters) = parameters.as_array_mut() else {
        return;
    };
    for name in names {
        let declared = parameters.iter().any(|parameter| {
            parameter["in"] == "path" && parameter["name"].as_str() == Some(name.as_str())
        });
        if declared {
            continue;
        }
        let schema = if name == "id" || name.ends_with("_id") {
            json!({"type": "string", "format": "uuid"})
        } else {
            json!({"type": "string"})
        };
        parameters.push(json!({
            "name": name,
            "in": "path",
            "required": true,
            "schema": schema,
        }));
    }
}

/// 4xx and 5xx answers are problem details, whatever the handler declared.
fn problem_content_types(operation: &mut Map<String, Value>) {
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (status, response) in responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        if !is_error {
            continue;
        }
        let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
            continue;
        };
        if let Some(schema) = content.remove("application/json") {
            content.entry("application/problem+json").or_insert(schema);
        }
    }
}

/// The first operation keeps its id; later ones with the same id get the
/// path's segments appended (`list_policies_v1_escalation_policies`).
fn unique_operation_ids(paths: &mut Map<String, Value>) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (template, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for method in METHODS {
            let Some(operation) = item.get_mut(method).and_then(Value::as_object_mut) else {
                continue;
            };
            let Some(id) = operation.get("operationId").and_then(Value::as_str) else {
                continue;
            };
            let id = id.to_owned();
            let count = seen.entry(id.clone()).or_insert(0);
            *count += 1;
            if *count > 1 {
                let suffix: String = template
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect::<String>()
                    .split('_')
                    .filter(|part| !part.is_empty())
                    .collect::<Vec<_>>()
                    .join("_");
                operation.insert(
                    "operationId".into(),
                    Value::String(format!("{id}_{method}_{suffix}")),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_parameters_problem_types_and_ids() {
        let mut document = json!({"paths": {
            "/v1/a/{id}/b/{name}": {"get": {
                "operationId": "list_policies",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {
                    "200": {"content": {"application/json": {"schema": {}}}},
                    "404": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
                }
            }},
            "/v1/c": {"get": {"operationId": "list_policies", "responses": {}}}
        }});
        complete(&mut document);
        let get = &document["paths"]["/v1/a/{id}/b/{name}"]["get"];
        let names: Vec<&str> = get["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(names, ["id", "name"]);
        assert!(get["responses"]["404"]["content"]["application/problem+json"].is_object());
        assert!(get["responses"]["200"]["content"]["application/json"].is_object());
        let ids = [
            get["operationId"].as_str(),
            document["paths"]["/v1/c"]["get"]["operationId"].as_str(),
        ];
        assert_ne!(ids[0], ids[1]);
    }
}
