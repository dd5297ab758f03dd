//! The binding layer in headless Chromium (wasm-bindgen-test): typed errors, the disclosure
//! notice gating analysis, every frame source giving the same faces, and the model-free tools;
//! and the CPU kernels whose SIMD128 paths exist only in Wasm (max pool, depthwise convolution).
//! Run by `scripts/dev test` through `wasm-pack test --headless --chrome`.
#![cfg(target_arch = "wasm32")]

use glance::web::{AudienceEngine, simulate_rules, validate_rules};
use js_sys::{Array, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

macro_rules! model {
    ($name:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/models/", $name, ".packed.bpk"))
    };
}

const ASTRONAUT: &[u8] = include_bytes!("fixtures/astronaut.jpg");

#[wasm_bindgen(inline_js = r#"
export function options(models, extra) {
  return Object.assign({
    backend: "cpu",
    models: { bytes: models },
    banner: { controller: { name: "Glance tests", contact: "tests@localhost" }, noticeUrl: "/privacy" },
  }, extra);
}
export async function sources(jpeg) {
  const bitmap = await createImageBitmap(new Blob([jpeg], { type: "image/jpeg" }), { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  const imageData = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
  const videoFrame = new VideoFrame(canvas, { timestamp: 0 });
  return [imageData, bitmap, videoFrame];
}
export function hideBanner(hidden) {
  document.querySelector("glance-disclosure").style.display = hidden ? "none" : "";
}
export function blank(width, height) { return new ImageData(width, height); }
export function errorName(e) { return e instanceof Error ? e.name : "not an Error: " + String(e); }
export function field(o, path) { return path.split(".").reduce((v, k) => v?.[k], o); }
"#)]
extern "C" {
    fn options(models: &JsValue, extra: &JsValue) -> JsValue;
    async fn sources(jpeg: Uint8Array) -> JsValue;
    #[wasm_bindgen(js_name = hideBanner)]
    fn hide_banner(hidden: bool);
    #[wasm_bindgen(js_name = errorName)]
    fn error_name(e: &JsValue) -> String;
    fn field(o: &JsValue, path: &str) -> JsValue;
    fn blank(width: u32, height: u32) -> JsValue;
}

fn models() -> JsValue {
    let bytes = js_sys::Object::new();
    for (name, data) in [
        (
            "face_detection_full_range",
            &model!("face_detection_full_range")[..],
        ),
        (
            "face_detection_short_range",
            &model!("face_detection_short_range")[..],
        ),
        ("face_landmark", &model!("face_landmark")[..]),
        ("iris_landmark", &model!("iris_landmark")[..]),
        ("age_gender", &model!("age_gender")[..]),
        ("centerface", &model!("centerface")[..]),
    ] {
        Reflect::set(&bytes, &name.into(), &Uint8Array::from(data)).unwrap();
    }
    bytes.into()
}

async fn engine() -> AudienceEngine {
    AudienceEngine::create(options(&models(), &JsValue::UNDEFINED))
        .await
        .expect("the engine starts on the CPU")
}

#[wasm_bindgen_test]
async fn errors_are_named_error_objects() {
    let no_banner = js_sys::JSON::parse(r#"{"backend":"cpu"}"#).unwrap();
    let err = AudienceEngine::create(no_banner).await.err().unwrap();
    assert_eq!(error_name(&err), "ConfigError");
    assert_eq!(field(&err, "path"), "banner");

    let extra = js_sys::JSON::parse(r#"{"pipeline":{"maxFaces":-1}}"#).unwrap();
    let err = AudienceEngine::create(options(&models(), &extra))
        .await
        .err()
        .unwrap();
    assert_eq!(error_name(&err), "ConfigError");
    assert_eq!(field(&err, "path"), "pipeline.maxFaces");

    let engine = engine().await;
    let err = engine
        .process_frame(JsValue::from_str("not a frame"), 0.0)
        .await
        .unwrap_err();
    assert_eq!(error_name(&err), "InvalidFrameError");
    let err = engine.set_rules(JsValue::from_str("{")).unwrap_err();
    assert_eq!(error_name(&err), "RulesValidationError");
    engine.close();
    let err = engine.snapshot().unwrap_err();
    assert_eq!(error_name(&err), "EngineClosedError");
}

#[wasm_bindgen_test]
async fn every_frame_source_gives_the_same_faces_and_a_hidden_notice_stops_analysis() {
    let engine = engine().await;
    let sources: Array = sources(Uint8Array::from(ASTRONAUT)).await.unchecked_into();
    let mut boxes = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        let result = engine
            .process_frame(source, 1000.0 * (i as f64 + 1.0))
            .await
            .expect("the frame is analysed");
        let faces: Array = field(&result, "faces").unchecked_into();
        assert_eq!(faces.length(), 1, "source {i}");
        let face = faces.get(0);
        assert_eq!(field(&face, "gender"), "female", "source {i}");
        let b: Array = field(&face, "box").unchecked_into();
        boxes.push(b.iter().map(|v| v.as_f64().unwrap()).collect::<Vec<_>>());
    }
    for b in &boxes[1..] {
        for (x, y) in b.iter().zip(&boxes[0]) {
            assert!((x - y).abs() < 1.0, "{boxes:?}");
        }
    }

    hide_banner(true);
    let err = engine
        .process_frame(sources.get(0), 5000.0)
        .await
        .unwrap_err();
    assert_eq!(error_name(&err), "DisclosureHiddenError");
    let status = engine.disclosure().unwrap();
    assert_eq!(field(&status, "visible"), false);
    hide_banner(false);
    assert_eq!(field(&engine.disclosure().unwrap(), "visible"), true);
    engine.process_frame(sources.get(0), 6000.0).await.unwrap();
    let _ = JsFuture::from(js_sys::Promise::resolve(&JsValue::NULL)).await;
    engine.close();
}

#[wasm_bindgen_test]
async fn oversized_and_odd_frames_are_refused_and_the_next_frame_is_analysed() {
    let engine = engine().await;
    // Four times an 8K camera's pixels (268 MB of ImageData), a 1-pixel-wide strip: refused
    // by their shape before their pixels are copied into the engine.
    for (width, height) in [(8_200, 8_200), (1, 60_000)] {
        let err = engine
            .process_frame(blank(width, height), 1000.0)
            .await
            .unwrap_err();
        assert_eq!(error_name(&err), "InvalidFrameError", "{width}x{height}");
    }
    // A 1x1 frame is a frame: nothing in it.
    let tiny = engine.process_frame(blank(1, 1), 1500.0).await.unwrap();
    assert_eq!(Array::from(&field(&tiny, "faces")).length(), 0);
    let sources: Array = sources(Uint8Array::from(ASTRONAUT)).await.unchecked_into();
    let result = engine.process_frame(sources.get(0), 2000.0).await.unwrap();
    assert_eq!(Array::from(&field(&result, "faces")).length(), 1);
    engine.close();
}

#[wasm_bindgen_test]
fn rules_tools_work_without_models() {
    let mall = include_str!("../examples/rules/mall.rules.json");
    let issues: Array = validate_rules(JsValue::from_str(mall))
        .unwrap()
        .unchecked_into();
    assert_eq!(issues.length(), 0);
    let bad = include_str!("fixtures/rules/invalid.rules.json");
    let issues: Array = validate_rules(JsValue::from_str(bad))
        .unwrap()
        .unchecked_into();
    assert!(issues.length() > 3);
    assert_eq!(field(&issues.get(0), "path"), "$.timeZone");

    let timeline = include_str!("../examples/rules/weekday.timeline.jsonl");
    let report = simulate_rules(JsValue::from_str(mall), JsValue::from_str(timeline)).unwrap();
    let expected = include_str!("fixtures/rules/weekday.expected.jsonl");
    let plays: Array = field(&report, "plays").unchecked_into();
    // The CLI's golden output: one play per line, then the summary line.
    assert_eq!(plays.length() as usize, expected.lines().count() - 1);
    let first: serde_json::Value = serde_json::from_str(expected.lines().next().unwrap()).unwrap();
    assert_eq!(
        field(&plays.get(0), "decision.adId").as_string().unwrap(),
        first["decision"]["adId"].as_str().unwrap()
    );
}

/// The CPU max pool against burn's own in Wasm, where its SIMD path runs (natively it is scalar).
#[wasm_bindgen_test]
fn max_pool_matches_burns_in_wasm() {
    use burn::nn::pool::MaxPool2dConfig;
    use burn::tensor::{Device, Tensor, TensorData};
    let device = Device::flex();
    for (k, stride) in [(2, 2), (3, 2)] {
        for (h, w) in [(8, 8), (7, 19), (96, 96)] {
            let len = 3 * h * w;
            // Distinct values in a scrambled order, so every window has one right answer.
            let data: Vec<f32> = (0..len)
                .map(|i| ((i * 7919) % len) as f32 - 100.0)
                .collect();
            let x: Tensor<4> = Tensor::from_data(TensorData::new(data, [1, 3, h, w]), &device);
            let layer = MaxPool2dConfig::new([k, k])
                .with_strides([stride, stride])
                .init();
            let reference = layer.forward(x.clone());
            let ours = glance::vision::pool::max_pool(&layer, x);
            assert_eq!(
                ours.into_data().try_to_vec::<f32>().unwrap(),
                reference.into_data().try_to_vec::<f32>().unwrap(),
                "{k}x{k} stride {stride} on {h}x{w}"
            );
        }
    }
}

/// The 3x3 depthwise convolution against burn's own in Wasm, where its SIMD path runs.
#[wasm_bindgen_test]
fn depthwise_convolution_matches_burns_in_wasm() {
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::{Device, Distribution, Tensor};
    let device = Device::flex();
    for (stride, padding, shape) in [
        (1, PaddingConfig2d::Explicit(1, 1, 1, 1), [2, 24, 16, 19]),
        (2, PaddingConfig2d::Explicit(0, 0, 1, 1), [1, 28, 15, 16]),
        (2, PaddingConfig2d::Explicit(1, 1, 1, 1), [1, 8, 13, 37]),
    ] {
        let channels = shape[1];
        let layer = Conv2dConfig::new([channels, channels], [3, 3])
            .with_groups(channels)
            .with_stride([stride, stride])
            .with_padding(padding)
            .init(&device);
        let x: Tensor<4> = Tensor::random(shape, Distribution::Normal(0.0, 1.0), &device);
        let reference = layer.forward(x.clone());
        let ours = glance::vision::conv::conv2d(&layer, x);
        assert_eq!(ours.dims(), reference.dims());
        let diff: f32 = (ours - reference).abs().max().into_scalar();
        assert!(
            diff < 1e-4,
            "stride {stride} on {shape:?}: differs by {diff}"
        );
    }
}
