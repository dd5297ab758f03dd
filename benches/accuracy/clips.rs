//! Clips in the kiosk's video mode: the slideshow and group photos, and the walk-bys.

use super::*;

/// `clip` as .y4m under target/eval (converted with ffmpeg once); `None` when the clip or
/// ffmpeg is missing.
fn y4m_of(clip: &Path) -> Option<PathBuf> {
    let name = clip.file_stem()?.to_string_lossy().to_string();
    let y4m = PathBuf::from(format!("target/eval/{name}.y4m"));
    if y4m.exists() {
        return Some(y4m);
    }
    let _ = std::fs::create_dir_all("target/eval");
    let converted = clip.exists()
        && std::process::Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y", "-i"])
            .arg(clip)
            .args(["-pix_fmt", "yuv420p"])
            .arg(&y4m)
            .status()
            .is_ok_and(|s| s.success());
    if !converted {
        eprintln!(
            "accuracy: ffmpeg could not convert {}; left out",
            clip.display()
        );
    }
    converted.then_some(y4m)
}

/// Each frame's time (ms), the faces found on it and the people present after it.
type PresentByFrame = Vec<(f64, usize, u32)>;

/// The audience engine over a clip in the kiosk's video mode: the completed visits, and the
/// people present frame by frame.
fn audience_of_clip(
    clip: &Path,
    options: &PipelineOptions,
) -> Option<(Vec<CompletedVisit>, PresentByFrame)> {
    let y4m = y4m_of(clip)?;
    let pipeline = cpu_pipeline(PipelineOptions {
        detection_interval_ms: 250.0,
        ..options.clone()
    })
    .expect("pipeline");
    let mut aggregator = AudienceAggregator::new(AudienceConfig::default()).expect("aggregator");
    let mut reader = Y4mReader::open(&y4m).expect("y4m");
    let (mut visits, mut present) = (Vec::new(), Vec::new());
    while let Some((ts, image)) = reader.next_timed_frame(0.0).expect("frame") {
        let frame = image.frame().expect("frame");
        let analysis =
            pollster::block_on(pipeline.analyze_scheduled(&frame, ts, |faces, eligible| {
                aggregator.plan_attributes(ts, faces, eligible)
            }))
            .expect("analysis");
        let now = aggregator.observe(&analysis).present;
        present.push((ts, analysis.faces.len(), now));
        visits.extend(aggregator.completed_visits());
    }
    aggregator.finish(reader.end_ms(0.0));
    visits.extend(aggregator.completed_visits());
    Some((visits, present))
}

/// A clip of still pictures shown in turn (the slideshow of single faces, the group photos),
/// against its ground truth: per picture, the faces found on the frames of its second half
/// (the median) against the faces in it; and the visits. (The people present are not compared
/// picture by picture: a person who vanished is kept for `maxAgeMs` in case they come back.)
pub(crate) struct Slides {
    clip: String,
    /// Per picture: (faces in it, median faces found in its second half).
    pictures: Vec<(u32, u32)>,
    visits: usize,
    /// Visits that run on across a change of picture: two people taken for one.
    across_cuts: usize,
}

pub(crate) fn slides(clip: &Path, options: &PipelineOptions) -> Option<Slides> {
    let name = clip.file_stem()?.to_string_lossy().to_string();
    let truth = std::fs::read_dir(clip.parent()?)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name().is_some_and(|f| {
                f.to_string_lossy()
                    .starts_with(&format!("{name}.groundtruth"))
            })
        })?;
    let (visits, present) = audience_of_clip(clip, options)?;
    let mut spans: Vec<(f64, f64, u32)> = read_csv(&truth)
        .iter()
        .map(|r| {
            let n = |k: &str| r[k].parse::<f64>().unwrap();
            (
                n("start_s") * 1000.0,
                n("end_s") * 1000.0,
                n("faces_in_frame") as u32,
            )
        })
        .collect();
    spans.dedup_by(|a, b| a.0 == b.0);
    let pictures = spans
        .iter()
        .map(|&(start, end, faces)| {
            let half = (start + end) / 2.0;
            let mut found: Vec<usize> = present
                .iter()
                .filter(|(t, _, _)| *t >= half && *t < end)
                .map(|(_, n, _)| *n)
                .collect();
            found.sort_unstable();
            (
                faces,
                found.get(found.len() / 2).copied().unwrap_or(0) as u32,
            )
        })
        .collect();
    // A visit runs across a change of picture when it holds a frame well before and one well
    // after (the change falls within a frame of the given time).
    let margin = 200.0;
    let across_cuts = visits
        .iter()
        .filter(|v| {
            spans[1..]
                .iter()
                .any(|&(cut, _, _)| v.start_ms < cut - margin && v.end_ms > cut + margin)
        })
        .count();
    Some(Slides {
        clip: name,
        pictures,
        visits: visits.len(),
        across_cuts,
    })
}

impl Slides {
    pub(crate) fn print(&self) {
        let faces: u32 = self.pictures.iter().map(|p| p.0).sum();
        let exact = self.pictures.iter().filter(|p| p.0 == p.1).count();
        let counted: u32 = self.pictures.iter().map(|p| p.1.min(p.0)).sum();
        let extra: u32 = self.pictures.iter().map(|p| p.1.saturating_sub(p.0)).sum();
        println!(
            "{} (video mode): {} pictures, {faces} faces; found in each picture's second half: {counted} of them, {extra} extra, {exact} pictures exact; {} visits, {} of them across a change of picture",
            self.clip,
            self.pictures.len(),
            self.visits,
            self.across_cuts
        );
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "clip": self.clip, "visits": self.visits, "visitsAcrossCuts": self.across_cuts,
            "pictures": self.pictures.iter().map(|p| serde_json::json!({"faces": p.0, "found": p.1})).collect::<Vec<_>>(),
        })
    }
}

/// The walk-by clip's people matched to the visits the audience engine reported, in the kiosk's
/// video mode.
pub(crate) struct WalkBy {
    clip: String,
    people: usize,
    visits: usize,
    /// Per person: (true gender, true age group, the matched visit's gender), `None` when no
    /// visit overlapped the person's time in view.
    matches: Vec<(String, String, Option<Option<Gender>>)>,
}

/// Runs the audience engine on a walk-by clip (`NAME.mp4` beside `NAME.groundtruth.csv`,
/// converted to .y4m with ffmpeg under target/) in video mode and matches its visits to the
/// ground truth by overlap in time. `None` when the clip or ffmpeg is missing.
pub(crate) fn walk_by(clip: &Path, options: &PipelineOptions) -> Option<WalkBy> {
    let name = clip.file_stem()?.to_string_lossy().to_string();
    let truth = clip.with_file_name(format!("{name}.groundtruth.csv"));
    if !truth.exists() {
        return None;
    }
    let (visits, _) = audience_of_clip(clip, options)?;
    let people = read_csv(&truth);
    let mut used = vec![false; visits.len()];
    let matches = people
        .iter()
        .map(|p| {
            let enter = p["enter_s"].parse::<f64>().unwrap() * 1000.0;
            let exit = p["exit_s"].parse::<f64>().unwrap() * 1000.0;
            let best = visits
                .iter()
                .enumerate()
                .filter(|(i, _)| !used[*i])
                .map(|(i, v)| (i, exit.min(v.end_ms) - enter.max(v.start_ms)))
                .filter(|(_, overlap)| *overlap > 0.0)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            let visit = best.map(|(i, _)| {
                used[i] = true;
                visits[i].gender
            });
            (p["gender"].clone(), p["age_group"].clone(), visit)
        })
        .collect();
    Some(WalkBy {
        clip: name,
        people: people.len(),
        visits: visits.len(),
        matches,
    })
}

impl WalkBy {
    /// (matched, right, wrong, unknown, unknown among children).
    fn counts(&self) -> (usize, usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0, 0);
        for (gender, group, visit) in &self.matches {
            let Some(judged) = visit else { continue };
            c.0 += 1;
            match judged {
                Some(g) => {
                    let right = (*g == Gender::Female) == (gender == "female");
                    c.1 += right as usize;
                    c.2 += !right as usize;
                }
                None => {
                    c.3 += 1;
                    c.4 += ["0-2", "3-9", "10-19"].contains(&group.as_str()) as usize;
                }
            }
        }
        c
    }

    pub(crate) fn print(&self) {
        let (matched, right, wrong, unknown, children) = self.counts();
        println!(
            "{} (video mode): {} people, {} visits ({matched} matched, {} extra)",
            self.clip,
            self.people,
            self.visits,
            self.visits - matched
        );
        println!(
            "  visit gender        {right} right, {wrong} wrong, {unknown} unknown ({children} of them under 20)"
        );
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        let (matched, right, wrong, unknown, children) = self.counts();
        serde_json::json!({
            "clip": self.clip, "people": self.people, "visits": self.visits, "matched": matched,
            "genderRight": right, "genderWrong": wrong, "genderUnknown": unknown,
            "genderUnknownUnder20": children,
        })
    }
}
