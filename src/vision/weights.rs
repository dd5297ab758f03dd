//! The shipped weight format: a burnpack file whose large kernels are int8 with one scale per
//! output channel and whose other floats are f16, a quarter to a half of the f32 file that
//! burn-onnx writes. [`unpack`] expands it back to an ordinary f32 burnpack at load time, so
//! the networks always compute in f32 and only storage and download shrink.
//!
//! build.rs compiles this same file (`#[path]`) to pack the weights it generates, so the format
//! is written and read by one piece of code. It depends on `burn_pack` and `half` only.

use std::collections::BTreeMap;

use burn_pack::{Bytes, DType, Reader, Scalar, Tensor, Writer};

/// Metadata key that marks a packed file; its value names the format version.
pub const PACKED_KEY: &str = "glance.weights";
const PACKED_FORMAT: &str = "q8-per-channel+f16/1";
/// Suffix of the tensor holding an int8 kernel's per-channel scales (f32).
const SCALE_SUFFIX: &str = ":q8-scale";
/// Smaller kernels (biases, batch norms, small depthwise filters) stay f16: int8 would save
/// little there and they matter more per value.
const QUANTIZE_MIN_ELEMENTS: usize = 1024;
/// The largest finite f16; a tensor holding anything larger stays f32.
const F16_MAX: f32 = 65504.0;

/// How a network's large kernels are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// int8 with a per-output-channel scale; other floats f16.
    Int8,
    /// Every float f16.
    Half,
}

/// Every network and how its shipped weights are stored. int8 where the accuracy bench's
/// `weights` section saw no change on the dev sets; BlazeFace (trained in f16, so lossless) and
/// age/gender (whose int8 kernels moved FairFace gender and age) stay f16.
pub const SHIPPED: [(&str, Precision); 6] = [
    ("face_detection_full_range", Precision::Half),
    ("face_detection_short_range", Precision::Half),
    ("face_landmark", Precision::Int8),
    ("iris_landmark", Precision::Int8),
    ("age_gender", Precision::Half),
    ("centerface", Precision::Int8),
];

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn to_bytes(values: impl IntoIterator<Item = f32>) -> Bytes {
    Bytes::from_bytes_vec(values.into_iter().flat_map(f32::to_le_bytes).collect())
}

/// Maps an element's index to its channel.
type ChannelOf = Box<dyn Fn(usize) -> usize>;

/// How many channels a kernel has and which one each element belongs to: the output channel,
/// which is axis 0 of a conv kernel `[out, in, kh, kw]` and axis 1 of a burn linear weight
/// `[in, out]`.
fn channel_of(shape: &[usize]) -> Option<(usize, ChannelOf)> {
    match *shape {
        [out, ..] if shape.len() == 4 => {
            let per_channel = shape[1..].iter().product::<usize>().max(1);
            Some((out, Box::new(move |i| i / per_channel)))
        }
        [_, out] => Some((out, Box::new(move |i| i % out))),
        _ => None,
    }
}

/// Packs an f32 burnpack file (as burn-onnx writes it) at `precision`.
pub fn pack(bpk: &[u8], precision: Precision) -> Result<Vec<u8>, String> {
    let reader =
        Reader::from_bytes(Bytes::from_bytes_vec(bpk.to_vec())).map_err(|e| e.to_string())?;
    let metadata = reader.metadata().clone();
    let scalars = reader.scalars().clone();
    let mut packed = Vec::new();
    for tensor in reader.into_tensors().map_err(|e| e.to_string())? {
        let (name, dtype, shape, param_id, bytes) =
            tensor.into_parts().map_err(|e| e.to_string())?;
        let dims = shape.to_vec();
        if dtype != DType::F32 {
            packed.push(Tensor::new(name, dtype, dims, param_id, bytes));
            continue;
        }
        let values = f32s(&bytes);
        let largest = values.iter().fold(0f32, |m, v| m.max(v.abs()));
        if !largest.is_finite() || largest > F16_MAX {
            packed.push(Tensor::new(name, dtype, dims, param_id, bytes));
            continue;
        }
        let channels = channel_of(&dims)
            .filter(|_| precision == Precision::Int8 && values.len() >= QUANTIZE_MIN_ELEMENTS);
        if let Some((count, channel)) = channels {
            let mut scales = vec![0f32; count];
            for (i, v) in values.iter().enumerate() {
                let c = channel(i);
                scales[c] = scales[c].max(v.abs() / 127.0);
            }
            let quantized: Vec<u8> = values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let scale = scales[channel(i)];
                    let q = if scale > 0.0 {
                        (v / scale).round()
                    } else {
                        0.0
                    };
                    (q.clamp(-127.0, 127.0) as i8) as u8
                })
                .collect();
            packed.push(Tensor::new(
                format!("{name}{SCALE_SUFFIX}"),
                DType::F32,
                vec![count],
                None,
                to_bytes(scales),
            ));
            packed.push(Tensor::new(
                name,
                DType::I8,
                dims,
                param_id,
                Bytes::from_bytes_vec(quantized),
            ));
        } else {
            let halves: Vec<u8> = values
                .iter()
                .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                .collect();
            packed.push(Tensor::new(
                name,
                DType::F16,
                dims,
                param_id,
                Bytes::from_bytes_vec(halves),
            ));
        }
    }
    let marked = metadata
        .into_iter()
        .chain([(PACKED_KEY.to_string(), PACKED_FORMAT.to_string())]);
    Ok(write(packed, marked, scalars)?.to_vec())
}

/// A burnpack file of `tensors` with `metadata` and `scalars`.
fn write(
    tensors: Vec<Tensor>,
    metadata: impl IntoIterator<Item = (String, String)>,
    scalars: BTreeMap<String, Scalar>,
) -> Result<Bytes, String> {
    let mut writer = Writer::new(tensors);
    for (key, value) in metadata {
        writer = writer.with_metadata(&key, &value);
    }
    for (key, value) in scalars {
        writer = writer.with_scalar(&key, value);
    }
    writer.into_bytes().map_err(|e| e.to_string())
}

/// An ordinary f32 burnpack from a packed one; any other burnpack comes back unchanged, so
/// f32 files from burn-onnx still load.
pub fn unpack(bytes: &Bytes) -> Result<Bytes, String> {
    let reader = Reader::from_bytes(bytes.clone()).map_err(|e| e.to_string())?;
    match reader.metadata().get(PACKED_KEY) {
        None => return Ok(bytes.clone()),
        Some(format) if format != PACKED_FORMAT => {
            return Err(format!(
                "weights packed as {format}, this build reads {PACKED_FORMAT}"
            ));
        }
        Some(_) => {}
    }
    let metadata = reader.metadata().clone();
    let scalars = reader.scalars().clone();
    let mut scales = std::collections::HashMap::new();
    let mut rest = Vec::new();
    for tensor in reader.into_tensors().map_err(|e| e.to_string())? {
        match tensor.name.strip_suffix(SCALE_SUFFIX) {
            Some(kernel) => {
                let kernel = kernel.to_string();
                scales.insert(
                    kernel,
                    f32s(&tensor.into_bytes().map_err(|e| e.to_string())?),
                );
            }
            None => rest.push(tensor),
        }
    }
    let mut expanded = Vec::with_capacity(rest.len());
    for tensor in rest {
        let (name, dtype, shape, param_id, data) =
            tensor.into_parts().map_err(|e| e.to_string())?;
        let dims = shape.to_vec();
        let values = match dtype {
            DType::F16 => to_bytes(
                data.chunks_exact(2)
                    .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()),
            ),
            DType::I8 => {
                let scales = scales
                    .get(&name)
                    .ok_or_else(|| format!("{name}: int8 kernel without scales"))?;
                let (count, channel) = channel_of(&dims)
                    .ok_or_else(|| format!("{name}: int8 tensor of shape {dims:?}"))?;
                if scales.len() != count {
                    return Err(format!(
                        "{name}: {} scales for {count} channels",
                        scales.len()
                    ));
                }
                to_bytes(
                    data.iter()
                        .enumerate()
                        .map(|(i, &q)| q as i8 as f32 * scales[channel(i)]),
                )
            }
            _ => {
                expanded.push(Tensor::new(name, dtype, dims, param_id, data));
                continue;
            }
        };
        expanded.push(Tensor::new(name, DType::F32, dims, param_id, values));
    }
    let unmarked = metadata.into_iter().filter(|(key, _)| key != PACKED_KEY);
    write(expanded, unmarked, scalars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(name: &str, shape: Vec<usize>, values: &[f32]) -> Tensor {
        Tensor::new(
            name.into(),
            DType::F32,
            shape,
            Some(7),
            to_bytes(values.iter().copied()),
        )
    }

    fn values(n: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0 * scale)
            .collect()
    }

    /// A conv kernel whose channels differ in range, a linear weight, a bias and a pad value
    /// beyond f16.
    fn model() -> Vec<u8> {
        let mut conv = values(16 * 8 * 9, 0.5);
        for (i, v) in conv.iter_mut().enumerate() {
            *v *= 1.0 + (i / 72) as f32; // channel c spans ±0.5·(c+1)
        }
        let tensors = vec![
            tensor("conv.weight", vec![16, 8, 3, 3], &conv),
            tensor("fc.weight", vec![600, 2], &values(1200, 0.1)),
            tensor("conv.bias", vec![16], &values(16, 3.0)),
            tensor("pad", vec![1], &[3e38]),
        ];
        Writer::new(tensors)
            .with_metadata("producer", "test")
            .into_bytes()
            .unwrap()
            .to_vec()
    }

    /// A stored tensor: name, dtype, shape, and its values when f32.
    type Stored = (String, DType, Vec<usize>, Vec<f32>);

    /// A file's metadata and its tensors.
    fn read(bytes: &[u8]) -> (BTreeMap<String, String>, Vec<Stored>) {
        let reader = Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec())).unwrap();
        let metadata = reader.metadata().clone();
        let tensors = reader
            .into_tensors()
            .unwrap()
            .into_iter()
            .map(|t| {
                let (name, dtype, shape, _, data) = t.into_parts().unwrap();
                let values = if dtype == DType::F32 {
                    f32s(&data)
                } else {
                    Vec::new()
                };
                (name, dtype, shape.to_vec(), values)
            })
            .collect();
        (metadata, tensors)
    }

    #[test]
    fn int8_packing_keeps_each_weight_within_half_a_step_of_its_channel() {
        let original = model();
        let packed = pack(&original, Precision::Int8).unwrap();
        assert!(
            packed.len() * 2 < original.len(),
            "{} vs {}",
            packed.len(),
            original.len()
        );
        let (_, stored) = read(&packed);
        let dtype = |n: &str| stored.iter().find(|t| t.0 == n).unwrap().1;
        assert_eq!(dtype("conv.weight"), DType::I8);
        assert_eq!(dtype("fc.weight"), DType::I8);
        assert_eq!(dtype("conv.bias"), DType::F16, "small tensors stay f16");
        assert_eq!(dtype("pad"), DType::F32, "beyond f16's range stays f32");

        let (metadata, expanded) = read(&unpack(&Bytes::from_bytes_vec(packed)).unwrap());
        assert_eq!(metadata["producer"], "test");
        assert!(!metadata.contains_key(PACKED_KEY));
        let (_, before) = read(&original);
        assert_eq!(expanded.len(), before.len(), "scale tensors are gone again");
        for (name, dtype, shape, values) in &before {
            let after = expanded.iter().find(|t| &t.0 == name).unwrap();
            assert_eq!((after.1, &after.2), (*dtype, shape), "{name}");
            let (count, channel) = channel_of(shape).unwrap_or((1, Box::new(|_| 0)));
            let mut largest = vec![0f32; count];
            for (i, v) in values.iter().enumerate() {
                largest[channel(i)] = largest[channel(i)].max(v.abs());
            }
            for (i, (a, b)) in values.iter().zip(&after.3).enumerate() {
                let allowed = match name.as_str() {
                    "conv.weight" | "fc.weight" => largest[channel(i)] / 127.0 / 2.0 * 1.0001,
                    "conv.bias" => a.abs() / 1024.0,
                    _ => 0.0,
                };
                assert!((a - b).abs() <= allowed, "{name}[{i}]: {a} became {b}");
            }
        }
    }

    #[test]
    fn half_packing_stores_every_float_as_f16() {
        let packed = pack(&model(), Precision::Half).unwrap();
        let (_, stored) = read(&packed);
        for (name, dtype, _, _) in &stored {
            let expected = if name == "pad" {
                DType::F32
            } else {
                DType::F16
            };
            assert_eq!(*dtype, expected, "{name}");
        }
    }

    #[test]
    fn an_unpacked_file_loads_unchanged_and_an_unknown_format_is_refused() {
        let original = model();
        let same = unpack(&Bytes::from_bytes_vec(original.clone())).unwrap();
        assert_eq!(&same[..], &original[..]);
        let future = Writer::new(vec![tensor("w", vec![1], &[1.0])])
            .with_metadata(PACKED_KEY, "q4/9")
            .into_bytes()
            .unwrap();
        let err = unpack(&future).unwrap_err();
        assert!(err.contains("q4/9"), "{err}");
    }
}
