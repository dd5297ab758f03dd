//! Layers the generated networks call instead of burn's own where burn's CPU kernel is slow
//! (build.rs rewrites the calls).

use burn::tensor::{Tensor, s};

/// Max pool with a 2x2 window, stride 2, no padding, floor mode: the same values as burn's
/// `MaxPool2d`, as a reshape and two reductions (vectorised on every backend), without the
/// argmax indices burn-flex computes and drops.
pub fn max_pool_2x2(x: Tensor<4>) -> Tensor<4> {
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
