//! How the age/gender crop's framing was chosen: for every face of FairFace and UTKFace dev
//! (`../shared/eval`, or GLANCE_EVAL), the network's outputs for a grid of framings (the
//! detection box times 0.9 to 1.2; squares on the eyes and mouth), each also mirrored, as CSV
//! on stdout, for comparing gender accuracy and age error per framing on both sets.
//! Run: `cargo run --release --example attribute_framing > framing.csv` (about 10 minutes).
use glance::analysis::FaceAnalysis;
use glance::frame::{Border, Frame, RotatedRect, WarpOptions};
use glance::media::load_image;
use glance::vision::{ModelWeights, Networks, PipelineOptions, cpu_pipeline};
use std::path::PathBuf;

/// A framing of the crop: its family (`box`, `whole`, `max`, `mean`), its two parameters, and
/// the square it takes.
type Framing = (String, f32, f32, RotatedRect);

fn main() {
    let eval = std::env::var("GLANCE_EVAL")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("../shared/eval"));
    let pipeline = cpu_pipeline(PipelineOptions {
        age_gender: false,
        min_face_height: Some(0.0),
        ..Default::default()
    })
    .unwrap();
    let device = burn::tensor::Device::flex();
    let nets = Networks::load(&device, &ModelWeights::embedded()).unwrap();
    println!("set,file,age,age_group,gender,e,m,boxw,variant,k,dy,flip,pred_age,p_female");
    for (set, csv) in [
        ("utk", "utkface-dev/labels.csv"),
        ("ff", "fairface-dev/labels.csv"),
    ] {
        let dir = eval.join(csv).parent().unwrap().to_path_buf();
        let text = std::fs::read_to_string(eval.join(csv)).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        for line in lines {
            let cols: Vec<&str> = line.split(',').collect();
            let get = |n: &str| cols[header.iter().position(|h| *h == n).unwrap()];
            let file = get("file");
            let age = if set == "utk" { get("age") } else { "" };
            let img = load_image(&dir.join(file)).unwrap();
            let frame = img.frame().unwrap();
            let faces = pollster::block_on(pipeline.analyze(&frame, 0.0))
                .unwrap()
                .faces;
            let Some(f) = faces
                .iter()
                .max_by(|a, b| (a.bbox[2] * a.bbox[3]).total_cmp(&(b.bbox[2] * b.bbox[3])))
            else {
                continue;
            };
            let (e, m, rects) = framings(f, &frame, set == "utk");
            let (rows, ages, genders) = judge(&nets, &frame, &rects);
            for (i, (v, k, dy, flip)) in rows.iter().enumerate() {
                println!(
                    "{set},{file},{age},{},{},{e:.2},{m:.2},{:.2},{v},{k},{dy},{},{:.3},{:.5}",
                    get("age_group"),
                    get("gender"),
                    f.bbox[2].max(f.bbox[3]),
                    *flip as u8,
                    ages[i],
                    genders[2 * i + 1]
                );
            }
        }
    }
}

/// The framings tried for face `f`: the box times 0.9 to 1.2, the whole picture (`whole`), and
/// squares on the eyes and mouth; with the eye distance `e` and eye-to-mouth distance `m`.
fn framings(f: &FaceAnalysis, frame: &Frame, whole: bool) -> (f32, f32, Vec<Framing>) {
    let kp = f.keypoints;
    let mid = [(kp[0][0] + kp[1][0]) / 2.0, (kp[0][1] + kp[1][1]) / 2.0];
    let ex = [kp[1][0] - kp[0][0], kp[1][1] - kp[0][1]];
    let e = (ex[0] * ex[0] + ex[1] * ex[1]).sqrt();
    let roll = ex[1].atan2(ex[0]);
    let down = [-roll.sin(), roll.cos()];
    let mv = [kp[3][0] - mid[0], kp[3][1] - mid[1]];
    let m = mv[0] * down[0] + mv[1] * down[1];
    let square = |cx: f32, cy: f32, side: f32| RotatedRect {
        cx,
        cy,
        width: side,
        height: side,
        rotation: roll,
    };
    let mut rects: Vec<Framing> = vec![];
    for scale in [0.9f32, 0.95, 1.0, 1.05, 1.1, 1.2] {
        let side = f.bbox[2].max(f.bbox[3]) * scale;
        let (cx, cy) = (f.bbox[0] + f.bbox[2] / 2.0, f.bbox[1] + f.bbox[3] / 2.0);
        rects.push(("box".into(), scale, 0.0, square(cx, cy, side)));
    }
    if whole {
        let letterbox = RotatedRect::letterbox(frame.width(), frame.height());
        rects.push(("whole".into(), 0.0, 0.0, letterbox));
    }
    for (variant, d) in [("max", e.max(m)), ("mean", (e + m) / 2.0)] {
        for k in [2.1f32, 2.25, 2.4, 2.55] {
            for dy in [0.3f32, 0.4, 0.5, 0.6] {
                let c = [mid[0] + dy * d * down[0], mid[1] + dy * d * down[1]];
                rects.push((variant.into(), k, dy, square(c[0], c[1], k * d)));
            }
        }
    }
    (e, m, rects)
}

/// The age/gender network on every framing and its mirror: per crop (framing, k, dy, flip),
/// and the network's ages and gender outputs.
#[allow(clippy::type_complexity)]
fn judge(
    nets: &Networks,
    frame: &Frame,
    rects: &[Framing],
) -> (Vec<(String, f32, f32, bool)>, Vec<f32>, Vec<f32>) {
    let mut chw = vec![];
    let mut rows = vec![];
    for (v, k, dy, r) in rects {
        for flip in [false, true] {
            let options = WarpOptions {
                border: Border::Replicate,
                range: (0.0, 255.0),
                flip_horizontal: flip,
            };
            chw.extend(frame.warp_to_chw(r, 112, 112, options));
            rows.push((v.clone(), *k, *dy, flip));
        }
    }
    let n = rows.len();
    let (ages, genders) = pollster::block_on(nets.age_gender(chw, n)).unwrap();
    (rows, ages, genders)
}
