//! Errors cross into JavaScript as instances of the classes in `errors.js`, never as strings.

use wasm_bindgen::prelude::*;

use crate::error::{ErrorName, GlanceError};

#[wasm_bindgen(module = "/src/web/errors.js")]
extern "C" {
    #[wasm_bindgen(js_name = glanceError)]
    fn glance_error(name: &str, message: &str, issues: JsValue, path: JsValue) -> js_sys::Error;
}

/// The JS error for a library error: its class from [`GlanceError::kind`], `issues` for rules,
/// `path` for configuration errors.
pub(crate) fn to_js_error(error: &GlanceError) -> JsValue {
    let issues = match error {
        GlanceError::Rules(_) => super::to_js(&error.issues()).unwrap_or(JsValue::UNDEFINED),
        _ => JsValue::UNDEFINED,
    };
    let path = match error {
        GlanceError::Config { path, .. } => JsValue::from_str(path),
        _ => JsValue::UNDEFINED,
    };
    glance_error(error.kind().as_str(), &error.to_string(), issues, path).into()
}

/// An engine-state error that has no library counterpart (busy, closed, crashed).
pub(crate) fn named_error(name: ErrorName, message: &str) -> JsValue {
    glance_error(
        name.as_str(),
        message,
        JsValue::UNDEFINED,
        JsValue::UNDEFINED,
    )
    .into()
}

/// A `ConfigError` naming the option at fault (`path`, as in the options document).
pub(crate) fn config_error(path: &str, message: impl ToString) -> JsValue {
    to_js_error(&GlanceError::Config {
        path: path.into(),
        message: message.to_string(),
    })
}
