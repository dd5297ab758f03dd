//! Configuration of the audience aggregator. Every field has a default, so `{}` is a valid
//! configuration file and a partial file overrides only what it names (JSON, camelCase).

use serde::{Deserialize, Serialize};

use super::error::AudienceError;

/// Everything the aggregator can be tuned with. Read it from JSON with [`AudienceConfig::from_json`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AudienceConfig {
    pub tracker: TrackerConfig,
    pub attributes: AttributeConfig,
    pub screen: ScreenGeometry,
    /// Minimum uninterrupted look, in ms, that makes a glance count (default 500).
    #[schemars(range(min = 0.0, max = 60000.0))]
    pub min_glance_ms: f64,
    /// A look interrupted by missed detections for at most this long (ms) continues the same
    /// glance when the face looks again afterwards (default 500).
    #[schemars(range(min = 0.0, max = 10000.0))]
    pub look_gap_bridge_ms: f64,
    /// Lower bounds, in years, of the age bands; the first must be 0 and they must increase.
    /// Default `[0, 13, 18, 25, 35, 45, 55, 65]`, labelled "0-12", "13-17", …, "65+". At most
    /// 64 bands, none starting past 120.
    #[schemars(inner(range(min = 0, max = 120)))]
    pub age_bands: Vec<u32>,
    /// Two people are in the same group when their faces are at most this far apart, metres
    /// (default 1.5).
    #[schemars(range(min = 0.01, max = 20.0))]
    pub group_distance_m: f32,
    /// Offset of local time from UTC in minutes, for day buckets (default 0: UTC days).
    #[schemars(range(min = -720, max = 840))]
    pub utc_offset_minutes: i32,
    pub retention: RetentionConfig,
}

impl Default for AudienceConfig {
    fn default() -> Self {
        Self {
            tracker: TrackerConfig::default(),
            attributes: AttributeConfig::default(),
            screen: ScreenGeometry::default(),
            min_glance_ms: 500.0,
            look_gap_bridge_ms: 500.0,
            age_bands: vec![0, 13, 18, 25, 35, 45, 55, 65],
            group_distance_m: 1.5,
            utc_offset_minutes: 0,
            retention: RetentionConfig::default(),
        }
    }
}

/// Multi-face tracker (SORT-like) settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TrackerConfig {
    /// Matched frames a new track needs before it is confirmed and counted (default 3).
    #[schemars(range(min = 1, max = 100))]
    pub min_hits: u32,
    /// Consecutive misses a tentative track survives (default 1); confirmed tracks use `maxAgeMs`.
    #[schemars(range(min = 0, max = 100))]
    pub tentative_max_misses: u32,
    /// How long a confirmed track that is no longer detected is kept to bridge occlusions, ms
    /// (default 1000). When it runs out the person has left and the visit is finalised.
    #[schemars(range(min = 0.0, max = 60000.0))]
    pub max_age_ms: f64,
    /// Minimum association score (IoU and keypoint agreement, scaled by size agreement) for a
    /// detection to continue a track (default 0.15).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_match_score: f32,
    /// Maximum distance between predicted and detected box centres, in box widths, for an
    /// association (default 0.75); it widens by `gateGrowthPerS` per second since the last hit.
    #[schemars(range(min = 0.01, max = 10.0))]
    pub max_center_distance: f32,
    /// Widening of the centre gate per second without a detection, box widths (default 1.0).
    #[schemars(range(min = 0.0, max = 100.0))]
    pub gate_growth_per_s: f32,
    /// Kalman process noise: standard deviation of acceleration in box widths per s² (default 4).
    #[schemars(range(min = 0.001, max = 1000.0))]
    pub accel_noise: f32,
    /// Kalman measurement noise: standard deviation of a box edge in box widths (default 0.05).
    #[schemars(range(min = 0.001, max = 10.0))]
    pub measurement_noise: f32,
    /// A track that begins (ends) with its box within this many box widths of the frame's edge,
    /// moving across that edge, came into (went out of) view through it: its visit is extended
    /// to when the face crossed the edge, which the detector cannot see (default 0.75).
    #[schemars(range(min = 0.0, max = 10.0))]
    pub edge_margin: f32,
    /// Slowest movement across an edge, box widths per second, that counts as crossing it
    /// (default 0.5).
    #[schemars(range(min = 0.001, max = 1000.0))]
    pub min_edge_speed: f32,
    /// Largest such extension at either end of a visit, ms; 0 turns it off (default 1000).
    #[schemars(range(min = 0.0, max = 10000.0))]
    pub max_edge_extension_ms: f64,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            min_hits: 3,
            tentative_max_misses: 1,
            max_age_ms: 1000.0,
            min_match_score: 0.15,
            max_center_distance: 0.75,
            gate_growth_per_s: 1.0,
            accel_noise: 4.0,
            measurement_noise: 0.05,
            edge_margin: 0.75,
            min_edge_speed: 0.5,
            max_edge_extension_ms: 1000.0,
        }
    }
}

/// Per-visit estimates of apparent age and gender, and the attribute-model cadence.
///
/// Each frame's estimate counts by its quality (face size, detector score, frontalness,
/// sharpness). Gender is pooled in log-odds, age as a Gaussian distribution over years; a visit's
/// confidence grows with good frames but frames of one face are far from independent evidence,
/// so the growth is bounded by `frameCorrelation`. A visit whose confidence stays below the
/// threshold is `unknown` (`null` in results and reports, "unknown" in CSV and on the dashboard).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AttributeConfig {
    /// Spread of one good frame's age estimate around the true age, years, at age 0: the
    /// spread at age `a` is `ageSigmaYears + ageSigmaPerYear · a` (defaults 3.25 and 0.1,
    /// fitted on the dev sets so that `ageBandConfidence` is a calibrated probability:
    /// calibration error ≤ 0.045 on FairFace's and UTKFace's).
    #[schemars(range(min = 0.1, max = 50.0))]
    pub age_sigma_years: f32,
    /// Growth of the age spread per year of estimated age (default 0.1).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub age_sigma_per_year: f32,
    /// Correlation of the errors of a face's frames, in [0, 1): with 0 every good frame is new
    /// evidence; with the default 0.8 a visit's log-odds grow at most 1.25-fold over one frame's.
    #[schemars(range(min = 0.0, max = 0.999))]
    pub frame_correlation: f32,
    /// A visit's gender is reported only when its probability reaches this; below it the
    /// gender is unknown (default 0.82: the lowest at which one frame's confident adult gender
    /// is 95 % right on both dev sets: 95.4 % on FairFace's, 98.9 % on UTKFace's).
    #[schemars(range(min = 0.5, max = 1.0))]
    pub min_gender_confidence: f32,
    /// A visit's age band is reported only when its probability reaches this (default 0.3).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_age_band_confidence: f32,
    /// Report the apparent gender of children (estimated age under 18) too (default false: the
    /// network is far less accurate on them, and a child's gender is no marketer's business).
    pub gender_for_children: bool,
    /// Face width in pixels at which a face gets full weight; smaller faces weigh less (default 80).
    #[schemars(range(min = 1.0, max = 4096.0))]
    pub full_weight_face_px: f32,
    /// Total sample weight (≈ good frontal frames) before a band or gender is judged (default 1).
    #[schemars(range(min = 0.0, max = 1000.0))]
    pub min_weight_to_report: f32,
    /// Total sample weight after which the attribute models run only every `intervalMs` (default 10).
    #[schemars(range(min = 0.0, max = 1000.0))]
    pub stable_weight: f32,
    /// Cadence of attribute models on a stable track, ms (default 1000).
    #[schemars(range(min = 0.0, max = 3600000.0))]
    pub interval_ms: f64,
    /// Cadence of attribute models on a track whose estimates are not yet stable, ms (default
    /// 200: five looks a second; a face's consecutive frames add little, their errors correlate).
    #[schemars(range(min = 0.0, max = 3600000.0))]
    pub unsettled_interval_ms: f64,
    /// The most faces the attribute models run on in one frame, the longest overdue first
    /// (default 2), so that a group arriving together does not stall a frame.
    #[schemars(range(min = 1, max = 1000))]
    pub max_faces_per_frame: u32,
}

impl Default for AttributeConfig {
    fn default() -> Self {
        Self {
            age_sigma_years: 3.25,
            age_sigma_per_year: 0.1,
            frame_correlation: 0.8,
            min_gender_confidence: 0.82,
            min_age_band_confidence: 0.3,
            gender_for_children: false,
            full_weight_face_px: 80.0,
            min_weight_to_report: 1.0,
            stable_weight: 10.0,
            interval_ms: 1000.0,
            unsettled_interval_ms: 200.0,
            max_faces_per_frame: 2,
        }
    }
}

/// Where the camera sits relative to the screen, and when a gaze counts as on the screen.
///
/// Screen coordinates: origin at the centre of the screen, x along the screen in the direction
/// of the camera image's right, y down, z out of the screen towards the audience. With zero tilt
/// and pan the camera's axes are parallel to these (the camera looks at the audience).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ScreenGeometry {
    /// Visible width of the screen, metres (default 1.21: a 55" 16:9 panel).
    #[schemars(range(min = 0.01, max = 100.0))]
    pub width_m: f32,
    /// Visible height of the screen, metres (default 0.68).
    #[schemars(range(min = 0.01, max = 100.0))]
    pub height_m: f32,
    /// Camera position in screen coordinates, metres (default [0, -0.38, 0]: centred just above
    /// the top edge).
    #[schemars(inner(range(min = -100.0, max = 100.0)))]
    pub camera_offset_m: [f32; 3],
    /// Camera tilt in degrees, positive when it points down towards the floor (default 0).
    #[schemars(range(min = -90.0, max = 90.0))]
    pub camera_tilt_deg: f32,
    /// Camera pan in degrees, positive when it points towards the screen's +x (default 0).
    #[schemars(range(min = -180.0, max = 180.0))]
    pub camera_pan_deg: f32,
    /// Horizontal field of view of the camera, degrees, used to place faces that lack
    /// `positionM` (default 60).
    #[schemars(range(min = 1.0, max = 179.0))]
    pub horizontal_fov_deg: f32,
    /// Assumed face width, metres, to estimate distance from the box (default 0.15).
    #[schemars(range(min = 0.05, max = 0.5))]
    pub default_face_width_m: f32,
    /// Margin added around the screen rectangle, metres (default 0.1).
    #[schemars(range(min = 0.0, max = 10.0))]
    pub margin_m: f32,
    /// Angular tolerance when gaze comes from the eyes, degrees (default 5).
    #[schemars(range(min = 0.0, max = 90.0))]
    pub tolerance_deg: f32,
    /// Angular tolerance when only head pose is known, degrees (default 10): head pose misses
    /// the eyes' own rotation, so it needs more slack.
    #[schemars(range(min = 0.0, max = 90.0))]
    pub head_pose_tolerance_deg: f32,
}

impl Default for ScreenGeometry {
    fn default() -> Self {
        Self {
            width_m: 1.21,
            height_m: 0.68,
            camera_offset_m: [0.0, -0.38, 0.0],
            camera_tilt_deg: 0.0,
            camera_pan_deg: 0.0,
            horizontal_fov_deg: 60.0,
            default_face_width_m: 0.15,
            margin_m: 0.1,
            tolerance_deg: 5.0,
            head_pose_tolerance_deg: 10.0,
        }
    }
}

/// How much time-bucketed history is kept. Days are always kept (a few hundred bytes each).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Minute buckets kept, hours (default 24).
    #[schemars(range(min = 1, max = 8784))]
    pub minute_hours: u32,
    /// Hour buckets kept, days (default 30).
    #[schemars(range(min = 1, max = 3660))]
    pub hour_days: u32,
    /// Individual ad plays kept (default 2000); per-ad daily totals are kept for ever.
    #[schemars(range(min = 1, max = 1000000))]
    pub max_plays: usize,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            minute_hours: 24,
            hour_days: 30,
            max_plays: 2000,
        }
    }
}

impl AudienceConfig {
    /// Parses a JSON configuration (missing fields take their defaults) and validates it.
    pub fn from_json(json: &str) -> Result<Self, AudienceError> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| AudienceError::Config(e.to_string()))?;
        let config: Self = serde_json::from_value(value.clone())
            .map_err(|e| AudienceError::Config(e.to_string()))?;
        if let Some(path) = crate::json_shape::struct_given_as_non_object(&value, &config) {
            let what = if path.is_empty() {
                "the configuration"
            } else {
                &path
            };
            return Err(AudienceError::Config(format!(
                "{what} must be a JSON object"
            )));
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks the values that would otherwise make results meaningless.
    pub fn validate(&self) -> Result<(), AudienceError> {
        self.check_age_bands()?;
        // Every number's valid range: what a screen, a camera and a person can be (wide
        // enough for any real set-up; outside it results would be meaningless).
        let ranges = self
            .ranges()
            .into_iter()
            .chain(self.tracker.ranges())
            .chain(self.attributes.ranges())
            .chain(self.screen.ranges());
        for (v, name, lo, hi) in ranges {
            check_range(v, name, lo, hi)?;
        }
        self.retention.validate()
    }

    fn check_age_bands(&self) -> Result<(), AudienceError> {
        let bad = |m: &str| Err(AudienceError::Config(m.to_string()));
        if self.age_bands.first() != Some(&0) {
            return bad("ageBands must start at 0");
        }
        if self.age_bands.windows(2).any(|w| w[0] >= w[1]) {
            return bad("ageBands must be strictly increasing");
        }
        if self.age_bands.len() > 64 {
            return bad("ageBands may have at most 64 bands");
        }
        if self.age_bands.iter().any(|&start| start > 120) {
            return bad("ageBands: a band may start at most at 120 years");
        }
        Ok(())
    }

    fn ranges(&self) -> [NumberRange; 4] {
        [
            (self.min_glance_ms, "minGlanceMs", 0.0, 60_000.0),
            (self.look_gap_bridge_ms, "lookGapBridgeMs", 0.0, 10_000.0),
            (self.group_distance_m.into(), "groupDistanceM", 0.01, 20.0),
            // UTC-12:00 to UTC+14:00 are the offsets in use.
            (
                self.utc_offset_minutes.into(),
                "utcOffsetMinutes",
                -720.0,
                840.0,
            ),
        ]
    }

    /// Labels of the configured age bands: "0-12", …, "65+".
    pub(crate) fn age_band_labels(&self) -> Vec<String> {
        band_labels(&self.age_bands)
    }
}

/// A number's valid range: its value, its path in the configuration, and the bounds.
type NumberRange = (f64, &'static str, f64, f64);

fn check_range(v: f64, name: &str, lo: f64, hi: f64) -> Result<(), AudienceError> {
    // Most fields are f32: a bound written as 0.01 arrives as 0.00999999977, so the
    // bounds are compared at f32 precision too (exact for the f64 fields' bounds).
    let (lo32, hi32) = (lo as f32 as f64, hi as f32 as f64);
    // NaN fails both comparisons.
    if v >= lo32 && v <= hi32 {
        Ok(())
    } else {
        Err(AudienceError::Config(format!(
            "{name} must be between {lo} and {hi}, got {}",
            v as f32
        )))
    }
}

impl TrackerConfig {
    fn ranges(&self) -> [NumberRange; 11] {
        [
            (self.min_hits.into(), "tracker.minHits", 1.0, 100.0),
            (
                self.tentative_max_misses.into(),
                "tracker.tentativeMaxMisses",
                0.0,
                100.0,
            ),
            (self.max_age_ms, "tracker.maxAgeMs", 0.0, 60_000.0),
            (
                self.min_match_score.into(),
                "tracker.minMatchScore",
                0.0,
                1.0,
            ),
            (
                self.max_center_distance.into(),
                "tracker.maxCenterDistance",
                0.01,
                10.0,
            ),
            (
                self.gate_growth_per_s.into(),
                "tracker.gateGrowthPerS",
                0.0,
                100.0,
            ),
            (self.accel_noise.into(), "tracker.accelNoise", 0.001, 1000.0),
            (
                self.measurement_noise.into(),
                "tracker.measurementNoise",
                0.001,
                10.0,
            ),
            (self.edge_margin.into(), "tracker.edgeMargin", 0.0, 10.0),
            (
                self.min_edge_speed.into(),
                "tracker.minEdgeSpeed",
                0.001,
                1000.0,
            ),
            (
                self.max_edge_extension_ms,
                "tracker.maxEdgeExtensionMs",
                0.0,
                10_000.0,
            ),
        ]
    }
}

impl AttributeConfig {
    fn ranges(&self) -> [NumberRange; 11] {
        [
            (
                self.age_sigma_years.into(),
                "attributes.ageSigmaYears",
                0.1,
                50.0,
            ),
            (
                self.age_sigma_per_year.into(),
                "attributes.ageSigmaPerYear",
                0.0,
                1.0,
            ),
            (
                self.frame_correlation.into(),
                "attributes.frameCorrelation",
                0.0,
                0.999,
            ),
            (
                self.min_gender_confidence.into(),
                "attributes.minGenderConfidence",
                0.5,
                1.0,
            ),
            (
                self.min_age_band_confidence.into(),
                "attributes.minAgeBandConfidence",
                0.0,
                1.0,
            ),
            (
                self.full_weight_face_px.into(),
                "attributes.fullWeightFacePx",
                1.0,
                4096.0,
            ),
            (
                self.min_weight_to_report.into(),
                "attributes.minWeightToReport",
                0.0,
                1000.0,
            ),
            (
                self.stable_weight.into(),
                "attributes.stableWeight",
                0.0,
                1000.0,
            ),
            (self.interval_ms, "attributes.intervalMs", 0.0, 3_600_000.0),
            (
                self.unsettled_interval_ms,
                "attributes.unsettledIntervalMs",
                0.0,
                3_600_000.0,
            ),
            (
                self.max_faces_per_frame.into(),
                "attributes.maxFacesPerFrame",
                1.0,
                1000.0,
            ),
        ]
    }
}

impl ScreenGeometry {
    fn ranges(&self) -> [NumberRange; 12] {
        [
            (self.width_m.into(), "screen.widthM", 0.01, 100.0),
            (self.height_m.into(), "screen.heightM", 0.01, 100.0),
            (
                self.camera_offset_m[0].into(),
                "screen.cameraOffsetM[0]",
                -100.0,
                100.0,
            ),
            (
                self.camera_offset_m[1].into(),
                "screen.cameraOffsetM[1]",
                -100.0,
                100.0,
            ),
            (
                self.camera_offset_m[2].into(),
                "screen.cameraOffsetM[2]",
                -100.0,
                100.0,
            ),
            (
                self.camera_tilt_deg.into(),
                "screen.cameraTiltDeg",
                -90.0,
                90.0,
            ),
            (
                self.camera_pan_deg.into(),
                "screen.cameraPanDeg",
                -180.0,
                180.0,
            ),
            (
                self.horizontal_fov_deg.into(),
                "screen.horizontalFovDeg",
                1.0,
                179.0,
            ),
            (
                self.default_face_width_m.into(),
                "screen.defaultFaceWidthM",
                0.05,
                0.5,
            ),
            (self.margin_m.into(), "screen.marginM", 0.0, 10.0),
            (self.tolerance_deg.into(), "screen.toleranceDeg", 0.0, 90.0),
            (
                self.head_pose_tolerance_deg.into(),
                "screen.headPoseToleranceDeg",
                0.0,
                90.0,
            ),
        ]
    }
}

impl RetentionConfig {
    fn validate(&self) -> Result<(), AudienceError> {
        let counts = [
            (self.minute_hours, "retention.minuteHours", 24 * 366),
            (self.hour_days, "retention.hourDays", 3660),
        ];
        for (v, name, hi) in counts {
            if !(1..=hi).contains(&v) {
                return Err(AudienceError::Config(format!(
                    "{name} must be between 1 and {hi}, got {v}"
                )));
            }
        }
        if !(1..=1_000_000).contains(&self.max_plays) {
            return Err(AudienceError::Config(format!(
                "retention.maxPlays must be between 1 and 1000000, got {}",
                self.max_plays
            )));
        }
        Ok(())
    }
}

pub(crate) fn band_labels(starts: &[u32]) -> Vec<String> {
    starts
        .iter()
        .enumerate()
        .map(|(i, &lo)| match starts.get(i + 1) {
            Some(&next) => format!("{lo}-{}", next - 1),
            None => format!("{lo}+"),
        })
        .collect()
}
