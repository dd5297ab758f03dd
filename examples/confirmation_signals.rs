//! How the second signal that confirms a far-field detection was chosen: every CenterFace
//! detection on WIDER FACE dev (`../shared/eval`, or GLANCE_EVAL) at full resolution, labelled
//! against the ground truth, with each candidate signal: the face mesh's presence on its crop,
//! the full-range BlazeFace's best score on windows 3 and 4 times its size, and CenterFace's own
//! on a window 4 times its size scaled to 128 px. CSV on stdout.
//! Run: `cargo run --release --example confirmation_signals > signals.csv` (about 5 minutes).
use glance::frame::{Border, RotatedRect, WarpOptions};
use glance::media::load_image;
use glance::vision::centerface::{self, ScanInput};
use glance::vision::detector::{self, Detection, box_iou};
use glance::vision::{DetectorModel, ModelWeights, Networks};
use std::path::PathBuf;

fn read_csv(path: &std::path::Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).expect("csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            header
                .iter()
                .zip(l.split(','))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

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
    let eval = std::env::var("GLANCE_EVAL")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("../shared/eval"));
    let dir = eval.join("wider-dev");
    let nets = Networks::load(&burn::tensor::Device::flex(), &ModelWeights::embedded()).unwrap();
    let boxes = read_csv(&dir.join("boxes.csv"));
    // BlazeFace's input: RGB in [-1, 1], black past the frame's edge.
    let blaze_warp = WarpOptions {
        border: Border::Zero,
        range: (-1.0, 1.0),
        flip_horizontal: false,
    };
    println!("file,label,height,score,presence,blaze3,blaze4,center4");
    for image in read_csv(&dir.join("images.csv")) {
        let truth: Vec<([f32; 4], bool)> = boxes
            .iter()
            .filter(|b| b["file"] == image["file"])
            .map(|b| {
                let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| b[k].parse::<f32>().unwrap());
                ([x, y, x + w, y + h], b["invalid"] == "0")
            })
            .collect();
        let picture = load_image(&dir.join(&image["file"])).unwrap();
        let frame = picture.frame().unwrap();
        let scan = ScanInput::for_frame(frame.width(), frame.height(), 16.0);
        let input = frame.warp_to_chw(&scan.view(), scan.width, scan.height, centerface::WARP);
        let maps = pollster::block_on(nets.centerface(input, 1, scan.height, scan.width))
            .unwrap()
            .remove(0);
        let found: Vec<Detection> = centerface::decode(&maps, 0.3)
            .into_iter()
            .map(|d| scan.to_frame(d))
            .collect();
        let found = detector::weighted_nms(found, 0.3);
        if found.is_empty() {
            continue;
        }
        // Face mesh presence, on MediaPipe's crop (1.5 x the box, rotated by the eye line).
        let mut mesh_input = Vec::new();
        for d in &found {
            let [r, l] = [d.keypoints[0], d.keypoints[1]];
            let roll = (l[1] - r[1]).atan2(l[0] - r[0]);
            let options = WarpOptions {
                border: Border::Replicate,
                range: (0.0, 1.0),
                flip_horizontal: false,
            };
            mesh_input.extend(frame.warp_to_chw(&square(d.bbox, 1.5, roll), 192, 192, options));
        }
        let (_, presence) =
            pollster::block_on(nets.face_landmarks(mesh_input, found.len())).unwrap();
        let blaze = |scale: f32| -> Vec<f32> {
            let views: Vec<RotatedRect> =
                found.iter().map(|d| square(d.bbox, scale, 0.0)).collect();
            let mut input = Vec::new();
            for v in &views {
                input.extend(frame.warp_to_chw(v, 192, 192, blaze_warp));
            }
            let (b, s) =
                pollster::block_on(nets.detect(DetectorModel::FullRange, input, views.len()))
                    .unwrap();
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
        };
        let (blaze3, blaze4) = (blaze(3.0), blaze(4.0));
        let center4: Vec<f32> = found
            .iter()
            .map(|d| {
                let v = square(d.bbox, 4.0, 0.0);
                let input = frame.warp_to_chw(&v, 128, 128, centerface::WARP);
                let maps = pollster::block_on(nets.centerface(input, 1, 128, 128))
                    .unwrap()
                    .remove(0);
                best_match(&centerface::decode(&maps, 0.05), &v, 128.0, d.bbox)
            })
            .collect();
        for (i, d) in found.iter().enumerate() {
            let tp = truth
                .iter()
                .any(|(t, valid)| *valid && box_iou(*t, d.bbox) >= 0.4);
            let fp = !truth.iter().any(|(t, _)| box_iou(*t, d.bbox) > 0.0);
            let label = if tp {
                "tp"
            } else if fp {
                "fp"
            } else {
                "other"
            };
            println!(
                "{},{label},{:.1},{:.3},{:.3},{:.3},{:.3},{:.3}",
                image["file"],
                d.bbox[3] - d.bbox[1],
                d.score,
                1.0 / (1.0 + (-presence[i]).exp()),
                blaze3[i],
                blaze4[i],
                center4[i]
            );
        }
    }
}
