// @ts-check
// What the kiosk shows of itself: a short status line in a corner (details are in installer
// mode), and `window.glanceKiosk`, a read-only view for monitoring and tests.
import { flushRecords } from './fleet.js';
import { camera, installer, state } from './kiosk.js';
import { element } from '/lib/dom.js';

/** @typedef {ReturnType<typeof status>} KioskStatus */

export function status() {
  const { engine } = state;
  let backend = null;
  let fallbackReason = null;
  let memoryBytes = null;
  try {
    backend = engine?.backend ?? null;
    fallbackReason = engine?.fallbackReason ?? null;
    memoryBytes = engine?.memoryBytes ?? null;
  } catch { /* closed */ }
  return {
    phase: state.phase,
    analysing: state.analysing,
    fps: state.fps,
    counters: { ...state.counters },
    camera: { state: camera.state, detail: camera.detail, retries: camera.retries, nextRetryAtMs: camera.nextRetryAtMs, source: camera.demoUrl ? 'clip' : 'camera' },
    engine: { ready: Boolean(engine), recreating: state.recreating, backend, fallbackReason, memoryBytes, error: state.engineError, attempts: state.engineAttempts, backendChanged: state.backendChanged, backendChangedReason: state.backendChangedReason },
    disclosure: state.disclosure ? { ...state.disclosure } : null,
    rules: { source: state.rulesSource, etag: state.rulesEtag, problem: state.rulesProblem },
    audience: state.audience ? { ...state.audience } : null,
    currentAd: state.current ? { adId: state.current.adId, playId: state.current.playId, startedAtMs: state.current.startedAtMs, why: state.current.why, reported: state.current.reported } : null,
    plays: state.plays.map((p) => ({ ...p })),
    lastSavedAtMs: state.lastSavedAtMs,
    fleet: state.outbox ? { ...state.outbox.status(), screenId: state.fleet?.screenId, pending: state.pendingRecords.length, flushed: state.flushed } : null,
    fleetProblem: state.fleetProblem,
    restoredFromMs: state.restoredFromMs,
    workerRestarts: state.workerRestarts.map((r) => ({ ...r })),
    thread: state.engine?.thread ?? null,
    threadReason: state.engine?.threadReason ?? null,
    restoreError: state.restoreError,
    installer: installer.isOpen,
  };
}

/** Read-only view for monitoring and tests: copies of the kiosk's state, and the engine's reports. */
export function exposeStatus() {
  const api = Object.freeze({
    get status() { return status(); },
    report: (/** @type {import('/pkg/glance.js').ReportOptions | undefined} */ options) => state.engine?.report(options) ?? null,
    snapshot: () => state.engine?.snapshot() ?? null,
    flushRecords,
  });
  Object.defineProperty(window, 'glanceKiosk', { value: api, enumerable: true });
}

export function renderStatus() {
  const el = element('#status');
  let text = '';
  const inS = (/** @type {number} */ ms) => Math.max(0, Math.ceil((ms - Date.now()) / 1000));
  // Short and in a corner: the details are in installer mode.
  if (state.engineError && !state.engine) {
    text = state.engineRetryAtMs ? `Audience analysis not running – retrying in ${inS(state.engineRetryAtMs)} s` : 'Audience analysis not running';
  }
  if (!text && state.engine) {
    if (camera.state === 'retrying') {
      const detail = camera.detail.charAt(0).toUpperCase() + camera.detail.slice(1);
      text = `${detail} – retrying in ${camera.nextRetryAtMs ? inS(camera.nextRetryAtMs) : 0} s`;
    } else if (camera.state === 'paused') {
      text = 'Camera off: privacy notice not visible';
    }
  }
  el.hidden = !text;
  if (el.textContent !== text) el.textContent = text;
}
