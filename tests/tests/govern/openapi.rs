//! The OpenAPI document is complete enough for a generated client (and
//! schemathesis): every path parameter declared, errors documented as the
//! problem details they are, operation ids unique.

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use truckroll_tests::{TestBackend, app::TestApp};

backend_tests!(the_openapi_document_declares_what_the_api_does,);

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn the_openapi_document_declares_what_the_api_does(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let document = app
        .send(Method::GET, "/openapi.json", None, None)
        .await
        .expect(StatusCode::OK);
    let paths = document["paths"].as_object().expect("paths");
    let mut problems = Vec::new();
    let mut ids: HashMap<String, Vec<String>> = HashMap::new();
    let mut operations = 0;
    for (template, item) in paths {
        let names: Vec<&str> = template
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
            .collect();
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            operations += 1;
            let what = format!("{} {template}", method.to_uppercase());
            let declared: Vec<&str> = operation["parameters"]
                .as_array()
                .map(|parameters| {
                    parameters
                        .iter()
                        .filter(|p| p["in"] == "path")
                        .filter_map(|p| p["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            for name in &names {
                if !declared.contains(name) {
                    problems.push(format!("{what}: path parameter `{name}` not declared"));
                }
            }
            for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                let error = status.starts_with('4') || status.starts_with('5');
                let content = response["content"].as_object();
                if error && content.is_some_and(|c| c.contains_key("application/json")) {
                    problems.push(format!("{what}: {status} documented as application/json"));
                }
            }
            match operation["operationId"].as_str() {
                Some(id) => ids.entry(id.to_owned()).or_default().push(what),
                None => problems.push(format!("{what}: no operationId")),
            }
        }
    }
    for (id, uses) in &ids {
        if uses.len() > 1 {
            problems.push(format!("operationId {id} used by {uses:?}"));
        }
    }
    assert!(operations > 60, "only {operations} operations");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // What the document says about errors is what the server sends.
    let reply = app
        .send(Method::GET, "/v1/tickets/not-a-uuid", Some("x"), None)
        .await;
    assert_eq!(
        reply
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let _: &Value = &reply.body;
    app.stop().await;
}
