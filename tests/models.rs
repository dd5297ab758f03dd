//! Each network in burn against onnxruntime's outputs on the same input (models/reference/*.json,
//! written by models/convert.py, which also checked onnxruntime against the TFLite runtime).
//! A failure here means the weights, the ONNX import or burn's kernels drifted.
#![cfg(not(target_arch = "wasm32"))]

use burn::tensor::Device;
use glance::vision::{DetectorModel, ModelWeights, Networks};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    shape: Vec<usize>,
    sum: f64,
    abs_sum: f64,
    head: Vec<f64>,
    max: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reference {
    input: [usize; 4],
    #[serde(default)]
    input_scale: Option<f32>,
    outputs: serde_json::Map<String, serde_json::Value>,
}

fn reference(name: &str) -> Reference {
    let path = format!(
        "{}/models/reference/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("reference file"))
        .expect("reference json")
}

/// The same deterministic pseudo-image as `probe_input` in models/convert.py.
fn probe_input(len: usize, scale: f32) -> Vec<f32> {
    (0..len as u64)
        .map(|i| ((i * 2654435761) % 1000003 % 1000) as f32 / 1000.0 * scale)
        .collect()
}

fn check(name: &str, output: &str, actual: &[f32]) {
    let r = reference(name);
    let expected: Summary = serde_json::from_value(r.outputs[output].clone()).expect("summary");
    assert_eq!(
        actual.len(),
        expected.shape.iter().product::<usize>(),
        "{name}/{output}: element count"
    );
    for (i, (&a, &e)) in actual.iter().zip(&expected.head).enumerate() {
        let tolerance = 2e-3 + 1e-3 * e.abs();
        assert!(
            (a as f64 - e).abs() <= tolerance,
            "{name}/{output}[{i}]: burn {a} vs onnxruntime {e}"
        );
    }
    let sum: f64 = actual.iter().map(|&v| v as f64).sum();
    let abs_sum: f64 = actual.iter().map(|&v| (v as f64).abs()).sum();
    let max = actual.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let tolerance = 1e-4 * expected.abs_sum + 1e-2;
    assert!(
        (sum - expected.sum).abs() <= tolerance,
        "{name}/{output}: sum {sum} vs {}",
        expected.sum
    );
    assert!(
        (abs_sum - expected.abs_sum).abs() <= tolerance,
        "{name}/{output}: |sum| {abs_sum} vs {}",
        expected.abs_sum
    );
    assert!(
        (max - expected.max).abs() <= 2e-3 + 1e-3 * expected.max.abs(),
        "{name}/{output}: max {max} vs {}",
        expected.max
    );
}

fn networks() -> Networks {
    Networks::load(&Device::flex(), &ModelWeights::embedded()).expect("embedded weights load")
}

fn input_for(name: &str) -> Vec<f32> {
    let r = reference(name);
    probe_input(r.input.iter().product(), r.input_scale.unwrap_or(1.0))
}

#[test]
fn face_detection_full_range_matches_reference() {
    let (boxes, scores) = pollster::block_on(networks().detect(
        DetectorModel::FullRange,
        input_for("face_detection_full_range"),
        1,
    ))
    .unwrap();
    check(
        "face_detection_full_range",
        "reshaped_regressor_face_4",
        &boxes,
    );
    check(
        "face_detection_full_range",
        "reshaped_classifier_face_4",
        &scores,
    );
}

#[test]
fn face_detection_short_range_matches_reference() {
    let (boxes, scores) = pollster::block_on(networks().detect(
        DetectorModel::ShortRange,
        input_for("face_detection_short_range"),
        1,
    ))
    .unwrap();
    check("face_detection_short_range", "regressors", &boxes);
    check("face_detection_short_range", "classificators", &scores);
}

#[test]
fn face_landmark_matches_reference() {
    let (landmarks, presence) =
        pollster::block_on(networks().face_landmarks(input_for("face_landmark"), 1)).unwrap();
    check("face_landmark", "conv2d_20", &landmarks);
    check("face_landmark", "conv2d_30", &presence);
}

#[test]
fn iris_landmark_matches_reference() {
    let (contour, iris) =
        pollster::block_on(networks().iris_landmarks(input_for("iris_landmark"), 1)).unwrap();
    check("iris_landmark", "output_eyes_contours_and_brows", &contour);
    check("iris_landmark", "output_iris", &iris);
}

#[test]
fn age_gender_matches_reference() {
    let (age, gender) =
        pollster::block_on(networks().age_gender(input_for("age_gender"), 1)).unwrap();
    check("age_gender", "age", &age);
    check("age_gender", "gender", &gender);
}

#[test]
fn centerface_matches_reference() {
    let r = reference("centerface");
    let [_, _, height, width] = r.input;
    let maps = pollster::block_on(networks().centerface(input_for("centerface"), 1, height, width))
        .unwrap()
        .remove(0);
    assert_eq!((maps.height, maps.width), (height / 4, width / 4));
    check("centerface", "537", &maps.heatmap);
    check("centerface", "538", &maps.scale);
    check("centerface", "539", &maps.offset);
    check("centerface", "540", &maps.landmarks);
}

#[test]
fn corrupt_weights_are_a_typed_error_not_a_panic() {
    let mut weights = ModelWeights::embedded();
    weights.face_landmark = burn::tensor::Bytes::from_bytes_vec(b"not a burnpack file".to_vec());
    let err = Networks::load(&Device::flex(), &weights).unwrap_err();
    assert_eq!(err.kind(), "ModelLoadError");
    assert!(err.to_string().contains("face_landmark"), "{err}");
}
