//! Model weights for the browser: given as bytes, or read from the responses that the entry
//! module (src/web/loader.js) opened from URLs or the Cache API, with progress reports. Those
//! requests are the only network traffic the engine makes.

use burn::tensor::Bytes;
use js_sys::{Function, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStreamDefaultReader, Response};

use crate::error::GlanceError;
use crate::vision::ModelWeights;

/// The networks' file names (`<name>.bpk`), in the order of [`ModelWeights`].
pub(crate) const MODEL_NAMES: [&str; 6] = {
    let shipped = crate::vision::weights::SHIPPED;
    [
        shipped[0].0,
        shipped[1].0,
        shipped[2].0,
        shipped[3].0,
        shipped[4].0,
        shipped[5].0,
    ]
};

/// CenterFace's file name, all a [`super::FineScanner`] loads.
pub(crate) const CENTERFACE: &str = MODEL_NAMES[5];

fn load_error(model: &str, message: String) -> GlanceError {
    GlanceError::ModelLoad {
        model: model_name(model),
        message,
    }
}

fn model_name(name: &str) -> &'static str {
    MODEL_NAMES
        .iter()
        .copied()
        .find(|m| *m == name)
        .unwrap_or("model")
}

/// An exception's message (an `Error`'s, or the value itself as text).
fn js_message(error: &JsValue) -> String {
    get(error, "message")
        .as_string()
        .or_else(|| error.as_string())
        .unwrap_or_else(|| format!("{error:?}"))
}

fn get(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// Where the options say the models are: `models.bytes` (a `Uint8Array` per model) or
/// `models.responses` (a `Promise<Response>` per model, which the entry module `glance.js`
/// opens from `baseUrl` / `urls` and the Cache API while this module compiles).
pub(crate) struct ModelSource {
    bytes: JsValue,
    responses: JsValue,
    on_progress: Option<Function>,
}

impl ModelSource {
    pub(crate) fn from_options(models: &JsValue) -> Self {
        ModelSource {
            bytes: get(models, "bytes"),
            responses: get(models, "responses"),
            on_progress: get(models, "onProgress").dyn_into::<Function>().ok(),
        }
    }

    /// Every network's weights, or the first failure. The files are read at once: one after
    /// another, the round trips add up to a large part of the cold start.
    pub(crate) async fn load(&self) -> Result<ModelWeights, GlanceError> {
        let files =
            futures_util::future::try_join_all(MODEL_NAMES.iter().map(|name| self.file(name)))
                .await?;
        #[cfg(feature = "embed-models")]
        if files.iter().all(Vec::is_empty) {
            return Ok(ModelWeights::embedded());
        }
        // MODEL_NAMES is weights::SHIPPED's order, which try_from_files asks in.
        let mut files = files.into_iter().map(Bytes::from_bytes_vec);
        ModelWeights::try_from_files(|_| Ok(files.next().expect("one file per model")))
    }

    /// One network's weight file: the bytes given, else the body of its response.
    pub(crate) async fn file(&self, name: &str) -> Result<Vec<u8>, GlanceError> {
        let given = get(&self.bytes, name);
        if let Some(array) = given.dyn_ref::<Uint8Array>() {
            return Ok(array.to_vec());
        }
        let pending = get(&self.responses, name);
        if pending.is_undefined() {
            #[cfg(feature = "embed-models")]
            return Ok(Vec::new());
            #[cfg(not(feature = "embed-models"))]
            return Err(load_error(
                name,
                "no bytes and no URL given (options.models.bytes / baseUrl / urls)".into(),
            ));
        }
        let response = JsFuture::from(js_sys::Promise::resolve(&pending))
            .await
            .map_err(|e| load_error(name, js_message(&e)))?;
        let response: Response = response
            .dyn_into()
            .map_err(|_| load_error(name, "not a Response".into()))?;
        if !response.ok() {
            return Err(load_error(
                name,
                format!("{}: HTTP {}", response.url(), response.status()),
            ));
        }
        self.read_body(name, response).await
    }

    /// Tells `onProgress` (if given) that `phase` moved on; `fields` go along with it.
    pub(crate) fn progress(&self, phase: &str, fields: &[(&str, JsValue)]) {
        let Some(callback) = &self.on_progress else {
            return;
        };
        let progress = Object::new();
        let _ = Reflect::set(&progress, &"phase".into(), &JsValue::from_str(phase));
        for (key, value) in fields {
            let _ = Reflect::set(&progress, &JsValue::from_str(key), value);
        }
        // A throwing progress callback must not stop the engine.
        let _ = callback.call1(&JsValue::NULL, &progress);
    }

    async fn read_body(&self, name: &str, response: Response) -> Result<Vec<u8>, GlanceError> {
        // A compressed response's Content-Length counts the compressed bytes, not the ones read.
        let headers = response.headers();
        let encoded = headers
            .get("content-encoding")
            .ok()
            .flatten()
            .is_some_and(|e| !e.eq_ignore_ascii_case("identity"));
        let total = headers
            .get("content-length")
            .ok()
            .flatten()
            .filter(|_| !encoded)
            .and_then(|v| v.parse::<f64>().ok());
        let Some(body) = response.body() else {
            return Ok(Vec::new());
        };
        let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
        let mut bytes = Vec::new();
        loop {
            let chunk = JsFuture::from(reader.read())
                .await
                .map_err(|e| load_error(name, format!("{e:?}")))?;
            if get(&chunk, "done").as_bool().unwrap_or(true) {
                break;
            }
            bytes.extend(Uint8Array::new(&get(&chunk, "value")).to_vec());
            self.progress(
                "download",
                &[
                    ("model", JsValue::from_str(name)),
                    ("loaded", JsValue::from_f64(bytes.len() as f64)),
                    (
                        "total",
                        total.map(JsValue::from_f64).unwrap_or(JsValue::NULL),
                    ),
                ],
            );
        }
        Ok(bytes)
    }
}
