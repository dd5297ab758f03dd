// What a web developer writes: create the engine, listen to its events, analyse frames, and
// handle its typed errors. Everything here is checked by `tsc --strict` against the package's
// declarations, and the test suite runs the bundled app in headless Chromium.
import {
  AudienceEngine,
  RulesValidationError,
  type AudienceSnapshot,
  type FrameResult,
  type GlanceOptions,
  type ValidationIssue,
  type VisitEnd,
} from "glance";

/** What the app saw, for the test to read (`window.glanceExample`). */
export interface ExampleOutcome {
  backend: "webgpu" | "cpu";
  thread: "worker" | "main";
  /** Whether a second worker ran the fine scan (video mode, more than one core). */
  fineScanWorker: boolean;
  facesInFirstFrame: number;
  firstFace: { box: [number, number, number, number]; age: number | null } | null;
  events: string[];
  visits: Pick<VisitEnd, "dwellS" | "attentionS" | "ageBand" | "gender">[];
  lastSnapshot: Pick<AudienceSnapshot, "present" | "watchers"> | null;
  rulesIssues: ValidationIssue[] | null;
}

declare global {
  interface Window {
    glanceExample: Promise<ExampleOutcome>;
  }
}

const log = (line: string) => {
  document.querySelector("#log")!.textContent += `${line}\n`;
};

async function run(): Promise<ExampleOutcome> {
  const options: GlanceOptions = {
    backend: "cpu",
    // Video mode, as for a camera: faces followed between detector runs.
    pipeline: { detectionIntervalMs: 250 },
    audience: { tracker: { maxAgeMs: 500 } },
    banner: { controller: { name: "Example shop", contact: "privacy@example.com" }, noticeUrl: "/privacy.html" },
  };
  const engine = await AudienceEngine.create(options);
  const events: string[] = [];
  const visits: ExampleOutcome["visits"] = [];
  let lastSnapshot: ExampleOutcome["lastSnapshot"] = null;
  engine.addEventListener("visitstart", (event) => events.push(`visitstart:${event.detail.trackId}`));
  engine.addEventListener("visitend", (event) => {
    const { dwellS, attentionS, ageBand, gender } = event.detail;
    events.push(`visitend:${event.detail.trackId}`);
    visits.push({ dwellS, attentionS, ageBand, gender });
  });
  engine.addEventListener("audiencechange", (event) => {
    lastSnapshot = { present: event.detail.present, watchers: event.detail.watchers };
    events.push(`audiencechange:${event.detail.present}`);
  });

  // The picture is an asset of the app; Vite copies it and rewrites the URL.
  const picture = await fetch(new URL("../../../tests/fixtures/astronaut.jpg", import.meta.url));
  const face = await createImageBitmap(await picture.blob());
  const empty = new ImageData(face.width, face.height);
  // Frames as a camera gives them: one every 100 ms, then every 250 ms.
  const cameraPace = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  let first: FrameResult | null = null;
  for (let t = 0; t <= 1000; t += 100) {
    const result = await engine.processFrame(face, t);
    first ??= result;
    await cameraPace(100);
  }
  for (let t = 1250; t <= 3000; t += 250) {
    await engine.processFrame(empty, t);
    await cameraPace(250);
  }
  const fineScanWorker = engine.fineScanWorker;
  const firstFace = first?.faces[0];
  log(`${first?.faces.length ?? 0} face(s) on ${engine.backend}; events: ${events.join(", ")}`);

  let rulesIssues: ValidationIssue[] | null = null;
  try {
    // A well-formed document whose rule plays an ad it does not list.
    await engine.setRules({
      version: 1,
      timeZone: "UTC",
      ads: [{ id: "coffee", media: "/ads/coffee.jpg", kind: "image", durationS: 8 }],
      defaultLoop: ["coffee"],
      rules: [{ id: "crowd", when: { present: { op: "gte", value: 1 } }, play: { ad: "missing" } }],
    });
  } catch (error) {
    if (error instanceof RulesValidationError) rulesIssues = error.issues;
    else throw error;
  }
  log(`rules rejected: ${rulesIssues?.map((i) => `${i.path}: ${i.message}`).join("; ")}`);
  const thread = engine.thread;
  await engine.close();
  return {
    backend: engine.backend,
    thread,
    fineScanWorker,
    facesInFirstFrame: first?.faces.length ?? 0,
    firstFace: firstFace ? { box: firstFace.box, age: firstFace.age } : null,
    events,
    visits,
    lastSnapshot,
    rulesIssues,
  };
}

window.glanceExample = run();
window.glanceExample.catch((error: unknown) => log(`failed: ${error}`));
