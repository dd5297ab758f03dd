//! The generated burn modules (from models/*.onnx, by build.rs).

macro_rules! generated {
    ($name:ident) => {
        // burn-onnx writes each network's forward pass as one function, a line per layer.
        #[allow(clippy::too_many_lines)]
        pub mod $name {
            include!(concat!(
                env!("OUT_DIR"),
                "/models/",
                stringify!($name),
                ".rs"
            ));
        }
    };
}

generated!(face_detection_full_range);
generated!(face_detection_short_range);
generated!(face_landmark);
generated!(iris_landmark);
generated!(age_gender);
generated!(centerface);
