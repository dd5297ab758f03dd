//! 2D convolution for the generated networks (build.rs routes every `Conv2d` through
//! [`conv2d`]). On the CPU, burn-flex is 3-5x slower than one matrix product on a convolution
//! with a spatial kernel over few input channels (the first layer of every network: 3 colour
//! channels, stride 2); those go through im2col + burn's matmul here. Everything else, and
//! every other backend, is burn's own `Conv2d::forward`.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Tensor, TensorData};

/// `layer.forward(x)`, the same values (to rounding), faster where burn-flex is slow.
pub fn conv2d(layer: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let device = x.device();
    let spatial = layer.kernel_size != [1, 1];
    let channels_in = layer.weight.dims()[1];
    if let Some(padding) = padding_pairs(&layer.padding)
        && device == Device::flex()
        && spatial
        && layer.groups == 1
        && channels_in <= 4
        && layer.dilation == [1, 1]
    {
        return im2col_conv(layer, padding, x, &device);
    }
    layer.forward(x)
}

/// ((top, bottom), (left, right)) of a fixed padding (the generated networks use no other).
pub(super) fn padding_pairs(padding: &PaddingConfig2d) -> Option<((usize, usize), (usize, usize))> {
    match *padding {
        PaddingConfig2d::Valid => Some(((0, 0), (0, 0))),
        PaddingConfig2d::Explicit(top, left, bottom, right) => Some(((top, bottom), (left, right))),
        PaddingConfig2d::Same => None,
    }
}

/// The f32 values of `x`, borrowed when burn hands them over aligned, converted otherwise (a
/// tensor shared with another layer comes out as a byte copy, aligned for f32 in practice).
pub(super) fn with_values<R>(x: Tensor<4>, f: impl FnOnce(&[f32]) -> R) -> R {
    let data = x.into_data();
    match data.as_slice::<f32>() {
        Ok(values) => f(values),
        Err(_) => f(&data.iter::<f32>().collect::<Vec<_>>()),
    }
}

fn im2col_conv(
    layer: &Conv2d,
    ((top, bottom), (left, right)): ((usize, usize), (usize, usize)),
    x: Tensor<4>,
    device: &Device,
) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let [kh, kw] = layer.kernel_size;
    let [sh, sw] = layer.stride;
    let oh = (h + top + bottom - kh) / sh + 1;
    let ow = (w + left + right - kw) / sw + 1;
    let (k, l) = (c * kh * kw, oh * ow);
    // Columns [n][c·kh·kw][oh·ow]: row (ci, ky, kx) holds the input pixel each output reads
    // through that kernel tap, 0 in the padding.
    let mut columns = vec![0.0f32; n * k * l];
    with_values(x, |values| {
        for b in 0..n {
            for ci in 0..c {
                let plane = &values[(b * c + ci) * h * w..][..h * w];
                for ky in 0..kh {
                    for kx in 0..kw {
                        let row = ((b * c + ci) * kh + ky) * kw + kx;
                        let out = &mut columns[row * l..][..l];
                        for oy in 0..oh {
                            let Some(iy) = (oy * sh + ky).checked_sub(top).filter(|&y| y < h)
                            else {
                                continue;
                            };
                            let src = &plane[iy * w..][..w];
                            let dst = &mut out[oy * ow..][..ow];
                            // Outputs whose tap lands inside the row: ox·sw + kx − left ∈ [0, w).
                            let first = left.saturating_sub(kx).div_ceil(sw);
                            let end = (w + left).saturating_sub(kx).div_ceil(sw).min(ow);
                            for ox in first..end {
                                dst[ox] = src[ox * sw + kx - left];
                            }
                        }
                    }
                }
            }
        }
    });
    let columns: Tensor<3> = Tensor::from_data(TensorData::new(columns, [n, k, l]), device);
    let cout = layer.weight.dims()[0];
    let weight = layer.weight.val().reshape([1, cout, k]).repeat_dim(0, n);
    let mut out = weight.matmul(columns);
    if let Some(bias) = &layer.bias {
        out = out + bias.val().reshape([1, cout, 1]);
    }
    out.reshape([n, cout, oh, ow])
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::Distribution;

    #[test]
    fn equals_burns_convolution() {
        let device = Device::flex();
        let cases = [
            // BlazeFace's first layer: 5x5, stride 2, asymmetric padding.
            (
                Conv2dConfig::new([3, 24], [5, 5])
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 2, 2)),
                [2, 3, 32, 32],
            ),
            (
                Conv2dConfig::new([3, 16], [3, 3])
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(0, 0, 1, 1)),
                [1, 3, 31, 29],
            ),
            (
                Conv2dConfig::new([8, 4], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)),
                [1, 8, 9, 9],
            ),
            (
                Conv2dConfig::new([4, 6], [2, 2])
                    .with_stride([2, 2])
                    .with_bias(false),
                [3, 4, 8, 8],
            ),
            // Depthwise (burn's own path), stride 1 and 2, symmetric and asymmetric padding.
            (
                Conv2dConfig::new([24, 24], [3, 3])
                    .with_groups(24)
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)),
                [2, 24, 16, 16],
            ),
            (
                Conv2dConfig::new([28, 28], [3, 3])
                    .with_groups(28)
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(0, 0, 1, 1)),
                [1, 28, 15, 16],
            ),
            (
                Conv2dConfig::new([8, 8], [5, 5])
                    .with_groups(8)
                    .with_bias(false),
                [1, 8, 9, 11],
            ),
        ];
        for (config, shape) in cases {
            let layer = config.init(&device);
            let x: Tensor<4> = Tensor::random(shape, Distribution::Normal(0.0, 1.0), &device);
            let reference = layer.forward(x.clone());
            let ours = conv2d(&layer, x);
            assert_eq!(ours.dims(), reference.dims(), "{config:?}");
            let diff: f32 = (ours - reference).abs().max().into_scalar();
            assert!(diff < 1e-4, "{config:?}: differs by {diff}");
        }
    }
}
