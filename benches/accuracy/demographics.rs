//! FairFace and UTKFace dev, single faces: gender, age and their calibration.

use super::*;

/// One dev face: the truth and what the pipeline said of the largest face it found.
struct Judgement {
    female: bool,
    /// Exact age (UTKFace) or the bracket's midpoint (FairFace).
    age: f32,
    adult: bool,
    p_female: Option<f32>,
    predicted_age: Option<f32>,
}

/// The demographics report of one dev set of single faces.
pub(crate) struct Demographics {
    name: &'static str,
    images: usize,
    faces: Vec<Judgement>,
}

/// Share right of a (right, judged) pair, in percent.
fn pct((right, n): (usize, usize)) -> f32 {
    right as f32 * 100.0 / n.max(1) as f32
}

/// Expected calibration error of (confidence, right) pairs: the mean gap between confidence and
/// accuracy over 10 equal-width confidence bins, weighted by the bins' sizes.
fn calibration_error(pairs: &[(f32, bool)]) -> f32 {
    let mut bins = [(0.0f32, 0usize, 0usize); 10];
    for &(c, right) in pairs {
        let b = &mut bins[((c * 10.0) as usize).min(9)];
        b.0 += c;
        b.1 += right as usize;
        b.2 += 1;
    }
    bins.iter()
        .filter(|b| b.2 > 0)
        .map(|b| (b.0 / b.2 as f32 - b.1 as f32 / b.2 as f32).abs() * b.2 as f32)
        .sum::<f32>()
        / pairs.len().max(1) as f32
}

/// Logistic regression of `right` on the log-odds of `confidence`: (slope, offset). (1, 0)
/// means the confidences are calibrated; otherwise `σ(slope · logit(c) + offset)` would be.
fn recalibration(pairs: &[(f32, bool)]) -> (f32, f32) {
    let (mut a, mut b) = (1.0f64, 0.0f64);
    for _ in 0..50 {
        let (mut g, mut h) = ([0.0f64; 2], [[0.0f64; 2]; 2]);
        for &(c, right) in pairs {
            let c = (c as f64).clamp(1e-4, 1.0 - 1e-4);
            let x = (c / (1.0 - c)).ln();
            let p = 1.0 / (1.0 + (-(a * x + b)).exp());
            let e = right as u8 as f64 - p;
            let w = p * (1.0 - p) + 1e-9;
            g = [g[0] + e * x, g[1] + e];
            h = [
                [h[0][0] + w * x * x, h[0][1] + w * x],
                [h[1][0] + w * x, h[1][1] + w],
            ];
        }
        let det = h[0][0] * h[1][1] - h[0][1] * h[1][0];
        if det.abs() < 1e-12 {
            break;
        }
        a += (h[1][1] * g[0] - h[0][1] * g[1]) / det;
        b += (h[0][0] * g[1] - h[1][0] * g[0]) / det;
    }
    (a as f32, b as f32)
}

impl Demographics {
    pub(crate) fn measure(
        name: &'static str,
        dir: &Path,
        truth: impl Fn(&HashMap<String, String>) -> (f32, bool),
        analyze: &dyn Fn(&Path) -> Vec<FaceAnalysis>,
    ) -> Self {
        let labels = read_csv(&dir.join("labels.csv"));
        let mut faces = Vec::new();
        for row in &labels {
            let found = analyze(&dir.join(&row["file"]));
            let Some(face) = found
                .iter()
                .max_by(|a, b| (a.bbox[2] * a.bbox[3]).total_cmp(&(b.bbox[2] * b.bbox[3])))
            else {
                continue;
            };
            let (age, adult) = truth(row);
            faces.push(Judgement {
                female: row["gender"] == "female",
                age,
                adult,
                p_female: face
                    .gender
                    .zip(face.gender_score)
                    .map(|(g, s)| if g == Gender::Female { s } else { 1.0 - s }),
                predicted_age: face.age,
            });
        }
        Demographics {
            name,
            images: labels.len(),
            faces,
        }
    }

    /// (right, judged) of the argmax gender over the faces `keep` selects.
    fn gender(&self, keep: impl Fn(&Judgement) -> bool) -> (usize, usize) {
        let judged: Vec<_> = self
            .faces
            .iter()
            .filter(|f| keep(f))
            .filter_map(|f| f.p_female.map(|p| (p >= 0.5) == f.female))
            .collect();
        (judged.iter().filter(|&&r| r).count(), judged.len())
    }

    /// Whether a face's gender is reported (not `unknown`) with these settings, as the
    /// audience reports a visit's.
    fn confident(f: &Judgement, cfg: &AttributeConfig) -> bool {
        let child = f.predicted_age.is_some_and(|a| a < ADULT_AGE_YEARS);
        f.p_female
            .is_some_and(|p| p.max(1.0 - p) >= cfg.min_gender_confidence)
            && (cfg.gender_for_children || !child)
    }

    /// (reported, faces) and (right, reported) among the faces `keep` selects.
    fn coverage(
        &self,
        cfg: &AttributeConfig,
        keep: impl Fn(&Judgement) -> bool,
    ) -> ((usize, usize), (usize, usize)) {
        let kept: Vec<&Judgement> = self.faces.iter().filter(|f| keep(f)).collect();
        let reported: Vec<&&Judgement> = kept.iter().filter(|f| Self::confident(f, cfg)).collect();
        let right = reported
            .iter()
            .filter(|f| (f.p_female.unwrap() >= 0.5) == f.female)
            .count();
        ((reported.len(), kept.len()), (right, reported.len()))
    }

    fn gender_pairs(&self) -> Vec<(f32, bool)> {
        self.faces
            .iter()
            .filter_map(|f| f.p_female.map(|p| (p.max(1.0 - p), (p >= 0.5) == f.female)))
            .collect()
    }

    /// (confidence of the most probable band, whether it is the true one) for each face, under
    /// one frame's calibrated age distribution.
    fn band_pairs(&self, cfg: &AttributeConfig, starts: &[u32]) -> Vec<(f32, bool)> {
        let band_of = |age: f32| starts.iter().rposition(|&s| age >= s as f32).unwrap_or(0);
        self.faces
            .iter()
            .filter_map(|f| {
                let age = f.predicted_age?;
                let probs = age_band_probabilities(age, one_frame_age_sigma(cfg, age), starts);
                let (best, p) = probs.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
                Some((*p / probs.iter().sum::<f32>(), best == band_of(f.age)))
            })
            .collect()
    }

    fn age_mae(&self) -> f32 {
        let errs: Vec<f32> = self
            .faces
            .iter()
            .filter_map(|f| f.predicted_age.map(|a| (a - f.age).abs()))
            .collect();
        errs.iter().sum::<f32>() / errs.len().max(1) as f32
    }

    fn bracket_accuracy(&self) -> (usize, usize) {
        let judged: Vec<bool> = self
            .faces
            .iter()
            .filter_map(|f| f.predicted_age.map(|a| bracket_of(a) == bracket_of(f.age)))
            .collect();
        (judged.iter().filter(|&&r| r).count(), judged.len())
    }

    pub(crate) fn print(&self, cfg: &AttributeConfig) {
        let n = self.faces.len();
        println!("{}: {} images", self.name, self.images);
        println!(
            "  detection rate      {:.1} % ({n}/{})",
            pct((n, self.images)),
            self.images
        );
        let all = self.gender(|_| true);
        let adults = self.gender(|f| f.adult);
        let young = self.gender(|f| !f.adult);
        println!(
            "  gender accuracy     {:.1} % ({}/{})",
            pct(all),
            all.0,
            all.1
        );
        println!(
            "    adults (20+) {:.1} % ({}/{}), under 20 {:.1} % ({}/{})",
            pct(adults),
            adults.0,
            adults.1,
            pct(young),
            young.0,
            young.1
        );
        let (cover, right) = self.coverage(cfg, |_| true);
        let (adult_cover, adult_right) = self.coverage(cfg, |f| f.adult);
        println!(
            "  gender not unknown  {:.1} % of faces ({}/{}), {:.1} % right; adults: {:.1} % ({}/{}), {:.1} % right (minGenderConfidence {})",
            pct(cover),
            cover.0,
            cover.1,
            pct(right),
            pct(adult_cover),
            adult_cover.0,
            adult_cover.1,
            pct(adult_right),
            cfg.min_gender_confidence
        );
        let mae_what = if self.name.starts_with("utk") {
            "exact ages"
        } else {
            "bracket midpoints"
        };
        println!(
            "  age MAE             {:.2} years (against {mae_what})",
            self.age_mae()
        );
        let brackets = self.bracket_accuracy();
        println!(
            "  bracket accuracy    {:.1} % (9 FairFace brackets, {}/{})",
            pct(brackets),
            brackets.0,
            brackets.1
        );
        let gender = self.gender_pairs();
        let (a, b) = recalibration(&gender);
        println!(
            "  calibration error   genderConfidence {:.3} (refit slope {a:.2}, offset {b:.2}); ageBandConfidence {:.3} (9 brackets as bands)",
            calibration_error(&gender),
            calibration_error(&self.band_pairs(cfg, &BRACKET_STARTS))
        );
    }

    pub(crate) fn json(&self, cfg: &AttributeConfig) -> serde_json::Value {
        let (cover, right) = self.coverage(cfg, |_| true);
        let (adult_cover, adult_right) = self.coverage(cfg, |f| f.adult);
        serde_json::json!({
            "images": self.images,
            "detectionRate": pct((self.faces.len(), self.images)) / 100.0,
            "genderAccuracy": pct(self.gender(|_| true)) / 100.0,
            "genderAccuracyAdults": pct(self.gender(|f| f.adult)) / 100.0,
            "genderAccuracyUnder20": pct(self.gender(|f| !f.adult)) / 100.0,
            "genderCoverage": pct(cover) / 100.0,
            "genderAccuracyConfident": pct(right) / 100.0,
            "genderCoverageAdults": pct(adult_cover) / 100.0,
            "genderAccuracyConfidentAdults": pct(adult_right) / 100.0,
            "ageMae": self.age_mae(),
            "bracketAccuracy": pct(self.bracket_accuracy()) / 100.0,
            "genderCalibrationError": calibration_error(&self.gender_pairs()),
            "ageBandCalibrationError": calibration_error(&self.band_pairs(cfg, &BRACKET_STARTS)),
        })
    }
}
