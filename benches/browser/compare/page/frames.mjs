// The benchmark frames, composed in the page from ../shared/eval so that nothing derived from
// those photos is ever written to disk or committed:
//   0 faces: a synthetic shop-like background (shelves and a gradient, no face-like shapes);
//   1 face:  one FairFace photo (CC BY 4.0) on that background, cycling through 12 people whose
//            photos show no other face (FairFace crops often include neighbours);
//   5 faces: two PASCAL VOC group photos side by side (3 + 2 human-annotated faces).
// Consecutive frames differ (other person, mirrored, shifted by a few pixels) so that no library
// can reuse the previous frame's result. The video rows get a video instead: one scene whose
// people move a few pixels a frame, as a camera sees them (a different picture on every frame is
// a cut between shots on every frame, which no video-mode tracker is for).

const SCENES = [
  { file: "scenes/images/dlib_voc_2008_002506.jpg", faces: 3 },
  { file: "scenes/images/dlib_voc_2008_001009.jpg", faces: 2 },
];
// Picked by eye from fairface-dev: one face each, mixed ages and genders.
const PEOPLE = [2, 3, 11, 12, 13, 21, 24, 39, 48, 51, 65, 73].map((n) => `fairface-dev/images/fairface_${String(n).padStart(4, "0")}.jpg`);
/** Distinct frames per case; further frames reuse them in turn. */
export const VARIANTS = 8;

async function bitmap(path) {
  const response = await fetch(`/eval/${path}`);
  if (!response.ok) throw new Error(`/eval/${path}: ${response.status} (is ../shared/eval there?)`);
  return createImageBitmap(await response.blob());
}

let sources = null;
async function loadSources() {
  if (sources) return sources;
  sources = {
    people: await Promise.all(PEOPLE.map(bitmap)),
    scenes: await Promise.all(SCENES.map((s) => bitmap(s.file))),
  };
  return sources;
}

/** A small deterministic PRNG, so every run composes the same frames. */
function random(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function background(ctx, width, height, seed) {
  const rnd = random(seed);
  const gradient = ctx.createLinearGradient(0, 0, 0, height);
  gradient.addColorStop(0, "#b9b4aa");
  gradient.addColorStop(1, "#6f6a62");
  ctx.fillStyle = gradient;
  ctx.fillRect(0, 0, width, height);
  // Shelves with boxes: edges and colour, as in a shop behind a kiosk, but nothing face-like.
  const shelf = height / 5;
  for (let row = 0; row < 5; row++) {
    let x = rnd() * 20;
    while (x < width) {
      const w = (0.03 + rnd() * 0.06) * width;
      const h = (0.4 + rnd() * 0.45) * shelf;
      ctx.fillStyle = `hsl(${Math.floor(rnd() * 360)} ${25 + Math.floor(rnd() * 40)}% ${35 + Math.floor(rnd() * 35)}%)`;
      ctx.fillRect(x, (row + 1) * shelf - h - 4, w, h);
      x += w + 2 + rnd() * 10;
    }
    ctx.fillStyle = "#4a4640";
    ctx.fillRect(0, (row + 1) * shelf - 4, width, 4);
  }
}

/** Where frame `k` of the video shows its people: 0, 4, ... 16 px right and down and back (the
 * frames cycle, so the last leads smoothly to the first). */
function videoOffset(k) {
  const half = VARIANTS / 2;
  return 4 * (k <= half ? k : VARIANTS - k);
}

function compose(src, width, height, faces, k, video) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  background(ctx, width, height, 1000 * faces + (video ? 0 : k));
  const rnd = random(7 * k + faces);
  const offset = videoOffset(k);
  const jitter = video ? () => offset : (range) => Math.round((rnd() * 2 - 1) * range);
  // The video keeps its people and their sides.
  const variant = video ? 0 : k;
  if (faces === 1) {
    const person = src.people[variant % src.people.length];
    const side = Math.round(0.62 * height);
    const x = Math.round((width - side) / 2) + jitter(0.1 * width);
    const y = Math.round((height - side) / 2) + jitter(0.05 * height);
    ctx.drawImage(person, x, y, side, side);
  } else if (faces === 5) {
    const order = variant % 4 >= 2 ? [...src.scenes].reverse() : src.scenes;
    const aspect = order.reduce((sum, s) => sum + s.width / s.height, 0);
    const h = Math.min(height, Math.floor(width / aspect));
    let x = Math.round((width - aspect * h) / 2) + jitter(6);
    const y = Math.round((height - h) / 2) + jitter(6);
    for (const scene of order) {
      const w = Math.round((scene.width / scene.height) * h);
      ctx.save();
      if (variant % 2 === 1) {
        // Mirrored: the same people, other pixels.
        ctx.translate(2 * x + w, 0);
        ctx.scale(-1, 1);
      }
      ctx.drawImage(scene, x, y, w, h);
      ctx.restore();
      x += w;
    }
  }
  return { canvas, imageData: ctx.getImageData(0, 0, width, height), width, height, faces };
}

/** `count` (at most VARIANTS) distinct frames of `width`x`height` with `faces` (0, 1 or 5) faces;
 * with `video`, consecutive frames of one scene whose people move. */
export async function makeFrames(width, height, faces, count = VARIANTS, video = false) {
  const src = await loadSources();
  return Array.from({ length: Math.max(1, Math.min(count, VARIANTS)) }, (_, k) => compose(src, width, height, faces, k, video));
}
