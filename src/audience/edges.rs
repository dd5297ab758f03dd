//! When a person crossed the edge of the camera's view. The detector finds a face only once
//! most of it is in the picture, and loses it before it has fully left, so a walk-by's first
//! and last detections fall short of the time the person was in view. A track that begins
//! (ends) at the frame's edge while moving across it is extended back (forward) to the moment
//! its face's leading (trailing) edge crossed the frame's edge, at the speed the track had then.
//! Geometry only: box positions and times.

use super::config::TrackerConfig;

/// Observations kept at each end of a track for the extrapolation.
pub(crate) const EDGE_SAMPLES: usize = 8;

/// One observation: time (ms) and box `[x, y, w, h]` in pixels.
pub(crate) type BoxSample = (f64, [f32; 4]);

/// Which end of the track the samples describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TrackEnd {
    /// The first samples: how long before them the face came into view.
    Entry,
    /// The last samples: how long after them the face was still partly in view.
    Exit,
}

/// The first and the latest [`EDGE_SAMPLES`] observations of a track.
#[derive(Debug, Clone)]
pub(crate) struct EdgeSamples {
    first: [BoxSample; EDGE_SAMPLES],
    /// Ring buffer of the latest samples; `count` is the number of samples ever pushed.
    latest: [BoxSample; EDGE_SAMPLES],
    count: usize,
    /// The frame's size (width, height) at the latest sample.
    pub frame: (u32, u32),
}

impl EdgeSamples {
    pub fn new() -> Self {
        Self {
            first: [(0.0, [0.0; 4]); EDGE_SAMPLES],
            latest: [(0.0, [0.0; 4]); EDGE_SAMPLES],
            count: 0,
            frame: (0, 0),
        }
    }

    pub fn push(&mut self, ts: f64, bbox: [f32; 4], frame: (u32, u32)) {
        if self.count < EDGE_SAMPLES {
            self.first[self.count] = (ts, bbox);
        }
        self.latest[self.count % EDGE_SAMPLES] = (ts, bbox);
        self.count += 1;
        self.frame = frame;
    }

    /// The samples of one end of the track, oldest first, and how many there are.
    fn end(&self, end: TrackEnd) -> ([BoxSample; EDGE_SAMPLES], usize) {
        let n = self.count.min(EDGE_SAMPLES);
        match end {
            TrackEnd::Entry => (self.first, n),
            TrackEnd::Exit => (
                std::array::from_fn(|k| {
                    self.latest[(self.count + EDGE_SAMPLES - n + k) % EDGE_SAMPLES]
                }),
                n,
            ),
        }
    }

    /// [`edge_extension_ms`] of this track's entry or exit.
    pub(crate) fn extension_ms(&self, end: TrackEnd, cfg: &TrackerConfig) -> f64 {
        let (samples, n) = self.end(end);
        edge_extension_ms(&samples[..n], end, self.frame, cfg)
    }
}

/// Least-squares slope of `value` against time, pixels per second, over the samples whose box
/// is clear of the frame's edges on the axis (`axis` 0: x, 1: y; `limit`: the frame's size)
/// when at least 3 are: a box cut by the edge, or a face only partly in view, moves
/// irregularly.
fn slope(samples: &[BoxSample], axis: usize, limit: f32, value: impl Fn(&[f32; 4]) -> f32) -> f32 {
    let is_clear = |b: &[f32; 4]| b[axis] > 0.5 && b[axis] + b[axis + 2] < limit - 0.5;
    let only_clear = samples.iter().filter(|s| is_clear(&s.1)).count() >= 3;
    let used = || {
        samples
            .iter()
            .filter(move |s| !only_clear || is_clear(&s.1))
    };
    let n = used().count() as f64;
    let mt = used().map(|s| s.0).sum::<f64>() / n;
    let mv = used().map(|s| value(&s.1) as f64).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (t, b) in used() {
        num += (t - mt) * (value(b) as f64 - mv);
        den += (t - mt) * (t - mt);
    }
    if den > 0.0 {
        (num / den * 1000.0) as f32
    } else {
        0.0
    }
}

/// Milliseconds to add before the first sample (`Entry`) or after the last (`Exit`) for the
/// part of the crossing the detector could not see; 0 when the track did not begin (end) at
/// an edge of the `frame` (width, height) while moving across it.
pub(crate) fn edge_extension_ms(
    samples: &[BoxSample],
    end: TrackEnd,
    frame: (u32, u32),
    cfg: &TrackerConfig,
) -> f64 {
    if samples.len() < 3 || cfg.max_edge_extension_ms <= 0.0 {
        return 0.0;
    }
    let b = match end {
        TrackEnd::Entry => samples[0].1,
        TrackEnd::Exit => samples[samples.len() - 1].1,
    };
    let mut extension = f32::INFINITY;
    for (axis, limit) in [(0, frame.0 as f32), (1, frame.1 as f32)] {
        // The box's low and high edges on this axis, and their speeds.
        let (lo, hi) = (b[axis], b[axis] + b[axis + 2]);
        let v_lo = slope(samples, axis, limit, |b| b[axis]);
        let v_hi = slope(samples, axis, limit, |b| b[axis] + b[axis + 2]);
        // Boxes cut by the frame's edge are narrower than the face: the widest is its size.
        let size = samples.iter().map(|s| s.1[axis + 2]).fold(0.0, f32::max);
        let margin = cfg.edge_margin * size;
        let min_speed = cfg.min_edge_speed * size;
        let seconds = match end {
            // Entering through the low edge, the high edge leads (and vice versa).
            TrackEnd::Entry if lo <= margin && v_hi >= min_speed => hi / v_hi,
            TrackEnd::Entry if hi >= limit - margin && -v_lo >= min_speed => (limit - lo) / -v_lo,
            // Leaving through the high edge, the low edge is the last to go (and vice versa).
            TrackEnd::Exit if hi >= limit - margin && v_lo >= min_speed => (limit - lo) / v_lo,
            TrackEnd::Exit if lo <= margin && -v_hi >= min_speed => hi / -v_hi,
            _ => continue,
        };
        // In view is inside on both axes: the later crossing (the shorter extension) counts.
        extension = extension.min(seconds.max(0.0));
    }
    if extension.is_finite() {
        (extension as f64 * 1000.0).min(cfg.max_edge_extension_ms)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A face `size` px wide moving at `vx` px/s, its left edge at `x0` at t = 0, sampled at
    /// 15 fps from `t0` for `n` frames, clipped to a 640x480 frame.
    fn walk(x0: f32, vx: f32, size: f32, t0: f64, n: usize) -> Vec<BoxSample> {
        (0..n)
            .map(|k| {
                let t = t0 + k as f64 * 1000.0 / 15.0;
                let left = x0 + vx * (t / 1000.0) as f32;
                let (l, r) = (left.max(0.0), (left + size).min(640.0));
                (t, [l, 100.0, r - l, size])
            })
            .collect()
    }

    const FRAME: (u32, u32) = (640, 480);

    #[test]
    fn samples_keep_both_ends_of_a_track_in_order() {
        let mut s = EdgeSamples::new();
        for k in 0..12 {
            s.push(k as f64, [k as f32; 4], FRAME);
        }
        let times = |end| {
            let (samples, n) = s.end(end);
            samples[..n].iter().map(|x| x.0).collect::<Vec<_>>()
        };
        assert_eq!(
            times(TrackEnd::Entry),
            [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
        );
        assert_eq!(
            times(TrackEnd::Exit),
            [4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]
        );
        let mut short = EdgeSamples::new();
        short.push(5.0, [1.0; 4], FRAME);
        assert_eq!(short.end(TrackEnd::Exit).1, 1);
    }

    #[test]
    fn entry_from_the_left_goes_back_to_when_the_leading_edge_crossed() {
        // Right edge crosses x = 0 at t = 0 (left edge at -100); first seen at 400 ms.
        let s = walk(-100.0, 200.0, 100.0, 400.0, 5);
        let ext = edge_extension_ms(&s, TrackEnd::Entry, FRAME, &TrackerConfig::default());
        assert!((ext - 400.0).abs() < 1.0, "{ext}");
    }

    #[test]
    fn entry_from_the_right_and_exit_through_the_left() {
        // Moving left at 250 px/s: left edge at 640 at t = 0, first seen at 200 ms.
        let s = walk(640.0, -250.0, 80.0, 200.0, 5);
        let ext = edge_extension_ms(&s, TrackEnd::Entry, FRAME, &TrackerConfig::default());
        assert!((ext - 200.0).abs() < 1.0, "{ext}");
        // Its right edge reaches x = 0 at t = 720/250 s = 2880 ms; last seen at 2600 ms.
        let last = walk(640.0, -250.0, 80.0, 2600.0 - 4000.0 / 15.0, 5);
        let ext = edge_extension_ms(&last, TrackEnd::Exit, FRAME, &TrackerConfig::default());
        assert!((ext - 280.0).abs() < 1.0, "{ext}");
    }

    #[test]
    fn no_extension_in_the_middle_of_the_frame_or_when_standing_at_the_edge() {
        let cfg = TrackerConfig::default();
        // Appears mid-frame (turned towards the camera there): no entry through an edge.
        let mid = walk(300.0, 200.0, 100.0, 0.0, 5);
        assert_eq!(edge_extension_ms(&mid, TrackEnd::Entry, FRAME, &cfg), 0.0);
        assert_eq!(edge_extension_ms(&mid, TrackEnd::Exit, FRAME, &cfg), 0.0);
        // Standing at the edge, not crossing it.
        let still = walk(0.0, 0.0, 100.0, 0.0, 5);
        assert_eq!(edge_extension_ms(&still, TrackEnd::Entry, FRAME, &cfg), 0.0);
        // Moving away from the edge it is near: it is leaving the edge, not arriving through it.
        let away = walk(560.0, -100.0, 100.0, 0.0, 5);
        assert_eq!(edge_extension_ms(&away, TrackEnd::Exit, FRAME, &cfg), 0.0);
        // Too few samples to know the speed.
        let s = walk(-100.0, 200.0, 100.0, 400.0, 2);
        assert_eq!(edge_extension_ms(&s, TrackEnd::Entry, FRAME, &cfg), 0.0);
    }

    #[test]
    fn extension_is_capped_and_can_be_turned_off() {
        let mut cfg = TrackerConfig::default();
        // Slow walker: 60 px/s with the leading edge 90 px in: 1.5 s, capped.
        let s = walk(-10.0, 60.0, 100.0, 0.0, 5);
        assert_eq!(
            edge_extension_ms(&s, TrackEnd::Entry, FRAME, &cfg),
            cfg.max_edge_extension_ms
        );
        cfg.max_edge_extension_ms = 0.0;
        assert_eq!(edge_extension_ms(&s, TrackEnd::Entry, FRAME, &cfg), 0.0);
    }
}
