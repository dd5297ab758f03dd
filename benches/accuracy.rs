//! Accuracy report on the evaluation sets in ../shared/eval (not shipped with the project):
//! - FairFace dev and UTKFace dev, single faces: detection rate; gender accuracy overall, for
//!   adults and under 20; the share whose gender is reported (not unknown) and how often it is
//!   right; age MAE; 9-bracket accuracy; calibration error of both confidences;
//! - the VOC group scenes: face recall and false positives at IoU 0.5;
//! - WIDER FACE dev at full resolution: recall at IoU 0.4 per face-height bin, false positives
//!   per image (detections overlapping no face at all);
//! - walk-by clips in video mode (the dev clip, and those made with
//!   `../shared/tools/make_walkby.py` in the folder GLANCE_WALKBY names): visits counted, their
//!   gender right, wrong or unknown;
//! - the slideshow and group-photo clips in video mode: faces found on each picture against
//!   the faces in it, and the visits;
//! - the shipped (packed int8/f16) weights against the exact f32 ones on the same dev faces:
//!   how far age, gender probability, head pose and the box move, and how many verdicts flip.
//!
//! Run: `cargo bench --bench accuracy` (GLANCE_EVAL overrides the data folder, GLANCE_OPTIONS
//! takes pipeline options as JSON). `-- wider scenes` measures only the sections named
//! (`demographics`, `scenes`, `walkby`, `slides`, `wider`, `weights`); GLANCE_WEIGHTS=exact runs every
//! section on the exact f32 weights instead of the shipped ones, and GLANCE_PACK on others packed
//! here (see `shipped_weights`). Writes target/accuracy.json.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use glance::analysis::{FaceAnalysis, Gender};
use glance::audience::attributes::{ADULT_AGE_YEARS, age_band_probabilities, one_frame_age_sigma};
use glance::audience::{AttributeConfig, AudienceAggregator, AudienceConfig, CompletedVisit};
use glance::media::{Y4mReader, load_image};
use glance::vision::weights::{self, Precision};
use glance::vision::{ModelWeights, Pipeline, PipelineOptions};

/// The pipeline every section measures: the shipped weights, or the exact f32 ones when
/// GLANCE_WEIGHTS=exact.
fn cpu_pipeline(options: PipelineOptions) -> glance::error::Result<Pipeline> {
    let exact = std::env::var("GLANCE_WEIGHTS").is_ok_and(|w| w == "exact");
    let weights = if exact {
        exact_weights()
    } else {
        shipped_weights()
    };
    Pipeline::new(&burn::tensor::Device::flex(), &weights, options)
}

/// The shipped weights; GLANCE_PACK (`<network>=<precision>,...`, e.g.
/// `centerface=int8:8,age_gender=half`) packs the exact ones here instead, the named networks at
/// another precision, to try it before shipping it.
fn shipped_weights() -> ModelWeights {
    let Ok(spec) = std::env::var("GLANCE_PACK") else {
        return ModelWeights::embedded();
    };
    let mut precisions: HashMap<&str, Precision> = weights::SHIPPED.into_iter().collect();
    for item in spec.split(',').filter(|s| !s.is_empty()) {
        let (name, precision) = item
            .split_once('=')
            .expect("GLANCE_PACK: <network>=<precision>");
        let known = precisions
            .get_mut(name)
            .unwrap_or_else(|| panic!("GLANCE_PACK: no network {name}"));
        *known = precision.parse().expect("GLANCE_PACK precision");
    }
    println!("weights packed here: {precisions:?}");
    let exact = exact_weights();
    let files = exact.files();
    ModelWeights::try_from_files(|name| {
        let (_, bytes) = files.iter().find(|(n, _)| *n == name).unwrap();
        weights::pack(bytes, precisions[name]).map(burn::tensor::Bytes::from_bytes_vec)
    })
    .expect("pack weights")
}

/// The faces `pipeline` finds in one picture.
fn faces_in(pipeline: &Pipeline, path: &Path) -> Vec<FaceAnalysis> {
    let image = load_image(path).expect("image");
    pollster::block_on(pipeline.analyze(&image.frame().unwrap(), 0.0))
        .expect("analysis")
        .faces
}

fn exact_weights() -> ModelWeights {
    ModelWeights::exact_from_build().expect("the exact weights in this build's output folder")
}

/// FairFace's age brackets with the midpoint used as the true age.
const BRACKETS: [(&str, f32, f32, f32); 9] = [
    ("0-2", 0.0, 3.0, 1.0),
    ("3-9", 3.0, 10.0, 6.0),
    ("10-19", 10.0, 20.0, 14.5),
    ("20-29", 20.0, 30.0, 24.5),
    ("30-39", 30.0, 40.0, 34.5),
    ("40-49", 40.0, 50.0, 44.5),
    ("50-59", 50.0, 60.0, 54.5),
    ("60-69", 60.0, 70.0, 64.5),
    ("70+", 70.0, f32::INFINITY, 75.0),
];

/// Lower edges of the FairFace brackets, as age bands.
const BRACKET_STARTS: [u32; 9] = [0, 3, 10, 20, 30, 40, 50, 60, 70];

fn bracket_of(age: f32) -> &'static str {
    BRACKETS
        .iter()
        .find(|b| age >= b.1 && age < b.2)
        .map(|b| b.0)
        .unwrap_or("70+")
}

fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let mut reader =
        csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = reader.headers().expect("header row").clone();
    reader
        .records()
        .map(|r| {
            let r = r.expect("csv row");
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let ix = (a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0]);
    let iy = (a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1]);
    let inter = ix.max(0.0) * iy.max(0.0);
    inter / (a[2] * a[3] + b[2] * b[3] - inter)
}

fn main() {
    // `cargo bench` passes harness flags such as --bench; the other arguments name sections.
    let sections: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wants = |name: &str| sections.is_empty() || sections.iter().any(|s| s == name);
    let eval = std::env::var("GLANCE_EVAL")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("../shared/eval"));
    if !eval.join("fairface-dev/labels.csv").exists() {
        eprintln!(
            "accuracy: no evaluation data at {} (set GLANCE_EVAL); nothing measured",
            eval.display()
        );
        std::process::exit(1);
    }
    let options: PipelineOptions = match std::env::var("GLANCE_OPTIONS") {
        Ok(json) => serde_json::from_str(&json).expect("GLANCE_OPTIONS is PipelineOptions JSON"),
        Err(_) => PipelineOptions::default(),
    };
    let pipeline = cpu_pipeline(options.clone()).expect("pipeline");
    let analyze = |path: &Path| faces_in(&pipeline, path);

    // Single faces: FairFace (in the wild, age brackets) and UTKFace (aligned chips, exact ages).
    let attributes = AttributeConfig::default();
    let fairface = wants("demographics").then(|| {
        Demographics::measure(
            "fairface-dev",
            &eval.join("fairface-dev"),
            |row| {
                let b = BRACKETS
                    .iter()
                    .find(|b| b.0 == row["age_group"])
                    .expect("known bracket");
                (b.3, b.1 >= 20.0)
            },
            &analyze,
        )
    });
    let utkface =
        (wants("demographics") && eval.join("utkface-dev/labels.csv").exists()).then(|| {
            Demographics::measure(
                "utkface-dev",
                &eval.join("utkface-dev"),
                |row| {
                    let age: f32 = row["age"].parse().expect("age");
                    (age, age >= 20.0)
                },
                &analyze,
            )
        });

    // Group scenes.
    let boxes = read_csv(&eval.join("scenes/boxes.csv"));
    let images = if wants("scenes") {
        read_csv(&eval.join("scenes/images.csv"))
    } else {
        Vec::new()
    };
    let (mut truth_faces, mut found, mut false_positives) = (0, 0, 0);
    for image in &images {
        let truth: Vec<[f32; 4]> = boxes
            .iter()
            .filter(|b| b["file"] == image["file"] && b["ignore"] == "0")
            .map(|b| ["x", "y", "w", "h"].map(|k| b[k].parse::<f32>().unwrap()))
            .collect();
        let faces = analyze(&eval.join("scenes").join(&image["file"]));
        let mut used = vec![false; truth.len()];
        for face in &faces {
            let best = truth
                .iter()
                .enumerate()
                .filter(|(i, _)| !used[*i])
                .map(|(i, t)| (i, iou(face.bbox, *t)))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            match best {
                Some((i, v)) if v >= 0.5 => {
                    used[i] = true;
                    found += 1;
                }
                _ => false_positives += 1,
            }
        }
        truth_faces += truth.len();
    }
    let scene_recall = found as f32 / truth_faces.max(1) as f32;

    // The dev clip, then any generated with ../shared/tools/make_walkby.py in GLANCE_WALKBY.
    let walk_by: Vec<WalkBy> = if wants("walkby") {
        let mut clips = vec![eval.join("video/walkby_dev.mp4")];
        if let Ok(dir) = std::env::var("GLANCE_WALKBY") {
            let mut more: Vec<PathBuf> = std::fs::read_dir(dir)
                .expect("GLANCE_WALKBY is a folder")
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "mp4"))
                .collect();
            more.sort();
            clips.extend(more);
        }
        clips
            .iter()
            .filter_map(|clip| walk_by(clip, &options))
            .collect()
    } else {
        Vec::new()
    };
    let slideshows: Vec<Slides> = if wants("slides") {
        ["clip1_fairface_dev_slideshow.mp4", "clip2_voc_groups.mp4"]
            .iter()
            .filter_map(|clip| slides(&eval.join("video").join(clip), &options))
            .collect()
    } else {
        Vec::new()
    };
    let wider = wants("wider").then(|| wider_dev(&eval.join("wider-dev"), &options));
    let packing = wants("weights").then(|| {
        let exact = Pipeline::new(
            &burn::tensor::Device::flex(),
            &exact_weights(),
            options.clone(),
        )
        .expect("pipeline");
        PackingReport::measure(&eval, &analyze, &|path: &Path| faces_in(&exact, path))
    });

    println!(
        "accuracy on {} (options {})",
        eval.display(),
        serde_json::to_string(&options).unwrap()
    );
    if let Some(f) = &fairface {
        f.print(&attributes);
    }
    if let Some(u) = &utkface {
        u.print(&attributes);
    }
    if wants("scenes") {
        println!("scenes: {} images, {truth_faces} faces", images.len());
        println!(
            "  recall @ IoU 0.5    {:.1} % ({found}/{truth_faces})",
            scene_recall * 100.0
        );
        println!("  false positives     {false_positives}");
    }
    for w in &walk_by {
        w.print();
    }
    for s in &slideshows {
        s.print();
    }
    if let Some(w) = &wider {
        w.print();
    }
    if let Some(p) = &packing {
        p.print();
    }
    let report = serde_json::json!({
        "fairface": fairface.as_ref().map(|f| f.json(&attributes)), "utkface": utkface.as_ref().map(|u| u.json(&attributes)),
        "sceneRecall": wants("scenes").then_some(scene_recall), "sceneFalsePositives": wants("scenes").then_some(false_positives),
        "wider": wider.as_ref().map(WiderReport::json), "walkBy": walk_by.iter().map(WalkBy::json).collect::<Vec<_>>(),
        "slides": slideshows.iter().map(Slides::json).collect::<Vec<_>>(),
        "packedWeights": packing.as_ref().map(PackingReport::json), "options": options,
    });
    let _ = std::fs::create_dir_all("target");
    std::fs::write(
        "target/accuracy.json",
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .expect("write target/accuracy.json");
}

/// Shipped (packed) weights against the exact ones, face by face on FairFace and UTKFace dev:
/// the largest face of each image under both.
#[derive(Default)]
struct PackingReport {
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
    fn measure(
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

    fn print(&self) {
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

    fn json(&self) -> serde_json::Value {
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
struct WiderReport {
    images: usize,
    /// At the configured `minFacePresence`.
    score: WiderScore,
    /// At each of [`PRESENCE_SWEEP`].
    sweep: Vec<WiderScore>,
    seconds: f64,
}

impl WiderReport {
    fn print(&self) {
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

    fn json(&self) -> serde_json::Value {
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
fn wider_dev(dir: &Path, options: &PipelineOptions) -> WiderReport {
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
struct Demographics {
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
    fn measure(
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

    fn print(&self, cfg: &AttributeConfig) {
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

    fn json(&self, cfg: &AttributeConfig) -> serde_json::Value {
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

/// `clip` as .y4m under target/eval (converted with ffmpeg once); `None` when the clip or
/// ffmpeg is missing.
fn y4m_of(clip: &Path) -> Option<PathBuf> {
    let name = clip.file_stem()?.to_string_lossy().to_string();
    let y4m = PathBuf::from(format!("target/eval/{name}.y4m"));
    if y4m.exists() {
        return Some(y4m);
    }
    let _ = std::fs::create_dir_all("target/eval");
    let converted = clip.exists()
        && std::process::Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y", "-i"])
            .arg(clip)
            .args(["-pix_fmt", "yuv420p"])
            .arg(&y4m)
            .status()
            .is_ok_and(|s| s.success());
    if !converted {
        eprintln!(
            "accuracy: ffmpeg could not convert {}; left out",
            clip.display()
        );
    }
    converted.then_some(y4m)
}

/// Each frame's time (ms), the faces found on it and the people present after it.
type PresentByFrame = Vec<(f64, usize, u32)>;

/// The audience engine over a clip in the kiosk's video mode: the completed visits, and the
/// people present frame by frame.
fn audience_of_clip(
    clip: &Path,
    options: &PipelineOptions,
) -> Option<(Vec<CompletedVisit>, PresentByFrame)> {
    let y4m = y4m_of(clip)?;
    let pipeline = cpu_pipeline(PipelineOptions {
        detection_interval_ms: 250.0,
        ..options.clone()
    })
    .expect("pipeline");
    let mut aggregator = AudienceAggregator::new(AudienceConfig::default()).expect("aggregator");
    let mut reader = Y4mReader::open(&y4m).expect("y4m");
    let rate = reader.frame_rate();
    let (mut visits, mut present) = (Vec::new(), Vec::new());
    let (mut index, mut end_ms) = (0u64, 0.0);
    while let Some(image) = reader.next_frame().expect("frame") {
        let ts = index as f64 * 1000.0 / rate;
        let frame = image.frame().expect("frame");
        let analysis = pollster::block_on(
            pipeline.analyze_scheduled(&frame, ts, |faces| aggregator.plan_attributes(ts, faces)),
        )
        .expect("analysis");
        let now = aggregator.observe(&analysis).present;
        present.push((ts, analysis.faces.len(), now));
        visits.extend(aggregator.completed_visits());
        end_ms = ts + 1000.0 / rate;
        index += 1;
    }
    aggregator.finish(end_ms);
    visits.extend(aggregator.completed_visits());
    Some((visits, present))
}

/// A clip of still pictures shown in turn (the slideshow of single faces, the group photos),
/// against its ground truth: per picture, the faces found on the frames of its second half
/// (the median) against the faces in it; and the visits. (The people present are not compared
/// picture by picture: a person who vanished is kept for `maxAgeMs` in case they come back.)
struct Slides {
    clip: String,
    /// Per picture: (faces in it, median faces found in its second half).
    pictures: Vec<(u32, u32)>,
    visits: usize,
}

fn slides(clip: &Path, options: &PipelineOptions) -> Option<Slides> {
    let name = clip.file_stem()?.to_string_lossy().to_string();
    let truth = std::fs::read_dir(clip.parent()?)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name().is_some_and(|f| {
                f.to_string_lossy()
                    .starts_with(&format!("{name}.groundtruth"))
            })
        })?;
    let (visits, present) = audience_of_clip(clip, options)?;
    let mut spans: Vec<(f64, f64, u32)> = read_csv(&truth)
        .iter()
        .map(|r| {
            let n = |k: &str| r[k].parse::<f64>().unwrap();
            (
                n("start_s") * 1000.0,
                n("end_s") * 1000.0,
                n("faces_in_frame") as u32,
            )
        })
        .collect();
    spans.dedup_by(|a, b| a.0 == b.0);
    let pictures = spans
        .iter()
        .map(|&(start, end, faces)| {
            let half = (start + end) / 2.0;
            let mut found: Vec<usize> = present
                .iter()
                .filter(|(t, _, _)| *t >= half && *t < end)
                .map(|(_, n, _)| *n)
                .collect();
            found.sort_unstable();
            (
                faces,
                found.get(found.len() / 2).copied().unwrap_or(0) as u32,
            )
        })
        .collect();
    Some(Slides {
        clip: name,
        pictures,
        visits: visits.len(),
    })
}

impl Slides {
    fn print(&self) {
        let faces: u32 = self.pictures.iter().map(|p| p.0).sum();
        let exact = self.pictures.iter().filter(|p| p.0 == p.1).count();
        let counted: u32 = self.pictures.iter().map(|p| p.1.min(p.0)).sum();
        let extra: u32 = self.pictures.iter().map(|p| p.1.saturating_sub(p.0)).sum();
        println!(
            "{} (video mode): {} pictures, {faces} faces; found in each picture's second half: {counted} of them, {extra} extra, {exact} pictures exact; {} visits",
            self.clip,
            self.pictures.len(),
            self.visits
        );
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "clip": self.clip, "visits": self.visits,
            "pictures": self.pictures.iter().map(|p| serde_json::json!({"faces": p.0, "found": p.1})).collect::<Vec<_>>(),
        })
    }
}

/// The walk-by clip's people matched to the visits the audience engine reported, in the kiosk's
/// video mode.
struct WalkBy {
    clip: String,
    people: usize,
    visits: usize,
    /// Per person: (true gender, true age group, the matched visit's gender), `None` when no
    /// visit overlapped the person's time in view.
    matches: Vec<(String, String, Option<Option<Gender>>)>,
}

/// Runs the audience engine on a walk-by clip (`NAME.mp4` beside `NAME.groundtruth.csv`,
/// converted to .y4m with ffmpeg under target/) in video mode and matches its visits to the
/// ground truth by overlap in time. `None` when the clip or ffmpeg is missing.
fn walk_by(clip: &Path, options: &PipelineOptions) -> Option<WalkBy> {
    let name = clip.file_stem()?.to_string_lossy().to_string();
    let truth = clip.with_file_name(format!("{name}.groundtruth.csv"));
    if !truth.exists() {
        return None;
    }
    let (visits, _) = audience_of_clip(clip, options)?;
    let people = read_csv(&truth);
    let mut used = vec![false; visits.len()];
    let matches = people
        .iter()
        .map(|p| {
            let enter = p["enter_s"].parse::<f64>().unwrap() * 1000.0;
            let exit = p["exit_s"].parse::<f64>().unwrap() * 1000.0;
            let best = visits
                .iter()
                .enumerate()
                .filter(|(i, _)| !used[*i])
                .map(|(i, v)| (i, exit.min(v.end_ms) - enter.max(v.start_ms)))
                .filter(|(_, overlap)| *overlap > 0.0)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            let visit = best.map(|(i, _)| {
                used[i] = true;
                visits[i].gender
            });
            (p["gender"].clone(), p["age_group"].clone(), visit)
        })
        .collect();
    Some(WalkBy {
        clip: name,
        people: people.len(),
        visits: visits.len(),
        matches,
    })
}

impl WalkBy {
    /// (matched, right, wrong, unknown, unknown among children).
    fn counts(&self) -> (usize, usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0, 0);
        for (gender, group, visit) in &self.matches {
            let Some(judged) = visit else { continue };
            c.0 += 1;
            match judged {
                Some(g) => {
                    let right = (*g == Gender::Female) == (gender == "female");
                    c.1 += right as usize;
                    c.2 += !right as usize;
                }
                None => {
                    c.3 += 1;
                    c.4 += ["0-2", "3-9", "10-19"].contains(&group.as_str()) as usize;
                }
            }
        }
        c
    }

    fn print(&self) {
        let (matched, right, wrong, unknown, children) = self.counts();
        println!(
            "{} (video mode): {} people, {} visits ({matched} matched, {} extra)",
            self.clip,
            self.people,
            self.visits,
            self.visits - matched
        );
        println!(
            "  visit gender        {right} right, {wrong} wrong, {unknown} unknown ({children} of them under 20)"
        );
    }

    fn json(&self) -> serde_json::Value {
        let (matched, right, wrong, unknown, children) = self.counts();
        serde_json::json!({
            "clip": self.clip, "people": self.people, "visits": self.visits, "matched": matched,
            "genderRight": right, "genderWrong": wrong, "genderUnknown": unknown,
            "genderUnknownUnder20": children,
        })
    }
}
