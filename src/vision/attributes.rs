//! The age/gender network's input and output: the crop framed as its training chips were, the
//! mirrored crop averaged in, and the calibration that turns its outputs into an age and a
//! gender probability that mean what they say. Constants are measured on the dev sets by
//! `cargo bench --bench accuracy` (which prints the calibration error and a refit).

/// Side of the network's square input, pixels.
pub(crate) const INPUT_SIZE: usize = 112;

/// Side of the crop relative to the detection box's longer side. The network (face-api's) was
/// trained on tight chips framed like UTKFace's aligned ones: on UTKFace dev the box's side is
/// 0.94 of the chip's, and a crop of 1.0 box gives age MAE 4.90 years (the whole chip 5.10; the
/// earlier 1.2, 7.24), and on FairFace dev 5.97 against bracket midpoints (1.2: 6.25). Crops
/// framed on the eyes and mouth instead (2.1 to 2.55 times their distance) and 0.9 to 1.1 boxes
/// scored worse on the sum of both sets.
pub(crate) const CROP_SCALE: f32 = 1.0;

/// Platt scaling of the network's gender log-odds (the mean of the crop's and its mirror's),
/// with the estimated age as a second input: calibrated log-odds = `GENDER_SLOPE` · raw +
/// `GENDER_OFFSET_AT_40` + `GENDER_LOG_ODDS_PER_YEAR` · (age − 40). The network leans towards
/// "male" the older the face looks (most of its confident errors on the dev sets are women over
/// 60 called men), and towards "female" for children; the age term undoes that. Fitted by
/// logistic regression on FairFace and UTKFace dev (each set weighted equally): gender right
/// 82.6 → 85.2 % (FairFace), 91.6 → 93.3 % (UTKFace), calibration error 0.031 / 0.018. Fitted on
/// UTKFace alone it does as well on FairFace, so it is not FairFace's noise.
const GENDER_SLOPE: f32 = 1.15;
const GENDER_OFFSET_AT_40: f32 = 1.09;
const GENDER_LOG_ODDS_PER_YEAR: f32 = 0.032;
/// Ages beyond the dev sets' range add no more to the correction.
const GENDER_AGE_RANGE: (f32, f32) = (0.0, 90.0);

/// The crop's Laplacian variance (grey levels²) at which its sharpness is 0.5: the dev sets'
/// median face scores 0.8, their blurriest twentieth 0.4.
const HALF_SHARPNESS_VARIANCE: f32 = 25.0;

/// The calibrated probability that the face is female, from the network's [male, female]
/// softmax outputs for the crop and its mirror and the face's apparent age (`age_years`).
pub(crate) fn female_probability(outputs: &[[f32; 2]], age_years: f32) -> f32 {
    let raw = outputs
        .iter()
        .map(|[male, female]| (female.max(1e-6) / male.max(1e-6)).ln())
        .sum::<f32>()
        / outputs.len().max(1) as f32;
    let age = age_years.clamp(GENDER_AGE_RANGE.0, GENDER_AGE_RANGE.1);
    let z = GENDER_SLOPE * raw + GENDER_OFFSET_AT_40 + GENDER_LOG_ODDS_PER_YEAR * (age - 40.0);
    1.0 / (1.0 + (-z).exp())
}

/// The apparent age from the network's age outputs for the crop and its mirror.
pub(crate) fn age_years(outputs: &[f32]) -> f32 {
    (outputs.iter().sum::<f32>() / outputs.len().max(1) as f32).max(0.0)
}

/// Sharpness of a `[3, size, size]` crop in 0..255, in [0, 1): the variance of the Laplacian of
/// its grey image (high for crisp edges, near 0 when blurred or upscaled from a few pixels),
/// mapped through v / (v + `HALF_SHARPNESS_VARIANCE`).
pub fn sharpness(chw: &[f32], size: usize) -> f32 {
    let plane = size * size;
    if size < 3 || chw.len() < 3 * plane {
        return 0.0;
    }
    let grey = |i: usize| (chw[i] + chw[plane + i] + chw[2 * plane + i]) / 3.0;
    let (mut sum, mut sum_sq, mut n) = (0.0f64, 0.0f64, 0usize);
    for y in 1..size - 1 {
        for x in 1..size - 1 {
            let i = y * size + x;
            let lap = 4.0 * grey(i) - grey(i - 1) - grey(i + 1) - grey(i - size) - grey(i + size);
            sum += lap as f64;
            sum_sq += (lap * lap) as f64;
            n += 1;
        }
    }
    let mean = sum / n as f64;
    let variance = (sum_sq / n as f64 - mean * mean).max(0.0) as f32;
    variance / (variance + HALF_SHARPNESS_VARIANCE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrored_outputs_are_averaged_in_log_odds() {
        let p = female_probability(&[[0.2, 0.8], [0.8, 0.2]], 40.0);
        assert!(
            (p - (1.0 / (1.0 + (-GENDER_OFFSET_AT_40).exp()))).abs() < 1e-5,
            "{p}"
        );
        let sure = female_probability(&[[0.01, 0.99], [0.02, 0.98]], 40.0);
        let unsure = female_probability(&[[0.4, 0.6], [0.45, 0.55]], 40.0);
        assert!(sure > unsure && unsure > 0.5, "{sure} {unsure}");
        assert_eq!(age_years(&[30.0, 34.0]), 32.0);
    }

    #[test]
    fn the_same_outputs_lean_female_the_older_the_face() {
        let outputs = [[0.7, 0.3], [0.7, 0.3]];
        let child = female_probability(&outputs, 8.0);
        let adult = female_probability(&outputs, 40.0);
        let elderly = female_probability(&outputs, 75.0);
        assert!(
            child < adult && adult < elderly,
            "{child} {adult} {elderly}"
        );
        // Beyond the fitted range the correction stops growing.
        assert_eq!(
            female_probability(&outputs, 90.0),
            female_probability(&outputs, 120.0)
        );
        assert_eq!(
            female_probability(&outputs, 0.0),
            female_probability(&outputs, -3.0)
        );
    }

    #[test]
    fn a_blurred_crop_is_less_sharp_than_a_crisp_one() {
        let size = 32;
        let plane = size * size;
        let mut crisp = vec![0.0f32; 3 * plane];
        let mut smooth = vec![0.0f32; 3 * plane];
        for c in 0..3 {
            for y in 0..size {
                for x in 0..size {
                    crisp[c * plane + y * size + x] =
                        if (x / 2 + y / 2) % 2 == 0 { 255.0 } else { 0.0 };
                    smooth[c * plane + y * size + x] = x as f32 * 8.0;
                }
            }
        }
        let (a, b) = (sharpness(&crisp, size), sharpness(&smooth, size));
        assert!(a > 0.9 && b < 0.05, "{a} {b}");
    }
}
