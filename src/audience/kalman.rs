//! Constant-velocity Kalman filter of a face box (centre x, centre y, width, height), as in SORT.
//!
//! With white-noise acceleration on each coordinate and independent measurement noise, the
//! 8-state filter's covariance stays block-diagonal, so it is exactly four 2-state filters
//! (position, velocity). Writing those out avoids a matrix library and allocation per frame.

/// One coordinate: state [p, v] and covariance [[a, b], [b, c]].
#[derive(Debug, Clone, Copy)]
struct Axis {
    p: f32,
    v: f32,
    a: f32,
    b: f32,
    c: f32,
}

impl Axis {
    fn new(p: f32, pos_var: f32, vel_var: f32) -> Self {
        Self {
            p,
            v: 0.0,
            a: pos_var,
            b: 0.0,
            c: vel_var,
        }
    }

    /// x ← F x, P ← F P Fᵀ + Q with F = [[1, dt], [0, 1]] and Q from acceleration variance `q`.
    fn predict(&mut self, dt: f32, q: f32) {
        self.p += self.v * dt;
        let (a, b, c) = (self.a, self.b, self.c);
        let dt2 = dt * dt;
        self.a = a + 2.0 * dt * b + dt2 * c + q * dt2 * dt2 / 4.0;
        self.b = b + dt * c + q * dt2 * dt / 2.0;
        self.c = c + q * dt2;
    }

    /// Measurement z of p with variance r.
    fn update(&mut self, z: f32, r: f32) {
        let s = self.a + r;
        let (k0, k1) = (self.a / s, self.b / s);
        let y = z - self.p;
        self.p += k0 * y;
        self.v += k1 * y;
        let (a, b, c) = (self.a, self.b, self.c);
        self.a = (1.0 - k0) * a;
        self.b = (1.0 - k0) * b;
        self.c = c - k1 * b;
    }
}

/// Box filter: centre x, centre y, width, height in pixels.
#[derive(Debug, Clone)]
pub(crate) struct BoxFilter {
    axes: [Axis; 4],
    accel_noise: f32,
    meas_noise: f32,
}

impl BoxFilter {
    /// `accel_noise` and `meas_noise` are standard deviations in box widths (per s² and plain).
    pub fn new(bbox: [f32; 4], accel_noise: f32, meas_noise: f32) -> Self {
        let [cx, cy, w, h] = center_form(bbox);
        let pos_var = (meas_noise * w).powi(2);
        // Unknown initial velocity: allow about one box width per second.
        let vel_var = w * w;
        Self {
            axes: [
                Axis::new(cx, pos_var, vel_var),
                Axis::new(cy, pos_var, vel_var),
                Axis::new(w, pos_var, vel_var * 0.1),
                Axis::new(h, pos_var, vel_var * 0.1),
            ],
            accel_noise,
            meas_noise,
        }
    }

    fn width(&self) -> f32 {
        self.axes[2].p.max(1.0)
    }

    pub fn predict(&mut self, dt_s: f32) {
        if dt_s <= 0.0 {
            return;
        }
        let w = self.width();
        let q = (self.accel_noise * w).powi(2);
        for (i, axis) in self.axes.iter_mut().enumerate() {
            // Size changes far more slowly than position.
            axis.predict(dt_s, if i < 2 { q } else { q * 0.05 });
        }
        // A coasting box must not shrink to nothing.
        self.axes[2].p = self.axes[2].p.max(4.0);
        self.axes[3].p = self.axes[3].p.max(4.0);
    }

    pub fn update(&mut self, bbox: [f32; 4]) {
        let z = center_form(bbox);
        let r = (self.meas_noise * self.width()).powi(2);
        for (axis, z) in self.axes.iter_mut().zip(z) {
            axis.update(z, r);
        }
    }

    /// Current estimate as [x, y, w, h].
    pub fn bbox(&self) -> [f32; 4] {
        let [cx, cy, w, h] = self.axes.map(|a| a.p);
        [cx - w / 2.0, cy - h / 2.0, w, h]
    }

    /// Estimated velocity of the centre, pixels per second.
    #[cfg(test)]
    pub fn velocity(&self) -> [f32; 2] {
        [self.axes[0].v, self.axes[1].v]
    }
}

fn center_form(b: [f32; 4]) -> [f32; 4] {
    [b[0] + b[2] / 2.0, b[1] + b[3] / 2.0, b[2], b[3]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_constant_velocity_and_coasts_along_it() {
        let mut f = BoxFilter::new([0.0, 100.0, 50.0, 50.0], 4.0, 0.05);
        let dt = 1.0 / 15.0;
        // 150 px/s to the right.
        for i in 1..=30 {
            f.predict(dt);
            f.update([150.0 * dt * i as f32, 100.0, 50.0, 50.0]);
        }
        let v = f.velocity();
        assert!((v[0] - 150.0).abs() < 5.0 && v[1].abs() < 1.0, "{v:?}");
        for _ in 0..10 {
            f.predict(dt);
        }
        let expected_x = 150.0 * dt * 40.0;
        assert!((f.bbox()[0] - expected_x).abs() < 5.0, "{:?}", f.bbox());
    }
}
