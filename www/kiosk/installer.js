// @ts-check
// Installer mode: what the engine sees drawn over the camera picture (faces, age band, gender,
// gaze, looking), how fast it runs and on which backend, and a walkthrough to enter where the
// camera sits relative to the screen, with a live "look at each corner" check.

const CORNERS = ['top-left', 'top-right', 'bottom-right', 'bottom-left', 'away'];
const HOLD_MS = 1000; // how long a look (or a look away) must last for a step to pass

import { describeError, element } from '/lib/dom.js';

/** The installer's elements (kiosk/index.html); `type` as for `element`. */
const $ = (/** @type {string} */ id) => element(`#${id}`);

/** @typedef {import('/pkg/glance.js').FrameResult} FrameResult */
/** @typedef {import('/pkg/glance.js').AudienceSnapshot} AudienceSnapshot */
/** @typedef {import('/pkg/glance.js').FaceAnalysis} FaceAnalysis */
/** @typedef {import('/pkg/glance.js').PersonNow} PersonNow */
/** @typedef {import('/pkg/glance.js').ScreenGeometry} ScreenGeometry */
/**
 * What the installer asks of the kiosk.
 * @typedef {{ status: () => import('./status.js').KioskStatus, cameraVideo: () => HTMLVideoElement, screen: () => ScreenGeometry,
 *   defaultScreen: () => ScreenGeometry, deviceId: () => string | null,
 *   apply: (installation: { screen: ScreenGeometry, cameraDeviceId: string | null }) => Promise<void> }} KioskHooks
 */
/** @typedef {'pass' | 'fail'} StepResult */
/** The live check under way: which corner, since when the look held, and each corner's result. @typedef {{ step: number, since: number | null, results: Record<string, StepResult> }} LiveCheck */
/**
 * A number input of the calibration form; `fill` assigns numbers, which the DOM turns into text.
 * @typedef {Omit<HTMLInputElement, 'value'> & { value: string | number }} NumberField
 */
/**
 * The calibration form's fields by name (kiosk/index.html).
 * @typedef {HTMLFormControlsCollection & Record<'widthM' | 'heightM' | 'aboveM' | 'sidewaysM' | 'frontM' | 'tiltDeg' | 'panDeg', NumberField> & { deviceId: HTMLSelectElement }} CalibrationFields
 */

export class Installer {
  /** @param {KioskHooks} kiosk */
  constructor(kiosk) {
    this.kiosk = kiosk;
    this.root = $('installer');
    this.canvas = element('#overlay', HTMLCanvasElement);
    this.ctx = canvasContext(this.canvas);
    this.cameraView = $('camera-view');
    this.viewHome = /** @type {HTMLElement} */ (this.cameraView.parentElement);
    this.form = /** @type {HTMLFormElement & { elements: CalibrationFields }} */ (element('#calibration', HTMLFormElement));
    /** @type {LiveCheck | null} */
    this.check = null;
    this.statsTimer = 0;
    $('installer-close').addEventListener('click', () => this.close());
    this.form.addEventListener('submit', (e) => { e.preventDefault(); this.save(); });
    $('calibration-reset').addEventListener('click', () => this.fill(this.kiosk.defaultScreen(), ''));
    $('check-start').addEventListener('click', () => this.startCheck());
    $('check-skip').addEventListener('click', () => this.finishStep('fail'));
  }

  get isOpen() { return !this.root.hidden; }

  toggle() { if (this.isOpen) this.close(); else this.open(); }

  open() {
    if (this.isOpen) return;
    this.root.hidden = false;
    document.body.classList.add('installer');
    // The camera view moves into the installer's frame; it stays in the document, so it keeps playing.
    $('camera-slot').append(this.cameraView);
    this.kiosk.cameraVideo().play().catch(() => {});
    this.fill(this.kiosk.screen(), this.kiosk.deviceId());
    this.listDevices();
    this.refreshStats();
    this.statsTimer = setInterval(() => this.refreshStats(), 500);
    $('installer-title').focus?.();
  }

  close() {
    if (!this.isOpen) return;
    this.stopCheck();
    this.root.hidden = true;
    document.body.classList.remove('installer');
    this.viewHome.prepend(this.cameraView);
    this.kiosk.cameraVideo().play().catch(() => {});
    clearInterval(this.statsTimer);
    this.clear();
  }

  // ---- overlay -------------------------------------------------------------------------

  /**
   * Draws one frame's result. `people`: the snapshot's people (for bands and "looking").
   * @param {FrameResult} result
   * @param {AudienceSnapshot} snapshot
   * @param {number} fps
   * @param {string} backend
   */
  draw(result, snapshot, fps, backend) {
    if (!this.isOpen) return;
    const { canvas, ctx } = this;
    if (canvas.width !== result.width || canvas.height !== result.height) {
      canvas.width = result.width;
      canvas.height = result.height;
    }
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const scale = Math.max(1, result.width / 640);
    const people = matchPeople(result.faces, snapshot?.people ?? []);
    result.faces.forEach((face, i) => drawFace(ctx, face, people[i], scale));
    // Detections no second signal confirmed as faces: shown dashed, so an installer sees what
    // the camera's view makes the detector fire on; they are never counted.
    const rejected = result.rejected ?? [];
    ctx.save();
    ctx.setLineDash([4 * scale, 4 * scale]);
    ctx.strokeStyle = 'rgb(200 200 200 / 0.8)';
    ctx.lineWidth = scale;
    for (const r of rejected) ctx.strokeRect(...r.box);
    ctx.restore();
    ctx.font = `${Math.round(14 * scale)}px system-ui, sans-serif`;
    const line = `${fps.toFixed(1)} fps · ${backend} · ${result.faces.length} face${result.faces.length === 1 ? '' : 's'}${rejected.length ? ` · ${rejected.length} rejected` : ''}`;
    const w = ctx.measureText(line).width + 12 * scale;
    ctx.fillStyle = 'rgb(0 0 0 / 0.6)';
    ctx.fillRect(0, 0, w, 22 * scale);
    ctx.fillStyle = '#fff';
    ctx.fillText(line, 6 * scale, 16 * scale);
    this.updateLooking(result, snapshot);
  }

  /** Nothing of the last picture stays on screen (camera off, notice hidden). */
  clear() {
    this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    const looking = $('looking');
    looking.dataset.state = 'none';
    looking.textContent = 'No face';
  }

  refreshStats() {
    const s = this.kiosk.status();
    $('s-engine').textContent = s.engine.ready ? (s.engine.recreating ? 'restarting…' : 'running') : (s.engine.error ?? 'loading…');
    $('s-backend').textContent = s.engine.backend ? `${s.engine.backend}${s.engine.fallbackReason ? ' (fallback)' : ''}` : '–';
    $('s-backend').title = s.engine.fallbackReason ?? '';
    $('s-fps').textContent = s.analysing ? `${s.fps.toFixed(1)} frames/s · ${s.counters.frames} frames` : 'paused';
    const retry = s.camera.nextRetryAtMs ? `, retry in ${Math.max(0, Math.ceil((s.camera.nextRetryAtMs - Date.now()) / 1000))} s` : '';
    $('s-camera').textContent = `${s.camera.state}${s.camera.detail ? ` – ${s.camera.detail}` : ''}${retry}`;
    $('s-people').textContent = s.audience ? `${s.audience.present} / ${s.audience.lookingNow}` : '–';
    $('s-ad').textContent = s.currentAd ? `${s.currentAd.adId} (${s.currentAd.why})` : '–';
    const notice = $('s-notice');
    const messages = [];
    if (s.engine.backendChanged) messages.push(`The GPU backend was lost; Glance now runs on the CPU (${s.engine.backendChangedReason ?? 'WebGPU device lost'}).`);
    if (s.disclosure && !s.disclosure.visible) messages.push(`The privacy notice is not visible (${s.disclosure.reason ?? 'hidden'}): the camera is off until it is.`);
    notice.hidden = messages.length === 0;
    notice.textContent = messages.join(' ');
  }

  // ---- calibration ---------------------------------------------------------------------

  /**
   * @param {ScreenGeometry} screen
   * @param {string | null} [deviceId] left out: the camera choice stays as it is
   */
  fill(screen, deviceId) {
    const f = this.form.elements;
    const [x, y, z] = screen.cameraOffsetM ?? [0, -0.38, 0];
    f.widthM.value = round(screen.widthM ?? 1.21);
    f.heightM.value = round(screen.heightM ?? 0.68);
    f.aboveM.value = round(-y);
    f.sidewaysM.value = round(x);
    f.frontM.value = round(z);
    f.tiltDeg.value = round(screen.cameraTiltDeg ?? 0);
    f.panDeg.value = round(screen.cameraPanDeg ?? 0);
    if (deviceId !== undefined) f.deviceId.value = deviceId ?? '';
    $('calibration-result').textContent = '';
  }

  async listDevices() {
    const select = this.form.elements.deviceId;
    try {
      const devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput' && d.deviceId);
      const chosen = this.kiosk.deviceId() ?? '';
      select.replaceChildren(new Option('Default camera', ''), ...devices.map((d, i) => new Option(d.label || `Camera ${i + 1}`, d.deviceId)));
      select.value = chosen;
    } catch {
      // No device list (no permission yet): the default camera is all there is to choose.
    }
  }

  async save() {
    const out = $('calibration-result');
    if (!this.form.reportValidity()) return;
    const f = this.form.elements;
    const n = (/** @type {NumberField} */ el) => Number(el.value);
    /** @type {ScreenGeometry} */
    const screen = {
      widthM: n(f.widthM),
      heightM: n(f.heightM),
      // Screen coordinates: x towards the camera picture's right, y down, z towards the audience.
      cameraOffsetM: [n(f.sidewaysM), -n(f.aboveM), n(f.frontM)],
      cameraTiltDeg: n(f.tiltDeg),
      cameraPanDeg: n(f.panDeg),
    };
    out.textContent = 'Saving and restarting the engine…';
    try {
      await this.kiosk.apply({ screen, cameraDeviceId: f.deviceId.value || null });
      out.textContent = 'Saved. Glance now uses this placement; run the live check.';
    } catch (error) {
      // A ConfigError names the option at fault.
      const path = error instanceof Error && 'path' in error && error.path ? `${error.path}: ` : '';
      out.textContent = `Not saved: ${path}${describeError(error).message}`;
    }
  }

  // ---- live check ----------------------------------------------------------------------

  startCheck() {
    for (const li of /** @type {NodeListOf<HTMLLIElement>} */ (document.querySelectorAll('#corners li'))) {
      delete li.dataset.result;
      element('output', HTMLOutputElement, li).textContent = '–';
    }
    this.check = { step: 0, since: null, results: {} };
    element('#check-skip', HTMLButtonElement).disabled = false;
    $('check-start').textContent = 'Restart the check';
    $('check-result').textContent = '';
    this.showStep();
  }

  stopCheck() {
    this.check = null;
    $('corner-marker').hidden = true;
    element('#check-skip', HTMLButtonElement).disabled = true;
    for (const li of document.querySelectorAll('#corners li')) li.classList.remove('current');
  }

  showStep() {
    if (!this.check) return;
    const corner = CORNERS[this.check.step];
    for (const li of /** @type {NodeListOf<HTMLLIElement>} */ (document.querySelectorAll('#corners li'))) li.classList.toggle('current', li.dataset.corner === corner);
    const marker = $('corner-marker');
    marker.hidden = corner === 'away';
    marker.dataset.corner = corner;
    $('check-result').textContent = corner === 'away'
      ? 'Now look well away from the screen (at the floor or to the side).'
      : `Look at the ${corner.replace('-', ' ')} corner of the screen (marked) and hold for a second.`;
  }

  /** @param {StepResult} result */
  finishStep(result) {
    const check = this.check;
    if (!check) return;
    const corner = CORNERS[check.step];
    check.results[corner] = result;
    const li = element(`#corners li[data-corner="${corner}"]`, HTMLLIElement);
    li.dataset.result = result;
    element('output', HTMLOutputElement, li).textContent = result === 'pass' ? (corner === 'away' ? 'not looking ✓' : 'looking ✓') : 'not confirmed ✗';
    check.step += 1;
    check.since = null;
    if (check.step < CORNERS.length) { this.showStep(); return; }
    const corners = CORNERS.slice(0, 4).filter((c) => check.results[c] === 'pass').length;
    const away = check.results.away === 'pass';
    this.stopCheck();
    $('check-result').textContent = corners === 4 && away
      ? 'All four corners count as looking and looking away does not: the placement is right.'
      : `${corners} of 4 corners counted as looking${away ? '' : ', and looking away was not confirmed'}. Check the screen size, the camera offset and the tilt, save, and run the check again.`;
  }

  /**
   * @param {FrameResult} result
   * @param {AudienceSnapshot} snapshot
   */
  updateLooking(result, snapshot) {
    const el = $('looking');
    const faces = result.faces.length;
    const looking = (snapshot?.lookingNow ?? 0) > 0;
    el.dataset.state = faces === 0 ? 'none' : looking ? 'yes' : 'no';
    el.textContent = faces === 0 ? 'No face' : looking ? 'Glance says: looking' : 'Glance says: not looking';
    const check = this.check;
    if (!check || faces === 0) { if (check) check.since = null; return; }
    const corner = CORNERS[check.step];
    const wanted = corner === 'away' ? !looking : looking;
    if (!wanted) { check.since = null; return; }
    check.since ??= result.timestampMs;
    if (result.timestampMs - check.since >= HOLD_MS) this.finishStep('pass');
  }
}

/** @param {number} v */
function round(v) { return Math.round(v * 1000) / 1000; }

/** @param {HTMLCanvasElement} canvas */
function canvasContext(canvas) {
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('no 2D canvas in this browser');
  return ctx;
}

/**
 * Pairs each face of the frame with a tracked person of the snapshot, by distance from the
 * camera (the snapshot has no boxes). Exact with one person; a best guess with several.
 * @param {FaceAnalysis[]} faces
 * @param {PersonNow[]} people
 * @returns {(PersonNow | null)[]}
 */
function matchPeople(faces, people) {
  const free = [...people];
  return faces.map((face) => {
    if (free.length === 0) return null;
    let best = -1;
    let bestGap = Infinity;
    free.forEach((p, i) => {
      const gap = face.distanceM != null && p.distanceM != null ? Math.abs(face.distanceM - p.distanceM) : 1;
      if (gap < bestGap) { best = i; bestGap = gap; }
    });
    return bestGap < 0.5 || (faces.length === 1 && free.length === 1) ? free.splice(best, 1)[0] : null;
  });
}

/**
 * @param {CanvasRenderingContext2D} ctx
 * @param {FaceAnalysis} face
 * @param {PersonNow | null} person
 * @param {number} scale
 */
function drawFace(ctx, face, person, scale) {
  const [x, y, w, h] = face.box;
  const looking = person?.looking ?? false;
  const colour = person ? (looking ? '#52d273' : '#f4a261') : '#a9b3c1';
  ctx.lineWidth = 3 * scale;
  ctx.strokeStyle = colour;
  ctx.strokeRect(x, y, w, h);
  // Gaze: from between the eyes along the gaze direction projected on the picture.
  const [re, le] = face.keypoints;
  if (face.gaze && re && le) {
    const mx = (re[0] + le[0]) / 2;
    const my = (re[1] + le[1]) / 2;
    const len = w * 1.5;
    ctx.beginPath();
    ctx.moveTo(mx, my);
    ctx.lineTo(mx + face.gaze[0] * len, my + face.gaze[1] * len);
    ctx.strokeStyle = '#4cc9f0';
    ctx.stroke();
    ctx.beginPath();
    ctx.arc(mx, my, 4 * scale, 0, Math.PI * 2);
    ctx.fillStyle = '#4cc9f0';
    ctx.fill();
  }
  const band = person?.ageBand ?? (face.age != null ? `~${Math.round(face.age)} y` : 'age ?');
  const gender = person?.gender ?? face.gender ?? 'gender ?';
  const lines = [
    `${band} · ${gender}`,
    `${person ? (looking ? 'looking' : 'not looking') : 'tracking…'}${face.distanceM != null ? ` · ${face.distanceM.toFixed(1)} m` : ''}`,
  ];
  ctx.font = `${Math.round(15 * scale)}px system-ui, sans-serif`;
  const lh = 19 * scale;
  const boxW = Math.max(...lines.map((l) => ctx.measureText(l).width)) + 10 * scale;
  const top = Math.max(0, y - lh * lines.length - 4 * scale);
  ctx.fillStyle = 'rgb(0 0 0 / 0.65)';
  ctx.fillRect(x, top, boxW, lh * lines.length + 4 * scale);
  ctx.fillStyle = colour;
  lines.forEach((l, i) => ctx.fillText(l, x + 5 * scale, top + lh * (i + 1) - 4 * scale));
}
