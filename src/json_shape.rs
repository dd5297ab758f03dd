//! serde reads a struct from a JSON array too (its fields in order), so `[]` would silently be
//! a struct of defaults. Options and configuration are checked against this: wherever the parsed
//! value is an object, the input must have been one.

use serde::Serialize;
use serde_json::Value;

/// The JSON path (`pipeline`, `audience.tracker`) of the first place where `input` gives
/// something other than an object for a struct of `parsed`, if any ("" for the whole document).
pub fn struct_given_as_non_object(input: &Value, parsed: &impl Serialize) -> Option<String> {
    let parsed = serde_json::to_value(parsed).ok()?;
    first_mismatch(input, &parsed, "")
}

fn first_mismatch(input: &Value, parsed: &Value, path: &str) -> Option<String> {
    let Value::Object(parsed) = parsed else {
        return None;
    };
    let Value::Object(input) = input else {
        return Some(path.to_string());
    };
    input.iter().find_map(|(key, value)| {
        let inner = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        parsed
            .get(key)
            .and_then(|p| first_mismatch(value, p, &inner))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Serialize, Default)]
    struct Inner {
        n: u32,
        list: Vec<u32>,
    }
    #[derive(Serialize, Default)]
    struct Outer {
        inner: Inner,
        other: Option<Inner>,
    }

    #[test]
    fn arrays_standing_for_structs_are_found_and_real_arrays_pass() {
        let parsed = Outer::default();
        assert_eq!(
            struct_given_as_non_object(&json!([]), &parsed),
            Some("".into())
        );
        assert_eq!(
            struct_given_as_non_object(&json!({"inner": [1, [2]]}), &parsed),
            Some("inner".into())
        );
        assert_eq!(
            struct_given_as_non_object(&json!({"inner": {"n": 1, "list": [1, 2]}}), &parsed),
            None
        );
        // An optional struct left out (null) is no struct in the parsed value.
        assert_eq!(
            struct_given_as_non_object(&json!({"other": null}), &parsed),
            None
        );
    }
}
