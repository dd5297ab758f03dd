//! Audience aggregation throughput and memory.
//!
//! - `aggregate_1m_faces/*`: 1,000,000 synthetic face observations (5–6 people walking through
//!   at 15 fps, looking on and off, with ad plays) through tracking, looking, smoothing and
//!   aggregation. Target: under 1 s natively.
//! - `memory_over_48h` (printed once, not timed): 48 simulated hours at 2 fps with a visitor
//!   every two minutes; bucket counts and saved-state size after 1 h, 24 h and 48 h must level
//!   off once the 24 h of minute buckets are full.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use glance::analysis::{FaceAnalysis, FrameAnalysis, Gender};
use glance::audience::{AudienceAggregator, AudienceConfig, Granularity, ReportOptions};

const FPS: f64 = 15.0;
const DT: f64 = 1000.0 / FPS;
const TARGET_FACES: usize = 1_000_000;

fn face(cx: f32, cy: f32, w: f32, looking: bool, age: f32, gender: Gender) -> FaceAnalysis {
    let h = w * 1.15;
    let (x, y) = (cx - w / 2.0, cy - h / 2.0);
    let kp = |fx: f32, fy: f32| [x + fx * w, y + fy * h];
    let dist = 0.15 * 1108.5 / w;
    let keypoints = [
        kp(0.3, 0.35),
        kp(0.7, 0.35),
        kp(0.5, 0.55),
        kp(0.5, 0.75),
        kp(0.05, 0.45),
        kp(0.95, 0.45),
    ];
    FaceAnalysis {
        age: Some(age),
        gender: Some(gender),
        gender_score: Some(0.85),
        yaw: Some(if looking { 0.0 } else { 50.0 }),
        pitch: Some(0.0),
        roll: Some(0.0),
        gaze: Some(if looking {
            [0.0, 0.15, -0.99]
        } else {
            [0.77, 0.0, -0.64]
        }),
        gaze_from_eyes: Some(true),
        distance_m: Some(dist),
        position_m: Some([
            (cx - 640.0) * dist / 1108.5,
            (cy - 360.0) * dist / 1108.5,
            dist,
        ]),
        ..FaceAnalysis::detected([x, y, w, h], 0.9, keypoints)
    }
}

/// A 62-second scene: six people cross the frame at different speeds and depths, some stop to
/// watch; the last 2 s are empty so every visit ends inside the scene.
fn scene() -> Vec<FrameAnalysis> {
    let frames = (62.0 * FPS) as usize;
    let people: [(f64, f64, f32, f32, f32, f32); 6] = [
        // start s, end s, x0, x1, y, width
        (0.0, 20.0, 100.0, 1180.0, 360.0, 90.0),
        (2.0, 30.0, 1180.0, 100.0, 330.0, 60.0),
        (5.0, 59.0, 500.0, 560.0, 380.0, 110.0),
        (10.0, 40.0, 200.0, 1000.0, 300.0, 50.0),
        (25.0, 58.0, 1100.0, 300.0, 400.0, 100.0),
        (35.0, 59.5, 700.0, 640.0, 350.0, 75.0),
    ];
    (0..frames)
        .map(|i| {
            let t = i as f64 / FPS;
            let faces = people
                .iter()
                .enumerate()
                .filter(|(_, p)| t >= p.0 && t < p.1)
                .map(|(k, p)| {
                    let u = ((t - p.0) / (p.1 - p.0)) as f32;
                    let looking = ((t * 0.7 + k as f64) % 3.0) < 1.4;
                    let gender = if k % 2 == 0 {
                        Gender::Female
                    } else {
                        Gender::Male
                    };
                    face(
                        p.2 + (p.3 - p.2) * u,
                        p.4,
                        p.5,
                        looking,
                        18.0 + 9.0 * k as f32,
                        gender,
                    )
                })
                .collect();
            FrameAnalysis {
                rejected: Vec::new(),
                scene_cut: false,
                width: 1280,
                height: 720,
                timestamp_ms: 0.0,
                faces,
            }
        })
        .collect()
}

/// Replays the scene with increasing timestamps until `TARGET_FACES` faces were observed.
fn run(frames: &mut [FrameAnalysis], with_snapshot: bool) -> (AudienceAggregator, usize) {
    let mut agg = AudienceAggregator::with_seed(AudienceConfig::default(), 1).unwrap();
    let mut faces = 0;
    let mut t = 0.0;
    let mut play = 0u64;
    while faces < TARGET_FACES {
        agg.ad_started(&format!("play-{play}"), &format!("ad-{}", play % 7), t)
            .unwrap();
        for f in frames.iter_mut() {
            f.timestamp_ms = t;
            if with_snapshot {
                black_box(agg.observe(f));
            } else {
                agg.update(f);
            }
            faces += f.faces.len();
            t += DT;
        }
        agg.ad_ended(&format!("play-{play}"), t, true).unwrap();
        play += 1;
    }
    agg.finish(t);
    (agg, faces)
}

fn aggregate_1m_faces(c: &mut Criterion) {
    let mut frames = scene();
    let per_scene: usize = frames.iter().map(|f| f.faces.len()).sum();
    let scenes = TARGET_FACES.div_ceil(per_scene);
    let start = Instant::now();
    let (agg, faces) = run(&mut frames, false);
    let elapsed = start.elapsed();
    let report = agg.report(&ReportOptions {
        k: 5,
        ..Default::default()
    });
    println!(
        "one pass: {faces} face observations ({} frames) in {:.0} ms = {:.2} M faces/s; {} visits; state {} bytes",
        scenes * frames.len(),
        elapsed.as_secs_f64() * 1000.0,
        faces as f64 / elapsed.as_secs_f64() / 1e6,
        report.totals.impressions.value.unwrap_or(0),
        agg.save_state().len(),
    );
    let mut g = c.benchmark_group("aggregate_1m_faces");
    g.sample_size(10);
    g.throughput(Throughput::Elements(faces as u64));
    g.bench_function("update", |b| {
        b.iter(|| black_box(run(&mut frames, false).1))
    });
    g.bench_function("observe_with_snapshot", |b| {
        b.iter(|| black_box(run(&mut frames, true).1))
    });
    g.finish();
}

fn memory_over_48h(_: &mut Criterion) {
    let mut agg = AudienceAggregator::with_seed(AudienceConfig::default(), 2).unwrap();
    let dt = 500.0; // 2 fps
    let steps = (48.0 * 3600.0 * 1000.0 / dt) as u64;
    let start = Instant::now();
    for i in 0..steps {
        let t = i as f64 * dt;
        let s = (t / 1000.0) % 120.0;
        // A visitor for 20 s out of every 120 s, looking for the middle 8 s.
        let faces = if s < 20.0 {
            vec![face(
                400.0 + s as f32 * 20.0,
                360.0,
                80.0,
                (6.0..14.0).contains(&s),
                33.0,
                Gender::Male,
            )]
        } else {
            vec![]
        };
        agg.update(&FrameAnalysis {
            rejected: Vec::new(),
            scene_cut: false,
            width: 1280,
            height: 720,
            timestamp_ms: t,
            faces,
        });
        let hour = (i + 1) as f64 * dt / 3_600_000.0;
        if [1.0, 12.0, 24.0, 36.0, 48.0].contains(&hour) {
            let (m, h, d) = agg.bucket_counts();
            println!(
                "memory_over_48h: after {hour:>2} h: {m} minute, {h} hour, {d} day buckets; live tracks {}; saved state {} bytes",
                agg.live_tracks(),
                agg.save_state().len()
            );
        }
    }
    println!(
        "memory_over_48h: {steps} frames in {:.0} ms",
        start.elapsed().as_secs_f64() * 1000.0
    );
    for granularity in [Granularity::Minute, Granularity::Hour] {
        let start = Instant::now();
        let report = agg.report(&ReportOptions {
            granularity,
            ..Default::default()
        });
        let (json, csv) = (report.to_json().unwrap(), report.to_csv().unwrap());
        println!(
            "memory_over_48h: {granularity:?} report of {} buckets built and exported in {:.0} ms (JSON {} bytes, CSV {} bytes, {} cells suppressed)",
            report.series.len(),
            start.elapsed().as_secs_f64() * 1000.0,
            json.len(),
            csv.len(),
            report.k_anonymity.suppressed_cells
        );
    }
}

criterion_group!(benches, aggregate_1m_faces, memory_over_48h);
criterion_main!(benches);
