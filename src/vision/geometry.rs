//! Head pose, eye gaze and distance from the face mesh and irises: geometry only, no networks.
//!
//! Head pose is a weighted similarity fit (Umeyama) of MediaPipe's canonical face model onto the
//! 468 mesh landmarks, the way MediaPipe's face geometry pipeline does it, followed by a
//! correction for where the face sits in the image: the mesh network sees the face along the
//! camera ray through it, so its rotation is relative to that ray, not to the optical axis.

use std::sync::OnceLock;

use nalgebra::{Matrix3, Rotation3, Unit, Vector3};
use serde::Deserialize;

/// Average human iris diameter in millimetres (the basis of MediaPipe's iris depth).
pub(crate) const IRIS_DIAMETER_MM: f32 = 11.7;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CanonicalFaceFile {
    vertices: Vec<[f32; 3]>,
    procrustes_basis: Vec<(usize, f32)>,
}

/// MediaPipe's canonical face, turned into camera axes (x right, y down, z away from the
/// camera) as if the face looked straight into the camera. Units: centimetres.
pub struct CanonicalFace {
    pub vertices: Vec<Vector3<f64>>,
    /// Landmark ids and weights used for the fit (stable, rigid parts of the face).
    pub basis: Vec<(usize, f64)>,
}

pub fn canonical_face() -> &'static CanonicalFace {
    static FACE: OnceLock<CanonicalFace> = OnceLock::new();
    FACE.get_or_init(|| {
        let file: CanonicalFaceFile =
            serde_json::from_str(include_str!("../../models/canonical_face.json"))
                .expect("models/canonical_face.json is part of the crate and valid");
        CanonicalFace {
            vertices: file
                .vertices
                .iter()
                .map(|v| Vector3::new(v[0] as f64, -v[1] as f64, -v[2] as f64))
                .collect(),
            basis: file
                .procrustes_basis
                .iter()
                .map(|&(i, w)| (i, w as f64))
                .collect(),
        }
    })
}

/// Pinhole camera: focal length and principal point in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    pub focal_px: f32,
    pub cx: f32,
    pub cy: f32,
}

impl Camera {
    /// A camera with the given horizontal field of view, principal point at the image centre.
    pub(crate) fn from_fov(width: u32, height: u32, horizontal_fov_deg: f32) -> Self {
        let focal_px = width as f32 / 2.0 / (horizontal_fov_deg.to_radians() / 2.0).tan();
        Camera {
            focal_px,
            cx: width as f32 / 2.0,
            cy: height as f32 / 2.0,
        }
    }

    /// Unit ray from the camera through pixel (x, y).
    pub(crate) fn ray(&self, x: f32, y: f32) -> Vector3<f64> {
        Vector3::new(
            ((x - self.cx) / self.focal_px) as f64,
            ((y - self.cy) / self.focal_px) as f64,
            1.0,
        )
        .normalize()
    }
}

/// Head orientation in camera coordinates, with the sign conventions of
/// [`crate::analysis::FaceAnalysis`].
#[derive(Debug, Clone, Copy)]
pub struct HeadPose {
    /// Rotation taking canonical-face axes to camera axes.
    pub rotation: Rotation3<f64>,
    /// Mesh pixels per canonical centimetre (the face's scale in the image).
    pub pixels_per_cm: f64,
    pub yaw_deg: f32,
    pub pitch_deg: f32,
    pub roll_deg: f32,
}

impl HeadPose {
    fn from_rotation(rotation: Rotation3<f64>, pixels_per_cm: f64) -> Self {
        // Decomposed as yaw(y) * pitch(x) * roll(z), the inverse of `rotation_from_angles`.
        let m = rotation.matrix();
        HeadPose {
            rotation,
            pixels_per_cm,
            yaw_deg: (-m[(0, 2)]).atan2(m[(2, 2)]).to_degrees() as f32,
            pitch_deg: m[(1, 2)].clamp(-1.0, 1.0).asin().to_degrees() as f32,
            roll_deg: m[(1, 0)].atan2(m[(1, 1)]).to_degrees() as f32,
        }
    }

    /// Where the face points, as a unit vector in camera coordinates.
    pub fn forward(&self) -> Vector3<f64> {
        self.rotation * Vector3::new(0.0, 0.0, -1.0)
    }
}

/// Weighted Umeyama similarity fit: the rotation, scale and translation that best map `src`
/// onto `dst`.
fn similarity_fit(
    src: &[Vector3<f64>],
    dst: &[Vector3<f64>],
    weights: &[f64],
) -> Option<(Rotation3<f64>, f64, Vector3<f64>)> {
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let mean = |pts: &[Vector3<f64>]| {
        pts.iter()
            .zip(weights)
            .map(|(p, w)| p * *w)
            .sum::<Vector3<f64>>()
            / total
    };
    let (ms, md) = (mean(src), mean(dst));
    let mut cov = Matrix3::zeros();
    let mut var = 0.0;
    for ((s, d), w) in src.iter().zip(dst).zip(weights) {
        let (s, d) = (s - ms, d - md);
        cov += (d * s.transpose()) * *w;
        var += s.norm_squared() * *w;
    }
    let svd = cov.svd(true, true);
    let (u, v_t) = (svd.u?, svd.v_t?);
    let mut d = Matrix3::identity();
    if (u * v_t).determinant() < 0.0 {
        d[(2, 2)] = -1.0;
    }
    let r = u * d * v_t;
    let scale = (svd.singular_values[0] * d[(0, 0)]
        + svd.singular_values[1] * d[(1, 1)]
        + svd.singular_values[2] * d[(2, 2)])
        / var;
    let translation = md - r * ms * scale;
    Some((Rotation3::from_matrix_unchecked(r), scale, translation))
}

/// Head pose from mesh landmarks given in frame pixels (x, y) with the mesh's relative depth z
/// in the same pixel scale (positive away from the camera), as the face mesh network gives them.
pub(crate) fn head_pose(mesh: &[[f32; 3]], camera: &Camera) -> Option<HeadPose> {
    let face = canonical_face();
    if mesh.len() != face.vertices.len() {
        return None;
    }
    let src: Vec<Vector3<f64>> = face.basis.iter().map(|&(i, _)| face.vertices[i]).collect();
    let dst: Vec<Vector3<f64>> = face
        .basis
        .iter()
        .map(|&(i, _)| Vector3::new(mesh[i][0] as f64, mesh[i][1] as f64, mesh[i][2] as f64))
        .collect();
    let weights: Vec<f64> = face.basis.iter().map(|&(_, w)| w).collect();
    let (relative_to_ray, scale, origin) = similarity_fit(&src, &dst, &weights)?;
    // The mesh is an orthographic view along the ray through the head (the canonical face's
    // origin); turn the optical axis onto that ray to get the rotation relative to the camera.
    let ray = camera.ray(origin.x as f32, origin.y as f32);
    let onto_ray =
        Rotation3::rotation_between(&Vector3::z(), &ray).unwrap_or_else(Rotation3::identity);
    Some(HeadPose::from_rotation(onto_ray * relative_to_ray, scale))
}

/// The point between the eyes (mesh landmark 168), in frame pixels.
pub(crate) fn mesh_centre(mesh: &[[f32; 3]]) -> [f32; 2] {
    [mesh[168][0], mesh[168][1]]
}

/// One eye as seen in the frame: its corners and the iris, all in frame pixels.
#[derive(Debug, Clone, Copy)]
pub struct EyeObservation {
    /// Corner towards the image's left and towards its right.
    pub corners: [[f32; 2]; 2],
    pub iris_centre: [f32; 2],
    /// Iris diameter in pixels (the larger of its two axes: foreshortening shrinks only one).
    pub iris_diameter_px: f32,
}

/// Eye-in-head angles from the irises: horizontal and vertical rotation in radians, measured in
/// the head's own axes (positive: towards the image's right, and up).
fn eye_rotation(eye: &EyeObservation, roll_rad: f32) -> (f32, f32) {
    // Typical adult proportions: eye opening ~30 mm wide, eyeball radius ~12 mm.
    const EYE_HALF_WIDTH_MM: f32 = 15.0;
    const EYEBALL_RADIUS_MM: f32 = 12.0;
    let mid = [
        (eye.corners[0][0] + eye.corners[1][0]) / 2.0,
        (eye.corners[0][1] + eye.corners[1][1]) / 2.0,
    ];
    let half_width = ((eye.corners[1][0] - eye.corners[0][0])
        .hypot(eye.corners[1][1] - eye.corners[0][1])
        / 2.0)
        .max(1e-3);
    let (sin, cos) = (-roll_rad).sin_cos();
    let dx = eye.iris_centre[0] - mid[0];
    let dy = eye.iris_centre[1] - mid[1];
    // Undo the head roll so the offsets are along the eye line and across it.
    let along = dx * cos - dy * sin;
    let across = dx * sin + dy * cos;
    let to_angle = |offset: f32| {
        (offset / half_width * EYE_HALF_WIDTH_MM / EYEBALL_RADIUS_MM)
            .clamp(-1.0, 1.0)
            .asin()
    };
    (to_angle(along), to_angle(-across))
}

/// Gaze direction (unit, camera coordinates): the eyes' rotation within the head, applied to the
/// head pose. Eyes are averaged, since both converge on the same far target.
pub(crate) fn gaze_direction(pose: &HeadPose, eyes: &[EyeObservation]) -> Vector3<f64> {
    if eyes.is_empty() {
        return pose.forward();
    }
    let roll = pose.roll_deg.to_radians();
    let (mut yaw, mut pitch) = (0.0, 0.0);
    for eye in eyes {
        let (y, p) = eye_rotation(eye, roll);
        yaw += y / eyes.len() as f32;
        pitch += p / eyes.len() as f32;
    }
    let (yaw, pitch) = (yaw as f64, pitch as f64);
    // In head axes the face looks along -z; yaw turns towards +x, pitch towards -y.
    let in_head = Vector3::new(
        yaw.sin() * pitch.cos(),
        -pitch.sin(),
        -yaw.cos() * pitch.cos(),
    );
    pose.rotation * in_head
}

/// Distance from the camera to the face seen at pixel `at`, in metres: from the apparent iris
/// size when an iris was measured, otherwise from the face's scale against the canonical face.
/// Measured along the ray, so faces at the image's edge are not placed too near.
pub fn distance_m(
    camera: &Camera,
    at: [f32; 2],
    eyes: &[EyeObservation],
    pose: Option<&HeadPose>,
) -> Option<f32> {
    let ray_px = camera
        .focal_px
        .hypot(at[0] - camera.cx)
        .hypot(at[1] - camera.cy);
    let iris = eyes
        .iter()
        .map(|e| e.iris_diameter_px)
        .filter(|d| *d > 0.0)
        .fold(0.0, f32::max);
    if iris > 0.0 {
        return Some(ray_px * IRIS_DIAMETER_MM / iris / 1000.0);
    }
    pose.filter(|p| p.pixels_per_cm > 0.0)
        .map(|p| (ray_px as f64 / p.pixels_per_cm / 100.0) as f32)
}

/// Position of a pixel at a known distance, in camera coordinates (metres).
pub fn position_m(camera: &Camera, pixel: [f32; 2], distance_m: f32) -> [f32; 3] {
    let ray = camera.ray(pixel[0], pixel[1]) * distance_m as f64;
    [ray.x as f32, ray.y as f32, ray.z as f32]
}

/// A rotation from yaw, pitch and roll in degrees with this module's conventions (for tests and
/// for synthetic faces).
pub fn rotation_from_angles(yaw_deg: f64, pitch_deg: f64, roll_deg: f64) -> Rotation3<f64> {
    // Roll about the face's forward axis first, then pitch (nose up), then yaw (towards +x).
    let roll =
        Rotation3::from_axis_angle(&Unit::new_normalize(Vector3::z()), roll_deg.to_radians());
    let pitch = Rotation3::from_axis_angle(&Vector3::x_axis(), -pitch_deg.to_radians());
    let yaw = Rotation3::from_axis_angle(&Vector3::y_axis(), -yaw_deg.to_radians());
    yaw * pitch * roll
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders the canonical face with a known pose at a known place through a pinhole camera,
    /// producing landmarks as the mesh network reports them: x, y in pixels, z the depth along
    /// the viewing ray relative to the head, in the same pixel scale.
    fn synthetic_mesh(
        rotation: &Rotation3<f64>,
        position_cm: Vector3<f64>,
        camera: &Camera,
    ) -> Vec<[f32; 3]> {
        let face = canonical_face();
        let f = camera.focal_px as f64;
        let view = position_cm.normalize();
        face.vertices
            .iter()
            .map(|v| {
                let p = rotation * v + position_cm;
                let x = f * p.x / p.z + camera.cx as f64;
                let y = f * p.y / p.z + camera.cy as f64;
                let z = f * (p - position_cm).dot(&view) / position_cm.norm();
                [x as f32, y as f32, z as f32]
            })
            .collect()
    }

    fn angle_error(a: f32, b: f32) -> f32 {
        (a - b).abs()
    }

    #[test]
    fn recovers_known_head_rotations_at_the_image_centre() {
        let camera = Camera::from_fov(640, 480, 60.0);
        for (yaw, pitch, roll) in [
            (0.0, 0.0, 0.0),
            (30.0, 0.0, 0.0),
            (-25.0, 10.0, 0.0),
            (10.0, -20.0, 15.0),
            (0.0, 0.0, -30.0),
            (45.0, 15.0, -10.0),
        ] {
            let r = rotation_from_angles(yaw, pitch, roll);
            let mesh = synthetic_mesh(&r, Vector3::new(0.0, 0.0, 80.0), &camera);
            let pose = head_pose(&mesh, &camera).unwrap();
            assert!(
                angle_error(pose.yaw_deg, yaw as f32) < 2.0,
                "yaw {} vs {yaw}",
                pose.yaw_deg
            );
            assert!(
                angle_error(pose.pitch_deg, pitch as f32) < 2.0,
                "pitch {} vs {pitch}",
                pose.pitch_deg
            );
            assert!(
                angle_error(pose.roll_deg, roll as f32) < 2.0,
                "roll {} vs {roll}",
                pose.roll_deg
            );
        }
    }

    #[test]
    fn off_centre_face_facing_the_camera_points_at_it() {
        let camera = Camera::from_fov(640, 480, 60.0);
        // 60 cm to the right of the optical axis, 150 cm away, turned to face the camera.
        let position = Vector3::new(60.0, 0.0, 150.0);
        let towards_camera = (-position).normalize();
        let r =
            Rotation3::rotation_between(&Vector3::new(0.0, 0.0, -1.0), &towards_camera).unwrap();
        let mesh = synthetic_mesh(&r, position, &camera);
        let pose = head_pose(&mesh, &camera).unwrap();
        let expected_yaw = towards_camera.x.atan2(-towards_camera.z).to_degrees() as f32; // about -21.8
        assert!(expected_yaw < -20.0);
        assert!(
            angle_error(pose.yaw_deg, expected_yaw) < 2.0,
            "yaw {} vs {expected_yaw}",
            pose.yaw_deg
        );
        assert!(pose.forward().dot(&towards_camera) > 2.0f64.to_radians().cos());
    }

    #[test]
    fn gaze_adds_eye_rotation_to_head_pose() {
        let pose = HeadPose::from_rotation(rotation_from_angles(20.0, 0.0, 0.0), 10.0);
        // Iris centred between the corners: gaze equals the head direction.
        let centred = EyeObservation {
            corners: [[100.0, 100.0], [130.0, 100.0]],
            iris_centre: [115.0, 100.0],
            iris_diameter_px: 12.0,
        };
        let g = gaze_direction(&pose, &[centred]);
        assert!((g - pose.forward()).norm() < 1e-6);
        // Iris shifted towards the image's right: the gaze turns further right.
        let shifted = EyeObservation {
            iris_centre: [119.0, 100.0],
            ..centred
        };
        let g = gaze_direction(&pose, &[shifted]);
        let yaw = g.x.atan2(-g.z).to_degrees();
        let eye = (4.0f64 / 15.0 * 15.0 / 12.0).asin().to_degrees();
        assert!((yaw - (20.0 + eye)).abs() < 0.5, "{yaw}");
        // No eyes: head pose alone.
        assert!((gaze_direction(&pose, &[]) - pose.forward()).norm() < 1e-9);
    }

    #[test]
    fn distance_from_iris_size_and_face_scale() {
        let camera = Camera {
            focal_px: 600.0,
            cx: 320.0,
            cy: 240.0,
        };
        let eye = EyeObservation {
            corners: [[0.0, 0.0], [30.0, 0.0]],
            iris_centre: [15.0, 0.0],
            iris_diameter_px: 11.7,
        };
        // 600 px focal, 11.7 mm iris seen as 11.7 px: 600 mm.
        let centre = [320.0, 240.0];
        assert!((distance_m(&camera, centre, &[eye], None).unwrap() - 0.6).abs() < 1e-6);
        // Off-axis by 450 px: the ray is 750 px long, so the same iris is 750 mm away.
        assert!((distance_m(&camera, [770.0, 240.0], &[eye], None).unwrap() - 0.75).abs() < 1e-6);
        let pose = HeadPose::from_rotation(Rotation3::identity(), 4.0); // 4 px per cm: 150 cm
        assert!((distance_m(&camera, centre, &[], Some(&pose)).unwrap() - 1.5).abs() < 1e-6);
        assert!(distance_m(&camera, centre, &[], None).is_none());
        let p = position_m(&camera, [320.0, 240.0], 2.0);
        assert_eq!(p, [0.0, 0.0, 2.0]);
    }

    #[test]
    fn canonical_face_is_complete() {
        let face = canonical_face();
        assert_eq!(face.vertices.len(), 468);
        assert!(face.basis.len() > 20);
        // Nose tip (landmark 1) is nearer the camera (smaller z) than the ear points.
        assert!(face.vertices[1].z < face.vertices[234].z);
        // Forehead (10) is above the chin (152) in image axes (y down).
        assert!(face.vertices[10].y < face.vertices[152].y);
    }
}
