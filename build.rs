//! Generates the burn modules of the six networks from the ONNX files committed under
//! `models/` (see models/README.md for where they come from). Weights go to `.bpk` files in
//! OUT_DIR; `src/vision/models.rs` embeds them or loads them from bytes at run time.

use burn_onnx::{LoadStrategy, ModelGen};

#[path = "src/vision/weights.rs"]
#[allow(dead_code)]
mod weights;

use weights::Precision;

/// Each network and how its shipped weights are stored (in src/vision/weights.rs, which the
/// model tests read too).
const MODELS: [(&str, Precision); 6] = weights::SHIPPED;

/// Every `MaxPool2d` call goes through `crate::vision::pool::max_pool` (burn-flex's pool is a
/// scalar loop that also records argmax indices). Returns how many calls were rewritten.
fn rewrite_max_pools(path: &std::path::Path) -> usize {
    rewrite_layer_calls(path, "self.maxpool2d", "crate::vision::pool::max_pool")
}

/// `self.<prefix>N.forward(` → `<function>(&self.<prefix>N, ` in a generated model.
fn rewrite_layer_calls(path: &std::path::Path, prefix: &str, function: &str) -> usize {
    let code = std::fs::read_to_string(path).expect("generated model code");
    let mut rewritten = String::with_capacity(code.len());
    let mut count = 0;
    let mut rest = code.as_str();
    while let Some(start) = rest.find(prefix) {
        let after = &rest[start + "self.".len()..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..name_len];
        let tail = &after[name_len..];
        rewritten.push_str(&rest[..start]);
        if let Some(args) = tail.strip_prefix(".forward(") {
            rewritten.push_str(&format!("{function}(&self.{name}, "));
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

/// Every `Conv2d` call goes through `crate::vision::conv::conv2d`, which picks a faster CPU
/// path for the layers burn-flex is slow on and is `forward` otherwise. Returns how many calls
/// were rewritten.
fn rewrite_convs(path: &std::path::Path) -> usize {
    rewrite_layer_calls(path, "self.conv2d", "crate::vision::conv::conv2d")
}

fn main() {
    let mut generator = ModelGen::new();
    println!("cargo:rerun-if-changed=src/vision/weights.rs");
    for (name, _) in MODELS {
        let path = format!("models/{name}.onnx");
        println!("cargo:rerun-if-changed={path}");
        generator.input(&path);
    }
    generator
        .out_dir("models/")
        .load_strategy(LoadStrategy::Bytes)
        .run_from_script();
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    for (name, precision) in MODELS {
        let path = out.join("models").join(format!("{name}.rs"));
        rewrite_max_pools(&path);
        assert!(rewrite_convs(&path) > 0, "{name} has convolutions");
        // `<name>.bpk` stays the exact f32 file (the model tests compare it with onnxruntime);
        // `<name>.packed.bpk` is what ships.
        let exact = std::fs::read(out.join("models").join(format!("{name}.bpk"))).expect("weights");
        let packed = weights::pack(&exact, precision).expect("pack weights");
        std::fs::write(
            out.join("models").join(format!("{name}.packed.bpk")),
            packed,
        )
        .expect("write packed weights");
    }
}
