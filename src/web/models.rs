//! Model weights for the browser: given as bytes, or fetched from URLs with progress reports and
//! kept in the Cache API so the kiosk starts offline after the first load. These requests are
//! the only network traffic the engine makes.

use burn::tensor::Bytes;
use js_sys::{Function, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, ReadableStreamDefaultReader, Response};

use crate::error::GlanceError;
use crate::vision::ModelWeights;

/// The networks' file names (`<name>.bpk`), in the order of [`ModelWeights`].
pub(crate) const MODEL_NAMES: [&str; 6] = [
    "face_detection_full_range",
    "face_detection_short_range",
    "face_landmark",
    "iris_landmark",
    "age_gender",
    "centerface",
];

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

fn get(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// Where the options say the models are (`models: { bytes?, baseUrl?, urls?, cache?, onProgress? }`).
pub(crate) struct ModelSource {
    bytes: JsValue,
    urls: JsValue,
    base_url: Option<String>,
    cache_name: Option<String>,
    on_progress: Option<Function>,
}

impl ModelSource {
    pub(crate) fn from_options(models: &JsValue) -> Self {
        let cache = get(models, "cache");
        let cache_name = if cache.is_falsy() && !cache.is_undefined() {
            None
        } else {
            Some(
                cache
                    .as_string()
                    .unwrap_or_else(|| format!("glance-models-{}", env!("CARGO_PKG_VERSION"))),
            )
        };
        ModelSource {
            bytes: get(models, "bytes"),
            urls: get(models, "urls"),
            base_url: get(models, "baseUrl").as_string(),
            cache_name,
            on_progress: get(models, "onProgress").dyn_into::<Function>().ok(),
        }
    }

    fn url(&self, name: &str) -> Option<String> {
        get(&self.urls, name).as_string().or_else(|| {
            self.base_url
                .as_ref()
                .map(|base| format!("{}/{name}.bpk", base.trim_end_matches('/')))
        })
    }

    /// Every network's weights, or the first failure. The files download at once: one after
    /// another, the round trips add up to a large part of the cold start.
    pub(crate) async fn load(&self) -> Result<ModelWeights, GlanceError> {
        let files =
            futures_util::future::try_join_all(MODEL_NAMES.iter().map(|name| self.file(name)))
                .await?;
        #[cfg(feature = "embed-models")]
        if files.iter().all(Vec::is_empty) {
            return Ok(ModelWeights::embedded());
        }
        let mut files = files.into_iter().map(Bytes::from_bytes_vec);
        let mut next = || files.next().expect("one file per model");
        Ok(ModelWeights {
            face_detection_full_range: next(),
            face_detection_short_range: next(),
            face_landmark: next(),
            iris_landmark: next(),
            age_gender: next(),
            centerface: next(),
        })
    }

    /// One network's weight file: the bytes given, else downloaded (or from the cache).
    async fn file(&self, name: &str) -> Result<Vec<u8>, GlanceError> {
        let given = get(&self.bytes, name);
        if let Some(array) = given.dyn_ref::<Uint8Array>() {
            Ok(array.to_vec())
        } else if let Some(url) = self.url(name) {
            self.fetch(name, &url).await
        } else {
            #[cfg(feature = "embed-models")]
            {
                Ok(Vec::new())
            }
            #[cfg(not(feature = "embed-models"))]
            Err(load_error(
                name,
                "no bytes and no URL given (options.models.bytes / baseUrl / urls)".into(),
            ))
        }
    }

    async fn cache(&self) -> Option<Cache> {
        let name = self.cache_name.as_ref()?;
        let caches = Reflect::get(&js_sys::global(), &JsValue::from_str("caches")).ok()?;
        let caches: web_sys::CacheStorage = caches.dyn_into().ok()?;
        JsFuture::from(caches.open(name))
            .await
            .ok()?
            .dyn_into()
            .ok()
    }

    async fn fetch(&self, name: &str, url: &str) -> Result<Vec<u8>, GlanceError> {
        let cache = self.cache().await;
        if let Some(cache) = &cache {
            let hit = JsFuture::from(cache.match_with_str(url))
                .await
                .unwrap_or(JsValue::UNDEFINED);
            if let Ok(response) = hit.dyn_into::<Response>() {
                return self.read_body(name, response).await;
            }
        }
        let fetch = get(&js_sys::global(), "fetch")
            .dyn_into::<Function>()
            .map_err(|_| load_error(name, "this environment has no fetch".into()))?;
        let promise: js_sys::Promise = fetch
            .call1(&js_sys::global(), &JsValue::from_str(url))
            .map_err(|e| load_error(name, format!("{url}: {e:?}")))?
            .unchecked_into();
        let response: Response = JsFuture::from(promise)
            .await
            .map_err(|e| load_error(name, format!("{url}: {e:?}")))?
            .unchecked_into();
        if !response.ok() {
            return Err(load_error(
                name,
                format!("{url}: HTTP {}", response.status()),
            ));
        }
        // Best effort: a full cache costs only the next start's download.
        if let (Some(cache), Ok(copy)) = (&cache, response.clone()) {
            let _ = JsFuture::from(cache.put_with_str(url, &copy)).await;
        }
        self.read_body(name, response).await
    }

    async fn read_body(&self, name: &str, response: Response) -> Result<Vec<u8>, GlanceError> {
        let total = response
            .headers()
            .get("content-length")
            .ok()
            .flatten()
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
            if let Some(callback) = &self.on_progress {
                let progress = Object::new();
                let _ = Reflect::set(&progress, &"model".into(), &JsValue::from_str(name));
                let _ = Reflect::set(
                    &progress,
                    &"loaded".into(),
                    &JsValue::from_f64(bytes.len() as f64),
                );
                let _ = Reflect::set(
                    &progress,
                    &"total".into(),
                    &total.map(JsValue::from_f64).unwrap_or(JsValue::NULL),
                );
                // A throwing progress callback must not stop the load.
                let _ = callback.call1(&JsValue::NULL, &progress);
            }
        }
        Ok(bytes)
    }
}
