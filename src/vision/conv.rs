//! 2D convolution for the generated networks (build.rs routes every `Conv2d` through
//! [`conv2d`]). On the CPU, two kinds run here instead of in burn-flex:
//! - a spatial kernel over few input channels (the first layer of every network: 3 colour
//!   channels, stride 2), where burn-flex is 3-5x slower than one matrix product: im2col +
//!   burn's matmul;
//! - 3x3 depthwise convolutions (most layers of every network): see `depthwise_3x3`.
//!
//! Everything else, and every other backend, is burn's own `Conv2d::forward`.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Tensor, TensorData};

/// `layer.forward(x)`, the same values (to rounding), faster where burn-flex is slow.
pub fn conv2d(layer: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let device = x.device();
    let padding = padding_pairs(&layer.padding);
    let Some(padding) = padding.filter(|_| device == Device::flex() && layer.dilation == [1, 1])
    else {
        return layer.forward(x);
    };
    let [channels_out, channels_in, ..] = layer.weight.dims();
    if layer.kernel_size != [1, 1] && layer.groups == 1 && channels_in <= 4 {
        return im2col_conv(layer, padding, x, &device);
    }
    // One input and one output channel per group.
    let depthwise = channels_in == 1 && layer.groups == channels_out;
    if depthwise
        && layer.kernel_size == [3, 3]
        && (layer.stride == [1, 1] || layer.stride == [2, 2])
    {
        return depthwise_3x3(layer, padding, x, &device);
    }
    layer.forward(x)
}

/// Outputs along one axis of `input` values padded by `padding` in all, under a `kernel` moved
/// by `stride`.
pub(super) fn output_len(input: usize, padding: usize, kernel: usize, stride: usize) -> usize {
    (input + padding - kernel) / stride + 1
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
    let oh = output_len(h, top + bottom, kh, sh);
    let ow = output_len(w, left + right, kw, sw);
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

/// A 3x3 depthwise convolution, stride 1 or 2. burn-flex adds each of the nine taps into the
/// output in its own pass (and strided taps one value at a time); here each output row is one
/// pass that sums all nine taps in registers, over a zero-padded copy of the input plane, split
/// into even and odd columns for stride 2 so that every read is contiguous.
fn depthwise_3x3(
    layer: &Conv2d,
    ((top, bottom), (left, right)): ((usize, usize), (usize, usize)),
    x: Tensor<4>,
    device: &Device,
) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let stride = layer.stride[0];
    let (ph, pw) = (h + top + bottom, w + left + right);
    let (oh, ow) = (
        output_len(h, top + bottom, 3, stride),
        output_len(w, left + right, 3, stride),
    );
    let values_of = |t: Tensor<1>| t.into_data().iter::<f32>().collect::<Vec<f32>>();
    let weights = values_of(layer.weight.val().reshape([c * 9]));
    let bias = layer.bias.as_ref().map(|b| values_of(b.val()));
    let mut out = vec![0.0f32; n * c * oh * ow];
    // One zero-padded input plane; for stride 2 split into its even and odd columns, so that
    // tap kx of output ox (column 2·ox + kx) is even[ox], odd[ox] or even[ox + 1].
    let mut padded = vec![0.0f32; ph * pw];
    let half = pw.div_ceil(2);
    let mut even = vec![0.0f32; if stride == 2 { ph * half } else { 0 }];
    let mut odd = vec![0.0f32; if stride == 2 { ph * half } else { 0 }];
    with_values(x, |values| {
        let planes = values
            .chunks_exact(h * w)
            .zip(out.chunks_exact_mut(oh * ow));
        for (plane_index, (plane, out_plane)) in planes.enumerate() {
            let ch = plane_index % c;
            let k: [f32; 9] = std::array::from_fn(|t| weights[ch * 9 + t]);
            let b = bias.as_ref().map_or(0.0, |b| b[ch]);
            for (src, dst) in plane
                .chunks_exact(w)
                .zip(padded[top * pw..].chunks_exact_mut(pw))
            {
                dst[left..left + w].copy_from_slice(src);
            }
            if stride == 2 {
                let split = padded.chunks_exact(pw).zip(even.chunks_exact_mut(half));
                for ((row, e), o) in split.zip(odd.chunks_exact_mut(half)) {
                    for (j, pair) in row.chunks(2).enumerate() {
                        e[j] = pair[0];
                        o[j] = pair.get(1).copied().unwrap_or(0.0);
                    }
                }
            }
            for (oy, dst) in out_plane.chunks_exact_mut(ow).enumerate() {
                // The nine taps, each a run of the output row's length.
                let mut taps: [&[f32]; 9] = [&[]; 9];
                for (t, tap) in taps.iter_mut().enumerate() {
                    let (ky, kx) = (t / 3, t % 3);
                    *tap = if stride == 1 {
                        &padded[(oy + ky) * pw + kx..][..ow]
                    } else {
                        let r = (2 * oy + ky) * half + kx / 2;
                        if kx == 1 {
                            &odd[r..][..ow]
                        } else {
                            &even[r..][..ow]
                        }
                    };
                }
                depthwise_row(dst, &taps, &k, b);
            }
        }
    });
    Tensor::from_data(TensorData::new(out, [n, c, oh, ow]), device)
}

/// `dst[i] = bias + Σ_t k[t]·taps[t][i]`, every tap as long as `dst`.
fn depthwise_row(dst: &mut [f32], taps: &[&[f32]; 9], k: &[f32; 9], bias: f32) {
    let done = depthwise_row_simd(dst, taps, k, bias);
    let dst = &mut dst[done..];
    // Nine runs exactly as long as `dst`: no bounds checks in the loop, which LLVM vectorises
    // natively. The sum runs in the SIMD path's order.
    let [t0, t1, t2, t3, t4, t5, t6, t7, t8] = taps.map(|t| &t[done..done + dst.len()]);
    for (i, d) in dst.iter_mut().enumerate() {
        *d = bias
            + k[0] * t0[i]
            + k[1] * t1[i]
            + k[2] * t2[i]
            + k[3] * t3[i]
            + k[4] * t4[i]
            + k[5] * t5[i]
            + k[6] * t6[i]
            + k[7] * t7[i]
            + k[8] * t8[i];
    }
}

/// Wasm: four outputs per step, the nine products summed in a register (LLVM leaves this loop
/// scalar there). Returns how many outputs it wrote.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn depthwise_row_simd(dst: &mut [f32], taps: &[&[f32]; 9], k: &[f32; 9], bias: f32) -> usize {
    use core::arch::wasm32::{f32x4_add, f32x4_mul, f32x4_splat, v128, v128_store};
    let n = dst.len() / 4 * 4;
    if taps.iter().any(|t| t.len() < n) {
        return 0;
    }
    let weights = k.map(|w| f32x4_splat(w));
    for i in (0..n).step_by(4) {
        let mut acc = f32x4_splat(bias);
        for (tap, &w) in taps.iter().zip(&weights) {
            // SAFETY: i + 4 <= n <= tap.len() (checked above); Wasm allows unaligned loads.
            let v = unsafe { (tap.as_ptr().add(i) as *const v128).read_unaligned() };
            acc = f32x4_add(acc, f32x4_mul(w, v));
        }
        // SAFETY: i + 4 <= n <= dst.len().
        unsafe { v128_store(dst.as_mut_ptr().add(i) as *mut v128, acc) };
    }
    n
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn depthwise_row_simd(_: &mut [f32], _: &[&[f32]; 9], _: &[f32; 9], _: f32) -> usize {
    0
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
            // Depthwise 3x3 (ours), stride 1 and 2, symmetric and asymmetric padding, odd sizes.
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
                Conv2dConfig::new([16, 16], [3, 3])
                    .with_groups(16)
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .with_bias(false),
                [2, 16, 13, 12],
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
