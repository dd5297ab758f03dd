//! The generated burn modules (from models/*.onnx, by build.rs).

macro_rules! generated {
    ($name:ident) => {
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
