//! Fuzzes the y4m reader: any bytes give frames or an error, never a panic, and never a frame
//! larger than a frame may be (the decoder must not size buffers from an unchecked header).
//! Run from the repository root:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none y4m_read fuzz/corpus/y4m_read tests/fixtures/fuzz-seeds/y4m`.

#![no_main]

use glance::media::Y4mReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut clip) = Y4mReader::from_reader(
        "fuzz",
        std::io::Cursor::new(data.to_vec()),
        data.len() as u64,
    ) else {
        return;
    };
    assert!(glance::frame::check_frame_shape(clip.width(), clip.height()).is_ok());
    for _ in 0..64 {
        match clip.next_frame() {
            Ok(Some(frame)) => assert_eq!(
                frame.pixels.len(),
                3 * frame.width as usize * frame.height as usize
            ),
            Ok(None) | Err(_) => return,
        }
    }
});
