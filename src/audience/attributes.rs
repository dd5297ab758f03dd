//! Per-visit estimates of apparent age and gender that improve with evidence and say
//! `unknown` when unsure.
//!
//! Each frame's estimate counts by its quality `q` in [0, 1] (size, detector score,
//! frontalness, sharpness). Gender is pooled in log-odds: the visit's log-odds are the
//! quality-weighted mean of the frames' calibrated log-odds times the evidence factor `g(Q)` of
//! the accumulated quality `Q = Σq`. Age is a Gaussian over years around the quality-weighted
//! mean estimate, its spread the calibrated spread of one frame divided by `√g(Q)`; a band's
//! confidence is its probability under that Gaussian. `g(Q) = Q` below one good frame's worth
//! (less evidence, less confidence), then `Q / (1 + (Q − 1)ρ)`: frames of one face share
//! light, pose and the network's bias, so with correlation `ρ` they are worth at most `1/ρ`
//! independent frames, and a visit never grows more confident than that.

use super::config::AttributeConfig;
use crate::analysis::{FaceAnalysis, Gender};

/// Estimated age under which a visit is a child's (gender unknown unless `genderForChildren`).
pub const ADULT_AGE_YEARS: f32 = 18.0;

#[derive(Debug, Clone, Default)]
pub(crate) struct AttributeSmoother {
    /// Σ q · age and Σ q over frames with an age estimate.
    age_sum: f32,
    age_quality: f32,
    /// Σ q · log-odds(female) and Σ q over frames with a gender estimate.
    female_log_odds_sum: f32,
    gender_quality: f32,
    last_sample_ms: Option<f64>,
}

/// A visit's judgement of one attribute: `value` is `None` (unknown) when `confidence`, the
/// probability of the most likely value, is below the configured threshold, or when the
/// attribute is not reported for this person (children's gender).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Judged<T> {
    pub value: Option<T>,
    pub confidence: f32,
}

/// Logistic approximation of the standard normal CDF (max error ≈ 0.01).
fn normal_cdf(x: f32) -> f32 {
    1.0 / (1.0 + (-1.702 * x).exp())
}

/// How much one frame's attributes are trusted, in [0, 1]: larger, sharper, more frontal faces
/// with surer detections count more.
pub fn sample_weight(face: &FaceAnalysis, cfg: &AttributeConfig) -> f32 {
    let size = (face.bbox[2] / cfg.full_weight_face_px).clamp(0.0, 1.0);
    let frontal = match (face.yaw, face.pitch) {
        (Some(y), Some(p)) => (y.to_radians().cos() * p.to_radians().cos()).max(0.0),
        (Some(y), None) => y.to_radians().cos().max(0.0),
        _ => 0.7,
    };
    let sharpness = face.sharpness.unwrap_or(1.0).clamp(0.0, 1.0);
    (face.score.clamp(0.0, 1.0) * size * frontal * sharpness).max(0.0)
}

/// Spread of one good frame's age estimate around the true age, years.
pub fn one_frame_age_sigma(cfg: &AttributeConfig, age: f32) -> f32 {
    cfg.age_sigma_years + cfg.age_sigma_per_year * age.max(0.0)
}

/// Probability of each band (`band_starts`: lower edges, the last band open-ended) under a
/// Gaussian over age.
pub fn age_band_probabilities(mean: f32, sigma: f32, band_starts: &[u32]) -> Vec<f32> {
    let mut below_lo = 0.0;
    (0..band_starts.len())
        .map(|i| {
            let below_hi = band_starts
                .get(i + 1)
                .map_or(1.0, |&h| normal_cdf((h as f32 - mean) / sigma));
            let p = (below_hi - below_lo).max(0.0);
            below_lo = below_hi;
            p
        })
        .collect()
}

/// How many independent good frames `quality` (a sum of frame qualities) is worth.
fn evidence(quality: f32, correlation: f32) -> f32 {
    if quality <= 1.0 {
        quality
    } else {
        quality / (1.0 + (quality - 1.0) * correlation)
    }
}

impl AttributeSmoother {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, face: &FaceAnalysis, cfg: &AttributeConfig, ts_ms: f64) {
        let q = sample_weight(face, cfg);
        if let Some(age) = face.age.filter(|a| a.is_finite())
            && q > 0.0
        {
            self.age_sum += q * age.max(0.0);
            self.age_quality += q;
        }
        if let (Some(g), Some(s)) = (face.gender, face.gender_score)
            && q > 0.0
        {
            // A probability of exactly 0 or 1 would be infinite evidence.
            let p = s.clamp(0.5, 0.999);
            let log_odds = (p / (1.0 - p)).ln();
            self.female_log_odds_sum += q * if g == Gender::Female {
                log_odds
            } else {
                -log_odds
            };
            self.gender_quality += q;
        }
        if face.age.is_some() || face.gender.is_some() {
            self.last_sample_ms = Some(ts_ms);
        }
    }

    /// The visit's mean age estimate and the spread of its distribution, once judged.
    fn age(&self, cfg: &AttributeConfig) -> Option<(f32, f32)> {
        if self.age_quality < cfg.min_weight_to_report || self.age_quality <= 0.0 {
            return None;
        }
        let mean = self.age_sum / self.age_quality;
        let one_frame = one_frame_age_sigma(cfg, mean);
        let sigma = one_frame / evidence(self.age_quality, cfg.frame_correlation).sqrt();
        Some((mean, sigma))
    }

    /// Probability of each band (`band_starts`: lower edges, the last band open-ended).
    pub(crate) fn band_probabilities(
        &self,
        cfg: &AttributeConfig,
        band_starts: &[u32],
    ) -> Option<Vec<f32>> {
        let (mean, sigma) = self.age(cfg)?;
        Some(age_band_probabilities(mean, sigma, band_starts))
    }

    /// The most probable band and its probability, once judged; unknown below
    /// `minAgeBandConfidence`.
    pub fn band(&self, cfg: &AttributeConfig, band_starts: &[u32]) -> Option<Judged<u8>> {
        let probs = self.band_probabilities(cfg, band_starts)?;
        let total: f32 = probs.iter().sum();
        let (i, p) = probs.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
        let confidence = if total > 0.0 { p / total } else { 0.0 };
        Some(Judged {
            value: (confidence >= cfg.min_age_band_confidence).then_some(i as u8),
            confidence,
        })
    }

    /// The pooled gender and its probability, once judged; unknown below
    /// `minGenderConfidence`, and for children unless `genderForChildren`.
    pub fn gender(&self, cfg: &AttributeConfig) -> Option<Judged<Gender>> {
        if self.gender_quality < cfg.min_weight_to_report || self.gender_quality <= 0.0 {
            return None;
        }
        let mean = self.female_log_odds_sum / self.gender_quality;
        let log_odds = mean * evidence(self.gender_quality, cfg.frame_correlation);
        let p_female = 1.0 / (1.0 + (-log_odds).exp());
        let (gender, confidence) = if p_female >= 0.5 {
            (Gender::Female, p_female)
        } else {
            (Gender::Male, 1.0 - p_female)
        };
        let child = self.age(cfg).is_some_and(|(age, _)| age < ADULT_AGE_YEARS);
        let reported =
            confidence >= cfg.min_gender_confidence && (cfg.gender_for_children || !child);
        Some(Judged {
            value: reported.then_some(gender),
            confidence,
        })
    }

    /// Whether the attribute models should run on this track's face in a frame at `ts_ms`:
    /// every `unsettledIntervalMs` until the estimates are stable, then every `intervalMs`.
    pub(crate) fn needs_attributes(&self, cfg: &AttributeConfig, ts_ms: f64) -> bool {
        self.overdue_ms(cfg, ts_ms).is_some()
    }

    /// How long the attribute models are overdue on this track's face at `ts_ms`, ms (`None`:
    /// not due yet; a face never looked at is due the longest).
    pub(crate) fn overdue_ms(&self, cfg: &AttributeConfig, ts_ms: f64) -> Option<f64> {
        let stable =
            self.age_quality >= cfg.stable_weight && self.gender_quality >= cfg.stable_weight;
        let interval = if stable {
            cfg.interval_ms
        } else {
            cfg.unsettled_interval_ms
        };
        match self.last_sample_ms {
            Some(last) => Some(ts_ms - last - interval).filter(|late| *late >= 0.0),
            None => Some(f64::INFINITY),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(age: f32, gender: Gender, score: f32) -> FaceAnalysis {
        FaceAnalysis {
            age: Some(age),
            gender: Some(gender),
            gender_score: Some(score),
            yaw: Some(0.0),
            pitch: Some(0.0),
            ..FaceAnalysis::detected([0.0, 0.0, 100.0, 100.0], 1.0, [[0.0; 2]; 6])
        }
    }

    const BANDS: [u32; 8] = [0, 13, 18, 25, 35, 45, 55, 65];

    fn smoother(frames: &[FaceAnalysis], cfg: &AttributeConfig) -> AttributeSmoother {
        let mut s = AttributeSmoother::new();
        for (i, f) in frames.iter().enumerate() {
            s.add(f, cfg, i as f64 * 66.0);
        }
        s
    }

    #[test]
    fn band_does_not_flicker_around_an_edge() {
        let cfg = AttributeConfig::default();
        let mut s = AttributeSmoother::new();
        // Estimates alternate 33 / 36 around the 35 edge but centre on 34: band stays 25-34.
        let mut bands = vec![];
        for i in 0..40 {
            let age = if i % 3 == 2 { 36.0 } else { 33.0 };
            s.add(&face(age, Gender::Male, 0.9), &cfg, i as f64 * 66.0);
            bands.extend(s.band(&cfg, &BANDS).map(|b| b.value));
        }
        assert!(!bands.is_empty());
        assert!(bands.iter().all(|&b| b == Some(3)), "{bands:?}");
    }

    #[test]
    fn band_probabilities_are_a_distribution_that_narrows_with_evidence() {
        let cfg = AttributeConfig::default();
        let one = smoother(&[face(30.0, Gender::Male, 0.9)], &cfg);
        let many = smoother(&vec![face(30.0, Gender::Male, 0.9); 30], &cfg);
        let p1 = one.band_probabilities(&cfg, &BANDS).unwrap();
        let pn = many.band_probabilities(&cfg, &BANDS).unwrap();
        for p in [&p1, &pn] {
            assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4, "{p:?}");
        }
        // 30 is inside 25-34: more frames, more of the mass there, but never all of it.
        assert!(pn[3] > p1[3] && pn[3] < 0.99, "{} {}", p1[3], pn[3]);
    }

    #[test]
    fn gender_is_pooled_in_log_odds_and_small_faces_count_less() {
        let cfg = AttributeConfig::default();
        let mut frames = vec![face(30.0, Gender::Female, 0.9); 5];
        let mut tiny = face(30.0, Gender::Male, 0.99);
        tiny.bbox[2] = 8.0;
        frames.extend(vec![tiny; 5]);
        let g = smoother(&frames, &cfg).gender(&cfg).unwrap();
        assert_eq!(g.value, Some(Gender::Female));
        assert!(g.confidence > 0.8 && g.confidence < 0.9, "{}", g.confidence);
    }

    #[test]
    fn confidence_grows_with_evidence_and_stays_bounded() {
        let cfg = AttributeConfig::default();
        let conf = |n: usize| {
            smoother(&vec![face(30.0, Gender::Female, 0.8); n], &cfg)
                .gender(&cfg)
                .unwrap()
                .confidence
        };
        let (c1, c5, c500) = (conf(1), conf(5), conf(500));
        assert!((c1 - 0.8).abs() < 1e-3, "{c1}");
        assert!(c1 < c5 && c5 < c500, "{c1} {c5} {c500}");
        // Correlated frames are worth at most 1/ρ = 1.25 frames: σ(1.25 · logit(0.8)) ≈ 0.85.
        assert!(c500 < 0.852, "{c500}");
    }

    #[test]
    fn unsure_gender_is_unknown_with_its_probability() {
        let cfg = AttributeConfig::default();
        let g = smoother(&vec![face(30.0, Gender::Male, 0.65); 20], &cfg)
            .gender(&cfg)
            .unwrap();
        assert_eq!(g.value, None);
        assert!(g.confidence > 0.6 && g.confidence < cfg.min_gender_confidence);
        // Evidence both ways cancels out.
        let mut mixed = vec![face(30.0, Gender::Male, 0.95); 10];
        mixed.extend(vec![face(30.0, Gender::Female, 0.95); 10]);
        let g = smoother(&mixed, &cfg).gender(&cfg).unwrap();
        assert_eq!(g.value, None);
        assert!((g.confidence - 0.5).abs() < 1e-3);
    }

    #[test]
    fn childrens_gender_is_unknown_unless_asked_for() {
        let frames = vec![face(8.0, Gender::Female, 0.99); 10];
        let cfg = AttributeConfig::default();
        let g = smoother(&frames, &cfg).gender(&cfg).unwrap();
        assert_eq!(g.value, None);
        assert!(g.confidence > 0.95);
        let cfg = AttributeConfig {
            gender_for_children: true,
            ..Default::default()
        };
        let g = smoother(&frames, &cfg).gender(&cfg).unwrap();
        assert_eq!(g.value, Some(Gender::Female));
    }

    #[test]
    fn unsure_band_is_unknown() {
        // Age 35 sits on the 25-34 / 35-44 edge: neither band reaches a high threshold.
        let cfg = AttributeConfig {
            min_age_band_confidence: 0.6,
            ..Default::default()
        };
        let b = smoother(&vec![face(35.0, Gender::Male, 0.9); 3], &cfg)
            .band(&cfg, &BANDS)
            .unwrap();
        assert_eq!(b.value, None);
        assert!(b.confidence < 0.6);
    }

    #[test]
    fn nothing_is_judged_before_enough_weight() {
        let cfg = AttributeConfig::default();
        let mut half = face(30.0, Gender::Female, 0.9);
        half.bbox[2] = 40.0;
        let s = smoother(&[half], &cfg);
        assert_eq!(s.band(&cfg, &BANDS), None);
        assert_eq!(s.gender(&cfg), None);
    }

    #[test]
    fn cadence_drops_to_the_interval_once_stable() {
        let cfg = AttributeConfig::default();
        let mut s = AttributeSmoother::new();
        let (mut t, mut samples) = (0.0, Vec::new());
        // Frames at 15 fps; the face is looked at whenever it is due, until it is stable.
        while t < 10_000.0 && (samples.is_empty() || s.age_quality < cfg.stable_weight) {
            if s.needs_attributes(&cfg, t) {
                s.add(&face(40.0, Gender::Male, 0.9), &cfg, t);
                samples.push(t);
            }
            t += 66.0;
        }
        // Until then every `unsettledIntervalMs` (the first frame at least 200 ms on), not on
        // every frame: 10 looks of weight 1 reach the stable weight of 10.
        assert_eq!(samples.len(), 10, "{samples:?}");
        assert!(
            samples
                .windows(2)
                .all(|w| (200.0..270.0).contains(&(w[1] - w[0])))
        );
        let last = samples[9];
        assert!(!s.needs_attributes(&cfg, last + 500.0));
        assert!(s.needs_attributes(&cfg, last + 1000.0));
        // Never looked at: due the longest.
        assert_eq!(
            AttributeSmoother::new().overdue_ms(&cfg, 0.0),
            Some(f64::INFINITY)
        );
    }
}
