//! k-anonymity over a report's cells: every count of people is a cell in an [`Arena`], cells
//! that add up to a published total form a group, and suppression hides small counts and
//! whatever would give them back (see the module above).

use super::{BandGenderReport, BucketCount, MetricsReport, PeopleCount};
use crate::audience::aggregate::{
    Aggregate, CellAgg, DISTANCE_BUCKET_LABELS, GROUP_BUCKET_LABELS, TIME_BUCKET_LABELS,
};

/// Cells that count people, and the additive groups they form, for suppression.
#[derive(Default)]
pub(super) struct Arena {
    value: Vec<u32>,
    suppressed: Vec<bool>,
    groups: Vec<(usize, Vec<usize>)>,
}

impl Arena {
    pub(super) fn cell(&mut self, v: u32) -> usize {
        self.value.push(v);
        self.suppressed.push(false);
        self.value.len() - 1
    }

    pub(super) fn group(&mut self, total: usize, parts: Vec<usize>) {
        if !parts.is_empty() {
            self.groups.push((total, parts));
        }
    }

    /// Primary suppression of counts in 1..k, then secondary suppression until no group has a
    /// lone hidden cell that its published total would reveal. Returns the number suppressed.
    pub(super) fn suppress(&mut self, k: u32) -> u32 {
        for (v, s) in self.value.iter().zip(self.suppressed.iter_mut()) {
            *s = *v > 0 && *v < k;
        }
        loop {
            let mut changed = false;
            for (total, parts) in &self.groups {
                let hidden = parts.iter().filter(|&&p| self.suppressed[p]).count();
                let lone = !self.suppressed[*total] && hidden == 1;
                // A hidden total is recomputable from fully published parts.
                let exposed_total =
                    self.suppressed[*total] && hidden == 0 && self.value[*total] > 0;
                if !(lone || exposed_total) {
                    continue;
                }
                let pick = parts
                    .iter()
                    .copied()
                    .filter(|&p| !self.suppressed[p])
                    .min_by_key(|&p| (self.value[p] == 0, self.value[p]));
                match pick {
                    Some(p) => self.suppressed[p] = true,
                    None => self.suppressed[*total] = true,
                }
                changed = true;
            }
            if !changed {
                break;
            }
        }
        self.suppressed.iter().filter(|&&s| s).count() as u32
    }

    pub(super) fn get(&self, id: usize) -> PeopleCount {
        let s = self.suppressed[id];
        PeopleCount {
            value: (!s).then_some(self.value[id]),
            suppressed: s,
        }
    }
    pub(super) fn hidden(&self, id: usize) -> bool {
        self.suppressed[id]
    }
}

/// Cell ids of a metrics block before suppression.
pub(super) struct RawMetrics {
    agg: Aggregate,
    impressions: usize,
    watchers: usize,
    dwell: Vec<usize>,
    attention: Vec<usize>,
    distance: Vec<usize>,
    group: Vec<usize>,
    cells: Vec<(CellAgg, usize, usize)>,
}

pub(super) fn raw_metrics(a: &mut Arena, agg: &Aggregate) -> RawMetrics {
    let impressions = a.cell(agg.visits);
    let watchers = a.cell(agg.watchers);
    let dwell: Vec<usize> = agg.dwell_hist.iter().map(|&v| a.cell(v)).collect();
    let attention: Vec<usize> = agg.attention_hist.iter().map(|&v| a.cell(v)).collect();
    let distance: Vec<usize> = agg.distance_hist.iter().map(|&v| a.cell(v)).collect();
    let group: Vec<usize> = agg.group_hist.iter().map(|&v| a.cell(v)).collect();
    let cells: Vec<(CellAgg, usize, usize)> = agg
        .cells
        .iter()
        .map(|c| (c.clone(), a.cell(c.present), a.cell(c.watchers)))
        .collect();
    a.group(impressions, dwell.clone());
    a.group(watchers, attention.clone());
    a.group(impressions, distance.clone());
    a.group(impressions, group.clone());
    a.group(impressions, cells.iter().map(|c| c.1).collect());
    a.group(watchers, cells.iter().map(|c| c.2).collect());
    RawMetrics {
        agg: agg.clone(),
        impressions,
        watchers,
        dwell,
        attention,
        distance,
        group,
        cells,
    }
}

/// Groups tying the totals to the series: each total cell is the sum of its buckets' cells.
pub(super) fn link_series(a: &mut Arena, total: &RawMetrics, series: &[&RawMetrics]) {
    let pick = |f: &dyn Fn(&RawMetrics) -> usize| series.iter().map(|m| f(m)).collect::<Vec<_>>();
    a.group(total.impressions, pick(&|m| m.impressions));
    a.group(total.watchers, pick(&|m| m.watchers));
    for i in 0..5 {
        a.group(total.dwell[i], pick(&|m| m.dwell[i]));
        a.group(total.attention[i], pick(&|m| m.attention[i]));
        a.group(total.distance[i], pick(&|m| m.distance[i]));
    }
    for i in 0..4 {
        a.group(total.group[i], pick(&|m| m.group[i]));
    }
    for (c, present, watchers) in &total.cells {
        let same = |m: &RawMetrics, w: bool| {
            m.cells
                .iter()
                .find(|x| x.0.band == c.band && x.0.gender == c.gender)
                .map(|x| if w { x.2 } else { x.1 })
        };
        a.group(
            *present,
            series.iter().filter_map(|m| same(m, false)).collect(),
        );
        a.group(
            *watchers,
            series.iter().filter_map(|m| same(m, true)).collect(),
        );
    }
}

pub(super) fn ratio(num: f64, den: f64) -> Option<f64> {
    (den > 0.0).then(|| num / den)
}

fn buckets(a: &Arena, ids: &[usize], labels: &[&str]) -> Vec<BucketCount> {
    ids.iter()
        .zip(labels)
        .map(|(&id, l)| BucketCount {
            label: l.to_string(),
            count: a.get(id),
        })
        .collect()
}

pub(super) fn band_gender(
    a: &Arena,
    cells: &[(CellAgg, usize, usize)],
    labels: &[String],
    with_dwell: bool,
) -> Vec<BandGenderReport> {
    cells
        .iter()
        .map(|(c, p, w)| {
            let open = !a.hidden(*p) && !a.hidden(*w);
            BandGenderReport {
                age_band: c.band.and_then(|b| labels.get(b as usize).cloned()),
                gender: c.gender,
                present: a.get(*p),
                watchers: a.get(*w),
                attention_s: open.then_some(c.attention_ms / 1000.0),
                dwell_s: (open && with_dwell).then_some(c.dwell_ms / 1000.0),
            }
        })
        .collect()
}

pub(super) fn finish_metrics(a: &Arena, m: &RawMetrics, labels: &[String]) -> MetricsReport {
    let g = &m.agg;
    let open = !a.hidden(m.impressions);
    let open_w = open && !a.hidden(m.watchers);
    let when = |ok: bool, v: Option<f64>| if ok { v } else { None };
    MetricsReport {
        impressions: a.get(m.impressions),
        watchers: a.get(m.watchers),
        conversion_ratio: when(open_w, ratio(g.watchers as f64, g.visits as f64)),
        dwell_total_s: when(open, Some(g.dwell_ms / 1000.0)),
        dwell_mean_s: when(open, ratio(g.dwell_ms / 1000.0, g.visits as f64)),
        attention_total_s: when(open, Some(g.attention_ms / 1000.0)),
        attention_mean_per_watcher_s: when(
            open_w,
            ratio(g.attention_ms / 1000.0, g.watchers as f64),
        ),
        attraction_ratio: when(open, ratio(g.attention_ms, g.dwell_ms)),
        attention_from_eyes_s: when(open, Some(g.attention_eyes_ms / 1000.0)),
        attention_from_head_pose_s: when(open, Some(g.attention_head_ms / 1000.0)),
        mean_distance_m: when(open, ratio(g.distance_sum_m, g.distance_n as f64)),
        mean_group_size: when(open, ratio(g.group_sum as f64, g.visits as f64)),
        dwell_buckets: buckets(a, &m.dwell, &TIME_BUCKET_LABELS),
        attention_buckets: buckets(a, &m.attention, &TIME_BUCKET_LABELS),
        distance_buckets: buckets(a, &m.distance, &DISTANCE_BUCKET_LABELS),
        group_size_buckets: buckets(a, &m.group, &GROUP_BUCKET_LABELS),
        by_band_gender: band_gender(a, &m.cells, labels, true),
    }
}

pub(super) struct RawPlay {
    pub(super) impressions: usize,
    pub(super) watchers: usize,
    pub(super) attention_ms: f64,
    pub(super) raw: (u32, u32),
    pub(super) cells: Vec<(CellAgg, usize, usize)>,
}

pub(super) fn raw_play(
    a: &mut Arena,
    impressions: u32,
    watchers: u32,
    attention_ms: f64,
    cells: &[CellAgg],
) -> RawPlay {
    let i = a.cell(impressions);
    let w = a.cell(watchers);
    let cells: Vec<_> = cells
        .iter()
        .map(|c| (c.clone(), a.cell(c.present), a.cell(c.watchers)))
        .collect();
    a.group(i, cells.iter().map(|c| c.1).collect());
    a.group(w, cells.iter().map(|c| c.2).collect());
    RawPlay {
        impressions: i,
        watchers: w,
        attention_ms,
        raw: (impressions, watchers),
        cells,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_small_cell_gets_a_second_cell_suppressed() {
        let mut a = Arena::default();
        let total = a.cell(13);
        let parts = vec![a.cell(10), a.cell(3), a.cell(0)];
        a.group(total, parts.clone());
        assert_eq!(a.suppress(5), 2);
        assert!(a.hidden(parts[0]) && a.hidden(parts[1]));
        assert!(!a.hidden(parts[2]) && !a.hidden(total));
    }

    #[test]
    fn a_hidden_total_is_not_left_recomputable_from_its_parts() {
        let mut a = Arena::default();
        // Series: a bucket of 2 forces its sibling bucket (10) to be hidden; that bucket's own
        // parts (5 + 5) must then not all be shown, or they would give back 10 and then 2.
        let grand = a.cell(12);
        let b1 = a.cell(2);
        let b2 = a.cell(10);
        a.group(grand, vec![b1, b2]);
        let d1 = a.cell(5);
        let d2 = a.cell(5);
        a.group(b2, vec![d1, d2]);
        a.suppress(5);
        assert!(a.hidden(b1) && a.hidden(b2) && !a.hidden(grand));
        assert!(a.hidden(d1) || a.hidden(d2));
    }
}
