//! Why WIDER dev faces are missed: per valid face of 16 px or more, the best overlap of the
//! pipeline's faces, of its rejected detections and of raw CenterFace detections (score >= 0.1)
//! at the fine scan's scale (`../shared/eval/wider-dev`, or GLANCE_EVAL's). CSV on stdout.
use glance::analysis::FaceAnalysis;
use glance::media::load_image;
use glance::vision::detector::{Detection, box_iou};
use glance::vision::{ModelWeights, Networks, PipelineOptions, cpu_pipeline};
mod wider_dev;

fn xyxy(b: [f32; 4]) -> [f32; 4] {
    [b[0], b[1], b[0] + b[2], b[1] + b[3]]
}

fn main() {
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
    println!(
        "file,h,w,face_iou,face_score,face_h,face_dy,rejected_iou,rejected_score,rejected_presence,center_iou,center_score,center_h,center_best_score"
    );
    let only = std::env::var("GLANCE_ONLY").ok();
    for wider_dev::Photo { file, path, truth } in wider_dev::photos() {
        if only.as_ref().is_some_and(|o| !file.contains(o.as_str())) {
            continue;
        }
        let picture = load_image(&path).unwrap();
        let frame = picture.frame().unwrap();
        let analysis = pollster::block_on(pipeline.analyze(&frame, 0.0)).unwrap();
        let faces: Vec<&FaceAnalysis> = analysis.faces.iter().collect();
        let raw: Vec<Detection> = wider_dev::fine_scan(&nets, &frame, 0.1);
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
                file,
                t[2] - t[0]
            );
        }
    }
}
