//! Fuzzes `restoreState`: any text restores or gives an error, never a panic; a state that
//! restores reports, and saves to a state that restores to the same save.
//! Run from the repository root:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none restore_state fuzz/corpus/restore_state tests/fixtures/fuzz-seeds/state`.

#![no_main]

use glance::audience::{AudienceAggregator, AudienceConfig, ReportOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut aggregator = AudienceAggregator::new(AudienceConfig::default()).expect("defaults");
    if aggregator.restore_state(text).is_err() {
        return;
    }
    let _ = aggregator.report(&ReportOptions::default());
    let saved = aggregator.save_state();
    let mut again = AudienceAggregator::new(AudienceConfig::default()).expect("defaults");
    again.restore_state(&saved).expect("a saved state restores");
    assert_eq!(again.save_state(), saved);
});
