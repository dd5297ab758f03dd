//! The six networks on one burn device. Inputs and outputs cross as flat `Vec<f32>` so the
//! pre- and post-processing around them stays plain Rust. Reads are async because WebGPU in the
//! browser cannot block; natively the futures complete at once.

use burn::tensor::{Bytes, Device, Tensor, TensorData};
use burn_store::{BurnpackStore, ModuleSnapshot};

use super::detector::DetectorModel;
use super::models::{
    age_gender, centerface, face_detection_full_range, face_detection_short_range, face_landmark,
    iris_landmark,
};
use crate::error::{GlanceError, Result};

/// Weight files for every network: burnpack files as shipped (packed, see
/// [`super::weights`]) or plain f32 ones.
#[derive(Clone)]
pub struct ModelWeights {
    pub face_detection_full_range: Bytes,
    pub face_detection_short_range: Bytes,
    pub face_landmark: Bytes,
    pub iris_landmark: Bytes,
    pub age_gender: Bytes,
    pub centerface: Bytes,
}

impl std::fmt::Debug for ModelWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelWeights")
            .field("bytes", &self.total_bytes())
            .finish()
    }
}

impl ModelWeights {
    /// The weights compiled into the binary (the `embed-models` feature), packed as shipped.
    #[cfg(feature = "embed-models")]
    pub fn embedded() -> Self {
        macro_rules! bpk {
            ($name:literal) => {
                Bytes::from_bytes_vec(
                    include_bytes!(concat!(env!("OUT_DIR"), "/models/", $name, ".packed.bpk"))
                        .to_vec(),
                )
            };
        }
        ModelWeights {
            face_detection_full_range: bpk!("face_detection_full_range"),
            face_detection_short_range: bpk!("face_detection_short_range"),
            face_landmark: bpk!("face_landmark"),
            iris_landmark: bpk!("iris_landmark"),
            age_gender: bpk!("age_gender"),
            centerface: bpk!("centerface"),
        }
    }

    /// The exact f32 weights burn-onnx converted, read from this build's output folder: for the
    /// model tests against onnxruntime and the accuracy bench's packing comparison, on the
    /// machine that built the crate.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn exact_from_build() -> std::io::Result<Self> {
        Self::try_from_files(|name| {
            let path = concat!(env!("OUT_DIR"), "/models/");
            Ok(Bytes::from_bytes_vec(std::fs::read(format!(
                "{path}{name}.bpk"
            ))?))
        })
    }

    /// Weights from each network's file, asked for by name in the order of
    /// [`super::weights::SHIPPED`].
    pub fn try_from_files<E>(
        mut file: impl FnMut(&'static str) -> Result<Bytes, E>,
    ) -> Result<Self, E> {
        let [full, short, mesh, iris, age_gender, centerface] =
            super::weights::SHIPPED.map(|(name, _)| name);
        Ok(ModelWeights {
            face_detection_full_range: file(full)?,
            face_detection_short_range: file(short)?,
            face_landmark: file(mesh)?,
            iris_landmark: file(iris)?,
            age_gender: file(age_gender)?,
            centerface: file(centerface)?,
        })
    }

    /// Every network's file with its name, in the order of [`super::weights::SHIPPED`].
    pub fn files(&self) -> [(&'static str, &Bytes); 6] {
        let [full, short, mesh, iris, age_gender, centerface] =
            super::weights::SHIPPED.map(|(name, _)| name);
        [
            (full, &self.face_detection_full_range),
            (short, &self.face_detection_short_range),
            (mesh, &self.face_landmark),
            (iris, &self.iris_landmark),
            (age_gender, &self.age_gender),
            (centerface, &self.centerface),
        ]
    }

    pub fn total_bytes(&self) -> usize {
        self.files().iter().map(|(_, bytes)| bytes.len()).sum()
    }
}

/// Builds a generated model and loads its weights, reporting failure instead of panicking (the
/// generated `from_bytes` panics on bad bytes).
macro_rules! load_model {
    ($module:ident, $bytes:expr, $device:expr) => {{
        let mut model = $module::Model::new($device);
        let bytes = super::weights::unpack(&$bytes).map_err(|message| GlanceError::ModelLoad {
            model: stringify!($module),
            message,
        })?;
        let mut store = BurnpackStore::from_bytes(Some(bytes));
        model
            .load_from(&mut store)
            .map_err(|e| GlanceError::ModelLoad {
                model: stringify!($module),
                message: e.to_string(),
            })?;
        model
    }};
}

pub struct Networks {
    device: Device,
    detector_full_range: face_detection_full_range::Model,
    detector_short_range: face_detection_short_range::Model,
    face_landmark: face_landmark::Model,
    iris_landmark: iris_landmark::Model,
    age_gender: age_gender::Model,
    centerface: CenterFace,
}

/// CenterFace alone: all a worker that only runs the fine scan needs to load.
pub struct CenterFace {
    device: Device,
    model: centerface::Model,
}

impl std::fmt::Debug for CenterFace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CenterFace")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl CenterFace {
    pub fn load(device: &Device, weights: &Bytes) -> Result<Self> {
        Ok(CenterFace {
            device: device.clone(),
            model: load_model!(centerface, weights, device),
        })
    }

    /// CenterFace on `n` stacked `[3, height, width]` inputs in 0..255, both multiples of 32:
    /// per input, its four stride-4 maps (see [`super::centerface::Maps`]).
    pub async fn maps(
        &self,
        chw: Vec<f32>,
        n: usize,
        height: usize,
        width: usize,
    ) -> Result<Vec<super::centerface::Maps>> {
        let input = Tensor::from_data(TensorData::new(chw, [n, 3, height, width]), &self.device);
        let (heatmap, scale, offset, landmarks) = self.model.forward(input);
        let (heatmap, scale, offset, landmarks) = (
            read(heatmap).await?,
            read(scale).await?,
            read(offset).await?,
            read(landmarks).await?,
        );
        let (h, w) = (height / 4, width / 4);
        let plane = h * w;
        Ok((0..n)
            .map(|i| super::centerface::Maps {
                height: h,
                width: w,
                heatmap: heatmap[i * plane..(i + 1) * plane].to_vec(),
                scale: scale[i * 2 * plane..(i + 1) * 2 * plane].to_vec(),
                offset: offset[i * 2 * plane..(i + 1) * 2 * plane].to_vec(),
                landmarks: landmarks[i * 10 * plane..(i + 1) * 10 * plane].to_vec(),
            })
            .collect())
    }
}

impl std::fmt::Debug for Networks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Networks")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

async fn read<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    let data = tensor
        .into_data_async()
        .await
        .map_err(|e| GlanceError::BackendUnavailable(format!("reading a result failed: {e:?}")))?;
    data.convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| GlanceError::BackendUnavailable(format!("unexpected result type: {e:?}")))
}

impl Networks {
    pub fn load(device: &Device, weights: &ModelWeights) -> Result<Self> {
        Ok(Networks {
            device: device.clone(),
            detector_full_range: load_model!(
                face_detection_full_range,
                weights.face_detection_full_range,
                device
            ),
            detector_short_range: load_model!(
                face_detection_short_range,
                weights.face_detection_short_range,
                device
            ),
            face_landmark: load_model!(face_landmark, weights.face_landmark, device),
            iris_landmark: load_model!(iris_landmark, weights.iris_landmark, device),
            age_gender: load_model!(age_gender, weights.age_gender, device),
            centerface: CenterFace::load(device, &weights.centerface)?,
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    fn input(&self, chw: Vec<f32>, batch: usize, size: usize) -> Tensor<4> {
        Tensor::from_data(TensorData::new(chw, [batch, 3, size, size]), &self.device)
    }

    /// CenterFace (see [`CenterFace::maps`]).
    pub fn centerface(&self) -> &CenterFace {
        &self.centerface
    }

    /// BlazeFace on `n` stacked `[3, s, s]` inputs in [-1, 1]: (regressors `[n * anchors * 16]`,
    /// logits `[n * anchors]`).
    pub async fn detect(
        &self,
        model: DetectorModel,
        chw: Vec<f32>,
        n: usize,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let input = self.input(chw, n, model.input_size());
        let (boxes, scores) = match model {
            DetectorModel::FullRange => self.detector_full_range.forward(input),
            DetectorModel::ShortRange => self.detector_short_range.forward(input),
        };
        Ok((read(boxes).await?, read(scores).await?))
    }

    /// Face mesh on `n` stacked `[3, 192, 192]` crops in [0, 1]: (`n * 1404` landmark values,
    /// `n` face-presence logits).
    pub async fn face_landmarks(&self, chw: Vec<f32>, n: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        let (landmarks, presence) = self.face_landmark.forward(self.input(chw, n, 192));
        Ok((read(landmarks).await?, read(presence).await?))
    }

    /// Iris model on `n` stacked `[3, 64, 64]` eye crops in [0, 1]: (`n * 213` eye contour
    /// values, `n * 15` iris values).
    pub async fn iris_landmarks(&self, chw: Vec<f32>, n: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        let (contour, iris) = self.iris_landmark.forward(self.input(chw, n, 64));
        Ok((read(contour).await?, read(iris).await?))
    }

    /// Age/gender on `n` stacked `[3, 112, 112]` crops in 0..255: (`n` ages, `n * 2` [male,
    /// female] probabilities).
    pub async fn age_gender(&self, chw: Vec<f32>, n: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        let (age, gender) = self.age_gender.forward(self.input(chw, n, 112));
        Ok((read(age).await?, read(gender).await?))
    }
}
