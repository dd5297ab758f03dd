//! Generates the burn modules of the five networks from the ONNX files committed under
//! `models/` (see models/README.md for where they come from). Weights go to `.bpk` files in
//! OUT_DIR; `src/vision/models.rs` embeds them or loads them from bytes at run time.

use burn_onnx::{LoadStrategy, ModelGen};

const MODELS: [&str; 5] = [
    "face_detection_full_range",
    "face_detection_short_range",
    "face_landmark",
    "iris_landmark",
    "age_gender",
];

fn main() {
    let mut generator = ModelGen::new();
    for name in MODELS {
        let path = format!("models/{name}.onnx");
        println!("cargo:rerun-if-changed={path}");
        generator.input(&path);
    }
    generator
        .out_dir("models/")
        .load_strategy(LoadStrategy::Bytes)
        .run_from_script();
}
