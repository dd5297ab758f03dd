//! How the second signal that confirms a far-field detection was chosen: every CenterFace
//! detection (score 0.2 or more) on WIDER FACE dev (`../shared/eval`, or GLANCE_EVAL) at full
//! resolution, labelled against the ground truth (with the matched face's height), with each
//! candidate signal: the face mesh's presence on its crop, the full-range BlazeFace's best score
//! on windows 3 and 4 times its size, and CenterFace's own best score of that face on a window
//! 4 times its size at 128 px (`center4`, the second look), 3 times at 128 px, 4 times mirrored,
//! 6 times, 4 times at 192 px and twice at 64 px (the looks the pipeline adds were chosen from
//! these). CSV on stdout.
//! Run: `cargo run --release --example confirmation_signals > signals.csv` (about 4 minutes).
use glance::frame::{Border, Frame, RotatedRect, WarpOptions};
use glance::media::load_image;
use glance::vision::centerface;
use glance::vision::detector::{self, Detection, box_iou};
use glance::vision::{DetectorModel, ModelWeights, Networks};
mod wider_dev;

fn square(b: [f32; 4], scale: f32, rotation: f32) -> RotatedRect {
    let side = (b[2] - b[0]).max(b[3] - b[1]) * scale;
    RotatedRect {
        cx: (b[0] + b[2]) / 2.0,
        cy: (b[1] + b[3]) / 2.0,
        width: side,
        height: side,
        rotation,
    }
}

fn best_match(found: &[Detection], view: &RotatedRect, size: f32, target: [f32; 4]) -> f32 {
    found
        .iter()
        .map(|d| {
            let [x0, y0] = view.to_frame(d.bbox[0] / size, d.bbox[1] / size, false);
            let [x1, y1] = view.to_frame(d.bbox[2] / size, d.bbox[3] / size, false);
            (box_iou([x0, y0, x1, y1], target), d.score)
        })
        .filter(|(iou, _)| *iou >= 0.5)
        .map(|(_, s)| s)
        .fold(0.0, f32::max)
}

fn main() {
    let nets = Networks::load(&burn::tensor::Device::flex(), &ModelWeights::embedded()).unwrap();
    println!(
        "file,label,height,truth_height,score,presence,blaze3,blaze4,center4,c3,c4f,c6,c4_192,c2_64"
    );
    for wider_dev::Photo { file, path, truth } in wider_dev::photos() {
        let picture = load_image(&path).unwrap();
        let frame = picture.frame().unwrap();
        let found = fine_scan(&nets, &frame);
        if found.is_empty() {
            continue;
        }
        let presence = mesh_presence(&nets, &frame, &found);
        let (blaze3, blaze4) = (
            blaze_scores(&nets, &frame, &found, 3.0),
            blaze_scores(&nets, &frame, &found, 4.0),
        );
        let look = |scale, px, flip| look_scores(&nets, &frame, &found, scale, px, flip);
        let center4 = look(4.0, 128, false);
        let signals = [
            look(3.0, 128, false),
            look(4.0, 128, true),
            look(6.0, 128, false),
            look(4.0, 192, false),
            look(2.0, 64, false),
        ];
        for (i, d) in found.iter().enumerate() {
            let mut row = vec![presence[i], blaze3[i], blaze4[i], center4[i]];
            row.extend(signals.iter().map(|s| s[i]));
            print_row(&file, &truth, d, &row);
        }
    }
}

/// The fine scan's detections at 0.2, suppressed.
fn fine_scan(nets: &Networks, frame: &Frame) -> Vec<Detection> {
    detector::weighted_nms(wider_dev::fine_scan(nets, frame, 0.2), 0.3)
}

/// The face mesh's presence probability on MediaPipe's crop (1.5 x the box, rotated by the eye
/// line) of each detection.
fn mesh_presence(nets: &Networks, frame: &Frame, found: &[Detection]) -> Vec<f32> {
    let mut mesh_input = Vec::new();
    for d in found {
        let [r, l] = [d.keypoints[0], d.keypoints[1]];
        let roll = (l[1] - r[1]).atan2(l[0] - r[0]);
        let options = WarpOptions {
            border: Border::Replicate,
            range: (0.0, 1.0),
            flip_horizontal: false,
        };
        mesh_input.extend(frame.warp_to_chw(&square(d.bbox, 1.5, roll), 192, 192, options));
    }
    let (_, presence) = pollster::block_on(nets.face_landmarks(mesh_input, found.len())).unwrap();
    presence.iter().map(|p| 1.0 / (1.0 + (-p).exp())).collect()
}

/// BlazeFace full range on a window `scale` times each detection: its best score there.
fn blaze_scores(nets: &Networks, frame: &Frame, found: &[Detection], scale: f32) -> Vec<f32> {
    // BlazeFace's input: RGB in [-1, 1], black past the frame's edge.
    let blaze_warp = WarpOptions {
        border: Border::Zero,
        range: (-1.0, 1.0),
        flip_horizontal: false,
    };
    let views: Vec<RotatedRect> = found.iter().map(|d| square(d.bbox, scale, 0.0)).collect();
    let mut input = Vec::new();
    for v in &views {
        input.extend(frame.warp_to_chw(v, 192, 192, blaze_warp));
    }
    let (b, s) =
        pollster::block_on(nets.detect(DetectorModel::FullRange, input, views.len())).unwrap();
    let anchors = DetectorModel::FullRange.anchors();
    let n = anchors.len();
    views
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let dets = detector::decode(
                &b[i * n * 16..(i + 1) * n * 16],
                &s[i * n..(i + 1) * n],
                &anchors,
                192,
                0.05,
            );
            // BlazeFace decodes to normalised coordinates.
            best_match(&dets, v, 1.0, found[i].bbox)
        })
        .collect()
}

/// CenterFace on a window `scale` times each detection at `px` square (mirrored when `flip`):
/// the best score of a detection that agrees with it.
fn look_scores(
    nets: &Networks,
    frame: &Frame,
    found: &[Detection],
    scale: f32,
    px: usize,
    flip: bool,
) -> Vec<f32> {
    found
        .iter()
        .map(|d| {
            let v = square(d.bbox, scale, 0.0);
            let warp = WarpOptions {
                flip_horizontal: flip,
                ..centerface::WARP
            };
            let input = frame.warp_to_chw(&v, px, px, warp);
            let maps = pollster::block_on(nets.centerface().maps(input, 1, px, px))
                .unwrap()
                .remove(0);
            let size = px as f32;
            centerface::decode(&maps, 0.05)
                .iter()
                .map(|c| {
                    let [ax, y0] = v.to_frame(c.bbox[0] / size, c.bbox[1] / size, flip);
                    let [bx, y1] = v.to_frame(c.bbox[2] / size, c.bbox[3] / size, flip);
                    let b = [ax.min(bx), y0, ax.max(bx), y1];
                    (detector::boxes_agree(b, d.bbox, 0.5), c.score)
                })
                .filter(|(agree, _)| *agree)
                .map(|(_, s)| s)
                .fold(0.0, f32::max)
        })
        .collect()
}

/// One CSV row: the detection against the truth (tp, fp or other), then its signals (presence,
/// blaze3, blaze4, center4, c3, c4f, c6, c4_192, c2_64).
fn print_row(file: &str, truth: &[([f32; 4], bool)], d: &Detection, signals: &[f32]) {
    let matched = truth
        .iter()
        .filter(|(t, valid)| *valid && box_iou(*t, d.bbox) >= 0.4)
        .max_by(|a, b| box_iou(a.0, d.bbox).total_cmp(&box_iou(b.0, d.bbox)));
    let truth_height = matched.map_or(0.0, |(t, _)| t[3] - t[1]);
    let fp = !truth.iter().any(|(t, _)| box_iou(*t, d.bbox) > 0.0);
    let label = match (matched.is_some(), fp) {
        (true, _) => "tp",
        (false, true) => "fp",
        (false, false) => "other",
    };
    println!(
        "{file},{label},{:.1},{truth_height},{:.3},{}",
        d.bbox[3] - d.bbox[1],
        d.score,
        signals
            .iter()
            .map(|s| format!("{s:.3}"))
            .collect::<Vec<_>>()
            .join(",")
    );
}
