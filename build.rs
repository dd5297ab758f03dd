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

/// burn-flex's max pool is a scalar loop that also records argmax indices; a 2x2, stride-2,
/// unpadded pool is rewritten to `crate::vision::pool::max_pool_2x2` (a reshape and two
/// vectorised reductions, the same values). Returns how many calls were rewritten.
fn rewrite_max_pools(path: &std::path::Path) -> usize {
    let code = std::fs::read_to_string(path).expect("generated model code");
    let mut rewritable = Vec::new();
    for (start, _) in code.match_indices("MaxPool2dConfig::new([2, 2])") {
        let config = &code[start..start + code[start..].find(".init()").expect("config ends")];
        let unpadded = config.contains("PaddingConfig2d::Valid")
            || config.contains("PaddingConfig2d::Explicit(0, 0, 0, 0)");
        if config.contains(".with_strides([2, 2])")
            && unpadded
            && config.contains(".with_dilation([1, 1])")
            && config.contains(".with_ceil_mode(false)")
        {
            let name = code[..start]
                .rsplit("let ")
                .next()
                .and_then(|tail| tail.split_whitespace().next())
                .expect("the config is bound to a name");
            rewritable.push(name.to_string());
        }
    }
    let mut rewritten = code.clone();
    for name in &rewritable {
        rewritten = rewritten.replace(
            &format!("self.{name}.forward("),
            "crate::vision::pool::max_pool_2x2(",
        );
    }
    std::fs::write(path, rewritten).expect("write generated model code");
    rewritable.len()
}

/// Every `Conv2d` call goes through `crate::vision::conv::conv2d`, which picks a faster CPU
/// path for the layers burn-flex is slow on and is `forward` otherwise. Returns how many calls
/// were rewritten.
fn rewrite_convs(path: &std::path::Path) -> usize {
    let code = std::fs::read_to_string(path).expect("generated model code");
    let mut rewritten = String::with_capacity(code.len());
    let mut count = 0;
    let mut rest = code.as_str();
    // `self.conv2dN.forward(` → `crate::vision::conv::conv2d(&self.conv2dN, `
    while let Some(start) = rest.find("self.conv2d") {
        let after = &rest[start + "self.".len()..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..name_len];
        let tail = &after[name_len..];
        rewritten.push_str(&rest[..start]);
        if let Some(args) = tail.strip_prefix(".forward(") {
            rewritten.push_str(&format!("crate::vision::conv::conv2d(&self.{name}, "));
            rest = args;
            count += 1;
        } else {
            rewritten.push_str(&rest[start..start + "self.".len() + name_len]);
            rest = tail;
        }
    }
    rewritten.push_str(rest);
    std::fs::write(path, rewritten).expect("write generated model code");
    count
}

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
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    for name in MODELS {
        let path = out.join("models").join(format!("{name}.rs"));
        rewrite_max_pools(&path);
        assert!(rewrite_convs(&path) > 0, "{name} has convolutions");
    }
}
