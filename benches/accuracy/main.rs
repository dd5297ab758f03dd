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

mod clips;
mod demographics;
mod packing;
mod wider;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use glance::analysis::{FaceAnalysis, Gender};
use glance::audience::attributes::{ADULT_AGE_YEARS, age_band_probabilities, one_frame_age_sigma};
use glance::audience::{AttributeConfig, AudienceAggregator, AudienceConfig, CompletedVisit};
use glance::media::{Y4mReader, load_image};
use glance::vision::weights::{self, Precision};
use glance::vision::{ModelWeights, Pipeline, PipelineOptions};

use clips::{Slides, WalkBy, slides, walk_by};
use demographics::Demographics;
use packing::PackingReport;
use wider::{WiderReport, wider_dev};

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

/// The sections asked for on the command line (all when none is named).
struct Sections(Vec<String>);

impl Sections {
    fn from_args() -> Self {
        // `cargo bench` passes harness flags such as --bench; the other arguments name sections.
        Sections(
            std::env::args()
                .skip(1)
                .filter(|a| !a.starts_with("--"))
                .collect(),
        )
    }

    fn wants(&self, name: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|s| s == name)
    }
}

fn main() {
    let sections = Sections::from_args();
    let wants = |name: &str| sections.wants(name);
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
    let (fairface, utkface) = if wants("demographics") {
        single_faces(&eval, &analyze)
    } else {
        (None, None)
    };
    let reports = Reports {
        fairface,
        utkface,
        scenes: wants("scenes").then(|| Scenes::measure(&eval, &analyze)),
        walk_by: if wants("walkby") {
            walk_by_clips(&eval, &options)
        } else {
            Vec::new()
        },
        slideshows: if wants("slides") {
            ["clip1_fairface_dev_slideshow.mp4", "clip2_voc_groups.mp4"]
                .iter()
                .filter_map(|clip| slides(&eval.join("video").join(clip), &options))
                .collect()
        } else {
            Vec::new()
        },
        wider: wants("wider").then(|| wider_dev(&eval.join("wider-dev"), &options)),
        packing: wants("weights").then(|| {
            let exact = Pipeline::new(
                &burn::tensor::Device::flex(),
                &exact_weights(),
                options.clone(),
            )
            .expect("pipeline");
            PackingReport::measure(&eval, &analyze, &|path: &Path| faces_in(&exact, path))
        }),
    };
    println!(
        "accuracy on {} (options {})",
        eval.display(),
        serde_json::to_string(&options).unwrap()
    );
    reports.print();
    let _ = std::fs::create_dir_all("target");
    std::fs::write(
        "target/accuracy.json",
        serde_json::to_string_pretty(&reports.json(&options)).unwrap(),
    )
    .expect("write target/accuracy.json");
}

/// What the sections measured (a section not run has `None` or nothing).
struct Reports {
    fairface: Option<Demographics>,
    utkface: Option<Demographics>,
    scenes: Option<Scenes>,
    walk_by: Vec<WalkBy>,
    slideshows: Vec<Slides>,
    wider: Option<WiderReport>,
    packing: Option<PackingReport>,
}

impl Reports {
    fn print(&self) {
        let attributes = AttributeConfig::default();
        for d in self.fairface.iter().chain(&self.utkface) {
            d.print(&attributes);
        }
        if let Some(s) = &self.scenes {
            s.print();
        }
        for w in &self.walk_by {
            w.print();
        }
        for s in &self.slideshows {
            s.print();
        }
        if let Some(w) = &self.wider {
            w.print();
        }
        if let Some(p) = &self.packing {
            p.print();
        }
    }

    /// target/accuracy.json.
    fn json(&self, options: &PipelineOptions) -> serde_json::Value {
        let attributes = AttributeConfig::default();
        let scenes = self.scenes.as_ref();
        serde_json::json!({
            "fairface": self.fairface.as_ref().map(|f| f.json(&attributes)),
            "utkface": self.utkface.as_ref().map(|u| u.json(&attributes)),
            "sceneRecall": scenes.map(Scenes::recall),
            "sceneFalsePositives": scenes.map(|s| s.false_positives),
            "wider": self.wider.as_ref().map(WiderReport::json),
            "walkBy": self.walk_by.iter().map(WalkBy::json).collect::<Vec<_>>(),
            "slides": self.slideshows.iter().map(Slides::json).collect::<Vec<_>>(),
            "packedWeights": self.packing.as_ref().map(PackingReport::json),
            "options": options,
        })
    }
}

/// Single faces: FairFace (in the wild, age brackets) and UTKFace (aligned chips, exact ages).
fn single_faces(
    eval: &Path,
    analyze: &dyn Fn(&Path) -> Vec<FaceAnalysis>,
) -> (Option<Demographics>, Option<Demographics>) {
    let fairface = Demographics::measure(
        "fairface-dev",
        &eval.join("fairface-dev"),
        |row| {
            let b = BRACKETS
                .iter()
                .find(|b| b.0 == row["age_group"])
                .expect("known bracket");
            (b.3, b.1 >= 20.0)
        },
        analyze,
    );
    let utkface = eval.join("utkface-dev/labels.csv").exists().then(|| {
        Demographics::measure(
            "utkface-dev",
            &eval.join("utkface-dev"),
            |row| {
                let age: f32 = row["age"].parse().expect("age");
                (age, age >= 20.0)
            },
            analyze,
        )
    });
    (Some(fairface), utkface)
}

/// The dev clip, then any generated with ../shared/tools/make_walkby.py in GLANCE_WALKBY.
fn walk_by_clips(eval: &Path, options: &PipelineOptions) -> Vec<WalkBy> {
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
        .filter_map(|clip| walk_by(clip, options))
        .collect()
}

/// The VOC group scenes: faces found at IoU 0.5, and detections that are no face.
struct Scenes {
    images: usize,
    truth_faces: usize,
    found: usize,
    false_positives: usize,
}

impl Scenes {
    fn measure(eval: &Path, analyze: &dyn Fn(&Path) -> Vec<FaceAnalysis>) -> Self {
        let boxes = read_csv(&eval.join("scenes/boxes.csv"));
        let images = read_csv(&eval.join("scenes/images.csv"));
        let mut scenes = Scenes {
            images: images.len(),
            truth_faces: 0,
            found: 0,
            false_positives: 0,
        };
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
                        scenes.found += 1;
                    }
                    _ => scenes.false_positives += 1,
                }
            }
            scenes.truth_faces += truth.len();
        }
        scenes
    }

    fn recall(&self) -> f32 {
        self.found as f32 / self.truth_faces.max(1) as f32
    }

    fn print(&self) {
        let (found, truth_faces) = (self.found, self.truth_faces);
        println!("scenes: {} images, {truth_faces} faces", self.images);
        println!(
            "  recall @ IoU 0.5    {:.1} % ({found}/{truth_faces})",
            self.recall() * 100.0
        );
        println!("  false positives     {}", self.false_positives);
    }
}
