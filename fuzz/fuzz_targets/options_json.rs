//! Fuzzes the options and configuration documents: any text gives options or an error with a
//! path, never a panic; options that parse survive a round trip and a patch with themselves.
//! Run from the repository root:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none options_json fuzz/corpus/options_json tests/fixtures/fuzz-seeds/options`.

#![no_main]

use glance::audience::{AudienceConfig, ReportOptions};
use glance::engine::EngineOptions;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = AudienceConfig::from_json(text);
    let _ = serde_json::from_str::<ReportOptions>(text);
    if let Ok(patch) = serde_json::from_str::<serde_json::Value>(text) {
        let _ = EngineOptions::default().patched(&patch);
    }
    if let Ok(options) = EngineOptions::from_json(text) {
        let again = serde_json::to_string(&options).expect("options serialise");
        assert_eq!(
            EngineOptions::from_json(&again).expect("a round trip parses"),
            options
        );
    }
});
