//! Layers the generated networks call instead of burn's own where burn's CPU kernel is slow
//! (build.rs rewrites the calls).

use burn::nn::pool::MaxPool2d;
use burn::tensor::{Device, Tensor, TensorData, s};

use super::conv::{output_len, padding_pairs, with_values};

/// `layer.forward(x)`, the same values. burn-flex's max pool is a scalar loop that also records
/// argmax indices it then drops: unpadded pools run here instead, on the CPU as a plain loop
/// over the planes, elsewhere (2x2, stride 2) as a reshape and two reductions.
pub fn max_pool(layer: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    let unpadded = padding_pairs(&layer.padding) == Some(((0, 0), (0, 0)));
    if !unpadded || layer.dilation != [1, 1] || layer.ceil_mode {
        return layer.forward(x);
    }
    let device = x.device();
    if device == Device::flex() {
        return max_pool_cpu(x, layer.kernel_size, layer.stride, &device);
    }
    if layer.kernel_size == [2, 2] && layer.stride == [2, 2] {
        let [n, c, h, w] = x.dims();
        let (oh, ow) = (h / 2, w / 2);
        let x = if h % 2 == 1 || w % 2 == 1 {
            x.slice(s![.., .., 0..oh * 2, 0..ow * 2])
        } else {
            x
        };
        return x
            .reshape([n * c * oh, 2, ow, 2])
            .max_dim(3)
            .max_dim(1)
            .reshape([n, c, oh, ow]);
    }
    layer.forward(x)
}

fn max_pool_cpu(
    x: Tensor<4>,
    [kh, kw]: [usize; 2],
    [sh, sw]: [usize; 2],
    device: &Device,
) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let (oh, ow) = (output_len(h, 0, kh, sh), output_len(w, 0, kw, sw));
    let mut out = vec![0.0f32; n * c * oh * ow];
    let mut column_max = vec![0.0f32; w];
    with_values(x, |values| {
        let rows_out = values
            .chunks_exact(h * w)
            .flat_map(|plane| (0..oh).map(move |oy| &plane[oy * sh * w..][..kh * w]));
        for (rows, dst) in rows_out.zip(out.chunks_exact_mut(ow)) {
            // The window's rows max-reduced down (contiguous: vectorised), then across.
            column_max.copy_from_slice(&rows[..w]);
            for row in rows[w..].chunks_exact(w) {
                for (m, &v) in column_max.iter_mut().zip(row) {
                    *m = larger(*m, v);
                }
            }
            if sw == 2 && (kw == 2 || kw == 3) {
                stride_2_max(&column_max, dst, kw == 3);
            } else {
                for (ox, d) in dst.iter_mut().enumerate() {
                    let window = &column_max[ox * sw..][..kw];
                    *d = window[1..].iter().fold(window[0], |a, &b| larger(a, b));
                }
            }
        }
    });
    Tensor::from_data(TensorData::new(out, [n, c, oh, ow]), device)
}

/// The larger of two values as a compare and select: `f32::max`'s NaN rule costs a call per
/// value in Wasm (no native maxNum), which made pooling a fifth of the face mesh's time.
#[inline(always)]
fn larger(a: f32, b: f32) -> f32 {
    if b > a { b } else { a }
}

/// Windows of 2 (or 3 with `three`) values at stride 2: `dst[i]` is the largest of `src[2i]`,
/// `src[2i + 1]` (and `src[2i + 2]`).
fn stride_2_max(src: &[f32], dst: &mut [f32], three: bool) {
    let done = stride_2_max_simd(src, dst, three);
    for (i, d) in dst.iter_mut().enumerate().skip(done) {
        let pair = larger(src[2 * i], src[2 * i + 1]);
        *d = if three {
            larger(pair, src[2 * i + 2])
        } else {
            pair
        };
    }
}

/// Wasm: four outputs per step from loads and even/odd shuffles (LLVM leaves these strided
/// windows scalar there). Returns how many outputs it wrote.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn stride_2_max_simd(src: &[f32], dst: &mut [f32], three: bool) -> usize {
    use core::arch::wasm32::{f32x4_pmax, i32x4_shuffle, v128, v128_store};
    // Block i reads src[8i .. 8i + 8], and src[8i + 2 .. 8i + 10] for the third value.
    let reach = if three { 10 } else { 8 };
    let blocks = (dst.len() / 4).min((src.len() + 8).saturating_sub(reach) / 8);
    // SAFETY: every load below reads src[at..at + 4] with at + 4 <= 8i + reach <= src.len()
    // for i < blocks, by the line above; Wasm allows unaligned access.
    let load = |at: usize| unsafe { (src.as_ptr().add(at) as *const v128).read_unaligned() };
    for i in 0..blocks {
        let (lo, hi) = (load(8 * i), load(8 * i + 4));
        let even = i32x4_shuffle::<0, 2, 4, 6>(lo, hi);
        let odd = i32x4_shuffle::<1, 3, 5, 7>(lo, hi);
        // pmax(a, b) = if a < b { b } else { a }: exactly `larger`.
        let mut max = f32x4_pmax(even, odd);
        if three {
            let next = i32x4_shuffle::<0, 2, 4, 6>(load(8 * i + 2), load(8 * i + 6));
            max = f32x4_pmax(max, next);
        }
        // SAFETY: 4i + 4 <= dst.len() for i < blocks (see above).
        unsafe { v128_store(dst.as_mut_ptr().add(4 * i) as *mut v128, max) };
    }
    4 * blocks
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn stride_2_max_simd(_src: &[f32], _dst: &mut [f32], _three: bool) -> usize {
    0
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::nn::pool::MaxPool2dConfig;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn equals_burns_max_pool_on_even_and_odd_sizes() {
        let device = Device::flex();
        for (k, stride) in [(2, 2), (3, 2), (3, 1)] {
            for (h, w) in [(8, 8), (7, 9), (96, 96)] {
                let len = 2 * 3 * h * w;
                // Distinct values in a scrambled order, so every window has one right answer.
                let data: Vec<f32> = (0..len)
                    .map(|i| ((i * 7919) % len) as f32 - 100.0)
                    .collect();
                let x: Tensor<4> = Tensor::from_data(TensorData::new(data, [2, 3, h, w]), &device);
                let layer = MaxPool2dConfig::new([k, k])
                    .with_strides([stride, stride])
                    .init();
                let reference = layer.forward(x.clone());
                let ours = max_pool(&layer, x);
                assert_eq!(ours.dims(), reference.dims(), "{k}x{k} stride {stride}");
                assert_eq!(
                    ours.into_data().try_to_vec::<f32>().unwrap(),
                    reference.into_data().try_to_vec::<f32>().unwrap(),
                    "{k}x{k} stride {stride} on {h}x{w}"
                );
            }
        }
    }
}
