//! The shipped (packed) weights against the exact ones.

use super::*;

/// Shipped (packed) weights against the exact ones, face by face on FairFace and UTKFace dev:
/// the largest face of each image under both.
#[derive(Default)]
pub(crate) struct PackingReport {
    images: usize,
    /// Found under one set of weights and not the other.
    detection_disagreements: usize,
    box_iou: Vec<f32>,
    age: Vec<f32>,
    gender_probability: Vec<f32>,
    gender_flips: usize,
    yaw: Vec<f32>,
    pitch: Vec<f32>,
    roll: Vec<f32>,
}

/// Mean and 95th percentile of absolute differences.
fn spread(values: &[f32]) -> (f32, f32) {
    let mut sorted: Vec<f32> = values.iter().map(|v| v.abs()).collect();
    sorted.sort_by(f32::total_cmp);
    let mean = sorted.iter().sum::<f32>() / sorted.len().max(1) as f32;
    let p95 = sorted
        .get((sorted.len() as f32 * 0.95) as usize)
        .or(sorted.last())
        .copied()
        .unwrap_or(0.0);
    (mean, p95)
}

impl PackingReport {
    pub(crate) fn measure(
        eval: &Path,
        packed: &dyn Fn(&Path) -> Vec<FaceAnalysis>,
        exact: &dyn Fn(&Path) -> Vec<FaceAnalysis>,
    ) -> Self {
        let largest = |faces: Vec<FaceAnalysis>| {
            faces
                .into_iter()
                .max_by(|a, b| (a.bbox[2] * a.bbox[3]).total_cmp(&(b.bbox[2] * b.bbox[3])))
        };
        let mut report = PackingReport::default();
        for set in ["fairface-dev", "utkface-dev"] {
            let dir = eval.join(set);
            if !dir.join("labels.csv").exists() {
                continue;
            }
            for row in read_csv(&dir.join("labels.csv")) {
                let path = dir.join(&row["file"]);
                report.images += 1;
                let (a, b) = match (largest(packed(&path)), largest(exact(&path))) {
                    (Some(a), Some(b)) => (a, b),
                    (None, None) => continue,
                    _ => {
                        report.detection_disagreements += 1;
                        continue;
                    }
                };
                report.box_iou.push(iou(a.bbox, b.bbox));
                let p_female = |f: &FaceAnalysis| {
                    f.gender
                        .zip(f.gender_score)
                        .map(|(g, s)| if g == Gender::Female { s } else { 1.0 - s })
                };
                let pairs = [
                    (a.age, b.age, &mut report.age),
                    (p_female(&a), p_female(&b), &mut report.gender_probability),
                    (a.yaw, b.yaw, &mut report.yaw),
                    (a.pitch, b.pitch, &mut report.pitch),
                    (a.roll, b.roll, &mut report.roll),
                ];
                for (x, y, into) in pairs {
                    if let (Some(x), Some(y)) = (x, y) {
                        into.push(x - y);
                    }
                }
                report.gender_flips += (a.gender != b.gender) as usize;
            }
        }
        report
    }

    pub(crate) fn print(&self) {
        println!(
            "packed weights against exact f32 ({} dev images, the largest face of each)",
            self.images
        );
        println!(
            "  found by one and not the other  {}",
            self.detection_disagreements
        );
        let mean_iou = self.box_iou.iter().sum::<f32>() / self.box_iou.len().max(1) as f32;
        println!("  box IoU, mean                   {mean_iou:.4}");
        for (name, values, unit) in [
            ("age", &self.age, "years"),
            ("P(female)", &self.gender_probability, ""),
            ("yaw", &self.yaw, "deg"),
            ("pitch", &self.pitch, "deg"),
            ("roll", &self.roll, "deg"),
        ] {
            let (mean, p95) = spread(values);
            println!("  |d {name:<11}| mean {mean:.4} {unit}, p95 {p95:.4} {unit}");
        }
        println!(
            "  gender verdict changed          {} of {}",
            self.gender_flips,
            self.box_iou.len()
        );
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        let pair = |v: &[f32]| {
            let (mean, p95) = spread(v);
            serde_json::json!({"meanAbs": mean, "p95Abs": p95})
        };
        serde_json::json!({
            "images": self.images, "detectionDisagreements": self.detection_disagreements,
            "meanBoxIou": self.box_iou.iter().sum::<f32>() / self.box_iou.len().max(1) as f32,
            "age": pair(&self.age), "genderScore": pair(&self.gender_probability),
            "yaw": pair(&self.yaw), "pitch": pair(&self.pitch), "roll": pair(&self.roll),
            "genderVerdictChanged": self.gender_flips,
        })
    }
}
