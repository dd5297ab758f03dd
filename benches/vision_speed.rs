//! Native speed of each network and of the whole pipeline at 640x480 with 0, 1 and 5 faces, on
//! burn's CPU backend, and the fine scan's cost (per frame, every-frame detection and video mode
//! at 640x480 and 1280x720, with and without it), and how even video mode's frames are (median,
//! p95, slowest). Run: `cargo bench --bench vision_speed`.

use burn::tensor::Device;
use criterion::{Criterion, criterion_group, criterion_main};
use glance::media::{RgbImage, load_image};
use glance::vision::{
    DetectorModel, FrameTimings, ModelWeights, Networks, PipelineOptions, cpu_pipeline,
};

fn astronaut() -> RgbImage {
    load_image(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/astronaut.jpg"),
    )
    .unwrap()
}

/// The astronaut pasted at `side` pixels at each position on a grey 640x480 frame.
fn compose(side: u32, positions: &[(u32, u32)]) -> RgbImage {
    compose_in(640, 480, side, positions)
}

fn compose_in(width: u32, height: u32, side: u32, positions: &[(u32, u32)]) -> RgbImage {
    let src = astronaut();
    let mut pixels = vec![128u8; (width * height * 3) as usize];
    for &(ox, oy) in positions {
        for y in 0..side.min(height - oy) {
            for x in 0..side.min(width - ox) {
                let s = (((y * src.height / side) * src.width + x * src.width / side) * 3) as usize;
                let t = (((oy + y) * width + ox + x) * 3) as usize;
                pixels[t..t + 3].copy_from_slice(&src.pixels[s..s + 3]);
            }
        }
    }
    RgbImage {
        width,
        height,
        pixels,
    }
}

fn networks(c: &mut Criterion) {
    let nets = Networks::load(&Device::flex(), &ModelWeights::embedded()).unwrap();
    let input = |size: usize| vec![0.5f32; 3 * size * size];
    let mut group = c.benchmark_group("network");
    group.bench_function("face_detection_full_range 192", |b| {
        b.iter(|| pollster::block_on(nets.detect(DetectorModel::FullRange, input(192), 1)).unwrap())
    });
    group.bench_function("face_detection_short_range 128", |b| {
        b.iter(|| {
            pollster::block_on(nets.detect(DetectorModel::ShortRange, input(128), 1)).unwrap()
        })
    });
    group.bench_function("face_landmark 192", |b| {
        b.iter(|| pollster::block_on(nets.face_landmarks(input(192), 1)).unwrap())
    });
    group.bench_function("iris_landmark 64", |b| {
        b.iter(|| pollster::block_on(nets.iris_landmarks(input(64), 1)).unwrap())
    });
    group.bench_function("age_gender 112", |b| {
        b.iter(|| pollster::block_on(nets.age_gender(input(112), 1)).unwrap())
    });
    // The fine scan's input at 640x480 (to 18 px) and 1280x720 (to 35 px), and a second look.
    for (height, width) in [(448usize, 576usize), (352, 576), (128, 128)] {
        group.bench_function(format!("centerface {width}x{height}"), |b| {
            let chw = vec![128.0f32; 3 * height * width];
            b.iter(|| {
                pollster::block_on(nets.centerface().maps(chw.clone(), 1, height, width)).unwrap()
            })
        });
    }
    group.finish();
}

fn pipeline(c: &mut Criterion) {
    let pipeline = cpu_pipeline(PipelineOptions::default()).unwrap();
    let frames = [
        ("640x480 0 faces", compose(240, &[])),
        ("640x480 1 face", compose(480, &[(80, 0)])),
        (
            "640x480 5 faces",
            compose(240, &[(0, 0), (200, 0), (400, 0), (100, 240), (300, 240)]),
        ),
    ];
    let mut group = c.benchmark_group("pipeline");
    for (name, image) in &frames {
        let frame = image.frame().unwrap();
        let faces = pollster::block_on(pipeline.analyze(&frame, 0.0))
            .unwrap()
            .faces
            .len();
        group.bench_function(format!("{name} (found {faces})"), |b| {
            b.iter(|| pollster::block_on(pipeline.analyze(&frame, 0.0)).unwrap())
        });
    }
    group.finish();
}

/// One face at arm's length, with and without the fine scan: every-frame detection (all windows
/// each frame) and video mode (the kiosk's: detectors every 250 ms, windows spread over 500 ms;
/// frames 33 ms apart, so the figure is the mean cost of a frame).
fn fine_scan(c: &mut Criterion) {
    let mut group = c.benchmark_group("fine scan");
    for (width, height, side) in [(640u32, 480u32, 300u32), (1280, 720, 450)] {
        let image = compose_in(width, height, side, &[(width / 3, height / 8)]);
        let frame = image.frame().unwrap();
        for (mode, interval) in [("every frame", 0.0), ("video mode", 250.0)] {
            // No fine scan; its default (a face 5 m away); faces of 16 px.
            for min_face_height in [Some(0.0f32), None, Some(16.0)] {
                let pipeline = cpu_pipeline(PipelineOptions {
                    detection_interval_ms: interval,
                    min_face_height,
                    ..Default::default()
                })
                .unwrap();
                let mut t = 0.0;
                let scan = match min_face_height {
                    Some(0.0) => "no fine scan".to_string(),
                    None => "fine scan to 5 m".to_string(),
                    Some(h) => format!("fine scan to {h} px"),
                };
                group.bench_function(format!("{width}x{height} 1 face, {mode}, {scan}"), |b| {
                    b.iter(|| {
                        t += 33.3;
                        pollster::block_on(pipeline.analyze(&frame, t)).unwrap()
                    })
                });
            }
        }
    }
    group.finish();
}

/// Thirty people on a 1080p frame (faces about 60 px high), every frame detected and in video
/// mode (frames 66 ms apart: the figure is the mean cost of a frame): every face is counted,
/// the `maxAnalyzedFaces` largest are analysed.
fn crowd(c: &mut Criterion) {
    let positions: Vec<(u32, u32)> = (0..5)
        .flat_map(|r| (0..6).map(move |c| (c * 320, r * 195)))
        .collect();
    let image = compose_in(1920, 1080, 300, &positions);
    let frame = image.frame().unwrap();
    let mut group = c.benchmark_group("crowd");
    for (mode, interval) in [("every frame", 0.0), ("video mode", 250.0)] {
        let pipeline = cpu_pipeline(PipelineOptions {
            detection_interval_ms: interval,
            ..Default::default()
        })
        .unwrap();
        // Warm the video mode's memory up to the scan that finds the faces.
        let mut t = 0.0;
        let mut faces = 0;
        for _ in 0..3 {
            t += 66.7;
            faces = pollster::block_on(pipeline.analyze(&frame, t))
                .unwrap()
                .faces
                .len();
        }
        group.bench_function(format!("1920x1080 30 faces, {mode} (found {faces})"), |b| {
            b.iter(|| {
                t += 66.7;
                pollster::block_on(pipeline.analyze(&frame, t)).unwrap()
            })
        });
    }
    group.finish();
}

/// How even video mode's frames are (the kiosk's options: detectors every 250 ms, the fine
/// scan's sweep every 500 ms, to 5 m), 15 fps for 8 s: median, p95 and the slowest frame, printed
/// (a mean hides the frames that stall), and the mean time of each stage (detectors, fine scan,
/// confirmation, mesh, irises, age/gender, the rest); then the same with the detectors on every
/// frame. Not a criterion measurement: run with the others, or alone with
/// `cargo bench --bench vision_speed -- 'frame spread'`.
fn frame_spread(c: &mut Criterion) {
    let wanted = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect::<Vec<_>>();
    if !wanted.is_empty() && !wanted.iter().any(|w| "frame spread".contains(w.as_str())) {
        return;
    }
    let _ = c;
    let five_at = |step: u32| {
        vec![
            (0, 0),
            (step, 0),
            (2 * step, 0),
            (step / 2, step),
            (3 * step / 2, step),
        ]
    };
    for (width, height, side, positions) in [
        (640u32, 480u32, 300u32, vec![(170u32, 60u32)]),
        (640, 480, 240, five_at(200)),
        (1280, 720, 450, vec![(400, 100)]),
        (1280, 720, 340, five_at(360)),
    ] {
        let faces = positions.len();
        let image = compose_in(width, height, side, &positions);
        let frame = image.frame().unwrap();
        for (mode, detection_interval_ms) in [("video mode", 250.0), ("every frame", 0.0)] {
            let pipeline = cpu_pipeline(PipelineOptions {
                detection_interval_ms,
                ..Default::default()
            })
            .unwrap();
            let mut times = Vec::new();
            let mut stages = FrameTimings::default();
            let mut found = 0;
            for i in 0..150 {
                let started = std::time::Instant::now();
                found = pollster::block_on(pipeline.analyze(&frame, i as f64 * 66.7))
                    .unwrap()
                    .faces
                    .len();
                // The first second warms the video mode's memory up.
                if i >= 30 {
                    times.push(started.elapsed().as_secs_f64() * 1000.0);
                    stages = add(stages, pipeline.last_timings());
                }
            }
            times.sort_by(f64::total_cmp);
            let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
            println!(
                "frame spread/{width}x{height} {faces} faces, {mode} (found {found}): median {:.1} ms, p95 {:.1} ms, max {:.1} ms, p95/median {:.2}",
                at(0.5),
                at(0.95),
                at(1.0),
                at(0.95) / at(0.5)
            );
            println!("    {}", stage_means(stages, times.len()));
        }
    }
}

/// Two frames' stage times added (for a mean over many).
fn add(a: FrameTimings, b: FrameTimings) -> FrameTimings {
    FrameTimings {
        read_pixels: a.read_pixels + b.read_pixels,
        detection: a.detection + b.detection,
        fine_scan: a.fine_scan + b.fine_scan,
        confirmation: a.confirmation + b.confirmation,
        mesh: a.mesh + b.mesh,
        irises: a.irises + b.irises,
        age_gender: a.age_gender + b.age_gender,
        other: a.other + b.other,
        audience: a.audience + b.audience,
        total: a.total + b.total,
    }
}

/// The mean time per frame of each pipeline stage, as one line.
fn stage_means(sum: FrameTimings, frames: usize) -> String {
    let n = frames as f64;
    format!(
        "mean ms per frame: detection {:.1}, fine scan {:.1}, confirmation {:.1}, mesh {:.1}, irises {:.1}, age/gender {:.1}, other {:.1}; total {:.1}",
        sum.detection / n,
        sum.fine_scan / n,
        sum.confirmation / n,
        sum.mesh / n,
        sum.irises / n,
        sum.age_gender / n,
        sum.other / n,
        sum.total / n
    )
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(4));
    targets = networks, pipeline, fine_scan, crowd, frame_spread
}
criterion_main!(benches);
