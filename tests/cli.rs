//! The `glance analyze` command on images, a y4m clip, and broken files.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::Path;
use std::process::Command;

use glance::media::RgbImage;

fn glance() -> Command {
    Command::new(env!("CARGO_BIN_EXE_glance"))
}

/// Writes `frames` as an 8-bit 4:4:4 y4m clip at 10 fps (BT.601 limited range, as ffmpeg does).
fn write_y4m(path: &Path, frames: &[RgbImage]) {
    let (w, h) = (frames[0].width as usize, frames[0].height as usize);
    let file = std::fs::File::create(path).unwrap();
    let mut encoder = y4m::encode(w, h, y4m::Ratio::new(10, 1))
        .with_colorspace(y4m::Colorspace::C444)
        .write_header(file)
        .unwrap();
    for image in frames {
        let (mut yp, mut up, mut vp) = (Vec::new(), Vec::new(), Vec::new());
        for px in image.pixels.chunks_exact(3) {
            let (r, g, b) = (px[0] as f32, px[1] as f32, px[2] as f32);
            yp.push((16.0 + 0.257 * r + 0.504 * g + 0.098 * b).round() as u8);
            up.push((128.0 - 0.148 * r - 0.291 * g + 0.439 * b).round() as u8);
            vp.push((128.0 + 0.439 * r - 0.368 * g - 0.071 * b).round() as u8);
        }
        encoder
            .write_frame(&y4m::Frame::new([&yp, &up, &vp], None))
            .unwrap();
    }
}

/// Runs `command`, which must succeed, and returns its JSON lines.
fn succeed(command: &mut Command) -> Vec<serde_json::Value> {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines(&out.stdout)
}

fn lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[test]
fn analyze_prints_one_json_object_per_image_with_the_documented_fields() {
    let lines = succeed(
        glance()
            .arg("analyze")
            .arg(common::fixture("astronaut.jpg")),
    );
    assert_eq!(lines.len(), 1);
    let line = &lines[0];
    assert!(line["file"].as_str().unwrap().ends_with("astronaut.jpg"));
    assert_eq!(
        (
            line["frame"].as_u64(),
            line["width"].as_u64(),
            line["height"].as_u64()
        ),
        (Some(0), Some(512), Some(512))
    );
    let face = &line["faces"][0];
    for key in [
        "box",
        "score",
        "keypoints",
        "age",
        "gender",
        "genderScore",
        "yaw",
        "pitch",
        "roll",
        "gaze",
        "distanceM",
    ] {
        assert!(face.get(key).is_some(), "face lacks {key}: {face}");
    }
    assert_eq!(face["box"].as_array().unwrap().len(), 4);
    assert_eq!(face["keypoints"].as_array().unwrap().len(), 6);
    assert_eq!(face["gaze"].as_array().unwrap().len(), 3);
    assert!(["female", "male"].contains(&face["gender"].as_str().unwrap()));
}

#[test]
fn analyze_reads_y4m_frame_by_frame_and_reports_a_truncated_tail() {
    let dir = tempdir();
    let empty = common::compose(320, 240, 1, &[]);
    let face = common::compose(320, 240, 200, &[(60, 20)]);
    let clip = dir.join("clip.y4m");
    write_y4m(&clip, &[empty.clone(), face.clone(), face]);
    let lines = succeed(glance().arg("analyze").arg(&clip));
    assert_eq!(lines.len(), 3);
    let faces: Vec<usize> = lines
        .iter()
        .map(|l| l["faces"].as_array().unwrap().len())
        .collect();
    assert_eq!(faces, [0, 1, 1]);
    assert_eq!(lines[2]["frame"], 2);
    assert_eq!(lines[2]["timestampMs"], 200.0);

    // Cut the file in the middle of the last frame: two frames, then a clear error.
    let bytes = std::fs::read(&clip).unwrap();
    let cut = dir.join("cut.y4m");
    std::fs::write(&cut, &bytes[..bytes.len() - 1000]).unwrap();
    let out = glance().arg("analyze").arg(&cut).output().unwrap();
    assert!(!out.status.success());
    assert_eq!(self::lines(&out.stdout).len(), 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cut.y4m") && stderr.contains("truncated"),
        "{stderr}"
    );
}

#[test]
fn a_broken_file_fails_alone_and_the_others_are_still_analysed() {
    let dir = tempdir();
    let corrupt = dir.join("corrupt.jpg");
    std::fs::write(&corrupt, b"\xff\xd8\xff\xe0 definitely not a jpeg").unwrap();
    let missing = dir.join("missing.png");
    let out = glance()
        .arg("analyze")
        .arg(&corrupt)
        .arg(common::fixture("astronaut.jpg"))
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let lines = lines(&out.stdout);
    assert_eq!(lines.len(), 1, "the good file is still analysed");
    assert!(
        lines[0]["file"]
            .as_str()
            .unwrap()
            .ends_with("astronaut.jpg")
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("corrupt.jpg") && stderr.contains("missing.png"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_frame_no_camera_gives_is_refused_and_the_files_around_it_are_analysed() {
    // A 1 x 120,000 PNG of a few hundred bytes once took seconds and nearly 1 GB.
    let dir = tempdir();
    let thin = dir.join("thin.png");
    image::RgbImage::new(1, 120_000).save(&thin).unwrap();
    let out = glance()
        .arg("analyze")
        .arg(common::fixture("astronaut.jpg"))
        .arg(&thin)
        .arg(common::fixture("astronaut.jpg"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(lines(&out.stdout).len(), 2, "both good files are analysed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("thin.png") && stderr.contains("1x120000"),
        "{stderr}"
    );
}

#[test]
fn an_image_cut_short_is_an_error_and_the_files_around_it_are_analysed() {
    // A JPEG cut to a third decoded as grey below the cut, and the face above it was reported.
    let dir = tempdir();
    let jpeg = std::fs::read(common::fixture("astronaut.jpg")).unwrap();
    let third = dir.join("third.jpg");
    std::fs::write(&third, &jpeg[..jpeg.len() / 3]).unwrap();
    let no_end = dir.join("no-end.jpg");
    std::fs::write(&no_end, &jpeg[..jpeg.len() - 2]).unwrap();
    let whole_png = dir.join("whole.png");
    image::open(common::fixture("astronaut.jpg"))
        .unwrap()
        .save(&whole_png)
        .unwrap();
    let png = std::fs::read(&whole_png).unwrap();
    let cut_png = dir.join("cut.png");
    std::fs::write(&cut_png, &png[..png.len() / 2]).unwrap();
    let out = glance()
        .arg("analyze")
        .arg(common::fixture("astronaut.jpg"))
        .args([&third, &no_end, &cut_png, &whole_png])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let good = lines(&out.stdout);
    assert_eq!(good.len(), 2, "both whole files are analysed: {good:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for name in ["third.jpg", "no-end.jpg"] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(name) && l.contains("cut short")),
            "{name}: {stderr}"
        );
    }
    assert!(stderr.contains("cut.png"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_broken_clip_gets_a_plain_error_and_the_files_around_it_are_analysed() {
    let dir = tempdir();
    // A 4x2 4:4:4 picture is 24 bytes a frame.
    let header = |rate: &str| format!("YUV4MPEG2 W4 H2 F{rate} C444\n").into_bytes();
    let frame = |params: &str| [format!("FRAME{params}\n").into_bytes(), vec![128u8; 24]].concat();
    let with_frames = |rate: &str, frames: &[Vec<u8>]| [header(rate), frames.concat()].concat();
    let cases: [(&str, Vec<u8>, &str); 9] = [
        ("empty.y4m", Vec::new(), "empty"),
        (
            "no-rate.y4m",
            with_frames("0:0", &[frame("")]),
            "frame rate F0:0",
        ),
        (
            "slow.y4m",
            with_frames("1:4294967295", &[frame("")]),
            "between 0.1 and 1000 frames a second",
        ),
        (
            "garbled.y4m",
            b"YUV4MPEG2 Wfour H2 F10:1 C444\n".to_vec(),
            "is not a whole number",
        ),
        (
            "not-a-clip.y4m",
            b"GIF89a and so on".to_vec(),
            "no YUV4MPEG2 header",
        ),
        (
            // Frames with parameters, the last one cut short.
            "cut.y4m",
            with_frames("10:1", &[frame(" Ip XA=1"), frame(" Ip")])[..80].to_vec(),
            "truncated frame 1",
        ),
        (
            // Refused from the header, before the decoder sizes its frame buffer (768 MB).
            "huge.y4m",
            b"YUV4MPEG2 W16000 H16000 F10:1 C444\nFRAME\n".to_vec(),
            "16000x16000 frames; it must have at most 66355200 pixels",
        ),
        (
            // Sides whose product overflows: refused, not wrapped around.
            "overflow.y4m",
            b"YUV4MPEG2 W4294967296 H4294967296 F10:1\nFRAME\n".to_vec(),
            "4294967296x4294967296 frames; its sides must be at most 16384",
        ),
        (
            "no-marker.y4m",
            with_frames("10:1", &[frame(""), b"GARBAGE\n".to_vec()]),
            "corrupt frame 1",
        ),
    ];
    for (name, bytes, expected) in cases {
        let clip = dir.join(name);
        std::fs::write(&clip, bytes).unwrap();
        let out = glance()
            .arg("analyze")
            .arg(common::fixture("astronaut.jpg"))
            .arg(&clip)
            .arg(common::fixture("astronaut.jpg"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}");
        let stdout = lines(&out.stdout);
        let astronauts = stdout
            .iter()
            .filter(|l| l["file"].as_str().unwrap().ends_with("astronaut.jpg"))
            .count();
        assert_eq!(astronauts, 2, "{name}: both good files are analysed");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(name) && stderr.contains(expected),
            "{name}: {stderr}"
        );
        assert!(!stderr.contains("ParseError"), "{name}: {stderr}");
    }
}

#[test]
fn bad_options_file_names_the_field() {
    let dir = tempdir();
    let options = dir.join("options.json");
    std::fs::write(&options, r#"{"maxFaces": "many"}"#).unwrap();
    let out = glance()
        .args(["analyze", "--options"])
        .arg(&options)
        .arg(common::fixture("astronaut.jpg"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("maxFaces"), "{stderr}");

    // Each fault names the file and the field; nothing is taken for the defaults.
    let clip = dir.join("clip.y4m");
    write_y4m(&clip, &[common::compose(64, 48, 1, &[])]);
    let cases = [
        ("--options", "[]", "must be a JSON object"),
        ("--options", r#"{"focalLengthPx": 1e-6}"#, "focalLengthPx"),
        (
            "--options",
            r#"{"maxAnalyzedFaces": 65}"#,
            "maxAnalyzedFaces",
        ),
        (
            "--config",
            r#"{"utcOffsetMinutes": 2147483647}"#,
            "utcOffsetMinutes",
        ),
        (
            "--config",
            r#"{"tracker": {"measurementNoise": 0}}"#,
            "tracker.measurementNoise",
        ),
        (
            "--config",
            r#"{"tracker": {"minHits": 4294967295}}"#,
            "tracker.minHits",
        ),
        (
            "--config",
            r#"{"screen": {"marginM": -1}}"#,
            "screen.marginM",
        ),
        ("--config", r#"{"tracker": []}"#, "tracker"),
    ];
    for (flag, json, field) in cases {
        let file = dir.join("settings.json");
        std::fs::write(&file, json).unwrap();
        let out = glance()
            .args(["audience", flag])
            .arg(&file)
            .arg(&clip)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{json} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("settings.json") && stderr.contains(field),
            "{json}: {stderr}"
        );
        assert!(
            !stderr.contains("clip.y4m"),
            "{json}: blamed on the clip: {stderr}"
        );
    }
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "glance-cli-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A synthetic walk-by at 10 fps, 320x240: the astronaut (she looks into the camera) stands in
/// the middle for frames 3..=22 (2 s), with empty frames around.
fn walk_by_clip(path: &Path) {
    let mut frames = Vec::new();
    for i in 0..30 {
        frames.push(if (3..=22).contains(&i) {
            common::compose(320, 240, 200, &[(60, 20)])
        } else {
            common::compose(320, 240, 1, &[])
        });
    }
    write_y4m(path, &frames);
}

#[test]
fn audience_measures_a_clip_and_keeps_small_counts_private() {
    let dir = tempdir();
    let clip = dir.join("walk.y4m");
    walk_by_clip(&clip);
    let lines = succeed(
        glance()
            .args(["audience", "--visits", "--snapshots"])
            .arg(&clip),
    );
    let snapshots: Vec<&serde_json::Value> =
        lines.iter().filter_map(|l| l.get("snapshot")).collect();
    assert_eq!(snapshots.len(), 3, "one snapshot per second of a 3 s clip");
    assert_eq!(snapshots[1]["present"], 1, "she is there at 1 s");
    let visits: Vec<&serde_json::Value> = lines.iter().filter_map(|l| l.get("visit")).collect();
    assert_eq!(visits.len(), 1, "{visits:?}");
    let visit = visits[0];
    // Seen in frames 3..=22 at 10 fps: 2.0 s of dwell, within one frame.
    let dwell = visit["dwellS"].as_f64().unwrap();
    assert!((dwell - 2.0).abs() <= 0.1 + 1e-9, "dwell {dwell}");
    assert_eq!(visit["isWatcher"], true, "she looks into the camera");
    assert!(visit["attentionS"].as_f64().unwrap() > 1.5);
    assert_eq!(visit["gender"], "female");
    let report = &lines.last().unwrap()["report"];
    // One person is below k = 5: the report must not reveal the count.
    let impressions = &report["totals"]["impressions"];
    assert_eq!(impressions["suppressed"], true, "{impressions}");
    assert!(impressions["value"].is_null());
    assert!(report["definitions"].is_object() || report["definitions"].is_array());
}

#[test]
fn audience_times_a_walk_across_the_picture_from_edge_to_edge() {
    let dir = tempdir();
    let (side, width, fps) = (240, 320, 10.0);
    // Where the face is in the picture: detected with the picture fully in view.
    let still = dir.join("still.y4m");
    write_y4m(&still, &[common::compose(width, 240, side, &[(40, 0)])]);
    let lines = succeed(glance().arg("analyze").arg(&still));
    let face = &lines[0]["faces"][0]["box"];
    let face_x0 = face[0].as_f64().unwrap() - 40.0;
    let face_x1 = face_x0 + face[2].as_f64().unwrap();
    // The picture walks left to right at 150 px/s, in video mode as the kiosk runs. The face
    // is in view from when its right edge crosses x = 0 until its left edge crosses x = 320;
    // the detector sees it only while most of it is inside.
    let speed = 150.0;
    let picture_x = |t: f64| -(side as f64) + (t - 0.5) * speed;
    let frames: Vec<_> = (0..((side + width) as f64 / speed * fps) as usize + 15)
        .map(|i| {
            let x = picture_x(i as f64 / fps).round() as i32;
            common::compose_clipped(width, 240, side, &[(x, 0)])
        })
        .collect();
    let clip = dir.join("across.y4m");
    write_y4m(&clip, &frames);
    let options = dir.join("video.json");
    std::fs::write(&options, r#"{"detectionIntervalMs": 250}"#).unwrap();
    let lines = succeed(
        glance()
            .args(["audience", "--visits", "--options"])
            .arg(&options)
            .arg(&clip),
    );
    let visits: Vec<&serde_json::Value> = lines.iter().filter_map(|l| l.get("visit")).collect();
    assert_eq!(visits.len(), 1, "{visits:?}");
    let enter = 0.5 + (side as f64 - face_x1) / speed;
    let leave = 0.5 + (side as f64 + width as f64 - face_x0) / speed;
    let start = visits[0]["startMs"].as_f64().unwrap() / 1000.0;
    let dwell = visits[0]["dwellS"].as_f64().unwrap();
    assert!((start - enter).abs() <= 0.25, "start {start} vs {enter}");
    assert!(
        (dwell - (leave - enter)).abs() <= 0.5,
        "dwell {dwell} vs {}",
        leave - enter
    );
}

#[test]
fn simulate_prints_decisions_and_rejects_a_broken_rules_file_with_paths() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lines = succeed(
        glance()
            .args(["simulate", "--rules"])
            .arg(root.join("examples/rules/mall.rules.json"))
            .arg("--timeline")
            .arg(root.join("examples/rules/weekday.timeline.jsonl")),
    );
    assert!(lines.len() > 10);
    assert!(lines[0]["decision"]["reason"]["summary"].is_string());
    assert!(lines.last().unwrap()["summary"]["ads"].is_object());

    let out = glance()
        .args(["simulate", "--rules"])
        .arg(root.join("tests/fixtures/rules/invalid.rules.json"))
        .arg("--timeline")
        .arg(root.join("examples/rules/weekday.timeline.jsonl"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("$.rules[0].play.ad"), "{stderr}");
    assert!(stderr.contains("$.timeZone"), "{stderr}");
}
