//! Each network in burn against onnxruntime's outputs on the same input (models/reference/*.json,
//! written by models/convert.py, which also checked onnxruntime against the TFLite runtime).
//! A failure here means the weights, the ONNX import or burn's kernels drifted.
#![cfg(not(target_arch = "wasm32"))]

use burn::tensor::Device;
use glance::vision::weights::{self, Precision};
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

/// The exact f32 weights burn-onnx converted: what must match onnxruntime.
fn exact() -> Networks {
    let weights = ModelWeights::exact_from_build().expect("exact weights in the build folder");
    Networks::load(&Device::flex(), &weights).expect("exact weights load")
}

/// The weights as shipped (int8 kernels, f16 elsewhere; src/vision/weights.rs).
fn packed() -> Networks {
    Networks::load(&Device::flex(), &ModelWeights::embedded()).expect("embedded weights load")
}

fn input_for(name: &str) -> Vec<f32> {
    let r = reference(name);
    probe_input(r.input.iter().product(), r.input_scale.unwrap_or(1.0))
}

/// Every output of network `name` on its reference probe, by the reference's output names.
fn outputs(networks: &Networks, name: &str) -> Vec<(&'static str, Vec<f32>)> {
    let input = input_for(name);
    pollster::block_on(async {
        Ok::<_, glance::error::GlanceError>(match name {
            "face_detection_full_range" => {
                let (boxes, scores) = networks.detect(DetectorModel::FullRange, input, 1).await?;
                vec![
                    ("reshaped_regressor_face_4", boxes),
                    ("reshaped_classifier_face_4", scores),
                ]
            }
            "face_detection_short_range" => {
                let (boxes, scores) = networks.detect(DetectorModel::ShortRange, input, 1).await?;
                vec![("regressors", boxes), ("classificators", scores)]
            }
            "face_landmark" => {
                let (landmarks, presence) = networks.face_landmarks(input, 1).await?;
                vec![("conv2d_20", landmarks), ("conv2d_30", presence)]
            }
            "iris_landmark" => {
                let (contour, iris) = networks.iris_landmarks(input, 1).await?;
                vec![
                    ("output_eyes_contours_and_brows", contour),
                    ("output_iris", iris),
                ]
            }
            "age_gender" => {
                let (age, gender) = networks.age_gender(input, 1).await?;
                vec![("age", age), ("gender", gender)]
            }
            "centerface" => {
                let [_, _, height, width] = reference(name).input;
                let maps = networks
                    .centerface()
                    .maps(input, 1, height, width)
                    .await?
                    .remove(0);
                assert_eq!((maps.height, maps.width), (height / 4, width / 4));
                vec![
                    ("537", maps.heatmap),
                    ("538", maps.scale),
                    ("539", maps.offset),
                    ("540", maps.landmarks),
                ]
            }
            other => panic!("no network {other}"),
        })
    })
    .unwrap()
}

/// The largest relative error packing may cause on a probe output, ‖packed − exact‖ / ‖exact‖:
/// f16 storage must be all but lossless; int8 is allowed more on this noise probe, its worst
/// case (CenterFace's offset map moves 13 % here, while WIDER recall does not move; the
/// accuracy bench's `weights` and `wider` sections measure what packing does on faces).
/// This catches a packing that is broken, not one that is slightly off.
fn packed_tolerance(name: &str) -> f64 {
    match weights::SHIPPED.iter().find(|(n, _)| *n == name) {
        Some((_, Precision::Half)) => 1e-3,
        Some((_, Precision::Int8 { .. })) => 0.15,
        None => panic!("{name} is not shipped"),
    }
}

/// The exact weights match onnxruntime; the shipped ones stay within [`packed_tolerance`] of
/// the exact ones.
fn matches_reference(name: &str) {
    let exact = outputs(&exact(), name);
    let packed = outputs(&packed(), name);
    for ((output, e), (_, p)) in exact.iter().zip(&packed) {
        check(name, output, e);
        let diff: f64 = e
            .iter()
            .zip(p)
            .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
            .sum();
        let norm: f64 = e.iter().map(|a| (*a as f64).powi(2)).sum();
        let relative = (diff / norm.max(1e-12)).sqrt();
        println!("{name}/{output}: packed weights {relative:.5} from exact");
        assert!(
            relative <= packed_tolerance(name),
            "{name}/{output}: packed weights {relative:.4} from exact"
        );
    }
}

#[test]
fn face_detection_full_range_matches_reference() {
    matches_reference("face_detection_full_range");
}

#[test]
fn face_detection_short_range_matches_reference() {
    matches_reference("face_detection_short_range");
}

#[test]
fn face_landmark_matches_reference() {
    matches_reference("face_landmark");
}

#[test]
fn iris_landmark_matches_reference() {
    matches_reference("iris_landmark");
}

#[test]
fn age_gender_matches_reference() {
    matches_reference("age_gender");
}

#[test]
fn centerface_matches_reference() {
    matches_reference("centerface");
}

#[test]
fn the_package_fetches_every_shipped_network_in_order() {
    let loader =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/web/weights.js"))
            .expect("src/web/weights.js");
    let line = loader
        .lines()
        .find(|l| l.starts_with("export const MODEL_NAMES = ["))
        .expect("weights.js lists MODEL_NAMES");
    let names: Vec<&str> = weights::SHIPPED.iter().map(|(n, _)| *n).collect();
    let listed = format!("export const MODEL_NAMES = [\"{}\"];", names.join("\", \""));
    assert_eq!(line, listed);
    // Each default URL is a literal a bundler can follow.
    for name in names {
        let literal = format!("{name}: new URL(\"./models/{name}.bpk\", import.meta.url).href,");
        assert!(loader.contains(&literal), "weights.js lacks {literal}");
    }
}

#[test]
fn shipped_weights_are_packed_to_under_a_third() {
    let exact = ModelWeights::exact_from_build().unwrap().total_bytes();
    let packed = ModelWeights::embedded().total_bytes();
    assert!(packed * 3 < exact, "packed {packed} bytes, exact {exact}");
}

#[test]
fn corrupt_weights_are_a_typed_error_not_a_panic() {
    let mut weights = ModelWeights::embedded();
    weights.face_landmark = burn::tensor::Bytes::from_bytes_vec(b"not a burnpack file".to_vec());
    let err = Networks::load(&Device::flex(), &weights).unwrap_err();
    assert_eq!(err.kind(), "ModelLoadError");
    assert!(err.to_string().contains("face_landmark"), "{err}");
}
