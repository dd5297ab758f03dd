//! The shipped weight format: a burnpack file whose large kernels are int8 with one scale per
//! output channel, or one byte per value into a table of the tensor's own values, and whose
//! other floats are f16: a fifth to a half of the f32 file that burn-onnx writes. [`unpack`]
//! expands it back to an ordinary f32 burnpack at load time, so the networks always compute in
//! f32 and only storage and download shrink.
//!
//! build.rs compiles this same file (`#[path]`) to pack the weights it generates, so the format
//! is written and read by one piece of code. It depends on `burn_pack` and `half` only.

use std::collections::{BTreeMap, HashMap};

use burn_pack::{Bytes, DType, Reader, Scalar, Tensor, Writer};

/// Metadata key that marks a packed file; its value names the format version.
pub(crate) const PACKED_KEY: &str = "glance.weights";
const PACKED_FORMAT: &str = "q8-per-channel+table+f16/2";
/// Formats this build reads: the first version is the second without tables.
const READABLE_FORMATS: [&str; 2] = [PACKED_FORMAT, "q8-per-channel+f16/1"];
/// Suffix of the tensor holding an int8 kernel's per-channel scales (f32).
const SCALE_SUFFIX: &str = ":q8-scale";
/// Suffix of the tensor holding the values (f32) that a u8 kernel's bytes index.
const TABLE_SUFFIX: &str = ":u8-table";
/// Smaller kernels (biases, batch norms, small depthwise filters) stay f16: int8 would save
/// little there and they matter more per value.
const QUANTIZE_MIN_ELEMENTS: usize = 1024;
/// The largest finite f16; a tensor holding anything larger stays f32.
const F16_MAX: f32 = 65504.0;

/// How a network's large kernels (at least `QUANTIZE_MIN_ELEMENTS` values) are stored. At
/// either precision a kernel with at most 256 distinct values (weights that were quantized
/// before they were published, as face-api's are) is stored exactly, as a table of them and one
/// byte per value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Precision {
    /// int8 with a per-output-channel step of the channel's root mean square / `steps_per_rms`
    /// (or its largest value / 127 where that is coarser, so no value clips; `f32::INFINITY`:
    /// always that, the finest int8 step). The step, not the bit count, sets the size: the
    /// download's compression stores the small integers that a coarser step leaves in fewer
    /// bits. Other floats f16.
    Int8 { steps_per_rms: f32 },
    /// Every float f16.
    Half,
}

impl std::str::FromStr for Precision {
    type Err = String;

    /// `half`, `int8` (the finest step) or `int8:<steps per rms>`, e.g. `int8:24`.
    fn from_str(text: &str) -> Result<Self, String> {
        match text.split_once(':') {
            None if text == "half" => Ok(Precision::Half),
            None if text == "int8" => Ok(Precision::Int8 {
                steps_per_rms: f32::INFINITY,
            }),
            Some(("int8", steps)) => match steps.parse::<f32>() {
                Ok(steps_per_rms) if steps_per_rms > 0.0 => Ok(Precision::Int8 { steps_per_rms }),
                _ => Err(format!(
                    "{text}: the steps per rms must be a number above 0"
                )),
            },
            _ => Err(format!(
                "{text}: expected half, int8 or int8:<steps per rms>"
            )),
        }
    }
}

/// Every network and how its shipped weights are stored, chosen with the accuracy bench's
/// `weights` and `wider` sections (GLANCE_PACK tries others). The face mesh and iris take a
/// coarser step than int8's finest at no change in the dev sets' verdicts (head pose moves
/// 0.26° on average). CenterFace and BlazeFace full range keep the finest: coarser steps moved
/// WIDER recall or false positives, and the boxes. BlazeFace short range (trained in f16, so
/// f16 is lossless) stays f16: in int8 its boxes moved (mean IoU 0.94 with the exact ones with
/// both BlazeFace networks in int8) and with them the age/gender crops. age/gender's kernels
/// are face-api's own 8-bit values, stored exactly as tables.
pub const SHIPPED: [(&str, Precision); 6] = [
    (
        "face_detection_full_range",
        Precision::Int8 {
            steps_per_rms: f32::INFINITY,
        },
    ),
    ("face_detection_short_range", Precision::Half),
    (
        "face_landmark",
        Precision::Int8 {
            steps_per_rms: 24.0,
        },
    ),
    (
        "iris_landmark",
        Precision::Int8 {
            steps_per_rms: 16.0,
        },
    ),
    ("age_gender", Precision::Half),
    (
        "centerface",
        Precision::Int8 {
            steps_per_rms: f32::INFINITY,
        },
    ),
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

/// The tensor's distinct values, sorted, when there are at most 256 of them.
fn distinct_values(values: &[f32]) -> Option<Vec<f32>> {
    let mut table: Vec<f32> = Vec::with_capacity(256);
    for v in values {
        if let Err(at) = table.binary_search_by(|t| t.total_cmp(v)) {
            if table.len() == 256 {
                return None;
            }
            table.insert(at, *v);
        }
    }
    Some(table)
}

/// A packed kernel and the f32 tensor (`<kernel><suffix>`: its scales or its table) that
/// [`unpack`] expands it with.
fn with_side_tensor(kernel: Tensor, suffix: &str, side: Vec<f32>) -> [Tensor; 2] {
    let side = Tensor::new(
        format!("{}{suffix}", kernel.name),
        DType::F32,
        vec![side.len()],
        None,
        to_bytes(side),
    );
    [side, kernel]
}

/// `values` in int8 with one scale per output channel (`count` of them, `channel` giving each
/// value's): the channel's RMS over `steps_per_rms`, never finer than its largest value / 127,
/// so nothing clips. The int8 values (as bytes) and the scales.
fn quantize_int8(
    values: &[f32],
    count: usize,
    channel: &ChannelOf,
    steps_per_rms: f32,
) -> (Vec<u8>, Vec<f32>) {
    let mut largest = vec![0f32; count];
    let mut squares = vec![0f64; count];
    let mut members = vec![0usize; count];
    for (i, v) in values.iter().enumerate() {
        let c = channel(i);
        largest[c] = largest[c].max(v.abs());
        squares[c] += f64::from(*v) * f64::from(*v);
        members[c] += 1;
    }
    let scales: Vec<f32> = (0..count)
        .map(|c| {
            let rms = (squares[c] / members[c].max(1) as f64).sqrt() as f32;
            (rms / steps_per_rms).max(largest[c] / 127.0)
        })
        .collect();
    let quantized = values
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
    (quantized, scales)
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
        let large = values.len() >= QUANTIZE_MIN_ELEMENTS;
        if let Some(table) = large.then(|| distinct_values(&values)).flatten() {
            let indices: Vec<u8> = values
                .iter()
                .map(|v| table.partition_point(|t| t.total_cmp(v).is_lt()) as u8)
                .collect();
            let kernel = Tensor::new(
                name,
                DType::U8,
                dims,
                param_id,
                Bytes::from_bytes_vec(indices),
            );
            packed.extend(with_side_tensor(kernel, TABLE_SUFFIX, table));
            continue;
        }
        let int8 = match precision {
            Precision::Int8 { steps_per_rms } if large => {
                channel_of(&dims).map(|channels| (channels, steps_per_rms))
            }
            _ => None,
        };
        if let Some(((count, channel), steps_per_rms)) = int8 {
            let (quantized, scales) = quantize_int8(&values, count, &channel, steps_per_rms);
            let kernel = Tensor::new(
                name,
                DType::I8,
                dims,
                param_id,
                Bytes::from_bytes_vec(quantized),
            );
            packed.extend(with_side_tensor(kernel, SCALE_SUFFIX, scales));
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
        Some(format) if !READABLE_FORMATS.contains(&format.as_str()) => {
            return Err(format!(
                "weights packed as {format}, this build reads {PACKED_FORMAT}"
            ));
        }
        Some(_) => {}
    }
    let metadata = reader.metadata().clone();
    let scalars = reader.scalars().clone();
    let (mut scales, mut tables) = (HashMap::new(), HashMap::new());
    let mut rest = Vec::new();
    for tensor in reader.into_tensors().map_err(|e| e.to_string())? {
        let side = if let Some(kernel) = tensor.name.strip_suffix(SCALE_SUFFIX) {
            Some((&mut scales, kernel.to_string()))
        } else {
            tensor
                .name
                .strip_suffix(TABLE_SUFFIX)
                .map(|kernel| (&mut tables, kernel.to_string()))
        };
        match side {
            Some((into, kernel)) => {
                into.insert(
                    kernel,
                    f32s(&tensor.into_bytes().map_err(|e| e.to_string())?),
                );
            }
            None => rest.push(tensor),
        }
    }
    let mut expanded = Vec::with_capacity(rest.len());
    for tensor in rest {
        expanded.push(expand(tensor, &scales, &tables)?);
    }
    let unmarked = metadata.into_iter().filter(|(key, _)| key != PACKED_KEY);
    write(expanded, unmarked, scalars)
}

/// One tensor of a packed file as f32 (f16, int8 with its scales, u8 with its table); any other
/// tensor as it is.
fn expand(
    tensor: Tensor,
    scales: &HashMap<String, Vec<f32>>,
    tables: &HashMap<String, Vec<f32>>,
) -> Result<Tensor, String> {
    let (name, dtype, shape, param_id, data) = tensor.into_parts().map_err(|e| e.to_string())?;
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
        DType::U8 => {
            let table = tables
                .get(&name)
                .ok_or_else(|| format!("{name}: u8 kernel without its table"))?;
            let value = |&i: &u8| {
                table
                    .get(usize::from(i))
                    .copied()
                    .ok_or_else(|| format!("{name}: index {i} beyond its table"))
            };
            to_bytes(data.iter().map(value).collect::<Result<Vec<_>, _>>()?)
        }
        _ => return Ok(Tensor::new(name, dtype, dims, param_id, data)),
    };
    Ok(Tensor::new(name, DType::F32, dims, param_id, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INT8: Precision = Precision::Int8 {
        steps_per_rms: 12.0,
    };

    fn tensor(name: &str, shape: Vec<usize>, values: &[f32]) -> Tensor {
        Tensor::new(
            name.into(),
            DType::F32,
            shape,
            Some(7),
            to_bytes(values.iter().copied()),
        )
    }

    /// `n` values in ±`scale`, 1009 distinct ones.
    fn values(n: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7919 % 1009) as f32 / 504.0 - 1.0) * scale)
            .collect()
    }

    /// A conv kernel whose channels differ in range a linear
    /// weight (channel 0 with one outlier), a kernel of 50 distinct values, a bias and a pad value beyond f16.
    fn model() -> Vec<u8> {
        let mut conv = values(16 * 8 * 9, 0.5);
        for (i, v) in conv.iter_mut().enumerate() {
            *v *= 1.0 + (i / 72) as f32; // channel c spans ±0.5·(c+1)
        }
        let mut fc = values(1200, 0.1);
        fc[4] = 5.0; // channel 0's rms / 12 would clip it at 127 steps
        let grid: Vec<f32> = (0..1200)
            .map(|i| (i * 37 % 50) as f32 * 0.013 - 0.3)
            .collect();
        let tensors = vec![
            tensor("conv.weight", vec![16, 8, 3, 3], &conv),
            tensor("fc.weight", vec![600, 2], &fc),
            tensor("grid.weight", vec![40, 30], &grid),
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

    /// Each channel's step as the packer chooses it: rms / steps, never finer than max / 127.
    fn steps(shape: &[usize], values: &[f32], steps_per_rms: f32) -> Vec<f32> {
        let (count, channel) = channel_of(shape).unwrap();
        let mut largest = vec![0f32; count];
        let mut squares = vec![0f32; count];
        let mut members = vec![0f32; count];
        for (i, v) in values.iter().enumerate() {
            let c = channel(i);
            largest[c] = largest[c].max(v.abs());
            squares[c] += v * v;
            members[c] += 1.0;
        }
        (0..count)
            .map(|c| ((squares[c] / members[c]).sqrt() / steps_per_rms).max(largest[c] / 127.0))
            .collect()
    }

    #[test]
    fn int8_packing_keeps_each_weight_within_half_its_channels_step_and_tables_exact() {
        let original = model();
        let packed = pack(&original, INT8).unwrap();
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
        assert_eq!(
            dtype("grid.weight"),
            DType::U8,
            "50 distinct values: a table"
        );
        assert_eq!(dtype("conv.bias"), DType::F16, "small tensors stay f16");
        assert_eq!(dtype("pad"), DType::F32, "beyond f16's range stays f32");

        let (metadata, expanded) = read(&unpack(&Bytes::from_bytes_vec(packed)).unwrap());
        assert_eq!(metadata["producer"], "test");
        assert!(!metadata.contains_key(PACKED_KEY));
        let (_, before) = read(&original);
        assert_eq!(
            expanded.len(),
            before.len(),
            "scale and table tensors are gone"
        );
        for (name, dtype, shape, values) in &before {
            let after = expanded.iter().find(|t| &t.0 == name).unwrap();
            assert_eq!((after.1, &after.2), (*dtype, shape), "{name}");
            let step = match name.as_str() {
                "conv.weight" | "fc.weight" => steps(shape, values, 12.0),
                _ => Vec::new(),
            };
            let (_, channel) = channel_of(shape).unwrap_or((1, Box::new(|_| 0)));
            for (i, (a, b)) in values.iter().zip(&after.3).enumerate() {
                let allowed = match name.as_str() {
                    "conv.weight" | "fc.weight" => step[channel(i)] / 2.0 * 1.0001,
                    "conv.bias" => a.abs() / 1024.0,
                    _ => 0.0,
                };
                assert!((a - b).abs() <= allowed, "{name}[{i}]: {a} became {b}");
            }
        }
        // The outlier is kept, not clipped: its channel's step is its largest value / 127.
        let fc = &expanded.iter().find(|t| t.0 == "fc.weight").unwrap().3;
        assert!((fc[4] - 5.0).abs() <= 5.0 / 127.0 / 2.0, "{}", fc[4]);
    }

    #[test]
    fn a_coarser_step_leaves_smaller_integers() {
        let integers = |steps_per_rms: f32| {
            let packed = pack(&model(), Precision::Int8 { steps_per_rms }).unwrap();
            let reader = Reader::from_bytes(Bytes::from_bytes_vec(packed)).unwrap();
            let fc = reader
                .into_tensors()
                .unwrap()
                .into_iter()
                .find(|t| t.name == "fc.weight")
                .unwrap();
            let data = fc.into_bytes().unwrap();
            // Channel 1, without channel 0's outlier.
            let channel_1 = data.iter().skip(1).step_by(2);
            channel_1.map(|&q| (q as i8).unsigned_abs()).max().unwrap()
        };
        // Uniform values: the rms is the largest / √3, so the largest is √3 · steps steps.
        assert_eq!(integers(12.0), 21);
        assert_eq!(integers(6.0), 10);
    }

    #[test]
    fn half_packing_stores_every_float_as_f16_except_tables() {
        let packed = pack(&model(), Precision::Half).unwrap();
        let (_, stored) = read(&packed);
        for (name, dtype, _, _) in &stored {
            let expected = match name.as_str() {
                "pad" | "grid.weight:u8-table" => DType::F32,
                "grid.weight" => DType::U8,
                _ => DType::F16,
            };
            assert_eq!(*dtype, expected, "{name}");
        }
    }

    #[test]
    fn precision_reads_from_text() {
        assert_eq!("half".parse(), Ok(Precision::Half));
        assert_eq!("int8:8".parse(), Ok(Precision::Int8 { steps_per_rms: 8.0 }));
        assert_eq!(
            "int8".parse(),
            Ok(Precision::Int8 {
                steps_per_rms: f32::INFINITY
            })
        );
        for wrong in ["int8:0", "int8:x", "f16"] {
            assert!(wrong.parse::<Precision>().is_err(), "{wrong}");
        }
    }

    #[test]
    fn unpacked_and_first_format_files_load_and_an_unknown_format_is_refused() {
        let original = model();
        let same = unpack(&Bytes::from_bytes_vec(original.clone())).unwrap();
        assert_eq!(&same[..], &original[..]);
        // A file of the first format: int8 kernels and f16, no tables.
        let packed = pack(&original, INT8).unwrap();
        let reader = Reader::from_bytes(Bytes::from_bytes_vec(packed)).unwrap();
        let first: Vec<Tensor> = reader
            .into_tensors()
            .unwrap()
            .into_iter()
            .filter(|t| !t.name.starts_with("grid.weight"))
            .collect();
        let first = write(
            first,
            [(PACKED_KEY.to_string(), "q8-per-channel+f16/1".to_string())],
            BTreeMap::new(),
        )
        .unwrap();
        let (_, expanded) = read(&unpack(&first).unwrap());
        assert_eq!(expanded.len(), 4);
        assert!(expanded.iter().all(|t| t.1 == DType::F32));

        let future = Writer::new(vec![tensor("w", vec![1], &[1.0])])
            .with_metadata(PACKED_KEY, "q4/9")
            .into_bytes()
            .unwrap();
        let err = unpack(&future).unwrap_err();
        assert!(err.contains("q4/9"), "{err}");
    }
}
