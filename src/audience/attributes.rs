//! Per-track smoothing of apparent age and gender. Each frame's estimate is weighted by face size,
//! detector score and frontalness; age votes softly for the configured bands (a Gaussian of
//! `ageSigmaYears` around the estimate) so a viewer near a band edge does not flicker, and the
//! band's confidence is its share of the accumulated votes.

use super::config::AttributeConfig;
use crate::analysis::{FaceAnalysis, Gender};

#[derive(Debug, Clone)]
pub struct AttributeSmoother {
    band_votes: Vec<f32>,
    age_weight: f32,
    female_mass: f32,
    gender_weight: f32,
    last_sample_ms: Option<f64>,
}

/// Logistic approximation of the standard normal CDF (max error ≈ 0.01), enough for votes.
fn normal_cdf(x: f32) -> f32 {
    1.0 / (1.0 + (-1.702 * x).exp())
}

/// How much one frame's attributes are trusted: larger, sharper, more frontal faces count more.
pub fn sample_weight(face: &FaceAnalysis, cfg: &AttributeConfig) -> f32 {
    let size = (face.bbox[2] / cfg.full_weight_face_px).clamp(0.0, 1.0);
    let frontal = match (face.yaw, face.pitch) {
        (Some(y), Some(p)) => (y.to_radians().cos() * p.to_radians().cos()).max(0.0),
        (Some(y), None) => y.to_radians().cos().max(0.0),
        _ => 0.7,
    };
    (face.score.clamp(0.0, 1.0) * size * frontal).max(0.0)
}

impl AttributeSmoother {
    pub fn new(n_bands: usize) -> Self {
        Self {
            band_votes: vec![0.0; n_bands],
            age_weight: 0.0,
            female_mass: 0.0,
            gender_weight: 0.0,
            last_sample_ms: None,
        }
    }

    pub fn add(
        &mut self,
        face: &FaceAnalysis,
        band_starts: &[u32],
        cfg: &AttributeConfig,
        ts_ms: f64,
    ) {
        let w = sample_weight(face, cfg);
        let mut sampled = false;
        if let Some(age) = face.age.filter(|a| a.is_finite())
            && w > 0.0
        {
            let sigma = cfg.age_sigma_years;
            // Mass below each band's upper edge; a band's vote is the difference of two edges.
            let mut below_lo = 0.0;
            for (i, vote) in self.band_votes.iter_mut().enumerate() {
                let below_hi = match band_starts.get(i + 1) {
                    Some(&h) => {
                        let x = (h as f32 - age) / sigma;
                        // Edges more than 6 σ away contribute nothing measurable.
                        if x > 6.0 {
                            1.0
                        } else if x < -6.0 {
                            0.0
                        } else {
                            normal_cdf(x)
                        }
                    }
                    None => 1.0,
                };
                *vote += w * (below_hi - below_lo);
                below_lo = below_hi;
            }
            self.age_weight += w;
            sampled = true;
        }
        if let (Some(g), Some(s)) = (face.gender, face.gender_score)
            && w > 0.0
        {
            let s = s.clamp(0.5, 1.0);
            let p_female = if g == Gender::Female { s } else { 1.0 - s };
            self.female_mass += w * p_female;
            self.gender_weight += w;
            sampled = true;
        }
        if sampled || face.age.is_some() || face.gender.is_some() {
            self.last_sample_ms = Some(ts_ms);
        }
    }

    /// Most voted band index and its share of the votes, once enough weight is in.
    pub fn band(&self, cfg: &AttributeConfig) -> Option<(u8, f32)> {
        if self.age_weight < cfg.min_weight_to_report {
            return None;
        }
        let total: f32 = self.band_votes.iter().sum();
        let (i, v) = self
            .band_votes
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))?;
        (total > 0.0).then(|| (i as u8, v / total))
    }

    /// Weighted-mean gender and its probability, once enough weight is in.
    pub fn gender(&self, cfg: &AttributeConfig) -> Option<(Gender, f32)> {
        if self.gender_weight < cfg.min_weight_to_report {
            return None;
        }
        let p = self.female_mass / self.gender_weight;
        Some(if p >= 0.5 {
            (Gender::Female, p)
        } else {
            (Gender::Male, 1.0 - p)
        })
    }

    /// Whether the attribute models should run on this track's face in a frame at `ts_ms`:
    /// always until the estimates are stable, then every `intervalMs`.
    pub fn needs_attributes(&self, cfg: &AttributeConfig, ts_ms: f64) -> bool {
        let stable =
            self.age_weight >= cfg.stable_weight && self.gender_weight >= cfg.stable_weight;
        match self.last_sample_ms {
            Some(last) if stable => ts_ms - last >= cfg.interval_ms,
            _ => true,
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
            ..FaceAnalysis::detected([0.0, 0.0, 100.0, 100.0], 0.9, [[0.0; 2]; 6])
        }
    }

    const BANDS: [u32; 8] = [0, 13, 18, 25, 35, 45, 55, 65];

    #[test]
    fn band_does_not_flicker_around_an_edge() {
        let cfg = AttributeConfig::default();
        let mut s = AttributeSmoother::new(BANDS.len());
        // Estimates alternate 33 / 36 around the 35 edge but centre on 33.5: band stays 25-34.
        let mut bands = vec![];
        for i in 0..40 {
            let age = if i % 3 == 2 { 36.0 } else { 33.0 };
            s.add(&face(age, Gender::Male, 0.8), &BANDS, &cfg, i as f64 * 66.0);
            bands.extend(s.band(&cfg).map(|b| b.0));
        }
        assert!(!bands.is_empty());
        assert!(bands.iter().all(|&b| b == 3), "{bands:?}");
    }

    #[test]
    fn gender_is_a_weighted_mean_and_small_faces_count_less() {
        let cfg = AttributeConfig::default();
        let mut s = AttributeSmoother::new(BANDS.len());
        for _ in 0..5 {
            s.add(&face(30.0, Gender::Female, 0.9), &BANDS, &cfg, 0.0);
        }
        let mut tiny = face(30.0, Gender::Male, 0.99);
        tiny.bbox[2] = 8.0;
        for _ in 0..5 {
            s.add(&tiny, &BANDS, &cfg, 0.0);
        }
        let (g, p) = s.gender(&cfg).unwrap();
        assert_eq!(g, Gender::Female);
        assert!(p > 0.75 && p < 0.9, "{p}");
    }

    #[test]
    fn nothing_is_reported_before_enough_weight() {
        let cfg = AttributeConfig::default();
        let mut s = AttributeSmoother::new(BANDS.len());
        s.add(&face(30.0, Gender::Female, 0.9), &BANDS, &cfg, 0.0);
        assert_eq!(s.band(&cfg), None);
        assert_eq!(s.gender(&cfg), None);
    }

    #[test]
    fn cadence_drops_to_the_interval_once_stable() {
        let cfg = AttributeConfig::default();
        let mut s = AttributeSmoother::new(BANDS.len());
        let mut t = 0.0;
        while s.needs_attributes(&cfg, t + 66.0) && t < 10_000.0 {
            t += 66.0;
            s.add(&face(40.0, Gender::Male, 0.9), &BANDS, &cfg, t);
        }
        // ~12 frames of weight 0.9 reach the stable weight of 10.
        assert!(t < 1000.0, "{t}");
        assert!(!s.needs_attributes(&cfg, t + 500.0));
        assert!(s.needs_attributes(&cfg, t + 1000.0));
    }
}
