//! "Looking at the screen" as geometry: a face looks when its gaze ray, from the face's position,
//! passes through the screen rectangle (grown by a metric margin) or within an angular tolerance
//! of it. Camera coordinates are those of [`crate::analysis::FaceAnalysis`]; the configured
//! camera offset, tilt and pan move them into screen coordinates.

use serde::{Deserialize, Serialize};

use super::config::ScreenGeometry;
use crate::analysis::FaceAnalysis;

/// Which direction decided whether a face looked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum GazeSource {
    /// Gaze from the eyes (irises) combined with head pose.
    Eyes,
    /// Head pose alone: `gazeFromEyes` was false or missing, or only yaw/pitch were given.
    HeadPose,
}

/// The verdict for one face in one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LookResult {
    pub looking: bool,
    /// `None` when the face had neither gaze nor head pose: it then does not look.
    pub source: Option<GazeSource>,
    /// Angle between the gaze ray and the nearest point of the (margin-grown) screen, degrees;
    /// 0 when the ray hits it.
    pub angle_off_deg: Option<f32>,
    /// Face position in camera coordinates, metres.
    pub position_m: [f32; 3],
    /// True when the position was estimated from the box (no `positionM` on the face).
    pub position_estimated: bool,
}

type V3 = [f32; 3];

fn dot(a: V3, b: V3) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
fn norm(a: V3) -> f32 {
    dot(a, a).sqrt()
}

/// Precomputed camera-to-screen transform and screen rectangle.
#[derive(Debug, Clone)]
pub struct LookModel {
    /// Columns are the camera's x, y, z axes expressed in screen coordinates.
    rot: [V3; 3],
    offset: V3,
    half_w: f32,
    half_h: f32,
    tol_eyes: f32,
    tol_head: f32,
    tan_half_fov: f32,
    face_width_m: f32,
}

impl LookModel {
    pub fn new(g: &ScreenGeometry) -> Self {
        let (st, ct) = g.camera_tilt_deg.to_radians().sin_cos();
        let (sp, cp) = g.camera_pan_deg.to_radians().sin_cos();
        // Tilt about x (positive turns the optical axis towards +y, the floor), then pan about y.
        let tilt = [[1.0, 0.0, 0.0], [0.0, ct, -st], [0.0, st, ct]];
        let pan_apply = |v: V3| -> V3 { [cp * v[0] + sp * v[2], v[1], -sp * v[0] + cp * v[2]] };
        Self {
            rot: [pan_apply(tilt[0]), pan_apply(tilt[1]), pan_apply(tilt[2])],
            offset: g.camera_offset_m,
            half_w: g.width_m / 2.0 + g.margin_m,
            half_h: g.height_m / 2.0 + g.margin_m,
            tol_eyes: g.tolerance_deg,
            tol_head: g.head_pose_tolerance_deg,
            tan_half_fov: (g.horizontal_fov_deg.to_radians() / 2.0).tan(),
            face_width_m: g.default_face_width_m,
        }
    }

    fn dir_to_screen(&self, v: V3) -> V3 {
        let [x, y, z] = self.rot;
        [
            x[0] * v[0] + y[0] * v[1] + z[0] * v[2],
            x[1] * v[0] + y[1] * v[1] + z[1] * v[2],
            x[2] * v[0] + y[2] * v[1] + z[2] * v[2],
        ]
    }

    /// Camera-coordinate point → screen coordinates.
    pub(crate) fn point_to_screen(&self, p: V3) -> V3 {
        let r = self.dir_to_screen(p);
        [
            r[0] + self.offset[0],
            r[1] + self.offset[1],
            r[2] + self.offset[2],
        ]
    }

    /// Position of the point between the eyes in camera coordinates: `positionM` when given,
    /// else the eye midpoint's pixel ray scaled by `distanceM`, else by the box width and the
    /// default face width. Returns whether it was estimated.
    pub(crate) fn face_position(&self, face: &FaceAnalysis, width: u32, height: u32) -> (V3, bool) {
        if let Some(p) = face.position_m {
            return (p, false);
        }
        let f = (width as f32 / 2.0) / self.tan_half_fov;
        let [re, le] = [face.keypoints[0], face.keypoints[1]];
        let (u, v) = ((re[0] + le[0]) / 2.0, (re[1] + le[1]) / 2.0);
        let ray = [
            (u - width as f32 / 2.0) / f,
            (v - height as f32 / 2.0) / f,
            1.0,
        ];
        let z = match face.distance_m {
            Some(d) if d > 0.0 => d / norm(ray),
            _ => f * self.face_width_m / face.bbox[2].max(1.0),
        };
        ([ray[0] * z, ray[1] * z, z], true)
    }

    /// Decides whether `face` looks at the screen (see the module docs).
    pub(crate) fn evaluate(&self, face: &FaceAnalysis, width: u32, height: u32) -> LookResult {
        let (position_m, position_estimated) = self.face_position(face, width, height);
        let gaze = match (face.gaze, face.gaze_from_eyes) {
            (Some(g), Some(true)) => Some((g, GazeSource::Eyes)),
            (Some(g), _) => Some((g, GazeSource::HeadPose)),
            (None, _) => match (face.yaw, face.pitch) {
                (Some(yaw), Some(pitch)) => {
                    Some((head_pose_direction(yaw, pitch), GazeSource::HeadPose))
                }
                _ => None,
            },
        };
        let Some((dir, source)) = gaze else {
            return LookResult {
                looking: false,
                source: None,
                angle_off_deg: None,
                position_m,
                position_estimated,
            };
        };
        let angle = self.angle_off_screen(position_m, dir);
        let tol = match source {
            GazeSource::Eyes => self.tol_eyes,
            GazeSource::HeadPose => self.tol_head,
        };
        LookResult {
            looking: angle <= tol,
            source: Some(source),
            angle_off_deg: Some(angle),
            position_m,
            position_estimated,
        }
    }

    /// Angle in degrees between a gaze ray (camera coordinates) and the nearest point of the
    /// margin-grown screen rectangle; 0 when the ray passes through it.
    pub(crate) fn angle_off_screen(&self, origin_cam: V3, dir_cam: V3) -> f32 {
        let o = self.point_to_screen(origin_cam);
        let d = self.dir_to_screen(dir_cam);
        let dn = norm(d);
        if dn == 0.0 || !dn.is_finite() || o[2] <= 0.0 {
            return 180.0;
        }
        // Where the ray meets the screen plane (or, if it points away, the foot of the face on
        // the plane), clamped to the rectangle: the nearest screen point to aim at.
        let foot = if d[2] < 0.0 {
            let t = -o[2] / d[2];
            [o[0] + t * d[0], o[1] + t * d[1]]
        } else {
            [o[0], o[1]]
        };
        let q = [
            foot[0].clamp(-self.half_w, self.half_w),
            foot[1].clamp(-self.half_h, self.half_h),
            0.0,
        ];
        let to_q = sub(q, o);
        let cos = (dot(d, to_q) / (dn * norm(to_q))).clamp(-1.0, 1.0);
        if d[2] < 0.0 && q[0] == foot[0] && q[1] == foot[1] {
            0.0
        } else {
            cos.acos().to_degrees()
        }
    }
}

/// Unit direction in camera coordinates of a head with this yaw and pitch (degrees): [0, 0, -1]
/// for a face looking into the camera; yaw > 0 turns towards +x, pitch > 0 tilts up (−y).
pub fn head_pose_direction(yaw_deg: f32, pitch_deg: f32) -> V3 {
    let (sy, cy) = yaw_deg.to_radians().sin_cos();
    let (sp, cp) = pitch_deg.to_radians().sin_cos();
    [sy * cp, -sp, -cy * cp]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face_at(position: V3, gaze: V3, from_eyes: bool) -> FaceAnalysis {
        FaceAnalysis {
            gaze: Some(gaze),
            gaze_from_eyes: Some(from_eyes),
            position_m: Some(position),
            ..FaceAnalysis::detected(
                [300.0, 200.0, 60.0, 60.0],
                0.9,
                [
                    [315.0, 220.0],
                    [345.0, 220.0],
                    [330.0, 235.0],
                    [330.0, 248.0],
                    [302.0, 225.0],
                    [358.0, 225.0],
                ],
            )
        }
    }

    fn normalize(v: V3) -> V3 {
        let n = norm(v);
        [v[0] / n, v[1] / n, v[2] / n]
    }

    /// Inverse of the model's transform, to place faces given in screen coordinates.
    fn screen_to_camera(m: &LookModel, p_screen: V3) -> V3 {
        let r = sub(p_screen, m.offset);
        [dot(m.rot[0], r), dot(m.rot[1], r), dot(m.rot[2], r)]
    }
    fn dir_screen_to_camera(m: &LookModel, d: V3) -> V3 {
        [dot(m.rot[0], d), dot(m.rot[1], d), dot(m.rot[2], d)]
    }

    fn rotate_about_y(v: V3, deg: f32) -> V3 {
        let (s, c) = deg.to_radians().sin_cos();
        [c * v[0] + s * v[2], v[1], -s * v[0] + c * v[2]]
    }

    #[test]
    fn gaze_at_screen_centre_looks_and_turned_40_degrees_does_not() {
        let g = ScreenGeometry::default();
        let m = LookModel::new(&g);
        // 2 m in front of the screen centre; the camera is 0.38 m above it, so in camera
        // coordinates the face is 0.38 m below the optical axis.
        let pos = screen_to_camera(&m, [0.0, 0.0, 2.0]);
        assert!((pos[1] - 0.38).abs() < 1e-5);
        let at_centre = normalize(sub(screen_to_camera(&m, [0.0, 0.0, 0.0]), pos));
        let r = m.evaluate(&face_at(pos, at_centre, true), 640, 480);
        assert!(r.looking);
        assert_eq!(r.source, Some(GazeSource::Eyes));
        assert_eq!(r.angle_off_deg, Some(0.0));

        let away = rotate_about_y(at_centre, 40.0);
        let r = m.evaluate(&face_at(pos, away, true), 640, 480);
        assert!(!r.looking);
        // The screen half-width plus margin subtends atan(0.705 / 2) ≈ 19.4°.
        let off = r.angle_off_deg.unwrap();
        assert!(
            (off - (40.0 - 0.705f32.atan2(2.0).to_degrees())).abs() < 0.5,
            "{off}"
        );
    }

    #[test]
    fn angular_tolerance_is_respected_at_the_screen_edge() {
        let g = ScreenGeometry::default();
        let m = LookModel::new(&g);
        let pos = screen_to_camera(&m, [0.0, 0.0, 2.0]);
        let edge_angle = (g.width_m / 2.0 + g.margin_m).atan2(2.0).to_degrees();
        let centre = dir_screen_to_camera(&m, [0.0, 0.0, -1.0]);
        let inside = rotate_about_y(centre, edge_angle + g.tolerance_deg - 0.5);
        let outside = rotate_about_y(centre, edge_angle + g.tolerance_deg + 0.5);
        assert!(m.evaluate(&face_at(pos, inside, true), 640, 480).looking);
        assert!(!m.evaluate(&face_at(pos, outside, true), 640, 480).looking);
        // Head pose gets the wider tolerance for the same ray.
        let head_only = rotate_about_y(centre, edge_angle + g.head_pose_tolerance_deg - 0.5);
        assert!(!m.evaluate(&face_at(pos, head_only, true), 640, 480).looking);
        let r = m.evaluate(&face_at(pos, head_only, false), 640, 480);
        assert!(r.looking);
        assert_eq!(r.source, Some(GazeSource::HeadPose));
    }

    #[test]
    fn metric_margin_grows_the_screen() {
        let mut g = ScreenGeometry {
            tolerance_deg: 0.0,
            margin_m: 0.0,
            ..Default::default()
        };
        let pos_screen = [0.0, 0.0, 2.0];
        // Aim 5 cm beyond the right edge of the screen.
        let target = [g.width_m / 2.0 + 0.05, 0.0, 0.0];
        let m = LookModel::new(&g);
        let dir = dir_screen_to_camera(&m, normalize(sub(target, pos_screen)));
        let face = face_at(screen_to_camera(&m, pos_screen), dir, true);
        assert!(!m.evaluate(&face, 640, 480).looking);
        g.margin_m = 0.1;
        assert!(LookModel::new(&g).evaluate(&face, 640, 480).looking);
    }

    #[test]
    fn camera_tilt_is_taken_into_account() {
        let tilted = ScreenGeometry {
            camera_tilt_deg: 30.0,
            ..Default::default()
        };
        let m = LookModel::new(&tilted);
        // A tall person close to the screen, above its centre, looking near its bottom edge.
        let pos_screen = [0.0, -0.5, 0.7];
        let pos = screen_to_camera(&m, pos_screen);
        let gaze = dir_screen_to_camera(&m, normalize(sub([0.0, 0.3, 0.0], pos_screen)));
        // A downward-tilted camera sees the face higher in its frame than an untilted one
        // (y = -0.12 m untilted).
        assert!(pos[1] < -0.3, "{pos:?}");
        let face = face_at(pos, gaze, true);
        let r = m.evaluate(&face, 640, 480);
        assert!(r.looking);
        assert_eq!(r.angle_off_deg, Some(0.0));
        // The same camera-frame numbers read as if the camera were level miss the screen.
        let level = LookModel::new(&ScreenGeometry::default());
        let r = level.evaluate(&face, 640, 480);
        assert!(!r.looking && r.angle_off_deg.unwrap() > 10.0, "{r:?}");
    }

    #[test]
    fn head_pose_fallback_when_gaze_is_missing() {
        let m = LookModel::new(&ScreenGeometry::default());
        // Face 2 m out on the camera axis; looking into the camera (yaw = pitch = 0) means looking
        // just above the screen's top edge, within the margin.
        let mut face = face_at([0.0, 0.0, 2.0], [0.0, 0.0, -1.0], true);
        face.gaze = None;
        face.gaze_from_eyes = None;
        face.yaw = Some(0.0);
        face.pitch = Some(0.0);
        let r = m.evaluate(&face, 640, 480);
        assert!(r.looking);
        assert_eq!(r.source, Some(GazeSource::HeadPose));
        face.yaw = Some(40.0);
        assert!(!m.evaluate(&face, 640, 480).looking);
        face.yaw = None;
        let r = m.evaluate(&face, 640, 480);
        assert_eq!((r.looking, r.source), (false, None));
    }

    #[test]
    fn head_pose_direction_follows_the_documented_convention() {
        let d = head_pose_direction(90.0, 0.0);
        assert!((d[0] - 1.0).abs() < 1e-6 && d[2].abs() < 1e-6);
        let d = head_pose_direction(0.0, 90.0);
        assert!((d[1] + 1.0).abs() < 1e-6);
    }

    #[test]
    fn position_is_estimated_from_the_box_when_missing() {
        let g = ScreenGeometry::default();
        let m = LookModel::new(&g);
        let mut face = face_at([0.0, 0.0, 0.0], [0.0, 0.0, -1.0], true);
        face.position_m = None;
        // Eyes centred in a 640-wide frame: focal = 320 / tan(30°) ≈ 554 px; a 60 px face of
        // 0.15 m is ≈ 1.39 m away.
        face.keypoints[0] = [305.0, 240.0];
        face.keypoints[1] = [335.0, 240.0];
        let (p, estimated) = m.face_position(&face, 640, 480);
        assert!(estimated);
        let f = 320.0 / 30f32.to_radians().tan();
        assert!((p[2] - f * 0.15 / 60.0).abs() < 1e-3, "{p:?}");
        assert!(p[0].abs() < 1e-6 && p[1].abs() < 1e-6);
        face.distance_m = Some(3.0);
        let (p, _) = m.face_position(&face, 640, 480);
        assert!((norm(p) - 3.0).abs() < 1e-4);
    }
}
