#!/usr/bin/env python3
"""onnxruntime on the same ONNX files as the reference for how far burn is from the practical
limit on this CPU. Same input sizes as `cargo bench --bench vision_speed`'s "network" group.

    python3 -m pip install onnxruntime numpy   # from PyPI
    python3 benches/onnxruntime_reference.py   # prints a table, writes target/onnxruntime-reference.json

Reports the median of 200 runs (after 20 warm-up runs) with 1 thread and with 2 threads
(this machine's cores); burn's flex backend uses both cores natively.
"""
import json
import pathlib
import statistics
import time

import numpy as np
import onnxruntime as ort

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODELS = ["face_detection_full_range", "face_detection_short_range", "face_landmark", "iris_landmark", "age_gender"]


def median_ms(session, feeds, runs=200, warmup=20):
    for _ in range(warmup):
        session.run(None, feeds)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feeds)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main():
    rng = np.random.default_rng(7)
    results = {}
    for name in MODELS:
        path = ROOT / "models" / f"{name}.onnx"
        results[name] = {}
        for threads in (1, 2):
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            feeds = {}
            for i in session.get_inputs():
                shape = [d if isinstance(d, int) else 1 for d in i.shape]
                feeds[i.name] = rng.random(shape, dtype=np.float32)
            results[name][f"{threads}t"] = median_ms(session, feeds)
        shape = [d if isinstance(d, int) else 1 for d in session.get_inputs()[0].shape]
        print(f"{name:28s} input {shape}: {results[name]['1t']:6.2f} ms (1 thread)  {results[name]['2t']:6.2f} ms (2 threads)")
    out = ROOT / "target" / "onnxruntime-reference.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"onnxruntime": ort.__version__, "medianMs": results}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
