//! How many WIDER dev faces CenterFace can find at all, by the scale it scans at and with the
//! photo mirrored: per set of scans, the valid faces of each height band that some detection
//! scoring at least the threshold overlaps with IoU >= 0.4 (the detector's ceiling, before
//! suppression and confirmation), and the detections that overlap no face (after suppression).
//! `../shared/eval/wider-dev`, or GLANCE_EVAL's. Measures whether a second scale or a mirrored
//! look could lift recall of faces >= 24 px (issue #33).
use glance::frame::Frame;
use glance::media::load_image;
use glance::vision::detector::{self, Detection, box_iou};
use glance::vision::{ModelWeights, Networks};
mod wider_dev;

/// The scans compared: (name, the face height each shows at CenterFace's reliable minimum,
/// mirrored).
const SCANS: [(&str, f32, bool); 5] = [
    ("scale 1 (16 px faces)", 16.0, false),
    ("scale 1 mirrored", 16.0, true),
    ("scale 2 (8 px faces)", 8.0, false),
    ("scale 0.5 (32 px faces)", 32.0, false),
    ("scale 0.67 (24 px faces)", 24.0, false),
];
/// Sets of scans whose detections are pooled (indices into SCANS).
const POOLS: [(&str, &[usize]); 7] = [
    ("1", &[0]),
    ("1 + mirrored", &[0, 1]),
    ("1 + 2", &[0, 2]),
    ("1 + 0.5", &[0, 3]),
    ("1 + 0.67", &[0, 4]),
    ("1 + 0.5 + mirrored", &[0, 3, 1]),
    ("all", &[0, 1, 2, 3, 4]),
];
const THRESHOLDS: [f32; 3] = [0.5, 0.4, 0.3];
/// Height bands scored: 16-24 px and >= 24 px.
const BANDS: [(f32, f32); 2] = [(16.0, 24.0), (24.0, f32::INFINITY)];

fn main() {
    let nets = Networks::load(&burn::tensor::Device::flex(), &ModelWeights::embedded()).unwrap();
    let photos = wider_dev::photos();
    // Per pool and threshold: faces found per band, faces per band, false detections.
    let mut found = vec![[[0u32; 2]; THRESHOLDS.len()]; POOLS.len()];
    let mut false_found = vec![[0u32; THRESHOLDS.len()]; POOLS.len()];
    let mut faces = [0u32; 2];
    for photo in &photos {
        eprintln!("{}", photo.file);
        let picture = load_image(&photo.path).unwrap();
        let frame = picture.frame().unwrap();
        let scans: Vec<Vec<Detection>> = SCANS
            .iter()
            .map(|&(_, min_face, mirrored)| scan(&nets, &frame, min_face, mirrored))
            .collect();
        for (b, &(lo, hi)) in BANDS.iter().enumerate() {
            faces[b] += photo
                .truth
                .iter()
                .filter(|(t, valid)| *valid && (lo..hi).contains(&(t[3] - t[1])))
                .count() as u32;
        }
        for (p, (_, members)) in POOLS.iter().enumerate() {
            for (k, &threshold) in THRESHOLDS.iter().enumerate() {
                let pooled: Vec<Detection> = members
                    .iter()
                    .flat_map(|&s| scans[s].iter().filter(|d| d.score >= threshold).cloned())
                    .collect();
                score(&pooled, &photo.truth, &mut found[p][k]);
                let kept = detector::weighted_nms(pooled, 0.3);
                false_found[p][k] += kept
                    .iter()
                    .filter(|d| photo.truth.iter().all(|(t, _)| box_iou(d.bbox, *t) <= 0.0))
                    .count() as u32;
            }
        }
    }
    println!(
        "wider-dev, {} photos: {} valid faces 16-24 px, {} >= 24 px",
        photos.len(),
        faces[0],
        faces[1]
    );
    println!("scans pooled | score >= | found 16-24 px | found >= 24 px | false detections");
    for (p, (name, _)) in POOLS.iter().enumerate() {
        for (k, threshold) in THRESHOLDS.iter().enumerate() {
            let [small, large] = found[p][k];
            println!(
                "{name} | {threshold:.1} | {:.1} % ({small}) | {:.1} % ({large}) | {}",
                small as f32 * 100.0 / faces[0].max(1) as f32,
                large as f32 * 100.0 / faces[1].max(1) as f32,
                false_found[p][k]
            );
        }
    }
}

/// CenterFace on the photo scaled so faces `min_face_px` high show at its reliable minimum,
/// mirrored left-right or not: every detection scoring 0.3 or more, in frame pixels.
fn scan(nets: &Networks, frame: &Frame, min_face_px: f32, mirrored: bool) -> Vec<Detection> {
    if !mirrored {
        return wider_dev::scan_at(nets, frame, min_face_px, 0.3);
    }
    let scan = glance::vision::centerface::ScanInput::for_frame(
        frame.width(),
        frame.height(),
        min_face_px,
    );
    let warp = glance::frame::WarpOptions {
        flip_horizontal: true,
        ..glance::vision::centerface::WARP
    };
    let input = frame.warp_to_chw(&scan.view(), scan.width, scan.height, warp);
    let maps = pollster::block_on(nets.centerface().maps(input, 1, scan.height, scan.width))
        .unwrap()
        .remove(0);
    let width = scan.width as f32;
    glance::vision::centerface::decode(&maps, 0.3)
        .into_iter()
        .map(|mut d| {
            // Back to the unmirrored input: x -> width - x (keypoints are not used here).
            d.bbox = [width - d.bbox[2], d.bbox[1], width - d.bbox[0], d.bbox[3]];
            scan.to_frame(d)
        })
        .collect()
}

/// Adds the valid faces of each band that some detection overlaps with IoU >= 0.4.
fn score(detections: &[Detection], truth: &[([f32; 4], bool)], found: &mut [u32; 2]) {
    for (t, valid) in truth {
        let h = t[3] - t[1];
        let Some(band) = BANDS.iter().position(|&(lo, hi)| (lo..hi).contains(&h)) else {
            continue;
        };
        if *valid && detections.iter().any(|d| box_iou(d.bbox, *t) >= 0.4) {
            found[band] += 1;
        }
    }
}
