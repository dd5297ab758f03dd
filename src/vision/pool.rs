//! Layers the generated networks call instead of burn's own where burn's CPU kernel is slow
//! (build.rs rewrites the calls).

use burn::nn::pool::MaxPool2d;
use burn::tensor::{Device, Tensor, TensorData, s};

use super::conv::{padding_pairs, with_values};

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
    let (oh, ow) = ((h - kh) / sh + 1, (w - kw) / sw + 1);
    let mut out = Vec::with_capacity(n * c * oh * ow);
    let mut row_max = vec![f32::NEG_INFINITY; ow];
    with_values(x, |values| {
        for plane in values.chunks_exact(h * w) {
            for oy in 0..oh {
                // The window's rows, max-reduced down, then across.
                row_max.fill(f32::NEG_INFINITY);
                for ky in 0..kh {
                    let row = &plane[(oy * sh + ky) * w..][..w];
                    for (ox, m) in row_max.iter_mut().enumerate() {
                        let window = &row[ox * sw..][..kw];
                        *m = window.iter().fold(*m, |a, &b| a.max(b));
                    }
                }
                out.extend_from_slice(&row_max);
            }
        }
    });
    Tensor::from_data(TensorData::new(out, [n, c, oh, ow]), device)
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
