//! Layers the generated networks call instead of burn's own where burn's CPU kernel is slow
//! (build.rs rewrites the calls).

use burn::tensor::{Device, Tensor, TensorData, s};

/// Max pool with a 2x2 window, stride 2, no padding, floor mode: the same values as burn's
/// `MaxPool2d`, without the argmax indices burn-flex computes and drops. On the CPU a plain
/// loop over the planes (burn-flex's strided reductions are 5x slower); elsewhere a reshape
/// and two reductions.
pub fn max_pool_2x2(x: Tensor<4>) -> Tensor<4> {
    let device = x.device();
    if device == Device::flex() {
        return max_pool_2x2_cpu(x, &device);
    }
    let [n, c, h, w] = x.dims();
    let (oh, ow) = (h / 2, w / 2);
    let x = if h % 2 == 1 || w % 2 == 1 {
        x.slice(s![.., .., 0..oh * 2, 0..ow * 2])
    } else {
        x
    };
    x.reshape([n * c * oh, 2, ow, 2])
        .max_dim(3)
        .max_dim(1)
        .reshape([n, c, oh, ow])
}

fn max_pool_2x2_cpu(x: Tensor<4>, device: &Device) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let (oh, ow) = (h / 2, w / 2);
    let data = x.into_data();
    // A tensor shared with another layer comes out as a byte copy, aligned for f32 in practice;
    // an unaligned one is converted.
    let converted: Vec<f32>;
    let values = match data.as_slice::<f32>() {
        Ok(values) => values,
        Err(_) => {
            converted = data.iter::<f32>().collect();
            &converted
        }
    };
    let mut out = Vec::with_capacity(n * c * oh * ow);
    for plane in values.chunks_exact(h * w) {
        for y in 0..oh {
            let top = &plane[2 * y * w..][..2 * ow];
            let bottom = &plane[(2 * y + 1) * w..][..2 * ow];
            out.extend(
                top.chunks_exact(2)
                    .zip(bottom.chunks_exact(2))
                    .map(|(t, b)| t[0].max(t[1]).max(b[0].max(b[1]))),
            );
        }
    }
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
        for (h, w) in [(8, 8), (7, 9), (96, 96)] {
            let len = 2 * 3 * h * w;
            // Distinct values in a scrambled order, so every window has one right answer.
            let data: Vec<f32> = (0..len)
                .map(|i| ((i * 7919) % len) as f32 - 100.0)
                .collect();
            let x: Tensor<4> = Tensor::from_data(TensorData::new(data, [2, 3, h, w]), &device);
            let reference = MaxPool2dConfig::new([2, 2])
                .with_strides([2, 2])
                .init()
                .forward(x.clone());
            let ours = max_pool_2x2(x);
            assert_eq!(ours.dims(), reference.dims());
            assert_eq!(
                ours.into_data().try_to_vec::<f32>().unwrap(),
                reference.into_data().try_to_vec::<f32>().unwrap()
            );
        }
    }
}
