//! End-to-end tests on synthetic frame sequences with known truth (15 fps).
// Tests may run long: a scenario reads best as one story (the 80-line limit is for the code).
#![allow(clippy::too_many_lines)]

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::analysis::{FaceAnalysis, FrameAnalysis, Gender};

const FPS: f64 = 15.0;
const DT: f64 = 1000.0 / FPS;
const W: u32 = 1280;
const H: u32 = 720;

/// Box centre x, centre y and width over time (ms); `None` when the person is not there.
type Path = Box<dyn Fn(f64) -> Option<(f32, f32, f32)>>;

/// Where a synthetic person is at time t (ms): box centre and width in pixels, and whether they
/// look at the screen and are detected.
#[derive(Clone, Copy)]
struct Pose {
    cx: f32,
    cy: f32,
    w: f32,
    looking: bool,
    detected: bool,
}

struct Person {
    age: f32,
    gender: Gender,
    pose: Box<dyn Fn(f64) -> Option<Pose>>,
}

/// Linear walk from `a` to `b` (centre x, centre y, width) between `t0` and `t1` seconds.
fn walk(
    t0: f64,
    t1: f64,
    a: (f32, f32, f32),
    b: (f32, f32, f32),
) -> impl Fn(f64) -> Option<(f32, f32, f32)> {
    move |t_ms| {
        let t = t_ms / 1000.0;
        if t < t0 || t >= t1 {
            return None;
        }
        let u = ((t - t0) / (t1 - t0)) as f32;
        Some((
            a.0 + (b.0 - a.0) * u,
            a.1 + (b.1 - a.1) * u,
            a.2 + (b.2 - a.2) * u,
        ))
    }
}

fn person(
    age: f32,
    gender: Gender,
    path: impl Fn(f64) -> Option<(f32, f32, f32)> + 'static,
    looking: impl Fn(f64) -> bool + 'static,
    detected: impl Fn(f64) -> bool + 'static,
) -> Person {
    Person {
        age,
        gender,
        pose: Box::new(move |t| {
            path(t).map(|(cx, cy, w)| Pose {
                cx,
                cy,
                w,
                looking: looking(t / 1000.0),
                detected: detected(t / 1000.0),
            })
        }),
    }
}

/// A face as the vision core would report it. Position is left to the estimate from the box;
/// gaze points at the screen centre when looking, 60° to the side otherwise.
fn face(p: &Pose, age: f32, gender: Gender, model: &LookModel) -> FaceAnalysis {
    let (w, h) = (p.w, p.w * 1.15);
    let (x, y) = (p.cx - w / 2.0, p.cy - h / 2.0);
    let kp = |fx: f32, fy: f32| [x + fx * w, y + fy * h];
    let mut f = FaceAnalysis {
        age: Some(age),
        gender: Some(gender),
        gender_score: Some(0.9),
        yaw: Some(0.0),
        pitch: Some(0.0),
        roll: Some(0.0),
        gaze_from_eyes: Some(true),
        ..FaceAnalysis::detected(
            [x, y, w, h],
            0.9,
            [
                kp(0.3, 0.35),
                kp(0.7, 0.35),
                kp(0.5, 0.55),
                kp(0.5, 0.75),
                kp(0.05, 0.45),
                kp(0.95, 0.45),
            ],
        )
    };
    let (pos, _) = model.face_position(&f, W, H);
    // Screen centre in camera coordinates for the default geometry (no tilt): 0.38 m below.
    let target = [0.0, 0.38, 0.0];
    let mut d = [target[0] - pos[0], target[1] - pos[1], target[2] - pos[2]];
    if !p.looking {
        let (s, c) = 60f32.to_radians().sin_cos();
        d = [c * d[0] + s * d[2], d[1], -s * d[0] + c * d[2]];
    }
    let n = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
    f.gaze = Some([d[0] / n, d[1] / n, d[2] / n]);
    f
}

struct Run {
    agg: AudienceAggregator,
    /// Track ids each person's faces were given, in order of appearance (confirmed or not).
    ids: Vec<Vec<u64>>,
    visits: Vec<CompletedVisit>,
    snapshots: Vec<AudienceSnapshot>,
}

/// Feeds `seconds` of frames at 15 fps with the given people, then `finish`.
fn simulate(
    people: &[Person],
    seconds: f64,
    config: AudienceConfig,
    plays: &[(&str, f64, f64)],
) -> Run {
    let mut agg = AudienceAggregator::with_seed(config.clone(), 7).unwrap();
    let model = LookModel::new(&config.screen);
    let mut ids = vec![Vec::new(); people.len()];
    let mut snapshots = Vec::new();
    let frames = (seconds * FPS).round() as usize;
    for i in 0..frames {
        let t = i as f64 * DT;
        for (id, start, end) in plays {
            if (start * 1000.0 - t).abs() < DT / 2.0 {
                agg.ad_started(id, &format!("ad-{id}"), start * 1000.0)
                    .unwrap();
            }
            if (end * 1000.0 - t).abs() < DT / 2.0 {
                agg.ad_ended(id, end * 1000.0, true).unwrap();
            }
        }
        let mut faces = Vec::new();
        let mut who = Vec::new();
        for (pi, p) in people.iter().enumerate() {
            if let Some(pose) = (p.pose)(t).filter(|q| q.detected) {
                faces.push(face(&pose, p.age, p.gender, &model));
                who.push(pi);
            }
        }
        let frame = FrameAnalysis {
            rejected: Vec::new(),
            scene_cut: false,
            width: W,
            height: H,
            timestamp_ms: t,
            faces,
        };
        snapshots.push(agg.observe(&frame));
        for (fi, pi) in who.iter().enumerate() {
            let id = agg.face_track_ids()[fi].expect("every synthetic face is tracked");
            if ids[*pi].last() != Some(&id) {
                ids[*pi].push(id);
            }
        }
    }
    agg.finish(frames as f64 * DT);
    let visits = agg.completed_visits();
    Run {
        agg,
        ids,
        visits,
        snapshots,
    }
}

fn visit_of(run: &Run, person: usize) -> &CompletedVisit {
    let ids = &run.ids[person];
    let mut found = run.visits.iter().filter(|v| ids.contains(&v.track_id));
    let v = found.next().expect("person has a visit");
    assert!(
        found.next().is_none(),
        "person {person} split into several visits"
    );
    v
}

fn within_frame(actual_s: f64, expected_s: f64) {
    assert!(
        (actual_s - expected_s).abs() <= DT / 1000.0 + 1e-6,
        "{actual_s} s vs expected {expected_s} s"
    );
}

fn always(_: f64) -> bool {
    true
}
fn never(_: f64) -> bool {
    false
}

#[test]
fn a_person_standing_60_s_and_looking_is_one_watcher_with_60_s_dwell_and_attention() {
    let p = person(
        40.0,
        Gender::Male,
        walk(1.0, 61.0, (640.0, 360.0, 90.0), (642.0, 361.0, 90.0)),
        always,
        always,
    );
    let run = simulate(&[p], 65.0, AudienceConfig::default(), &[]);
    assert_eq!(run.visits.len(), 1);
    assert_eq!(run.ids[0].len(), 1, "one track id for the whole visit");
    let v = visit_of(&run, 0);
    within_frame(v.dwell_s, 60.0);
    within_frame(v.attention_s, 60.0);
    within_frame(v.attention_from_eyes_s, 60.0);
    assert!(v.is_watcher);
    assert_eq!(v.age_band.as_deref(), Some("35-44"));
    assert_eq!(v.gender, Some(Gender::Male));
    assert_eq!(v.max_group_size, 1);
    // The visit ended by itself (1 s after leaving), before `finish`.
    assert_eq!(run.snapshots.last().unwrap().present, 0);
    let r = run.agg.report(&ReportOptions {
        k: 1,
        ..Default::default()
    });
    assert_eq!(r.totals.impressions.value, Some(1));
    assert_eq!(r.totals.watchers.value, Some(1));
    assert_eq!(
        r.totals.dwell_buckets[4].count.value,
        Some(1),
        "60 s+ bucket"
    );
    assert_eq!(r.totals.attention_buckets[4].count.value, Some(1));
}

#[test]
fn a_glance_of_0_3_s_is_not_a_watcher_but_2_s_is() {
    let glance = |from: f64, len: f64| move |t: f64| t >= from && t < from + len;
    let short = person(
        30.0,
        Gender::Female,
        walk(0.0, 8.0, (300.0, 360.0, 80.0), (310.0, 360.0, 80.0)),
        glance(2.0, 0.3),
        always,
    );
    let long = person(
        30.0,
        Gender::Male,
        walk(0.0, 8.0, (900.0, 360.0, 80.0), (910.0, 360.0, 80.0)),
        glance(2.0, 2.0),
        always,
    );
    let run = simulate(&[short, long], 10.0, AudienceConfig::default(), &[]);
    let s = visit_of(&run, 0);
    let l = visit_of(&run, 1);
    assert!(!s.is_watcher);
    within_frame(s.attention_s, 0.3);
    assert!(l.is_watcher);
    within_frame(l.attention_s, 2.0);
    within_frame(l.longest_glance_s, 2.0);
    within_frame(s.dwell_s, 8.0);
    let r = run.agg.report(&ReportOptions {
        k: 1,
        ..Default::default()
    });
    assert_eq!(r.totals.impressions.value, Some(2));
    assert_eq!(r.totals.watchers.value, Some(1));
    assert_eq!(r.totals.conversion_ratio, Some(0.5));
}

#[test]
fn ten_missed_frames_keep_the_same_track() {
    let missed = |t: f64| !(3.0..3.0 + 10.0 / FPS - 1e-9).contains(&t);
    let p = person(
        25.0,
        Gender::Female,
        walk(0.0, 8.0, (200.0, 360.0, 80.0), (1000.0, 360.0, 80.0)),
        always,
        missed,
    );
    let run = simulate(&[p], 10.0, AudienceConfig::default(), &[]);
    assert_eq!(run.ids[0].len(), 1, "ids: {:?}", run.ids[0]);
    assert_eq!(run.visits.len(), 1);
    let v = visit_of(&run, 0);
    within_frame(v.dwell_s, 8.0);
    // The gap (0.67 s) is longer than the look bridge (0.5 s): it is not attention.
    within_frame(v.attention_s, 8.0 - 10.0 / FPS);
    assert_eq!(v.frames_observed, 120 - 10);
}

#[test]
fn a_face_crossing_close_to_the_camera_is_one_track_from_its_first_frames() {
    // A 40 px face moving 24 px a frame (nine face widths a second: someone walking past close
    // to the camera). Before its track knows the speed, consecutive boxes overlap little: only
    // motion and size tie them together.
    let p = person(
        30.0,
        Gender::Male,
        walk(0.0, 3.0, (100.0, 360.0, 40.0), (1180.0, 360.0, 40.0)),
        always,
        always,
    );
    let run = simulate(&[p], 4.0, AudienceConfig::default(), &[]);
    assert_eq!(run.ids[0].len(), 1, "ids: {:?}", run.ids[0]);
    assert_eq!(run.visits.len(), 1);
    within_frame(visit_of(&run, 0).dwell_s, 3.0);
}

#[test]
fn a_person_stopping_dead_keeps_the_track() {
    // Walking at 300 px/s, then standing still: the constant-velocity prediction overshoots.
    let path = |t_ms: f64| {
        let t = (t_ms / 1000.0).min(2.0);
        (t_ms < 5000.0).then_some((200.0 + 300.0 * t as f32, 360.0, 60.0))
    };
    let p = person(40.0, Gender::Female, path, always, always);
    let run = simulate(&[p], 6.0, AudienceConfig::default(), &[]);
    assert_eq!(run.ids[0].len(), 1, "ids: {:?}", run.ids[0]);
    assert_eq!(run.visits.len(), 1);
}

#[test]
fn two_people_crossing_keep_their_tracks() {
    // Near person left→right, far person right→left, boxes overlapping mid-way.
    let near = person(
        30.0,
        Gender::Male,
        walk(0.0, 6.0, (150.0, 380.0, 110.0), (1130.0, 380.0, 110.0)),
        always,
        always,
    );
    let far = person(
        60.0,
        Gender::Female,
        walk(0.0, 6.0, (1130.0, 340.0, 70.0), (150.0, 340.0, 70.0)),
        never,
        always,
    );
    let run = simulate(&[near, far], 8.0, AudienceConfig::default(), &[]);
    assert_eq!(run.ids[0].len(), 1, "near: {:?}", run.ids);
    assert_eq!(run.ids[1].len(), 1, "far: {:?}", run.ids);
    assert_ne!(run.ids[0], run.ids[1]);
    assert_eq!(run.visits.len(), 2);
    assert!(visit_of(&run, 0).is_watcher);
    assert!(!visit_of(&run, 1).is_watcher);
    assert_eq!(visit_of(&run, 1).age_band.as_deref(), Some("55-64"));
}

/// A 120 px face crossing the 1280 px frame left to right in 6 s: its right edge enters at
/// 0 s and its left edge leaves at 6 s. Like the real detector, the synthetic one reports the
/// face only while at least 60 % of it is in the picture, with the box cut at the frame's edge.
/// Returns the visit and the first and last detection times, ms.
fn walk_by_through_the_edges(config: AudienceConfig) -> (CompletedVisit, f64, f64) {
    let (w, speed) = (120.0f32, (W as f32 + 120.0) / 6.0);
    let model = LookModel::new(&config.screen);
    let mut agg = AudienceAggregator::with_seed(config, 3).unwrap();
    let mut seen: Vec<f64> = Vec::new();
    for i in 0..(8.0 * FPS) as usize {
        let t = i as f64 * DT;
        let left = -w + speed * (t / 1000.0) as f32;
        let (x0, x1) = (left.max(0.0), (left + w).min(W as f32));
        let mut faces = Vec::new();
        if x1 - x0 >= 0.6 * w {
            let pose = Pose {
                cx: left + w / 2.0,
                cy: 360.0,
                w,
                looking: false,
                detected: true,
            };
            let mut f = face(&pose, 30.0, Gender::Female, &model);
            f.bbox[0] = x0;
            f.bbox[2] = x1 - x0;
            faces.push(f);
            seen.push(t);
        }
        agg.observe(&FrameAnalysis {
            rejected: Vec::new(),
            scene_cut: false,
            width: W,
            height: H,
            timestamp_ms: t,
            faces,
        });
    }
    agg.finish(8000.0);
    let visits = agg.completed_visits();
    assert_eq!(visits.len(), 1);
    (visits[0].clone(), seen[0], *seen.last().unwrap())
}

#[test]
fn a_walk_by_counts_the_time_the_face_was_only_partly_in_view() {
    let (visit, first, last) = walk_by_through_the_edges(AudienceConfig::default());
    // The detections alone miss about 0.3 s at each end.
    assert!(first > 250.0 && last < 5750.0, "{first} {last}");
    within_frame(visit.start_ms / 1000.0, 0.0);
    within_frame(visit.dwell_s, 6.0);
    // Turned off, the visit is what the detector saw.
    let mut config = AudienceConfig::default();
    config.tracker.max_edge_extension_ms = 0.0;
    let (visit, first, last) = walk_by_through_the_edges(config);
    within_frame(visit.start_ms / 1000.0, first / 1000.0);
    within_frame(visit.end_ms / 1000.0, (last + DT) / 1000.0);
}

#[test]
fn two_people_swapping_places_with_occlusion_keep_their_tracks() {
    // Same depth; while the boxes overlap the person behind (B) is not detected.
    // They pass each other at 240 px/s relative speed: B is hidden for about 0.75 s (11 frames).
    let a_path = walk(0.0, 4.0, (400.0, 360.0, 90.0), (880.0, 360.0, 90.0));
    let b_path = walk(0.0, 4.0, (880.0, 360.0, 90.0), (400.0, 360.0, 90.0));
    let visible = |t: f64| {
        let gap = (480.0 - 960.0 * t / 4.0).abs();
        gap > 90.0
    };
    let stand = |path: Path, end: (f32, f32, f32)| {
        move |t: f64| {
            if t < 4_000.0 {
                path(t)
            } else if t < 14_000.0 {
                Some(end)
            } else {
                None
            }
        }
    };
    let a = person(
        30.0,
        Gender::Male,
        stand(Box::new(a_path), (880.0, 360.0, 90.0)),
        always,
        always,
    );
    let b = person(
        30.0,
        Gender::Female,
        stand(Box::new(b_path), (400.0, 360.0, 90.0)),
        always,
        move |t| t >= 4.0 || visible(t),
    );
    let run = simulate(&[a, b], 16.0, AudienceConfig::default(), &[]);
    assert_eq!(run.ids[0].len(), 1, "A: {:?}", run.ids);
    assert_eq!(run.ids[1].len(), 1, "B: {:?}", run.ids);
    assert_eq!(run.visits.len(), 2);
    within_frame(visit_of(&run, 0).dwell_s, 14.0);
    within_frame(visit_of(&run, 1).dwell_s, 14.0);
    assert_eq!(visit_of(&run, 0).gender, Some(Gender::Male));
    assert_eq!(visit_of(&run, 1).gender, Some(Gender::Female));
}

#[test]
fn one_and_two_frame_false_positives_are_not_counted() {
    let blip = |at: f64, frames: f64| {
        person(
            30.0,
            Gender::Male,
            walk(
                at,
                at + frames / FPS - 1e-6,
                (500.0, 300.0, 60.0),
                (500.0, 300.0, 60.0),
            ),
            always,
            always,
        )
    };
    let run = simulate(
        &[blip(1.0, 1.0), blip(3.0, 2.0), blip(5.0, 3.0)],
        8.0,
        AudienceConfig::default(),
        &[],
    );
    // Only the three-frame one reaches minHits = 3.
    assert_eq!(run.visits.len(), 1);
    within_frame(run.visits[0].dwell_s, 3.0 / FPS);
}

#[test]
fn a_play_counts_people_present_and_watching_during_it() {
    // A: 0–10 s, looks 6–8 s. B: 25–30 s (after the play). C: 3–7 s, looks 4–4.3 s only.
    let a = person(
        30.0,
        Gender::Female,
        walk(0.0, 10.0, (300.0, 360.0, 80.0), (320.0, 360.0, 80.0)),
        |t| (6.0..8.0).contains(&t),
        always,
    );
    let b = person(
        30.0,
        Gender::Male,
        walk(25.0, 30.0, (600.0, 360.0, 80.0), (620.0, 360.0, 80.0)),
        always,
        always,
    );
    let c = person(
        70.0,
        Gender::Male,
        walk(3.0, 7.0, (900.0, 360.0, 80.0), (910.0, 360.0, 80.0)),
        |t| (4.0..4.3).contains(&t),
        always,
    );
    let run = simulate(
        &[a, b, c],
        32.0,
        AudienceConfig::default(),
        &[("p1", 5.0, 20.0)],
    );
    let r = run.agg.report(&ReportOptions {
        k: 1,
        ..Default::default()
    });
    assert_eq!(r.plays.len(), 1);
    let p = &r.plays[0];
    assert!(p.is_final);
    assert_eq!(p.completed, Some(true));
    assert_eq!(p.impressions.value, Some(2));
    assert_eq!(p.watchers.value, Some(1));
    within_frame(p.attention_s.unwrap(), 2.0);
    let watcher_cells: Vec<_> = p
        .by_band_gender
        .iter()
        .filter(|c| c.watchers.value > Some(0))
        .collect();
    assert_eq!(watcher_cells.len(), 1);
    assert_eq!(
        (
            watcher_cells[0].age_band.as_deref(),
            watcher_cells[0].gender
        ),
        (Some("25-34"), Some(Gender::Female))
    );
    assert_eq!(r.ads.len(), 1);
    assert_eq!((r.ads[0].plays, r.ads[0].completed_plays), (1, 1));
    within_frame(r.ads[0].played_s, 15.0);
    assert_eq!(visit_of(&run, 0).play_ids, vec!["p1".to_string()]);
    assert!(visit_of(&run, 1).play_ids.is_empty());
}

#[test]
fn a_glance_straddling_the_play_start_counts_only_inside_the_play() {
    // Looks 4.0–5.4 s; the play starts at 5 s, so only 0.4 s is inside it: not a play watcher.
    let a = person(
        30.0,
        Gender::Female,
        walk(0.0, 8.0, (300.0, 360.0, 80.0), (320.0, 360.0, 80.0)),
        |t| (4.0..5.4).contains(&t),
        always,
    );
    let run = simulate(&[a], 10.0, AudienceConfig::default(), &[("p1", 5.0, 9.0)]);
    let r = run.agg.report(&ReportOptions {
        k: 1,
        ..Default::default()
    });
    let p = &r.plays[0];
    assert_eq!(p.impressions.value, Some(1));
    assert_eq!(p.watchers.value, Some(0));
    within_frame(p.attention_s.unwrap(), 0.4);
    assert!(visit_of(&run, 0).is_watcher);
}

#[test]
fn snapshot_describes_people_present_now() {
    let a = person(
        30.0,
        Gender::Female,
        walk(0.0, 10.0, (300.0, 360.0, 80.0), (320.0, 360.0, 80.0)),
        |t| t >= 2.0,
        always,
    );
    let b = person(
        16.0,
        Gender::Male,
        walk(1.0, 10.0, (500.0, 360.0, 80.0), (520.0, 360.0, 80.0)),
        never,
        always,
    );
    let run = simulate(&[a, b], 12.0, AudienceConfig::default(), &[]);
    let s = &run.snapshots[(5.0 * FPS) as usize];
    assert_eq!(s.present, 2);
    assert_eq!(s.looking_now, 1);
    assert_eq!(s.watchers, 1);
    assert_eq!(s.group_size, 2, "both within 1.5 m of each other");
    assert!(
        (s.longest_attention_s - 3.0).abs() < 0.1,
        "{}",
        s.longest_attention_s
    );
    let looker = s.people.iter().find(|p| p.looking).unwrap();
    assert_eq!(looker.age_band.as_deref(), Some("25-34"));
    assert!(looker.age_band_confidence.unwrap() > 0.5);
    assert!((looker.dwell_s - 5.0).abs() < 0.1);
    assert!(looker.current_look_s > 2.9);
    let teen = s.people.iter().find(|p| !p.looking).unwrap();
    assert_eq!(teen.age_band.as_deref(), Some("13-17"));
    assert_eq!(s.by_band_gender.len(), 2);
    assert!(s.nearest_distance_m.is_some());
    // Early frames, before confirmation, show nobody.
    assert_eq!(run.snapshots[1].present, 0);
    assert_eq!(run.snapshots[2].present, 1);
}

#[test]
fn track_ids_differ_between_sessions_and_are_never_reused() {
    let mk = || {
        person(
            30.0,
            Gender::Male,
            walk(0.0, 2.0, (300.0, 360.0, 80.0), (300.0, 360.0, 80.0)),
            always,
            always,
        )
    };
    let cfg = AudienceConfig::default();
    let model = LookModel::new(&cfg.screen);
    let ids_of = |seed: u64| {
        let mut agg = AudienceAggregator::with_seed(cfg.clone(), seed).unwrap();
        let p = mk();
        let mut ids = BTreeSet::new();
        // The same person comes back three times.
        for rep in 0..3 {
            for i in 0..30 {
                let t = rep as f64 * 5000.0 + i as f64 * DT;
                let pose = (p.pose)(i as f64 * DT).unwrap();
                agg.observe(&FrameAnalysis {
                    rejected: Vec::new(),
                    scene_cut: false,
                    width: W,
                    height: H,
                    timestamp_ms: t,
                    faces: vec![face(&pose, 30.0, Gender::Male, &model)],
                });
                ids.insert(agg.face_track_ids()[0].unwrap());
            }
        }
        ids
    };
    let (a, b) = (ids_of(1), ids_of(2));
    assert_eq!(a.len(), 3, "a returning person gets a new id each visit");
    assert!(a.is_disjoint(&b));
}

#[test]
fn attribute_cadence_is_exposed_per_track_and_per_face() {
    let cfg = AudienceConfig::default();
    let model = LookModel::new(&cfg.screen);
    let mut agg = AudienceAggregator::with_seed(cfg, 3).unwrap();
    let pose = Pose {
        cx: 400.0,
        cy: 360.0,
        w: 90.0,
        looking: true,
        detected: true,
    };
    let f = face(&pose, 30.0, Gender::Male, &model);
    let mut t = 0.0;
    let other = face(&Pose { cx: 1000.0, ..pose }, 30.0, Gender::Male, &model);
    assert_eq!(
        agg.plan_attributes(0.0, std::slice::from_ref(&f), &[true]),
        vec![true]
    );
    for _ in 0..30 {
        agg.observe(&FrameAnalysis {
            rejected: Vec::new(),
            scene_cut: false,
            width: W,
            height: H,
            timestamp_ms: t,
            faces: vec![f.clone()],
        });
        t += DT;
    }
    let id = agg.face_track_ids()[0].unwrap();
    // Stable after 30 good frames: the attribute models may skip it until the interval passes.
    assert!(!agg.needs_attributes(id));
    assert_eq!(
        agg.plan_attributes(t, &[f.clone(), other], &[true, true]),
        vec![false, true]
    );
    assert_eq!(
        agg.plan_attributes(t + 1000.0, std::slice::from_ref(&f), &[true]),
        vec![true]
    );
    assert!(agg.needs_attributes(999), "unknown tracks need attributes");
}

#[test]
fn a_group_shares_the_attribute_models_frame_by_frame() {
    // Five people arrive together: the attribute models run on at most two faces a frame, the
    // longest overdue first, and each face still gets its looks while unsettled.
    let cfg = AudienceConfig::default();
    let model = LookModel::new(&cfg.screen);
    let mut agg = AudienceAggregator::with_seed(cfg, 5).unwrap();
    let faces: Vec<FaceAnalysis> = (0..5)
        .map(|i| {
            let pose = Pose {
                cx: 150.0 + 240.0 * i as f32,
                cy: 360.0,
                w: 60.0,
                looking: true,
                detected: true,
            };
            face(&pose, 30.0, Gender::Female, &model)
        })
        .collect();
    let mut looks = [0; 5];
    for frame in 0..15 {
        let t = frame as f64 * DT;
        let plan = agg.plan_attributes(t, &faces, &[true; 5]);
        assert!(
            plan.iter().filter(|&&p| p).count() <= 2,
            "frame {frame}: {plan:?}"
        );
        // As the pipeline reports them: attributes only where planned.
        let seen: Vec<FaceAnalysis> = faces
            .iter()
            .zip(&plan)
            .map(|(f, &planned)| FaceAnalysis {
                age: f.age.filter(|_| planned),
                gender: f.gender.filter(|_| planned),
                gender_score: f.gender_score.filter(|_| planned),
                ..f.clone()
            })
            .collect();
        for (n, &planned) in looks.iter_mut().zip(&plan) {
            *n += usize::from(planned);
        }
        agg.observe(&FrameAnalysis {
            width: W,
            height: H,
            timestamp_ms: t,
            faces: seen,
            rejected: Vec::new(),
            scene_cut: false,
        });
    }
    // A second at 15 fps: at least three looks each, never more than one every 200 ms.
    assert!(looks.iter().all(|&n| (3..=5).contains(&n)), "{looks:?}");
    // A face the pipeline cannot give attributes (too small, beyond the budget) takes no turn.
    let plan = agg.plan_attributes(15.0 * DT, &faces, &[false, false, false, true, true]);
    assert!(!plan[0] && !plan[1] && !plan[2], "{plan:?}");
}

#[test]
fn head_pose_fallback_is_recorded_in_attention() {
    let cfg = AudienceConfig::default();
    let model = LookModel::new(&cfg.screen);
    let mut agg = AudienceAggregator::with_seed(cfg, 3).unwrap();
    let pose = Pose {
        cx: 640.0,
        cy: 300.0,
        w: 90.0,
        looking: true,
        detected: true,
    };
    for i in 0..30 {
        let mut f = face(&pose, 30.0, Gender::Male, &model);
        if i >= 15 {
            // Far-face mode: no eye gaze, only head pose pointing at the camera.
            f.gaze = None;
            f.gaze_from_eyes = Some(false);
        }
        agg.observe(&FrameAnalysis {
            rejected: Vec::new(),
            scene_cut: false,
            width: W,
            height: H,
            timestamp_ms: i as f64 * DT,
            faces: vec![f],
        });
    }
    agg.finish(30.0 * DT);
    let v = &agg.completed_visits()[0];
    within_frame(v.attention_from_eyes_s, 1.0);
    within_frame(v.attention_from_head_pose_s, 1.0);
    within_frame(v.attention_s, 2.0);
}

#[test]
fn a_clock_going_back_closes_open_visits() {
    let cfg = AudienceConfig::default();
    let model = LookModel::new(&cfg.screen);
    let mut agg = AudienceAggregator::with_seed(cfg, 3).unwrap();
    let f = face(
        &Pose {
            cx: 640.0,
            cy: 300.0,
            w: 90.0,
            looking: true,
            detected: true,
        },
        30.0,
        Gender::Male,
        &model,
    );
    for i in 0..10 {
        agg.observe(&FrameAnalysis {
            rejected: Vec::new(),
            scene_cut: false,
            width: W,
            height: H,
            timestamp_ms: 10_000.0 + i as f64 * DT,
            faces: vec![f.clone()],
        });
    }
    agg.observe(&FrameAnalysis {
        rejected: Vec::new(),
        scene_cut: false,
        width: W,
        height: H,
        timestamp_ms: 0.0,
        faces: vec![],
    });
    assert_eq!(agg.completed_visits().len(), 1);
}

#[test]
fn ad_play_errors_are_clear() {
    let mut agg = AudienceAggregator::with_seed(AudienceConfig::default(), 1).unwrap();
    agg.ad_started("p1", "ad", 0.0).unwrap();
    assert_eq!(
        agg.ad_started("p1", "ad", 1.0),
        Err(AudienceError::DuplicatePlay("p1".into()))
    );
    assert_eq!(
        agg.ad_ended("nope", 2.0, true),
        Err(AudienceError::UnknownPlay("nope".into()))
    );
    // Ending by ad id works when the host has no play ids.
    agg.ad_ended("ad", 2.0, false).unwrap();
    assert!(agg.ad_ended("p1", 3.0, true).is_err(), "already ended");
}

#[test]
fn config_reads_partial_json_with_defaults_and_rejects_nonsense() {
    let c = AudienceConfig::from_json("{}").unwrap();
    assert_eq!(c, AudienceConfig::default());
    let c = AudienceConfig::from_json(
        r#"{"minGlanceMs": 800, "screen": {"cameraTiltDeg": 12}, "tracker": {"maxAgeMs": 2000}}"#,
    )
    .unwrap();
    assert_eq!(
        (
            c.min_glance_ms,
            c.screen.camera_tilt_deg,
            c.tracker.max_age_ms
        ),
        (800.0, 12.0, 2000.0)
    );
    assert_eq!(c.screen.width_m, ScreenGeometry::default().width_m);
    assert!(matches!(
        AudienceConfig::from_json(r#"{"minGlanceMS": 1}"#),
        Err(AudienceError::Config(_))
    ));
    assert!(matches!(
        AudienceConfig::from_json(r#"{"ageBands": [0, 20, 18]}"#),
        Err(AudienceError::Config(_))
    ));
    // Every number has a range; a struct is never read from an array.
    for json in [
        r#"{"utcOffsetMinutes": 2147483647}"#,
        r#"{"tracker": {"minHits": 4294967295}}"#,
        r#"{"tracker": {"measurementNoise": 0}}"#,
        r#"{"screen": {"toleranceDeg": -5}}"#,
        r#"{"screen": {"marginM": -1}}"#,
        r#"{"screen": []}"#,
        "[]",
    ] {
        assert!(
            matches!(
                AudienceConfig::from_json(json),
                Err(AudienceError::Config(_))
            ),
            "{json} accepted"
        );
    }
    let c = AudienceConfig::from_json(r#"{"ageBands": [0, 18, 65]}"#).unwrap();
    assert_eq!(c.age_band_labels(), vec!["0-17", "18-64", "65+"]);
    // The documented defaults are what the fixture spells out.
    let fixture = include_str!("../../tests/fixtures/audience/default_config.json");
    assert_eq!(
        AudienceConfig::from_json(fixture).unwrap(),
        AudienceConfig::default()
    );
}

fn busy_run() -> Run {
    let mut people = Vec::new();
    for i in 0..12 {
        let t0 = i as f64 * 4.0;
        let x = 200.0 + (i % 4) as f32 * 280.0;
        let look_from = t0 + 1.0;
        let look_len = if i % 3 == 0 {
            0.2
        } else {
            1.0 + i as f64 * 0.2
        };
        let gender = if i % 2 == 0 {
            Gender::Female
        } else {
            Gender::Male
        };
        people.push(person(
            20.0 + (i % 3) as f32 * 12.0,
            gender,
            walk(
                t0,
                t0 + 6.0 + i as f64,
                (x, 360.0, 80.0),
                (x + 15.0, 360.0, 80.0),
            ),
            move |t| t >= look_from && t < look_from + look_len,
            always,
        ));
    }
    simulate(
        &people,
        70.0,
        AudienceConfig::default(),
        &[("p1", 2.0, 17.0), ("p2", 17.0, 32.0), ("p3", 60.0, 75.0)],
    )
}

#[test]
fn state_round_trips_through_json_with_nothing_lost() {
    let run = busy_run();
    let json = run.agg.save_state();
    let restored = AudienceAggregator::from_state(AudienceConfig::default(), &json).unwrap();
    assert_eq!(restored.save_state(), json);
    for g in [Granularity::Minute, Granularity::Hour, Granularity::Day] {
        let opts = ReportOptions {
            granularity: g,
            k: 3,
            ..Default::default()
        };
        assert_eq!(restored.report(&opts), run.agg.report(&opts));
    }
    // Persisted state carries no per-person data.
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let text = v.to_string();
    for id in run.ids.iter().flatten() {
        assert!(
            !text.contains(&id.to_string()),
            "track id {id} leaked into state"
        );
    }
    for forbidden in ["trackId", "keypoints", "box", "gaze", "position"] {
        assert!(!text.contains(forbidden), "{forbidden} in state");
    }
}

#[test]
fn a_play_running_when_saved_can_still_be_ended_after_restore() {
    let mut agg = AudienceAggregator::with_seed(AudienceConfig::default(), 1).unwrap();
    agg.ad_started("p9", "ad9", 1000.0).unwrap();
    let json = agg.save_state();
    let mut back = AudienceAggregator::from_state(AudienceConfig::default(), &json).unwrap();
    back.ad_ended("p9", 16_000.0, true).unwrap();
    let r = back.report(&ReportOptions::default());
    assert_eq!(r.plays[0].end_ms, Some(16_000.0));
    assert!(r.plays[0].is_final);
}

#[test]
fn a_restored_state_holds_no_more_than_the_configuration_keeps() {
    // Saved under a generous retention: 30 plays and minutes over three days.
    let generous = AudienceConfig {
        retention: RetentionConfig {
            minute_hours: 96,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut agg = AudienceAggregator::with_seed(generous, 1).unwrap();
    for i in 0..30 {
        let t = i as f64 * 3.0 * 3_600_000.0;
        agg.ad_started(&format!("p{i}"), "ad", t).unwrap();
        agg.ad_ended(&format!("p{i}"), t + 5_000.0, true).unwrap();
        let visit = aggregate::VisitFacts {
            start_ms: t,
            dwell_ms: 10_000.0,
            attention_ms: 0.0,
            attention_eyes_ms: 0.0,
            attention_head_ms: 0.0,
            watcher: false,
            band: Some(3),
            gender: None,
            mean_distance_m: Some(1.5),
            group: 1,
        };
        agg.series.add_visit(&visit, 0, None);
    }
    agg.last_ts = Some(29.0 * 3.0 * 3_600_000.0 + 5_000.0);
    let saved = agg.save_state();
    let strict = AudienceConfig {
        retention: RetentionConfig {
            max_plays: 10,
            ..Default::default()
        },
        ..Default::default()
    };
    let back = AudienceAggregator::from_state(strict, &saved).unwrap();
    assert_eq!(back.plays.len(), 10);
    assert_eq!(back.plays.back().unwrap().play_id, "p29");
    // The default 24 hours of minutes before the last save: the minutes of the last 9 visits
    // (one every 3 hours, the first exactly 24 hours before).
    assert_eq!(agg.series.minutes.len(), 30);
    assert_eq!(back.series.minutes.len(), 9);
    assert_eq!(back.series.days.len(), agg.series.days.len());
}

#[test]
fn state_with_another_schema_version_is_rejected() {
    let agg = AudienceAggregator::with_seed(AudienceConfig::default(), 1).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&agg.save_state()).unwrap();
    v["schemaVersion"] = serde_json::json!(2);
    let err = AudienceAggregator::from_state(AudienceConfig::default(), &v.to_string())
        .err()
        .unwrap();
    assert_eq!(
        err,
        AudienceError::UnsupportedSchemaVersion {
            found: "2".into(),
            supported: SCHEMA_VERSION
        }
    );
    assert!(err.to_string().contains("schemaVersion 2"));
    v.as_object_mut().unwrap().remove("schemaVersion");
    assert!(matches!(
        AudienceAggregator::from_state(AudienceConfig::default(), &v.to_string()),
        Err(AudienceError::UnsupportedSchemaVersion { .. })
    ));
    let other_bands = AudienceConfig {
        age_bands: vec![0, 18, 65],
        ..Default::default()
    };
    assert!(matches!(
        AudienceAggregator::from_state(other_bands, &agg.save_state()),
        Err(AudienceError::AgeBandsMismatch { .. })
    ));
}

#[test]
fn buckets_stay_bounded_over_48_simulated_hours() {
    let cfg = AudienceConfig::default();
    let model = LookModel::new(&cfg.screen);
    let mut agg = AudienceAggregator::with_seed(cfg, 5).unwrap();
    let f = face(
        &Pose {
            cx: 640.0,
            cy: 300.0,
            w: 90.0,
            looking: true,
            detected: true,
        },
        30.0,
        Gender::Male,
        &model,
    );
    let mut sizes = BTreeMap::new();
    // One 5-frame visit every minute for 48 h.
    for minute in 0..48 * 60 {
        let t0 = minute as f64 * 60_000.0;
        for i in 0..5 {
            agg.update(&FrameAnalysis {
                rejected: Vec::new(),
                scene_cut: false,
                width: W,
                height: H,
                timestamp_ms: t0 + i as f64 * DT,
                faces: vec![f.clone()],
            });
        }
        agg.update(&FrameAnalysis {
            rejected: Vec::new(),
            scene_cut: false,
            width: W,
            height: H,
            timestamp_ms: t0 + 2000.0,
            faces: vec![],
        });
        if [59, 24 * 60 - 1, 48 * 60 - 1].contains(&minute) {
            sizes.insert(minute + 1, (agg.bucket_counts(), agg.save_state().len()));
        }
        assert!(agg.live_tracks() == 0);
    }
    let (b24, s24) = sizes[&(24 * 60)];
    let (b48, s48) = sizes[&(48 * 60)];
    assert_eq!(b24.0, 24 * 60);
    assert_eq!(
        b48.0,
        24 * 60 + 1,
        "minutes are capped at 24 h (+ the current one)"
    );
    assert_eq!((b48.1, b48.2), (48, 2));
    // Only a couple of hour and day buckets more after another day.
    assert!(s48 < s24 + s24 / 20, "state grew from {s24} to {s48} bytes");
    let r = agg.report(&ReportOptions {
        granularity: Granularity::Day,
        ..Default::default()
    });
    assert_eq!(
        r.totals.impressions.value,
        Some(48 * 60),
        "rolled-up days keep every visit"
    );
    // Reports say when finer buckets were pruned, and only then.
    let pruned_note = |granularity| {
        agg.report(&ReportOptions {
            granularity,
            from_ms: Some(0.0),
            ..Default::default()
        })
        .notes
        .iter()
        .any(|n| n.contains("kept only"))
    };
    assert!(
        pruned_note(Granularity::Minute),
        "the first day's minutes are gone"
    );
    assert!(!pruned_note(Granularity::Hour), "every hour is still there");
}

/// Frames of `people` from `from_s` to `to_s` (seconds after `base_ms`), taking the fleet
/// records every second.
fn run_taking_records(
    agg: &mut AudienceAggregator,
    people: &[Person],
    base_ms: f64,
    (from_s, to_s): (f64, f64),
    records: &mut Vec<crate::fleet::Record>,
) {
    let model = LookModel::new(&agg.config().screen);
    let first = (from_s * FPS).round() as usize;
    let last = (to_s * FPS).round() as usize;
    for i in first..last {
        let t = i as f64 * DT;
        let faces = people
            .iter()
            .filter_map(|p| {
                (p.pose)(t)
                    .filter(|q| q.detected)
                    .map(|pose| face(&pose, p.age, p.gender, &model))
            })
            .collect();
        agg.update(&FrameAnalysis {
            rejected: Vec::new(),
            scene_cut: false,
            width: W,
            height: H,
            timestamp_ms: base_ms + t,
            faces,
        });
        if i % FPS as usize == 0 {
            records.extend(agg.take_records("screen-1", false));
        }
    }
}

#[test]
fn fleet_records_add_up_to_the_report_exactly_across_a_reload() {
    use crate::fleet::Record;
    // 2026-12-01 10:00:30 UTC: visits straddle minutes.
    let base = 1_796_119_230_000.0;
    let mut people = Vec::new();
    for i in 0..16 {
        let t0 = i as f64 * 9.0;
        let x = 200.0 + (i % 4) as f32 * 280.0;
        let look_from = t0 + 1.0;
        let look_len = if i % 3 == 0 {
            0.2
        } else {
            2.0 + i as f64 * 0.3
        };
        let gender = if i % 2 == 0 {
            Gender::Female
        } else {
            Gender::Male
        };
        people.push(person(
            20.0 + (i % 3) as f32 * 12.0,
            gender,
            walk(
                t0,
                t0 + 7.0 + i as f64,
                (x, 360.0, 80.0),
                (x + 15.0, 360.0, 80.0),
            ),
            move |t| t >= look_from && t < look_from + look_len,
            always,
        ));
    }
    let config = AudienceConfig::default();
    let mut agg = AudienceAggregator::with_seed(config.clone(), 3).unwrap();
    let mut records = Vec::new();
    agg.ad_started("play-1", "coffee", base + 5_000.0).unwrap();
    run_taking_records(&mut agg, &people, base, (0.0, 20.0), &mut records);
    agg.ad_ended("play-1", base + 20_000.0, true).unwrap();
    agg.ad_started("play-2", "spa", base + 20_000.0).unwrap();
    run_taking_records(&mut agg, &people, base, (20.0, 75.0), &mut records);

    // A reload: the state saved with the records taken so far, people in view forgotten.
    let saved = agg.save_state();
    let mut agg = AudienceAggregator::from_state(config.clone(), &saved).unwrap();
    assert!(
        agg.take_records("screen-1", false).is_empty(),
        "a reload repeats no record"
    );
    run_taking_records(&mut agg, &people, base, (75.0, 170.0), &mut records);
    agg.ad_ended("play-2", base + 170_000.0, false).unwrap();
    agg.finish(base + 170_000.0);
    records.extend(agg.take_records("screen-1", true));
    assert!(agg.take_records("screen-1", true).is_empty());

    // Every record reads back as the ingest service reads it, and each id comes once.
    let batch: String = records.iter().map(|r| r.to_line() + "\n").collect();
    assert_eq!(
        crate::fleet::parse_batch(&batch, Some("screen-1")).unwrap(),
        records
    );
    let ids: BTreeSet<&str> = records.iter().map(Record::id).collect();
    assert_eq!(ids.len(), records.len());

    let report = agg.report(&ReportOptions {
        k: 1,
        ..Default::default()
    });
    let minutes: Vec<_> = records
        .iter()
        .filter_map(|r| match r {
            Record::AudienceMinute(m) => Some(m),
            _ => None,
        })
        .collect();
    assert!(minutes.len() >= 3, "{} minutes", minutes.len());
    let people_counted: u32 = minutes.iter().map(|m| m.impressions).sum();
    assert!(people_counted >= 12, "{people_counted} visits");
    assert_eq!(Some(people_counted), report.totals.impressions.value);
    assert_eq!(
        Some(minutes.iter().map(|m| m.watchers).sum::<u32>()),
        report.totals.watchers.value
    );
    let close =
        |a: f64, b: Option<f64>| assert!((a / 1000.0 - b.unwrap()).abs() < 1e-6, "{a} {b:?}");
    close(
        minutes.iter().map(|m| m.dwell_ms).sum(),
        report.totals.dwell_total_s,
    );
    close(
        minutes.iter().map(|m| m.attention_ms).sum(),
        report.totals.attention_total_s,
    );
    // Band x gender, unknown included.
    let mut cells: BTreeMap<(String, String), u32> = BTreeMap::new();
    for c in minutes.iter().flat_map(|m| &m.cells) {
        *cells
            .entry((c.age_band.clone(), format!("{:?}", c.gender).to_lowercase()))
            .or_default() += c.present;
    }
    let reported: BTreeMap<(String, String), u32> = report
        .totals
        .by_band_gender
        .iter()
        .filter(|c| c.present.value.unwrap_or(0) > 0)
        .map(|c| {
            let gender = c
                .gender
                .map_or("unknown".to_string(), |g| format!("{g:?}").to_lowercase());
            let band = c.age_band.clone().unwrap_or_else(|| "unknown".into());
            ((band, gender), c.present.value.unwrap())
        })
        .collect();
    assert_eq!(cells, reported);

    // Both plays, once each, as the report has them.
    let plays: Vec<_> = records
        .iter()
        .filter_map(|r| match r {
            Record::Play(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(plays.len(), 2);
    for p in plays {
        let r = report
            .plays
            .iter()
            .find(|r| r.play_id == p.play_id)
            .unwrap();
        assert_eq!(Some(p.impressions), r.impressions.value, "{}", p.play_id);
        assert_eq!(Some(p.watchers), r.watchers.value);
        assert_eq!(Some(p.completed), r.completed);
        assert!(p.impressions > 0, "{} had an audience", p.play_id);
    }

    // The store's roll-ups of these records make the screen's own report again: the fleet
    // report of one screen is its kiosk's report (k = 5 as published, per hour and per day).
    for granularity in [Granularity::Hour, Granularity::Day] {
        let options = ReportOptions {
            granularity,
            ..Default::default()
        };
        let own = agg.report(&options);
        let rollups = FleetRollups::from_records(&records, granularity);
        let fleet = fleet_report(config.clone(), &rollups, &options).unwrap();
        let counts = |m: &MetricsReport| {
            let cells: Vec<_> = m
                .by_band_gender
                .iter()
                .map(|c| (c.age_band.clone(), c.gender, c.present, c.watchers))
                .collect();
            (
                m.impressions,
                m.watchers,
                m.dwell_buckets.clone(),
                m.attention_buckets.clone(),
                m.distance_buckets.clone(),
                m.group_size_buckets.clone(),
                cells,
            )
        };
        assert_eq!(
            counts(&fleet.totals),
            counts(&own.totals),
            "{granularity:?}"
        );
        let close = |a: Option<f64>, b: Option<f64>| {
            a.zip(b).is_some_and(|(a, b)| (a - b).abs() < 1e-9) || a == b
        };
        assert!(close(fleet.totals.dwell_total_s, own.totals.dwell_total_s));
        assert!(close(
            fleet.totals.attention_total_s,
            own.totals.attention_total_s
        ));
        assert_eq!(fleet.series.len(), own.series.len(), "{granularity:?}");
        for (f, o) in fleet.series.iter().zip(&own.series) {
            assert_eq!(f.start_ms, o.start_ms);
            assert_eq!(counts(&f.metrics), counts(&o.metrics));
        }
        let ads = |r: &AudienceReport| {
            r.ads
                .iter()
                .map(|a| {
                    (
                        a.ad_id.clone(),
                        a.plays,
                        a.completed_plays,
                        a.impressions,
                        a.watchers,
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(ads(&fleet), ads(&own));
        assert_eq!(fleet.plays.len(), own.plays.len());
    }
}

#[test]
fn a_minute_is_sent_only_once_nobody_who_started_in_it_is_still_here() {
    // One person from 10 s to 100 s: their minute (the first) cannot be sent while they stay.
    let base = 1_796_119_200_000.0;
    let people = vec![person(
        30.0,
        Gender::Female,
        walk(10.0, 100.0, (600.0, 360.0, 90.0), (620.0, 360.0, 90.0)),
        always,
        always,
    )];
    let mut agg = AudienceAggregator::with_seed(AudienceConfig::default(), 5).unwrap();
    let mut records = Vec::new();
    run_taking_records(&mut agg, &people, base, (0.0, 95.0), &mut records);
    assert!(
        records.is_empty(),
        "sent while the visit goes on: {records:?}"
    );
    run_taking_records(&mut agg, &people, base, (95.0, 110.0), &mut records);
    // Gone at 100 s, the track let go a little later: the first minute holds the visit.
    assert_eq!(records.len(), 1, "{records:?}");
    let crate::fleet::Record::AudienceMinute(m) = &records[0] else {
        panic!("{records:?}")
    };
    assert_eq!((m.start_ms, m.impressions, m.watchers), (base as i64, 1, 1));
    assert!((m.dwell_ms - 90_000.0).abs() < 500.0, "{}", m.dwell_ms);
}
