//! The same pipeline on burn's wgpu backend (Vulkan natively; lavapipe on machines without a
//! GPU) must agree with the CPU backend. Runs with `cargo test --features wgpu`.
#![cfg(not(target_arch = "wasm32"))]
#![cfg(feature = "wgpu")]

mod common;

use burn::tensor::{Device, DeviceKind};
use glance::vision::{ModelWeights, Pipeline, PipelineOptions};

#[test]
fn wgpu_and_cpu_backends_agree_on_the_astronaut() {
    let image = common::astronaut();
    let frame = image.frame().unwrap();
    let weights = ModelWeights::embedded();
    let cpu = Pipeline::new(&Device::flex(), &weights, PipelineOptions::default()).unwrap();
    let gpu = Pipeline::new(
        &Device::wgpu(DeviceKind::DefaultDevice),
        &weights,
        PipelineOptions::default(),
    )
    .unwrap();
    let a = pollster::block_on(cpu.analyze(&frame, 0.0)).unwrap();
    let b = pollster::block_on(gpu.analyze(&frame, 0.0)).unwrap();
    assert_eq!(a.faces.len(), 1);
    assert_eq!(b.faces.len(), 1);
    let (fa, fb) = (&a.faces[0], &b.faces[0]);
    for k in 0..4 {
        assert!(
            (fa.bbox[k] - fb.bbox[k]).abs() < 0.5,
            "{:?} vs {:?}",
            fa.bbox,
            fb.bbox
        );
    }
    assert!((fa.yaw.unwrap() - fb.yaw.unwrap()).abs() < 0.5);
    assert!((fa.age.unwrap() - fb.age.unwrap()).abs() < 0.5);
    assert_eq!(fa.gender, fb.gender);
}
