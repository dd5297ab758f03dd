//! Anonymous multi-face tracker, SORT-like: a constant-velocity Kalman filter per face box,
//! association by the Hungarian method (`pathfinding::kuhn_munkres`) on IoU and keypoint
//! agreement, a tentative → confirmed lifecycle, and coasting through short occlusions. No
//! appearance embedding is ever computed or stored; track ids are random and per session.

use pathfinding::prelude::{Matrix, kuhn_munkres};
use rand::{RngExt, rngs::StdRng};

use super::attributes::AttributeSmoother;
use super::config::AudienceConfig;
use super::edges::{EdgeSamples, TrackEnd};
use super::geometry::{GazeSource, LookModel, LookResult};
use super::kalman::BoxFilter;
use crate::analysis::{FaceAnalysis, FrameAnalysis};

/// A play window that tracks may still credit (running, or ended only just now).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlayWindow {
    pub serial: u64,
    pub start_ms: f64,
    pub end_ms: Option<f64>,
}

impl PlayWindow {
    fn overlap(&self, a: f64, b: f64) -> f64 {
        let lo = a.max(self.start_ms);
        let hi = self.end_ms.map_or(b, |e| b.min(e));
        (hi - lo).max(0.0)
    }
    fn contains(&self, t: f64) -> bool {
        t >= self.start_ms && self.end_ms.is_none_or(|e| t <= e)
    }
}

/// What one track did during one ad play.
#[derive(Debug, Clone)]
pub(crate) struct PlayTrack {
    pub serial: u64,
    pub attention_ms: f64,
    run_ms: f64,
    pub longest_run_ms: f64,
}

#[derive(Debug, Clone)]
pub(crate) struct Track {
    pub id: u64,
    filter: BoxFilter,
    last_bbox: [f32; 4],
    keypoints: [[f32; 2]; 6],
    pub hits: u32,
    misses: u32,
    pub confirmed: bool,
    pub first_seen_ms: f64,
    pub last_seen_ms: f64,
    last_predict_ms: f64,
    pub attrs: AttributeSmoother,
    /// Looking in the latest frame (false while coasting).
    pub looking_now: bool,
    looked_at_last_obs: bool,
    last_source: Option<GazeSource>,
    pub attention_ms: f64,
    pub attention_eyes_ms: f64,
    pub attention_head_ms: f64,
    pub run_ms: f64,
    pub longest_run_ms: f64,
    pub position_m: [f32; 3],
    pub last_distance_m: Option<f32>,
    pub distance_sum_m: f64,
    pub distance_n: u32,
    pub max_group: u32,
    pub frames_observed: u32,
    pub plays: Vec<PlayTrack>,
    /// Boxes at both ends of the track, to tell when the face crossed the frame's edge.
    edge_samples: EdgeSamples,
}

/// Tracks that ended in a frame, for the aggregator to finalise (confirmed ones) or forget.
pub(crate) struct Ended {
    pub track: Track,
    pub end_ms: f64,
}

pub(crate) struct Tracker {
    pub tracks: Vec<Track>,
    rng: StdRng,
    last_ts: Option<f64>,
    /// Typical time between frames (running mean), ms.
    pub frame_ms: f64,
    /// Track id of each face of the latest frame, in the frame's order.
    pub face_tracks: Vec<Option<u64>>,
    /// Largest group of confirmed people after the latest frame.
    pub largest_group: u32,
    scratch_dets: Vec<usize>,
}

fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let x0 = a[0].max(b[0]);
    let y0 = a[1].max(b[1]);
    let x1 = (a[0] + a[2]).min(b[0] + b[2]);
    let y1 = (a[1] + a[3]).min(b[1] + b[3]);
    let inter = (x1 - x0).max(0.0) * (y1 - y0).max(0.0);
    let union = a[2] * a[3] + b[2] * b[3] - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

fn centre(b: [f32; 4]) -> [f32; 2] {
    [b[0] + b[2] / 2.0, b[1] + b[3] / 2.0]
}

/// Association weight of detection `face` for track `t` at `ts`, `None` when outside the gate.
fn association(
    t: &Track,
    face: &FaceAnalysis,
    ts: f64,
    cfg: &AudienceConfig,
    frame_ms: f64,
) -> Option<f32> {
    let tc = &cfg.tracker;
    let pred = t.filter.bbox();
    let det = face.bbox;
    // A face does not double or halve in size from one sighting to the next.
    let Gated {
        size_ratio,
        dc,
        gate,
        gap_s,
    } = gated(t, det, ts, cfg, MIN_SIZE_RATIO)?;
    let cp = centre(pred);
    // Keypoints of the last observation, carried along with the predicted box.
    let lc = centre(t.last_bbox);
    let scale = pred[2] / t.last_bbox[2].max(1.0);
    let mut d_kp = 0.0;
    for (k, d) in t.keypoints.iter().zip(&face.keypoints) {
        let px = cp[0] + (k[0] - lc[0]) * scale;
        let py = cp[1] + (k[1] - lc[1]) * scale;
        d_kp += ((px - d[0]).powi(2) + (py - d[1]).powi(2)).sqrt();
    }
    d_kp /= 6.0 * det[2].max(1.0);
    let sigma = 0.25 + 0.5 * tc.gate_growth_per_s * gap_s;
    let kp_sim = (-(d_kp / sigma).powi(2)).exp();
    let score = (0.5 * iou(pred, det) + 0.5 * kp_sim) * size_ratio;
    let coasting = (ts - t.last_seen_ms) > 1.5 * frame_ms;
    if score < tc.min_match_score && !coasting {
        return None;
    }
    // Nearer predictions win among coasting tracks whose IoU has faded.
    Some(score + 0.1 * (1.0 - dc / gate.max(1e-6)) + 1e-4)
}

/// How far two boxes agree in size, by their longer sides (a face cut by the frame's edge
/// keeps its height): the smaller over the larger, and the larger (at least 1 px).
fn size_agreement(a: [f32; 4], b: [f32; 4]) -> (f32, f32) {
    let (sa, sb) = (a[2].max(a[3]), b[2].max(b[3]));
    let larger = sa.max(sb).max(1.0);
    (sa.min(sb) / larger, larger)
}

/// Two sightings of one face differ in size by at most this factor (the smaller over the
/// larger): association never pairs a face with a track of twice or half its size.
const MIN_SIZE_RATIO: f32 = 0.5;

/// The looser second chance of a track that no face continued, for a face no track took:
/// motion and size only. The face lies within the track's motion gate and is of its size;
/// overlap and keypoints are not asked for, since a person who stops, turns or reappears after
/// a moment hidden scores low on them against a constant-velocity prediction, and so does a
/// small face moving fast before its track knows its speed. `None` outside.
fn reassociation(t: &Track, face: &FaceAnalysis, ts: f64, cfg: &AudienceConfig) -> Option<f32> {
    let Gated { dc, gate, .. } = gated(t, face.bbox, ts, cfg, REASSOCIATION_MIN_SIZE_RATIO)?;
    Some(1.0 - dc / gate.max(1e-6) + 1e-4)
}

/// How detection box `det` stands against track `t`'s prediction at `ts`, when it passes the
/// motion gate (its centre within `gate` box sizes, the gate widening with the time since the
/// last hit) and is at least `min_size_ratio` of the prediction's size (or at most its inverse).
struct Gated {
    size_ratio: f32,
    /// Centre distance in box sizes (the larger box's longer side).
    dc: f32,
    gate: f32,
    gap_s: f32,
}

fn gated(
    t: &Track,
    det: [f32; 4],
    ts: f64,
    cfg: &AudienceConfig,
    min_size_ratio: f32,
) -> Option<Gated> {
    let tc = &cfg.tracker;
    let pred = t.filter.bbox();
    let (size_ratio, wmax) = size_agreement(pred, det);
    if size_ratio < min_size_ratio {
        return None;
    }
    let (cp, cd) = (centre(pred), centre(det));
    let dc = ((cp[0] - cd[0]).powi(2) + (cp[1] - cd[1]).powi(2)).sqrt() / wmax;
    let gap_s = ((ts - t.last_seen_ms) / 1000.0) as f32;
    let gate = tc.max_center_distance + tc.gate_growth_per_s * gap_s;
    (dc <= gate).then_some(Gated {
        size_ratio,
        dc,
        gate,
        gap_s,
    })
}

/// A face re-associated with a track must be at least this fraction of its size (and at most
/// its inverse).
const REASSOCIATION_MIN_SIZE_RATIO: f32 = 0.67;

impl Tracker {
    pub fn new(rng: StdRng) -> Self {
        Self {
            tracks: Vec::new(),
            rng,
            last_ts: None,
            frame_ms: 1000.0 / 15.0,
            face_tracks: Vec::new(),
            largest_group: 0,
            scratch_dets: Vec::new(),
        }
    }

    fn new_id(&mut self) -> u64 {
        loop {
            // Random 53-bit ids: unique in practice, unlinkable across sessions, exact in JS.
            let id = self.rng.random::<u64>() >> 11;
            if id != 0 && self.tracks.iter().all(|t| t.id != id) {
                return id;
            }
        }
    }

    /// Index of the track each candidate face would continue (no state change). `tracks` must
    /// already be predicted to `ts`.
    fn assign(
        tracks: &[Track],
        frame_ms: f64,
        faces: &[FaceAnalysis],
        dets: &[usize],
        ts: f64,
        cfg: &AudienceConfig,
    ) -> Vec<Option<usize>> {
        let mut out = Self::assign_by_score(tracks, frame_ms, faces, dets, ts, cfg);
        // Second chance: tracks left over against faces left over, best pairs first.
        let mut taken = vec![false; tracks.len()];
        for ti in out.iter().flatten() {
            taken[*ti] = true;
        }
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (di, _) in out.iter().enumerate().filter(|(_, t)| t.is_none()) {
            for (ti, t) in tracks.iter().enumerate().filter(|(ti, _)| !taken[*ti]) {
                if let Some(w) = reassociation(t, &faces[dets[di]], ts, cfg) {
                    pairs.push((w, ti, di));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (_, ti, di) in pairs {
            if !taken[ti] && out[di].is_none() {
                taken[ti] = true;
                out[di] = Some(ti);
            }
        }
        out
    }

    /// The association by score (IoU and keypoints): the Hungarian method where faces compete.
    fn assign_by_score(
        tracks: &[Track],
        frame_ms: f64,
        faces: &[FaceAnalysis],
        dets: &[usize],
        ts: f64,
        cfg: &AudienceConfig,
    ) -> Vec<Option<usize>> {
        let mut out = vec![None; dets.len()];
        let n_t = tracks.len();
        if n_t == 0 || dets.is_empty() {
            return out;
        }
        let weight =
            |ti: usize, di: usize| association(&tracks[ti], &faces[dets[di]], ts, cfg, frame_ms);
        let n_d = dets.len();
        let weights: Vec<Option<f32>> = (0..n_t * n_d).map(|i| weight(i / n_d, i % n_d)).collect();
        // Without competition (each track and each face has at most one candidate) the
        // assignment is forced: skip the Hungarian method, the common case of people apart.
        let track_options = |ti: usize| {
            (0..n_d)
                .filter(|&di| weights[ti * n_d + di].is_some())
                .count()
        };
        let det_options = |di: usize| {
            (0..n_t)
                .filter(|&ti| weights[ti * n_d + di].is_some())
                .count()
        };
        if (0..n_t).all(|ti| track_options(ti) <= 1) && (0..n_d).all(|di| det_options(di) <= 1) {
            for (i, w) in weights.iter().enumerate() {
                if w.is_some() {
                    out[i % n_d] = Some(i / n_d);
                }
            }
            return out;
        }
        // kuhn_munkres needs rows ≤ columns: rows are the smaller side. Infeasible pairs weigh
        // 0 and feasible ones more, so the best total uses feasible pairs wherever it can.
        let tracks_are_rows = n_t <= n_d;
        let (rows, cols) = if tracks_are_rows {
            (n_t, n_d)
        } else {
            (n_d, n_t)
        };
        let pair = |r: usize, c: usize| if tracks_are_rows { (r, c) } else { (c, r) };
        let m = Matrix::from_fn(rows, cols, |(r, c)| {
            let (ti, di) = pair(r, c);
            weights[ti * n_d + di].map_or(0, |w| (w * 1e6) as i64)
        });
        let (_, assignment) = kuhn_munkres(&m);
        for (r, &c) in assignment.iter().enumerate() {
            let (ti, di) = pair(r, c);
            if weights[ti * n_d + di].is_some() {
                out[di] = Some(ti);
            }
        }
        out
    }

    /// Advances all tracks to `frame` and associates its faces. Ended tracks go to `ended`.
    pub fn update(
        &mut self,
        frame: &FrameAnalysis,
        cfg: &AudienceConfig,
        look: &LookModel,
        windows: &[PlayWindow],
        ended: &mut Vec<Ended>,
    ) {
        let ts = frame.timestamp_ms;
        self.advance_clock(ts);
        // People gone for longer than the max age have left: end them before association so a
        // returning person starts a new visit (and a new id).
        let max_age = cfg.tracker.max_age_ms;
        let mut i = 0;
        while i < self.tracks.len() {
            if self.tracks[i].confirmed && ts - self.tracks[i].last_seen_ms > max_age {
                let mut track = self.tracks.swap_remove(i);
                let end_ms = track.close(self.frame_ms, windows, cfg);
                ended.push(Ended { track, end_ms });
            } else {
                i += 1;
            }
        }
        for t in &mut self.tracks {
            t.filter.predict(((ts - t.last_predict_ms) / 1000.0) as f32);
            t.last_predict_ms = ts;
            t.looking_now = false;
        }
        let matched = self.associate(frame, cfg, look, windows);
        self.end_missed(matched, ts, cfg, windows, ended);
        self.largest_group = self.update_groups(cfg.group_distance_m);
    }

    /// Notes the frame's time, and keeps a smoothed frame interval.
    fn advance_clock(&mut self, ts: f64) {
        if let Some(last) = self.last_ts {
            let dt = ts - last;
            if dt > 0.0 && dt < 1000.0 {
                self.frame_ms = 0.9 * self.frame_ms + 0.1 * dt;
            }
        }
        self.last_ts = Some(ts);
    }

    /// Gives each face of `frame` its track (a new one where none matches) and updates it; per
    /// track, whether a face matched it.
    fn associate(
        &mut self,
        frame: &FrameAnalysis,
        cfg: &AudienceConfig,
        look: &LookModel,
        windows: &[PlayWindow],
    ) -> Vec<bool> {
        let ts = frame.timestamp_ms;
        let mut dets = std::mem::take(&mut self.scratch_dets);
        dets.clear();
        dets.extend(
            frame
                .faces
                .iter()
                .enumerate()
                .filter(|(_, f)| f.bbox[2] > 0.0 && f.bbox[3] > 0.0)
                .map(|(i, _)| i),
        );
        let assigned = Self::assign(&self.tracks, self.frame_ms, &frame.faces, &dets, ts, cfg);
        self.face_tracks.clear();
        self.face_tracks.resize(frame.faces.len(), None);
        let mut matched = vec![false; self.tracks.len()];
        for (di, &fi) in dets.iter().enumerate() {
            let face = &frame.faces[fi];
            let lr = look.evaluate(face, frame.width, frame.height);
            let ti = match assigned[di] {
                Some(ti) => ti,
                None => {
                    let id = self.new_id();
                    self.tracks.push(Track::new(id, face, ts, cfg));
                    matched.push(false);
                    self.tracks.len() - 1
                }
            };
            matched[ti] = true;
            let frame_ms = self.frame_ms;
            let t = &mut self.tracks[ti];
            let size = (frame.width, frame.height);
            t.observe(face, size, &lr, ts, cfg, frame_ms, windows);
            self.face_tracks[fi] = Some(t.id);
        }
        self.scratch_dets = dets;
        matched
    }

    /// Counts a miss for each track no face matched, and ends those gone: a confirmed track
    /// unseen for longer than the max age, a tentative one missed too often.
    fn end_missed(
        &mut self,
        mut matched: Vec<bool>,
        ts: f64,
        cfg: &AudienceConfig,
        windows: &[PlayWindow],
        ended: &mut Vec<Ended>,
    ) {
        let mut i = 0;
        while i < self.tracks.len() {
            if !matched[i] {
                let t = &mut self.tracks[i];
                t.misses += 1;
                let gone = if t.confirmed {
                    ts - t.last_seen_ms > cfg.tracker.max_age_ms
                } else {
                    t.misses > cfg.tracker.tentative_max_misses
                };
                if gone {
                    let mut track = self.tracks.swap_remove(i);
                    matched.swap_remove(i);
                    let end_ms = track.close(self.frame_ms, windows, cfg);
                    ended.push(Ended { track, end_ms });
                    continue;
                }
            }
            i += 1;
        }
    }

    /// Forgets every track without finalising (state restore).
    pub(crate) fn reset(&mut self) {
        self.tracks.clear();
        self.face_tracks.clear();
        self.last_ts = None;
        self.largest_group = 0;
    }

    /// Ends every track now (end of a clip).
    pub(crate) fn end_all(
        &mut self,
        windows: &[PlayWindow],
        cfg: &AudienceConfig,
        ended: &mut Vec<Ended>,
    ) {
        for mut track in self.tracks.drain(..) {
            let end_ms = track.close(self.frame_ms, windows, cfg);
            ended.push(Ended { track, end_ms });
        }
        self.face_tracks.clear();
        self.largest_group = 0;
    }

    /// Group size of each confirmed track: connected components of faces within `max_d` metres.
    fn update_groups(&mut self, max_d: f32) -> u32 {
        let idx: Vec<usize> = (0..self.tracks.len())
            .filter(|&i| self.tracks[i].confirmed)
            .collect();
        let n = idx.len();
        if n == 0 {
            return 0;
        }
        let mut comp: Vec<usize> = (0..n).collect();
        fn root(c: &mut [usize], mut i: usize) -> usize {
            while c[i] != i {
                c[i] = c[c[i]];
                i = c[i];
            }
            i
        }
        for a in 0..n {
            for b in a + 1..n {
                let (pa, pb) = (
                    self.tracks[idx[a]].position_m,
                    self.tracks[idx[b]].position_m,
                );
                let d2: f32 = (0..3).map(|k| (pa[k] - pb[k]).powi(2)).sum();
                if d2 <= max_d * max_d {
                    let (ra, rb) = (root(&mut comp, a), root(&mut comp, b));
                    comp[ra] = rb;
                }
            }
        }
        let mut sizes = vec![0u32; n];
        for i in 0..n {
            let r = root(&mut comp, i);
            sizes[r] += 1;
        }
        let mut largest = 0;
        for i in 0..n {
            let s = sizes[root(&mut comp, i)];
            let t = &mut self.tracks[idx[i]];
            t.max_group = t.max_group.max(s);
            largest = largest.max(s);
        }
        largest
    }

    /// For each face of a frame about to be analysed: should the attribute models run on it?
    /// Of the faces they can run on (`eligible`), those due (new faces, then tracks at their
    /// cadence), at most `maxFacesPerFrame`, the longest overdue first.
    pub fn plan_attributes(
        &self,
        ts: f64,
        faces: &[FaceAnalysis],
        eligible: &[bool],
        cfg: &AudienceConfig,
    ) -> Vec<bool> {
        let dets: Vec<usize> = (0..faces.len())
            .filter(|&i| faces[i].bbox[2] > 0.0 && faces[i].bbox[3] > 0.0)
            .collect();
        // Predict copies of the tracks to the frame's time; the real ones are left alone.
        let mut predicted = self.tracks.clone();
        for t in &mut predicted {
            t.filter.predict(((ts - t.last_predict_ms) / 1000.0) as f32);
        }
        let assigned = Self::assign(&predicted, self.frame_ms, faces, &dets, ts, cfg);
        // Faces below the detection threshold are never tracked: no attributes needed.
        let mut due: Vec<(f64, usize)> = dets
            .iter()
            .enumerate()
            .filter(|&(_, &fi)| eligible.get(fi).copied().unwrap_or(true))
            .filter_map(|(di, &fi)| {
                let overdue = match assigned[di] {
                    Some(ti) => self.tracks[ti].attrs.overdue_ms(&cfg.attributes, ts)?,
                    None => f64::INFINITY,
                };
                Some((overdue, fi))
            })
            .collect();
        due.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut plan = vec![false; faces.len()];
        for (_, fi) in due.iter().take(cfg.attributes.max_faces_per_frame as usize) {
            plan[*fi] = true;
        }
        plan
    }
}

impl Track {
    fn new(id: u64, face: &FaceAnalysis, ts: f64, cfg: &AudienceConfig) -> Self {
        Self {
            id,
            filter: BoxFilter::new(
                face.bbox,
                cfg.tracker.accel_noise,
                cfg.tracker.measurement_noise,
            ),
            last_bbox: face.bbox,
            keypoints: face.keypoints,
            hits: 0,
            misses: 0,
            confirmed: false,
            first_seen_ms: ts,
            last_seen_ms: ts,
            last_predict_ms: ts,
            attrs: AttributeSmoother::new(),
            looking_now: false,
            looked_at_last_obs: false,
            last_source: None,
            attention_ms: 0.0,
            attention_eyes_ms: 0.0,
            attention_head_ms: 0.0,
            run_ms: 0.0,
            longest_run_ms: 0.0,
            position_m: [0.0; 3],
            last_distance_m: None,
            distance_sum_m: 0.0,
            distance_n: 0,
            max_group: 1,
            frames_observed: 0,
            plays: Vec::new(),
            edge_samples: EdgeSamples::new(),
        }
    }

    /// Credits `[from, from + ms]` as looking (the previous observation's gaze held).
    fn credit(&mut self, from: f64, ms: f64, windows: &[PlayWindow]) {
        if ms <= 0.0 {
            return;
        }
        self.attention_ms += ms;
        match self.last_source {
            Some(GazeSource::Eyes) => self.attention_eyes_ms += ms,
            _ => self.attention_head_ms += ms,
        }
        self.run_ms += ms;
        self.longest_run_ms = self.longest_run_ms.max(self.run_ms);
        for w in windows {
            let ov = w.overlap(from, from + ms);
            if ov > 0.0 {
                let p = self.play_entry(w.serial);
                p.attention_ms += ov;
                p.run_ms += ov;
                p.longest_run_ms = p.longest_run_ms.max(p.run_ms);
            }
        }
    }

    fn end_run(&mut self) {
        self.run_ms = 0.0;
        for p in &mut self.plays {
            p.run_ms = 0.0;
        }
    }

    fn play_entry(&mut self, serial: u64) -> &mut PlayTrack {
        let i = match self.plays.iter().position(|p| p.serial == serial) {
            Some(i) => i,
            None => {
                self.plays.push(PlayTrack {
                    serial,
                    attention_ms: 0.0,
                    run_ms: 0.0,
                    longest_run_ms: 0.0,
                });
                self.plays.len() - 1
            }
        };
        &mut self.plays[i]
    }

    #[allow(clippy::too_many_arguments)]
    fn observe(
        &mut self,
        face: &FaceAnalysis,
        frame_size: (u32, u32),
        lr: &LookResult,
        ts: f64,
        cfg: &AudienceConfig,
        frame_ms: f64,
        windows: &[PlayWindow],
    ) {
        if self.frames_observed > 0 {
            self.filter.update(face.bbox);
            // Sample-and-hold: the previous observation's look lasts until this one, across a
            // missed-detection gap only if the face still looks and the gap is short.
            let prev = self.last_seen_ms;
            let gap = ts - prev;
            if self.looked_at_last_obs {
                let regular = gap <= 1.5 * frame_ms;
                if regular || (lr.looking && gap <= cfg.look_gap_bridge_ms) {
                    self.credit(prev, gap, windows);
                } else {
                    self.credit(prev, frame_ms.min(gap), windows);
                    self.end_run();
                }
                if !lr.looking {
                    self.end_run();
                }
            }
        }
        for w in windows {
            if w.contains(ts) {
                self.play_entry(w.serial);
            }
        }
        self.hits += 1;
        self.misses = 0;
        if self.hits >= cfg.tracker.min_hits {
            self.confirmed = true;
        }
        self.frames_observed += 1;
        self.edge_samples.push(ts, face.bbox, frame_size);
        self.last_seen_ms = ts;
        self.last_bbox = face.bbox;
        self.keypoints = face.keypoints;
        self.looking_now = lr.looking;
        self.looked_at_last_obs = lr.looking;
        self.last_source = lr.source;
        self.position_m = lr.position_m;
        let d = face.distance_m.unwrap_or_else(|| {
            let p = lr.position_m;
            (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt()
        });
        if d.is_finite() && d > 0.0 {
            self.last_distance_m = Some(d);
            self.distance_sum_m += d as f64;
            self.distance_n += 1;
        }
        self.attrs.add(face, &cfg.attributes, ts);
    }

    /// When the person came into view: the first detection, or earlier when the track began
    /// at the frame's edge (see [`super::edges`]).
    pub(crate) fn entered_ms(&self, cfg: &AudienceConfig) -> f64 {
        self.first_seen_ms
            - self
                .edge_samples
                .extension_ms(TrackEnd::Entry, &cfg.tracker)
    }

    /// Ends the visit: the last observation holds for one frame, or until the face had left
    /// through the frame's edge. Returns the visit's end time.
    fn close(&mut self, frame_ms: f64, windows: &[PlayWindow], cfg: &AudienceConfig) -> f64 {
        let exit = self.edge_samples.extension_ms(TrackEnd::Exit, &cfg.tracker);
        let end = self.last_seen_ms + frame_ms.max(exit);
        if self.looked_at_last_obs {
            self.credit(self.last_seen_ms, frame_ms, windows);
            self.looked_at_last_obs = false;
        }
        self.end_run();
        self.looking_now = false;
        end
    }
}
