//! Checking tool arguments against the subset of JSON Schema our tools
//! declare: an object with typed properties (string, integer, number,
//! boolean, array of strings), `enum`, `minimum`/`maximum`, `required`, and
//! no properties beyond those declared.

use serde_json::{Map, Value};

/// Checks `arguments` against an object schema; the error names the first
/// problem found.
pub fn validate(schema: &Value, arguments: &Map<String, Value>) -> Result<(), String> {
    let properties = schema.get("properties").and_then(Value::as_object);
    for required in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = required.as_str().unwrap_or_default();
        if !arguments.contains_key(name) {
            return Err(format!("missing required argument '{name}'"));
        }
    }
    for (name, value) in arguments {
        let Some(property) = properties.and_then(|p| p.get(name)) else {
            return Err(format!("unknown argument '{name}'"));
        };
        check(name, property, value)?;
    }
    Ok(())
}

fn check(name: &str, property: &Value, value: &Value) -> Result<(), String> {
    let expected = property
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("any");
    let fits = match expected {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.as_array().is_some_and(|items| {
            let item_type = property
                .get("items")
                .and_then(|i| i.get("type"))
                .and_then(Value::as_str);
            items
                .iter()
                .all(|item| item_type != Some("string") || item.is_string())
        }),
        "object" => value.is_object(),
        _ => true,
    };
    if !fits {
        return Err(format!("argument '{name}' must be of type {expected}"));
    }
    if let Some(allowed) = property.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            return Err(format!(
                "argument '{name}' must be one of {}",
                Value::Array(allowed.clone())
            ));
        }
    }
    if let Some(number) = value.as_f64() {
        if property
            .get("minimum")
            .and_then(Value::as_f64)
            .is_some_and(|min| number < min)
        {
            return Err(format!("argument '{name}' is below its minimum"));
        }
        if property
            .get("maximum")
            .and_then(Value::as_f64)
            .is_some_and(|max| number > max)
        {
            return Err(format!("argument '{name}' is above its maximum"));
        }
    }
    Ok(())
}
