//! The whole vision pipeline on a real face, and its handling of bad input.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use glance::analysis::{Gender, SkipReason};
use glance::audience::{AudienceAggregator, AudienceConfig};
use glance::frame::Frame;
use glance::vision::{DetectorChoice, PipelineOptions, cpu_pipeline};

#[test]
fn finds_and_describes_the_astronaut() {
    let image = common::astronaut();
    let pipeline = cpu_pipeline(PipelineOptions::default()).unwrap();
    let result = common::analyze(&pipeline, &image, 40.0);
    assert_eq!(
        (result.width, result.height, result.timestamp_ms),
        (512, 512, 40.0)
    );
    assert_eq!(result.faces.len(), 1, "{:?}", result.faces);
    let face = &result.faces[0];
    // Hand-checked: her face spans roughly x 175..280, y 70..175 in the picture.
    let [x, y, w, h] = face.bbox;
    assert!(
        (165.0..190.0).contains(&x) && (60.0..85.0).contains(&y),
        "{:?}",
        face.bbox
    );
    assert!(
        (90.0..125.0).contains(&w) && (90.0..125.0).contains(&h),
        "{:?}",
        face.bbox
    );
    assert!(face.score > 0.8);
    // Her right eye appears left of her left eye; the nose lies between them.
    let kp = face.keypoints;
    assert!(kp[0][0] < kp[2][0] && kp[2][0] < kp[1][0], "{kp:?}");
    // She faces the camera, more or less.
    let (yaw, roll) = (face.yaw.unwrap(), face.roll.unwrap());
    assert!(
        yaw.abs() < 15.0 && roll.abs() < 10.0,
        "yaw {yaw} roll {roll}"
    );
    let gaze = face.gaze.unwrap();
    assert!(
        gaze[2] < -0.8,
        "gaze {gaze:?} should point back at the camera"
    );
    assert_eq!(face.gaze_from_eyes, Some(true));
    let norm = gaze.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4);
    // A portrait taken at arm's length to a couple of metres.
    let d = face.distance_m.unwrap();
    assert!((0.3..2.0).contains(&d), "distance {d}");
    let pos = face.position_m.unwrap();
    assert!((pos.iter().map(|v| v * v).sum::<f32>().sqrt() - d).abs() < 1e-3);
    assert!(pos[1] < 0.0, "her face is above the image centre: {pos:?}");
    // An adult woman.
    let age = face.age.unwrap();
    assert!((20.0..60.0).contains(&age), "age {age}");
    assert_eq!(face.gender, Some(Gender::Female));
    // A clear, frontal adult face: a confident, calibrated gender, and a crisp crop.
    let p = face.gender_score.unwrap();
    assert!((0.8..=1.0).contains(&p), "genderScore {p}");
    let sharpness = face.sharpness.unwrap();
    assert!((0.3..1.0).contains(&sharpness), "sharpness {sharpness}");
    assert!(face.skipped.is_empty());
}

/// A blurred copy of the astronaut (box blur of `radius` pixels, twice).
fn blurred(radius: usize) -> glance::media::RgbImage {
    let mut image = common::astronaut();
    let (w, h) = (image.width as usize, image.height as usize);
    for _ in 0..2 {
        let src = image.pixels.clone();
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    let (mut sum, mut n) = (0u32, 0u32);
                    for yy in y.saturating_sub(radius)..(y + radius + 1).min(h) {
                        for xx in x.saturating_sub(radius)..(x + radius + 1).min(w) {
                            sum += src[(yy * w + xx) * 3 + c] as u32;
                            n += 1;
                        }
                    }
                    image.pixels[(y * w + x) * 3 + c] = (sum / n) as u8;
                }
            }
        }
    }
    image
}

#[test]
fn a_blurred_face_is_less_sharp_and_weighs_less_in_the_visit() {
    let pipeline = cpu_pipeline(PipelineOptions::default()).unwrap();
    let crisp = common::analyze(&pipeline, &common::astronaut(), 0.0).faces;
    let soft = common::analyze(&pipeline, &blurred(3), 0.0).faces;
    assert_eq!((crisp.len(), soft.len()), (1, 1));
    let (a, b) = (crisp[0].sharpness.unwrap(), soft[0].sharpness.unwrap());
    assert!(b < 0.5 * a, "blurred {b} against crisp {a}");
    let cfg = glance::audience::AttributeConfig::default();
    use glance::audience::attributes::sample_weight;
    assert!(sample_weight(&soft[0], &cfg) < sample_weight(&crisp[0], &cfg));
}

#[test]
fn finds_five_faces_in_a_composed_frame() {
    // Pictures of 240 px overlap a little; each face (about 50 px) stays uncovered.
    let positions = [(0, 0), (200, 0), (400, 0), (100, 240), (300, 240)];
    let image = common::compose(640, 480, 240, &positions);
    let pipeline = cpu_pipeline(PipelineOptions::default()).unwrap();
    let result = common::analyze(&pipeline, &image, 0.0);
    assert_eq!(
        result.faces.len(),
        5,
        "{:?}",
        result.faces.iter().map(|f| f.bbox).collect::<Vec<_>>()
    );
    for &(px, py) in &positions {
        // The face centre sits at about (0.44, 0.24) of each pasted picture.
        let hit = result.faces.iter().any(|f| {
            let cx = f.bbox[0] + f.bbox[2] / 2.0 - px as f32;
            let cy = f.bbox[1] + f.bbox[3] / 2.0 - py as f32;
            (90.0..125.0).contains(&cx) && (40.0..75.0).contains(&cy)
        });
        assert!(hit, "no face found in the picture at {px},{py}");
    }
    // The five meshes go through the network as one batch: each face gets the head pose it
    // gets alone at its place.
    for &(px, py) in &positions {
        let alone = common::compose(640, 480, 240, &[(px, py)]);
        let alone = common::analyze(&pipeline, &alone, 0.0);
        let near = |f: &&glance::analysis::FaceAnalysis| {
            (f.bbox[0] - alone.faces[0].bbox[0]).abs() < 10.0
                && (f.bbox[1] - alone.faces[0].bbox[1]).abs() < 10.0
        };
        let f = result
            .faces
            .iter()
            .find(near)
            .expect("the same face in the group");
        let (a, b) = (
            f.yaw.expect("a mesh in the batch"),
            alone.faces[0].yaw.unwrap(),
        );
        // Neighbouring pictures overlap the crops a little: a degree or two of difference.
        assert!(
            (a - b).abs() < 3.0,
            "yaw {a} in the batch, {b} alone at {px},{py}"
        );
    }
}

#[test]
fn small_faces_say_why_attributes_are_missing() {
    // The astronaut at 64 px: her face is about 13 px wide, too small for age/gender and irises.
    let image = common::compose(320, 240, 64, &[(128, 88)]);
    let options = PipelineOptions {
        detector: DetectorChoice::FullRange,
        min_detection_score: 0.3,
        ..Default::default()
    };
    let pipeline = cpu_pipeline(options).unwrap();
    let result = common::analyze(&pipeline, &image, 0.0);
    assert_eq!(result.faces.len(), 1);
    let face = &result.faces[0];
    assert!(face.age.is_none() && face.gender.is_none() && face.gender_score.is_none());
    assert!(
        face.skipped.contains(&SkipReason::TooSmall),
        "{:?}",
        face.skipped
    );
    let json = serde_json::to_value(face).unwrap();
    assert!(
        json["age"].is_null() && json["gender"].is_null(),
        "missing values are null: {json}"
    );
}

#[test]
fn empty_frame_has_no_faces() {
    let pixels = vec![90u8; 640 * 480 * 4];
    let frame = Frame::from_rgba(640, 480, &pixels).unwrap();
    let pipeline = cpu_pipeline(PipelineOptions::default()).unwrap();
    let result = pollster::block_on(pipeline.analyze(&frame, 0.0)).unwrap();
    assert!(result.faces.is_empty());
}

#[test]
fn bad_frames_and_options_are_typed_errors() {
    assert_eq!(
        Frame::from_rgba(0, 0, &[]).unwrap_err().kind(),
        "InvalidFrameError"
    );
    assert_eq!(
        Frame::from_rgba(10, 10, &[0; 399]).unwrap_err().kind(),
        "InvalidFrameError"
    );
    assert_eq!(
        Frame::from_rgb(u32::MAX, u32::MAX, &[]).unwrap_err().kind(),
        "InvalidFrameError"
    );
    let bad = PipelineOptions {
        min_detection_score: 1.5,
        ..Default::default()
    };
    let err = cpu_pipeline(bad).unwrap_err();
    assert_eq!(err.kind(), "ConfigError");
    assert!(err.to_string().contains("minDetectionScore"), "{err}");
    let bad = PipelineOptions {
        camera_horizontal_fov_deg: 0.0,
        ..Default::default()
    };
    assert_eq!(cpu_pipeline(bad).unwrap_err().kind(), "ConfigError");
}

#[test]
fn options_json_is_camel_case_and_rejects_unknown_fields() {
    let options: PipelineOptions =
        serde_json::from_str(r#"{"detector":"shortRange","maxFaces":3}"#).unwrap();
    assert_eq!(options.detector, DetectorChoice::ShortRange);
    assert_eq!(options.max_faces, 3);
    assert_eq!(
        options.min_detection_score,
        PipelineOptions::default().min_detection_score,
        "unset fields keep their defaults"
    );
    assert!(serde_json::from_str::<PipelineOptions>(r#"{"maxFace":3}"#).is_err());
}

#[test]
fn corrupt_and_missing_images_are_decode_errors() {
    let dir = std::env::temp_dir().join(format!("glance-pipeline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let corrupt = dir.join("corrupt.png");
    std::fs::write(&corrupt, b"\x89PNG\r\n\x1a\n and then nothing sensible").unwrap();
    let err = glance::media::load_image(&corrupt).unwrap_err();
    assert_eq!(err.kind(), "DecodeError");
    assert!(err.to_string().contains("corrupt.png"), "{err}");
    let err = glance::media::load_image(&dir.join("missing.jpg")).unwrap_err();
    assert_eq!(err.kind(), "DecodeError");
}

#[test]
fn the_attribute_schedule_skips_the_faces_it_leaves_out() {
    let positions = [(0, 0), (200, 0), (400, 0), (100, 240), (300, 240)];
    let image = common::compose(640, 480, 240, &positions);
    let pipeline = cpu_pipeline(PipelineOptions::default()).unwrap();
    let frame = image.frame().unwrap();
    let mut seen = 0;
    let result = pollster::block_on(pipeline.analyze_scheduled(&frame, 0.0, |faces, _| {
        seen = faces.len();
        // Faces arrive with their geometry already measured.
        assert!(faces.iter().all(|f| f.yaw.is_some() && f.age.is_none()));
        (0..faces.len()).map(|i| i % 2 == 0).collect()
    }))
    .unwrap();
    assert_eq!(seen, 5);
    for (i, face) in result.faces.iter().enumerate() {
        if i % 2 == 0 {
            assert!(face.age.is_some() && face.gender.is_some(), "face {i}");
        } else {
            assert_eq!(face.age, None, "face {i}");
            assert!(face.skipped.contains(&SkipReason::NotScheduled), "face {i}");
            assert!(face.yaw.is_some(), "geometry still runs for face {i}");
        }
    }
}

#[test]
fn video_mode_follows_faces_between_detector_runs() {
    let frame_of = |positions: &[(u32, u32)]| common::compose(640, 480, 240, positions);
    let one = frame_of(&[(100, 100)]);
    let moved = frame_of(&[(106, 103)]);
    let two = frame_of(&[(106, 103), (380, 100)]);
    let video = cpu_pipeline(PipelineOptions {
        detection_interval_ms: 500.0,
        ..PipelineOptions::default()
    })
    .unwrap();
    let every_frame = cpu_pipeline(PipelineOptions::default()).unwrap();

    assert_eq!(common::analyze(&video, &one, 0.0).faces.len(), 1);
    // 100 ms later the face has moved: followed by its mesh, it is where the detector finds it.
    let followed = common::analyze(&video, &moved, 100.0);
    let detected = common::analyze(&every_frame, &moved, 100.0);
    let f = &followed.faces[0];
    let centre = |b: [f32; 4]| (b[0] + b[2] / 2.0, b[1] + b[3] / 2.0);
    let near = |b: [f32; 4]| {
        let (a, c) = (centre(b), centre(f.bbox));
        (a.0 - c.0).hypot(a.1 - c.1)
    };
    let d = detected
        .faces
        .iter()
        .min_by(|a, b| near(a.bbox).total_cmp(&near(b.bbox)))
        .unwrap();
    for k in 0..4 {
        assert!(
            (f.bbox[k] - d.bbox[k]).abs() < 8.0,
            "{:?} vs {:?}",
            f.bbox,
            d.bbox
        );
    }
    assert!((f.yaw.unwrap() - d.yaw.unwrap()).abs() < 3.0);
    assert!(f.age.is_some() && f.gaze.is_some());
    // Someone new is found only when the detectors run again (interval over).
    assert_eq!(
        common::analyze(&video, &two, 200.0).faces.len(),
        1,
        "detectors resting"
    );
    assert_eq!(
        common::analyze(&video, &two, 600.0).faces.len(),
        2,
        "detectors ran"
    );
    // Followed faces that leave are dropped; with nobody left the detectors keep to their
    // interval (an empty scene needs no run on every frame), and whoever comes next is found
    // at the next run.
    let empty = frame_of(&[]);
    assert_eq!(common::analyze(&video, &empty, 700.0).faces.len(), 0);
    assert_eq!(common::analyze(&video, &empty, 750.0).faces.len(), 0);
    assert_eq!(video.last_timings().detection, 0.0, "an empty scene rests");
    assert_eq!(common::analyze(&video, &two, 1250.0).faces.len(), 2);
    // Stills (no time passing) are never followed: each is detected on its own.
    assert_eq!(common::analyze(&video, &one, 1250.0).faces.len(), 1);
}

#[test]
fn video_mode_keeps_a_followed_face_while_its_score_stays_above_the_tracking_threshold() {
    // A face the whole-frame view resolves (smaller ones are carried by their mesh).
    let frame_of = |positions: &[(u32, u32)]| common::compose(640, 480, 320, positions);
    for (tracking, kept) in [(0.25, 1), (0.9999, 0)] {
        let mut video = cpu_pipeline(PipelineOptions {
            detection_interval_ms: 200.0,
            min_tracking_score: tracking,
            ..PipelineOptions::default()
        })
        .unwrap();
        let first = common::analyze(&video, &frame_of(&[(100, 100)]), 0.0);
        assert_eq!(first.faces.len(), 1);
        // From now on no face passes the detection threshold: only a followed face can stay.
        let options = PipelineOptions {
            min_detection_score: 0.9999,
            ..video.options().clone()
        };
        video.set_options(options).unwrap();
        let later = common::analyze(&video, &frame_of(&[(112, 104)]), 300.0);
        assert_eq!(later.faces.len(), kept, "tracking threshold {tracking}");
        if kept == 1 {
            // It moved 12 px right and 4 px down: the box is this frame's detection.
            let (a, b) = (first.faces[0].bbox, later.faces[0].bbox);
            let centre = |b: [f32; 4]| [b[0] + b[2] / 2.0, b[1] + b[3] / 2.0];
            let ([ax, ay], [bx, by]) = (centre(a), centre(b));
            assert!(
                (bx - ax - 12.0).abs() < 6.0 && (by - ay - 4.0).abs() < 6.0,
                "{a:?} then {b:?}"
            );
            assert!(later.faces[0].yaw.is_some() && later.faces[0].age.is_some());
        }
        // Someone new needs the detection threshold.
        let two = common::analyze(&video, &frame_of(&[(112, 104), (380, 100)]), 600.0);
        assert_eq!(two.faces.len(), kept, "tracking threshold {tracking}");
    }
}

#[test]
fn video_mode_follows_a_walking_face_without_falling_behind() {
    // 24 px to the right every 66 ms (360 px/s), the detectors resting for 1 s. The fine scan
    // runs on the second frame, while they rest: the face it finds again is the followed one,
    // not a second face.
    let video = cpu_pipeline(PipelineOptions {
        detection_interval_ms: 1000.0,
        ..PipelineOptions::default()
    })
    .unwrap();
    let every_frame = cpu_pipeline(PipelineOptions::default()).unwrap();
    let mut worst: f32 = 0.0;
    for k in 0..8u32 {
        let image = common::compose(640, 480, 240, &[(40 + 24 * k, 100)]);
        let t = k as f64 * 66.0;
        let followed = common::analyze(&video, &image, t);
        let detected = common::analyze(&every_frame, &image, t);
        assert_eq!(
            followed.faces.len(),
            1,
            "frame {k}: {:?} vs {:?}",
            followed
                .faces
                .iter()
                .map(|f| (f.bbox, f.score, f.confirmed_by))
                .collect::<Vec<_>>(),
            detected
                .faces
                .iter()
                .map(|f| (f.bbox, f.score))
                .collect::<Vec<_>>()
        );
        let centre = |b: [f32; 4]| b[0] + b[2] / 2.0;
        let a = centre(followed.faces[0].bbox);
        let lag = detected
            .faces
            .iter()
            .map(|f| (a - centre(f.bbox)).abs())
            .fold(f32::INFINITY, f32::min);
        worst = worst.max(lag);
    }
    assert!(
        worst < 6.0,
        "the followed box's centre strays {worst} px from the detector's"
    );
}

#[test]
fn without_the_face_mesh_faces_are_the_detectors_boxes_and_keypoints() {
    let image = common::astronaut();
    // Without the mesh there is no fine scan (nothing would confirm it): compare like with like.
    let full = cpu_pipeline(PipelineOptions {
        min_face_height: Some(0.0),
        ..PipelineOptions::default()
    })
    .unwrap();
    let detector_only = cpu_pipeline(PipelineOptions {
        face_mesh: false,
        ..PipelineOptions::default()
    })
    .unwrap();
    let (a, b) = (
        common::analyze(&full, &image, 0.0),
        common::analyze(&detector_only, &image, 0.0),
    );
    assert_eq!(b.faces.len(), 1);
    let (f, d) = (&a.faces[0], &b.faces[0]);
    assert_eq!(
        (f.bbox, f.keypoints, f.score),
        (d.bbox, d.keypoints, d.score)
    );
    assert_eq!((d.yaw, d.gaze, d.distance_m), (None, None, None));
    assert_eq!(d.skipped, [SkipReason::MeshOff]);
    assert_eq!(d.gender, f.gender, "age and gender still run");
    // Video mode follows faces by their mesh: asking for both is a configuration error.
    let error = cpu_pipeline(PipelineOptions {
        face_mesh: false,
        detection_interval_ms: 250.0,
        ..PipelineOptions::default()
    })
    .unwrap_err();
    assert!(error.to_string().contains("faceMesh"), "{error}");
}

/// The negative set: pictures with no human face on which the detector still fires or could
/// (a galaxy field, a rocket launch, bricks, gravel: public domain and CC0, see
/// tests/fixtures/README.md) and the astronaut's own hair and suit, cut from the portrait.
fn negatives() -> Vec<(String, glance::media::RgbImage)> {
    let mut set: Vec<(String, glance::media::RgbImage)> =
        ["hubble_deep_field", "rocket", "brick", "gravel"]
            .iter()
            .map(|name| {
                let path = common::fixture(&format!("negatives/{name}.jpg"));
                (name.to_string(), glance::media::load_image(&path).unwrap())
            })
            .collect();
    let portrait = common::astronaut();
    // Rows 0..64: hair above her forehead; rows 300..512: the suit, the flag, her hands.
    for (name, rows) in [("hair", 0..64u32), ("suit", 300..512u32)] {
        let mut pixels = Vec::new();
        for y in rows.clone() {
            let start = (y * portrait.width * 3) as usize;
            pixels.extend_from_slice(&portrait.pixels[start..start + portrait.width as usize * 3]);
        }
        set.push((
            name.to_string(),
            glance::media::RgbImage {
                width: portrait.width,
                height: rows.len() as u32,
                pixels,
            },
        ));
    }
    set
}

#[test]
fn nothing_is_counted_on_the_negative_set() {
    // A low detection threshold, so the detectors fire on these pictures often enough that
    // only the second signal keeps them out of the counts.
    let low = PipelineOptions {
        min_detection_score: 0.25,
        ..Default::default()
    };
    let confirming = cpu_pipeline(low.clone()).unwrap();
    let default = cpu_pipeline(PipelineOptions::default()).unwrap();
    // Presence 0: the mesh confirms every detection, so this is the detectors alone.
    let unconfirmed = cpu_pipeline(PipelineOptions {
        min_face_presence: 0.0,
        ..low
    })
    .unwrap();
    let (mut rejected, mut raw) = (0, 0);
    for (name, image) in negatives() {
        for pipeline in [&confirming, &default] {
            let result = common::analyze(pipeline, &image, 0.0);
            assert!(result.faces.is_empty(), "{name}: {:?}", result.faces);
            for r in &result.rejected {
                assert!(r.presence < 0.7 && r.score >= 0.25, "{name}: {r:?}");
            }
        }
        rejected += common::analyze(&confirming, &image, 0.0).rejected.len();
        raw += common::analyze(&unconfirmed, &image, 0.0).faces.len();
    }
    // The detectors alone take some of these for faces: the second signal is what drops them.
    assert!(
        raw >= 3,
        "the detectors fired {raw} times on the negative set"
    );
    assert!(rejected >= 3, "only {rejected} rejections");
}

#[test]
fn a_rejected_detection_never_reaches_the_tracker() {
    // The suit: the detectors take part of it for a face at the default threshold.
    let (_, suit) = negatives().pop().unwrap();
    let options = PipelineOptions {
        detection_interval_ms: 250.0,
        ..Default::default()
    };
    for (confirm, expect_people) in [(true, false), (false, true)] {
        let pipeline = cpu_pipeline(PipelineOptions {
            face_mesh: true,
            min_face_presence: if confirm { 0.7 } else { 0.0 },
            ..options.clone()
        })
        .unwrap();
        let mut audience = AudienceAggregator::new(AudienceConfig::default()).unwrap();
        let mut most_present = 0;
        // Two seconds at 15 fps.
        for i in 0..30 {
            let frame = common::analyze(&pipeline, &suit, i as f64 * 66.7);
            if confirm {
                assert!(frame.faces.is_empty(), "frame {i}: {:?}", frame.faces);
            }
            most_present = most_present.max(audience.observe(&frame).present);
        }
        audience.finish(30.0 * 66.7);
        assert_eq!(
            most_present > 0,
            expect_people,
            "confirmation {confirm}: {most_present} people present at most"
        );
    }
}

#[test]
fn the_fine_scan_finds_a_face_too_small_for_the_whole_frame_view() {
    // A 1280x720 frame with the astronaut at 64 px: her face is about 14 px high in the
    // whole-frame view's 192 px input, too small; the fine scan's 384 px windows show it at 32.
    let image = common::compose(1280, 720, 64, &[(900, 500)]);
    let coarse = cpu_pipeline(PipelineOptions {
        min_face_height: Some(0.0),
        ..Default::default()
    })
    .unwrap();
    assert!(common::analyze(&coarse, &image, 0.0).faces.is_empty());
    let fine = cpu_pipeline(PipelineOptions {
        min_face_height: Some(16.0),
        ..Default::default()
    })
    .unwrap();
    let result = common::analyze(&fine, &image, 0.0);
    assert_eq!(result.faces.len(), 1, "{:?}", result.faces);
    let [x, y, w, _] = result.faces[0].bbox;
    assert!(
        (900.0..964.0).contains(&(x + w / 2.0)) && (500.0..540.0).contains(&y),
        "{:?}",
        result.faces[0].bbox
    );
    assert!(result.faces[0].confirmed_by.is_some());
}

#[test]
fn the_mirrored_fine_scan_places_a_small_face_as_the_plain_one_does() {
    // The same 14 px face as above, looked for by the fine scan plain and plain + mirrored: one
    // face either way, at the same place, its eyes on the same sides (pooled boxes and points
    // from the mirror image that were not turned back would pull both eyes to the middle).
    let image = common::compose(1280, 720, 64, &[(900, 500)]);
    let scan = |mirrored_fine_scan| {
        let pipeline = cpu_pipeline(PipelineOptions {
            min_face_height: Some(16.0),
            mirrored_fine_scan,
            ..Default::default()
        })
        .unwrap();
        let mut faces = common::analyze(&pipeline, &image, 0.0).faces;
        assert_eq!(faces.len(), 1, "mirrored {mirrored_fine_scan}: {faces:?}");
        faces.remove(0)
    };
    let (plain, mirrored) = (scan(false), scan(true));
    let centre = |b: [f32; 4]| [b[0] + b[2] / 2.0, b[1] + b[3] / 2.0];
    let ([px, py], [mx, my]) = (centre(plain.bbox), centre(mirrored.bbox));
    assert!(
        (px - mx).abs() < 4.0 && (py - my).abs() < 4.0,
        "{:?} vs {:?}",
        plain.bbox,
        mirrored.bbox
    );
    let eyes = |f: &glance::analysis::FaceAnalysis| f.keypoints[1][0] - f.keypoints[0][0];
    assert!(eyes(&plain) > 4.0, "{:?}", plain.keypoints);
    assert!(
        (eyes(&mirrored) - eyes(&plain)).abs() < 0.25 * eyes(&plain),
        "eyes {:?} vs {:?}",
        mirrored.keypoints,
        plain.keypoints
    );
}

#[test]
fn video_mode_scans_once_per_sweep_and_finds_a_far_face_within_it() {
    let image = common::compose(1280, 720, 64, &[(100, 80)]);
    let pipeline = cpu_pipeline(PipelineOptions {
        detection_interval_ms: 250.0,
        fine_scan_sweep_ms: 500.0,
        min_face_height: Some(16.0),
        ..Default::default()
    })
    .unwrap();
    // The first frame leaves the scan to the second; the next is due one sweep later.
    let empty = common::compose(1280, 720, 64, &[]);
    common::analyze(&pipeline, &empty, 0.0);
    common::analyze(&pipeline, &empty, 33.3);
    let mut found_at = None;
    for i in 2..=20 {
        let t = i as f64 * 33.3;
        if !common::analyze(&pipeline, &image, t).faces.is_empty() {
            found_at = Some(t);
            break;
        }
    }
    // Found by the sweep's first band (from 533 ms), whose detections join the first frame
    // 100 ms later.
    let t = found_at.expect("the far face was never found");
    assert!(t <= 533.3 + 133.3, "found after {t} ms");
}

#[test]
fn video_mode_sweeps_in_bands_that_find_far_faces_anywhere_and_keep_them() {
    // Three far faces (64 px pictures, faces about 14 px high) appear after the first sweep
    // (the whole frame, on the second frame): at the left, in the middle and at the right.
    let image = common::compose(1280, 720, 64, &[(40, 80), (600, 400), (1190, 200)]);
    let empty = common::compose(1280, 720, 64, &[]);
    let pipeline = cpu_pipeline(PipelineOptions {
        detection_interval_ms: 250.0,
        fine_scan_sweep_ms: 500.0,
        min_face_height: Some(16.0),
        ..Default::default()
    })
    .unwrap();
    let fps = 15.0;
    let mut found_at = [None; 3];
    for i in 0..45 {
        let t = i as f64 * 1000.0 / fps;
        let frame = if i < 3 { &empty } else { &image };
        let faces = common::analyze(&pipeline, frame, t).faces;
        for (k, x) in [72.0, 632.0, 1222.0].into_iter().enumerate() {
            let here = faces
                .iter()
                .any(|f| (f.bbox[0] + f.bbox[2] / 2.0 - x).abs() < 32.0);
            if here && found_at[k].is_none() {
                found_at[k] = Some(t);
            }
            // Once found, a far face stays found between the sweeps that look at its band.
            if found_at[k].is_some() {
                assert!(here, "face {k} lost at {t} ms: {faces:?}");
            }
        }
    }
    // A sweep begins every 500 ms and spreads its four bands over it: each face is found by
    // the first sweep after it appeared, within a sweep and a band of its start.
    for (k, at) in found_at.iter().enumerate() {
        let at = at.unwrap_or_else(|| panic!("face {k} never found"));
        assert!(at <= 200.0 + 500.0 + 500.0, "face {k} found at {at} ms");
    }
}

#[test]
fn video_mode_gives_the_same_results_whether_the_fine_scan_runs_here_or_is_handed_out() {
    use glance::vision::fine_scan::FineScanner;
    let options = PipelineOptions {
        detection_interval_ms: 250.0,
        fine_scan_sweep_ms: 500.0,
        min_face_height: Some(16.0),
        ..Default::default()
    };
    let here = cpu_pipeline(options.clone()).unwrap();
    let handed_out = cpu_pipeline(options).unwrap();
    handed_out.hand_out_fine_scan(true);
    let scanner = FineScanner::cpu().unwrap();
    // Bands scanned "in another worker": (joins at, cut at, detections).
    let mut scanned = Vec::new();
    let mut most_faces = 0;
    for i in 0..30 {
        let t = i as f64 * 1000.0 / 15.0;
        // Three far faces walking right, 3 px a frame, from the fourth frame.
        let x = 3 * i;
        let places = [(40 + x, 80), (600 + x, 400), (1100 + x, 200)];
        let frame = common::compose(1280, 720, 64, if i < 3 { &[] } else { &places });
        for (_, cut_at, detections) in scanned.extract_if(.., |(joins, _, _)| *joins <= t) {
            handed_out.join_fine_scan(cut_at, detections);
        }
        let (a, b) = (
            common::analyze(&here, &frame, t),
            common::analyze(&handed_out, &frame, t),
        );
        let json = |analysis| serde_json::to_string(&analysis).unwrap();
        assert_eq!(json(a.clone()), json(b), "frame {i}");
        assert!(here.take_fine_scan_band().is_none(), "scanned here");
        if let Some(band) = handed_out.take_fine_scan_band() {
            let detections = pollster::block_on(scanner.scan(&band)).unwrap();
            scanned.push((band.joins_at_ms, band.timestamp_ms, detections));
        }
        most_faces = most_faces.max(a.faces.len());
    }
    assert_eq!(most_faces, 3, "the far faces were found");
}

#[test]
fn after_a_scene_cut_video_mode_scans_apart_from_the_frame_and_a_still_within_it() {
    // A far face only the fine scan finds, shown after a cut from an empty blue scene.
    let far = common::compose(1280, 720, 64, &[(600, 300)]);
    let blue = common::repaint_background(common::compose(1280, 720, 64, &[]), [30, 60, 150]);
    let options = PipelineOptions {
        detection_interval_ms: 250.0,
        min_face_height: Some(16.0),
        ..Default::default()
    };
    let pipeline = cpu_pipeline(options).unwrap();
    pipeline.hand_out_fine_scan(true);
    let scanner = glance::vision::fine_scan::FineScanner::cpu().unwrap();
    for i in 0..3 {
        common::analyze(&pipeline, &blue, i as f64 * 66.7);
        if let Some(band) = pipeline.take_fine_scan_band() {
            let detections = pollster::block_on(scanner.scan(&band)).unwrap();
            pipeline.join_fine_scan(band.timestamp_ms, detections);
        }
    }
    // The cut's frame hands out the whole frame rather than wait for its scan; what the scan
    // finds joins the first frame 100 ms later.
    let cut = common::analyze(&pipeline, &far, 200.0);
    assert!(cut.scene_cut && cut.faces.is_empty(), "{cut:?}");
    assert_eq!(
        pipeline.last_timings().fine_scan,
        0.0,
        "no scan within the frame"
    );
    let band = pipeline
        .take_fine_scan_band()
        .expect("the cut's frame hands out its scan");
    assert_eq!((band.timestamp_ms, band.cut), (200.0, [0, 0, 1280, 720]));
    let detections = pollster::block_on(scanner.scan(&band)).unwrap();
    pipeline.join_fine_scan(band.timestamp_ms, detections);
    assert!(common::analyze(&pipeline, &far, 266.7).faces.is_empty());
    assert_eq!(common::analyze(&pipeline, &far, 333.3).faces.len(), 1);
    // A still (no time passing) is scanned within itself, nothing handed out.
    let still = common::analyze(&pipeline, &far, 333.3);
    assert_eq!(still.faces.len(), 1);
    assert!(pipeline.last_timings().fine_scan > 0.0);
    assert!(pipeline.take_fine_scan_band().is_none());
}

#[test]
fn video_mode_gives_its_first_result_without_the_scan_and_the_next_frames_scan_joins_later() {
    let image = common::compose(1280, 720, 64, &[(100, 80)]);
    let options = PipelineOptions {
        min_face_height: Some(16.0),
        ..Default::default()
    };
    let video = cpu_pipeline(PipelineOptions {
        detection_interval_ms: 250.0,
        ..options.clone()
    })
    .unwrap();
    assert!(
        common::analyze(&video, &image, 0.0).faces.is_empty(),
        "only the scan finds this face"
    );
    // The second frame is scanned; what the scan found joins the first frame 100 ms later.
    assert!(common::analyze(&video, &image, 33.3).faces.is_empty());
    assert!(common::analyze(&video, &image, 100.0).faces.is_empty());
    assert_eq!(common::analyze(&video, &image, 133.3).faces.len(), 1);
    // Detecting on every frame, every frame scans, the first too.
    let every_frame = cpu_pipeline(options).unwrap();
    assert_eq!(common::analyze(&every_frame, &image, 0.0).faces.len(), 1);
}

#[test]
fn fine_scan_options_are_checked() {
    for (json, path) in [
        (r#"{"minFaceHeight": 4}"#, "minFaceHeight"),
        (r#"{"fineScanSweepMs": -1}"#, "fineScanSweepMs"),
        (r#"{"minFacePresence": 2}"#, "minFacePresence"),
    ] {
        let options: PipelineOptions = serde_json::from_str(json).unwrap();
        match options.validate() {
            Err(glance::error::GlanceError::Config { path: p, .. }) => assert_eq!(p, path),
            other => panic!("{json}: {other:?}"),
        }
    }
}

#[test]
fn the_kiosk_counts_every_face_of_a_crowd_and_analyses_the_nearest() {
    use glance::engine::{BackendSetup, Engine, EngineOptions};
    // The kiosk's own options (video mode, every other default).
    let config = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/www/kiosk/config.json"
    ))
    .unwrap();
    // The kiosk's file also describes itself; the engine takes the rest as it is.
    let mut config: serde_json::Value = serde_json::from_str(&config).unwrap();
    config.as_object_mut().unwrap().remove("description");
    let options = EngineOptions::from_json(&config.to_string()).unwrap();
    let budget = options.pipeline.max_analyzed_faces;
    assert!(budget < 30, "the crowd must exceed the analysis budget");
    let pipeline = cpu_pipeline(options.pipeline.clone()).unwrap();
    let engine = Engine::new(pipeline, BackendSetup::cpu(), options).unwrap();
    // Thirty people in six columns and five rows of a 1080p frame, faces about 60 px high (a
    // few metres away); each row's pictures hide the suits of the row above.
    let positions: Vec<(u32, u32)> = (0..5)
        .flat_map(|r| (0..6).map(move |c| (c * 320, r * 195)))
        .collect();
    let image = common::compose(1920, 1080, 300, &positions);
    let frame = image.frame().unwrap();
    // Two seconds at 15 fps: detector frames and the rest frames between them. Faces this
    // small are found by the fine scan, which video mode first runs on the second frame; what
    // it finds joins the first frame 100 ms later (the fourth).
    for i in 0..30 {
        let ts = i as f64 * 1000.0 / 15.0;
        let out = pollster::block_on(engine.process_frame(&frame, ts)).unwrap();
        let faces = &out.analysis.faces;
        if i < 3 {
            assert!(faces.is_empty(), "frame {i}: {} faces", faces.len());
            continue;
        }
        assert_eq!(faces.len(), 30, "frame {i}: {} faces", faces.len());
        let meshed = faces.iter().filter(|f| f.yaw.is_some()).count();
        assert!(meshed <= budget, "frame {i}: {meshed} faces meshed");
        for f in faces.iter().filter(|f| f.yaw.is_none()) {
            assert!(
                f.skipped.contains(&SkipReason::FaceBudget)
                    || f.skipped.contains(&SkipReason::NoMesh),
                "frame {i}: a face without a mesh says why: {:?}",
                f.skipped
            );
            assert!(f.age.is_none() && f.gender.is_none());
        }
        if i == 3 {
            // The first frame analyses the largest faces up to the budget.
            assert_eq!(meshed, budget);
            assert_eq!(
                faces
                    .iter()
                    .filter(|f| f.skipped.contains(&SkipReason::FaceBudget))
                    .count(),
                30 - budget
            );
        }
    }
    let snapshot = engine.snapshot();
    assert_eq!(snapshot.present, 30, "{snapshot:?}");
}

/// A person walking across the frame in video mode, hidden for `hidden_s` seconds half-way
/// (something passes in front), then walking on: the completed visits.
fn walk_with_a_gap(hidden_s: f64, stop_after_gap: bool) -> Vec<glance::audience::CompletedVisit> {
    let pipeline = cpu_pipeline(PipelineOptions {
        detection_interval_ms: 250.0,
        ..Default::default()
    })
    .unwrap();
    let mut audience = AudienceAggregator::new(AudienceConfig::default()).unwrap();
    let (fps, seconds) = (15.0, 4.0);
    let frames = (seconds * fps) as usize;
    let mut visits = Vec::new();
    for i in 0..frames {
        let t = i as f64 / fps;
        // A 240 px picture (a face about 50 px wide) walking right at 100 px (two face widths)
        // a second, or standing still once back in view.
        let gap = (1.5..1.5 + hidden_s).contains(&t);
        let walked = if stop_after_gap {
            t.min(1.5 + hidden_s)
        } else {
            t
        };
        let x = 20 + (walked * 100.0) as i32;
        let image = if gap {
            common::compose(640, 480, 240, &[])
        } else {
            common::compose_clipped(640, 480, 240, &[(x, 120)])
        };
        let frame = common::analyze(&pipeline, &image, t * 1000.0);
        audience.observe(&frame);
        visits.extend(audience.completed_visits());
    }
    audience.finish(seconds * 1000.0);
    visits.extend(audience.completed_visits());
    visits
}

#[test]
fn a_face_hidden_for_half_a_second_is_one_visit() {
    for stop in [false, true] {
        let visits = walk_with_a_gap(0.5, stop);
        assert_eq!(
            visits.len(),
            1,
            "stopping after the gap: {stop}; visits {:?}",
            visits
                .iter()
                .map(|v| (v.start_ms, v.end_ms))
                .collect::<Vec<_>>()
        );
        assert!(visits[0].dwell_s > 3.5, "{:?}", visits[0]);
    }
    // Gone for longer than the tracker waits (`maxAgeMs`, 1 s): a person who comes back later
    // is a new visit, as the privacy design requires (no re-identification).
    assert_eq!(walk_with_a_gap(1.5, false).len(), 2);
}

#[test]
fn video_mode_rests_the_detectors_though_one_of_their_boxes_on_a_followed_face_is_rejected() {
    // The detectors box this large face twice, and the second look rejects one of the boxes:
    // the face, still carried by the other, is not lost, so the detectors keep their rest.
    let image = common::compose(1280, 720, 450, &[(400, 100)]);
    let pipeline = cpu_pipeline(PipelineOptions {
        detection_interval_ms: 250.0,
        ..Default::default()
    })
    .unwrap();
    let mut detector_frames = 0;
    for i in 0..30 {
        let result = common::analyze(&pipeline, &image, i as f64 * 33.3);
        assert_eq!(result.faces.len(), 1, "frame {i}: {:?}", result.faces);
        if pipeline.last_timings().detection > 0.0 {
            detector_frames += 1;
        }
    }
    // One run every 250 ms over a second: 4 or 5 (and none forced by a rejected box).
    assert!(
        detector_frames <= 6,
        "{detector_frames} of 30 frames ran the detectors"
    );
}

#[test]
fn a_scene_cut_ends_every_visit_though_a_face_is_where_one_was() {
    // A face, then a cut (the whole picture changes at once, as between a video's shots or when
    // the lights switch) to a face at the same place: two visits, not one carried across.
    let before = common::compose(640, 480, 240, &[(200, 100)]);
    let after = common::repaint_background(before.clone(), [30, 60, 150]);
    // Video mode, and detection on every frame (the tracker alone links the faces).
    for (interval, cut) in [(250.0, false), (250.0, true), (0.0, false), (0.0, true)] {
        let pipeline = cpu_pipeline(PipelineOptions {
            detection_interval_ms: interval,
            ..Default::default()
        })
        .unwrap();
        let mut audience = AudienceAggregator::new(AudienceConfig::default()).unwrap();
        let mut visits = Vec::new();
        for i in 0..30 {
            let image = if cut && i >= 15 { &after } else { &before };
            let frame = common::analyze(&pipeline, image, i as f64 * 66.7);
            assert_eq!(frame.faces.len(), 1, "frame {i}");
            assert_eq!(frame.scene_cut, cut && i == 15, "frame {i}");
            audience.observe(&frame);
            visits.extend(audience.completed_visits());
        }
        audience.finish(30.0 * 66.7);
        visits.extend(audience.completed_visits());
        assert_eq!(
            visits.len(),
            if cut { 2 } else { 1 },
            "{interval} ms, cut {cut}"
        );
    }
}
