//! WIDER FACE dev: recall per face height and false positives per image.

use super::*;

/// Face-height bins of the WIDER report (pixels, lower bound inclusive).
const HEIGHT_BINS: [(&str, f32, f32); 5] = [
    ("< 16", 0.0, 16.0),
    ("16-24", 16.0, 24.0),
    ("24-48", 24.0, 48.0),
    ("48-96", 48.0, 96.0),
    (">= 96", 96.0, f32::INFINITY),
];

/// Face-presence thresholds the WIDER report also scores, to show what confirmation costs and
/// what it rejects (0: every detection is confirmed).
const PRESENCE_SWEEP: [f32; 2] = [0.0, 0.5];

#[derive(Default, Clone)]
struct WiderScore {
    /// Per height bin: (found, faces).
    bins: [(u32, u32); 5],
    false_positives: u32,
    detections: u32,
    rejected: u32,
}

impl WiderScore {
    fn bin_recall(&self, bin: usize) -> f32 {
        self.bins[bin].0 as f32 / self.bins[bin].1.max(1) as f32
    }

    /// Recall over this bin and every larger one.
    fn recall(&self, from_bin: usize) -> f32 {
        let (found, total) = self.bins[from_bin..]
            .iter()
            .fold((0, 0), |(f, t), b| (f + b.0, t + b.1));
        found as f32 / total.max(1) as f32
    }
}

#[derive(Default)]
pub(crate) struct WiderReport {
    images: usize,
    /// At the configured `minFacePresence`.
    score: WiderScore,
    /// At each of [`PRESENCE_SWEEP`].
    sweep: Vec<WiderScore>,
    seconds: f64,
}

impl WiderReport {
    pub(crate) fn print(&self) {
        println!(
            "wider-dev: {} images at full resolution, {:.0} ms per image",
            self.images,
            self.seconds * 1000.0 / self.images.max(1) as f64
        );
        let s = &self.score;
        for ((name, _, _), (found, total)) in HEIGHT_BINS.iter().zip(s.bins) {
            println!(
                "  recall {name:>6} px  {:5.1} % ({found}/{total})",
                found as f32 * 100.0 / total.max(1) as f32
            );
        }
        println!("  recall >= 24 px     {:5.1} %", s.recall(2) * 100.0);
        println!(
            "  false positives     {:.2} per image ({} of {} faces reported; {} detections rejected as not a face)",
            s.false_positives as f32 / self.images.max(1) as f32,
            s.false_positives,
            s.detections,
            s.rejected
        );
        println!(
            "  by minFacePresence: recall 16-24 / >= 24 px, false positives per image, rejected"
        );
        for (t, s) in PRESENCE_SWEEP.iter().zip(&self.sweep) {
            println!(
                "    {t:.2}: {:5.1} % / {:5.1} %, {:.2}, {}",
                s.bin_recall(1) * 100.0,
                s.recall(2) * 100.0,
                s.false_positives as f32 / self.images.max(1) as f32,
                s.rejected
            );
        }
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        let s = &self.score;
        let bins: serde_json::Map<String, serde_json::Value> = HEIGHT_BINS
            .iter()
            .zip(s.bins)
            .map(|((name, _, _), (found, total))| {
                (
                    name.to_string(),
                    serde_json::json!({"found": found, "faces": total}),
                )
            })
            .collect();
        serde_json::json!({
            "images": self.images, "recallByHeight": bins, "recallAtLeast24px": s.recall(2),
            "falsePositivesPerImage": s.false_positives as f32 / self.images.max(1) as f32,
            "rejected": s.rejected, "msPerImage": self.seconds * 1000.0 / self.images.max(1) as f64,
        })
    }
}

/// WIDER FACE dev: every valid face is matched one-to-one to the detection it overlaps most (IoU
/// at least 0.4, best pairs first); a detection that overlaps no face, valid or not, is a false
/// positive. Crowds hold more faces than the kiosk's default, so `maxFaces` is raised to 256;
/// only detection is scored, so the age/gender network is off; faces are looked for down to 16
/// px unless `minFaceHeight` says otherwise. Scored at the configured
/// `minFacePresence` and at each of [`PRESENCE_SWEEP`].
pub(crate) fn wider_dev(dir: &Path, options: &PipelineOptions) -> WiderReport {
    let mut report = WiderReport {
        sweep: vec![WiderScore::default(); PRESENCE_SWEEP.len()],
        ..Default::default()
    };
    if !dir.join("boxes.csv").exists() {
        eprintln!("accuracy: no {} ; WIDER figures left out", dir.display());
        return report;
    }
    let pipelines: Vec<_> = std::iter::once(options.min_face_presence)
        .chain(PRESENCE_SWEEP)
        .map(|min_face_presence| {
            cpu_pipeline(PipelineOptions {
                max_faces: 256,
                age_gender: false,
                min_face_presence,
                // The target: faces down to 16 px (the photos' camera is unknown, so
                // the default, a face 5 m away, means nothing here).
                min_face_height: options.min_face_height.or(Some(16.0)),
                ..options.clone()
            })
            .expect("pipeline")
        })
        .collect();
    let boxes = read_csv(&dir.join("boxes.csv"));
    for image in read_csv(&dir.join("images.csv")) {
        let truth: Vec<([f32; 4], bool)> = boxes
            .iter()
            .filter(|b| b["file"] == image["file"])
            .map(|b| {
                let xywh = ["x", "y", "w", "h"].map(|k| b[k].parse::<f32>().unwrap());
                (xywh, b["invalid"] == "0")
            })
            .collect();
        let picture = load_image(&dir.join(&image["file"])).expect("image");
        let frame = picture.frame().unwrap();
        report.images += 1;
        let scores = std::iter::once(&mut report.score).chain(report.sweep.iter_mut());
        for (i, (pipeline, score)) in pipelines.iter().zip(scores).enumerate() {
            let started = std::time::Instant::now();
            let analysis = pollster::block_on(pipeline.analyze(&frame, 0.0)).expect("analysis");
            if i == 0 {
                report.seconds += started.elapsed().as_secs_f64();
            }
            score.rejected += analysis.rejected.len() as u32;
            score_wider_image(&analysis.faces, &truth, score);
        }
    }
    report
}

fn score_wider_image(faces: &[FaceAnalysis], truth: &[([f32; 4], bool)], score: &mut WiderScore) {
    score.detections += faces.len() as u32;
    let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
    for (d, face) in faces.iter().enumerate() {
        for (t, (b, valid)) in truth.iter().enumerate() {
            let v = iou(face.bbox, *b);
            if *valid && v >= 0.4 {
                pairs.push((v, d, t));
            }
        }
        let overlaps_any = truth.iter().any(|(b, _)| iou(face.bbox, *b) > 0.0);
        score.false_positives += (!overlaps_any) as u32;
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut face_used, mut truth_found) = (vec![false; faces.len()], vec![false; truth.len()]);
    for (_, d, t) in pairs {
        if !face_used[d] && !truth_found[t] {
            face_used[d] = true;
            truth_found[t] = true;
        }
    }
    for (t, (b, valid)) in truth.iter().enumerate() {
        if !valid {
            continue;
        }
        let bin = HEIGHT_BINS
            .iter()
            .position(|(_, lo, hi)| b[3] >= *lo && b[3] < *hi)
            .expect("bins cover every height");
        score.bins[bin].1 += 1;
        score.bins[bin].0 += truth_found[t] as u32;
    }
}
