//! Why WIDER dev faces are missed: per valid face of 16 px or more, the best overlap of the
//! pipeline's faces, of its rejected detections and of raw CenterFace detections (score >= 0.1)
//! at the fine scan's scale. CSV on stdout.
use glance::analysis::FaceAnalysis;
use glance::media::load_image;
use glance::vision::centerface::{self, ScanInput};
use glance::vision::detector::{Detection, box_iou};
use glance::vision::{ModelWeights, Networks, PipelineOptions, cpu_pipeline};
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

fn xyxy(b: [f32; 4]) -> [f32; 4] {
    [b[0], b[1], b[0] + b[2], b[1] + b[3]]
}

fn main() {
    let dir = PathBuf::from("../shared/eval/wider-dev");
    let options: PipelineOptions = match std::env::var("GLANCE_OPTIONS") {
        Ok(json) => serde_json::from_str(&json).unwrap(),
        Err(_) => PipelineOptions::default(),
    };
    let pipeline = cpu_pipeline(PipelineOptions {
        max_faces: 256,
        age_gender: false,
        min_face_height: options.min_face_height.or(Some(16.0)),
        ..options
    })
    .unwrap();
    let nets = Networks::load(&burn::tensor::Device::flex(), &ModelWeights::embedded()).unwrap();
    let boxes = read_csv(&dir.join("boxes.csv"));
    println!(
        "file,h,w,face_iou,face_score,face_h,face_dy,rejected_iou,rejected_score,rejected_presence,center_iou,center_score,center_h,center_best_score"
    );
    let only = std::env::var("GLANCE_ONLY").ok();
    for image in read_csv(&dir.join("images.csv")) {
        if only
            .as_ref()
            .is_some_and(|o| !image["file"].contains(o.as_str()))
        {
            continue;
        }
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
        let analysis = pollster::block_on(pipeline.analyze(&frame, 0.0)).unwrap();
        let faces: Vec<&FaceAnalysis> = analysis.faces.iter().collect();
        let scan = ScanInput::for_frame(frame.width(), frame.height(), 16.0);
        let input = frame.warp_to_chw(&scan.view(), scan.width, scan.height, centerface::WARP);
        let maps = pollster::block_on(nets.centerface(input, 1, scan.height, scan.width))
            .unwrap()
            .remove(0);
        let raw: Vec<Detection> = centerface::decode(&maps, 0.1)
            .into_iter()
            .map(|d| scan.to_frame(d))
            .collect();
        let false_positives = faces
            .iter()
            .filter(|f| !truth.iter().any(|(t, _)| box_iou(*t, xyxy(f.bbox)) > 0.0))
            .count();
        eprintln!("fp {false_positives}");
        for (t, valid) in &truth {
            let h = t[3] - t[1];
            if !valid || h < 16.0 {
                continue;
            }
            let best_face = faces
                .iter()
                .map(|f| (box_iou(*t, xyxy(f.bbox)), f))
                .max_by(|a, b| a.0.total_cmp(&b.0));
            let (fi, fs, fh, fdy) = best_face.map_or((0.0, 0.0, 0.0, 0.0), |(i, f)| {
                let b = xyxy(f.bbox);
                (
                    i,
                    f.score,
                    b[3] - b[1],
                    ((b[1] + b[3]) - (t[1] + t[3])) / 2.0 / h,
                )
            });
            let (ri, rs, rp) = analysis
                .rejected
                .iter()
                .map(|r| (box_iou(*t, xyxy(r.bbox)), r.score, r.presence))
                .fold((0.0, 0.0, 0.0), |a, b| if b.0 > a.0 { b } else { a });
            let best_raw = raw
                .iter()
                .filter(|d| box_iou(*t, d.bbox) >= 0.4)
                .max_by(|a, b| a.score.total_cmp(&b.score));
            let (ci, cs, ch) = best_raw.map_or((0.0, 0.0, 0.0), |d| {
                (box_iou(*t, d.bbox), d.score, d.bbox[3] - d.bbox[1])
            });
            let best_any = raw
                .iter()
                .filter(|d| box_iou(*t, d.bbox) > 0.1)
                .map(|d| d.score)
                .fold(0.0, f32::max);
            println!(
                "{},{h},{},{fi:.3},{fs:.3},{fh:.1},{fdy:.3},{ri:.3},{rs:.3},{rp:.3},{ci:.3},{cs:.3},{ch:.1},{best_any:.3}",
                image["file"],
                t[2] - t[0]
            );
        }
    }
}
