//! WIDER FACE dev as the WIDER tools read it (`../shared/eval/wider-dev`, or GLANCE_EVAL's).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use glance::frame::Frame;
use glance::vision::Networks;
use glance::vision::centerface::{self, ScanInput};
use glance::vision::detector::Detection;

/// One photo: its path and its faces as `([x0, y0, x1, y1], valid)`.
pub struct Photo {
    pub file: String,
    pub path: PathBuf,
    pub truth: Vec<([f32; 4], bool)>,
}

fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
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

/// Every photo of the set, in `images.csv`'s order, with its ground truth.
pub fn photos() -> Vec<Photo> {
    let eval = std::env::var("GLANCE_EVAL")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("../shared/eval"));
    let dir = eval.join("wider-dev");
    let boxes = read_csv(&dir.join("boxes.csv"));
    read_csv(&dir.join("images.csv"))
        .into_iter()
        .map(|image| {
            let file = image["file"].clone();
            let truth = boxes
                .iter()
                .filter(|b| b["file"] == file)
                .map(|b| {
                    let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| b[k].parse::<f32>().unwrap());
                    ([x, y, x + w, y + h], b["invalid"] == "0")
                })
                .collect();
            Photo {
                path: dir.join(&file),
                file,
                truth,
            }
        })
        .collect()
}

/// CenterFace on the whole photo, scaled so that faces 16 px high show (the fine scan's view),
/// its detections scoring at least `min_score` in frame pixels, unsuppressed.
#[allow(dead_code, reason = "each WIDER tool uses the scans it needs")]
pub fn fine_scan(nets: &Networks, frame: &Frame, min_score: f32) -> Vec<Detection> {
    scan_at(nets, frame, 16.0, min_score)
}

/// CenterFace on the whole photo, scaled so that faces `min_face_px` high show at its reliable
/// minimum: its detections scoring at least `min_score` in frame pixels, unsuppressed.
pub fn scan_at(nets: &Networks, frame: &Frame, min_face_px: f32, min_score: f32) -> Vec<Detection> {
    let scan = ScanInput::for_frame(frame.width(), frame.height(), min_face_px);
    let input = frame.warp_to_chw(&scan.view(), scan.width, scan.height, centerface::WARP);
    let maps = pollster::block_on(nets.centerface().maps(input, 1, scan.height, scan.width))
        .unwrap()
        .remove(0);
    centerface::decode(&maps, min_score)
        .into_iter()
        .map(|d| scan.to_frame(d))
        .collect()
}
