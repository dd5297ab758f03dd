// @ts-check
// The Glance kiosk: plays ads full screen, chosen by the engine from the anonymous audience the
// camera sees. Everything runs on this device: frames go from the <video> element into the
// engine and are dropped there; only aggregates are stored (www/lib/store.js).
//
// It keeps going by itself: ads play (the rules' default loop) while the engine loads, when it
// cannot load, and while the camera is missing, denied or switched off because the privacy
// notice is hidden. Aggregates are saved every 10 s and when the page goes away, and restored at
// start. A service worker (sw.js) keeps the kiosk starting without the network.
//
// With a fleet configured (`fleet: { endpoint, screenId, token }` in config.json or the stored
// installation), the engine's records (per-minute audience, proof of play) are queued with each
// save, in the same IndexedDB transaction as the state, and a heartbeat a minute; the outbox
// (outbox.js) sends them to the network's ingest service until acknowledged.
//
// URL flags: ?installer=1 opens installer mode (also the "i" key); ?video=URL plays a looping
// clip instead of the camera (demo); ?thread=main runs the engine on the page's thread instead
// of its worker (config.json's `thread` too; for comparing, benches/browser/kiosk-smoothness.mjs).
import { KEYS, load, save } from '/lib/store.js';
import { heartbeat, pollFleetRules, startFleet } from './fleet.js';
import { persist } from './persistence.js';
import { exposeStatus, renderStatus, status } from './status.js';
import { cacheForOffline, registerServiceWorker } from './offline.js';
import { AdPlayer } from './player.js';
import { CameraSource } from './camera.js';
import { Installer } from './installer.js';
import { describeError, element } from '/lib/dom.js';

/** @typedef {import('/pkg/glance.js').AudienceEngine} AudienceEngine */
/** @typedef {import('/pkg/glance.js').GlanceRulesDocument} Rules */
/** @typedef {import('/pkg/glance.js').ScreenGeometry} ScreenGeometry */
/** @typedef {import('/pkg/glance.js').DisclosureStatus} DisclosureStatus */
/** @typedef {import('/pkg/glance.js').Decision} Decision */
/**
 * config.json: the engine's options and the rules that play before any are published or edited.
 * @typedef {{ rules: Rules, audience?: import('/pkg/glance.js').AudienceConfig, banner?: import('/pkg/glance.js').BannerOptions,
 *   pipeline?: import('/pkg/glance.js').PipelineOptions, thread?: 'auto' | 'worker' | 'main', fleet?: Fleet }} KioskConfig
 */
/** @typedef {{ endpoint: string, screenId: string, token: string }} Fleet */
/** What the installer stores: the placement, the camera, and the fleet settings it keeps. @typedef {{ screen?: ScreenGeometry, cameraDeviceId?: string | null, fleet?: Fleet, savedAtMs?: number }} Installation */
/** What the player is asked to show: the engine's decision, or the loop's without it. @typedef {Pick<Decision, 'adId' | 'media' | 'kind' | 'durationMs'> & { source?: Decision['source'], reason?: { summary: string } }} AdChoice */
/**
 * The ad on screen, as the kiosk keeps it.
 * @typedef {{ serial: number, adId: string, kind: string, playId: string, startedAtMs: number, why: string, reason: string, reported: boolean }} CurrentPlay
 */
/** @typedef {{ adId: string, playId: string, startedAtMs: number, why: string, reported: boolean, endedAtMs: number | null, completed: boolean | null }} LoggedPlay */

const SAVE_EVERY_MS = 10_000;
const INTERRUPT_EVERY_MS = 1000;
const RULES_POLL_MS = 10_000;
const ENGINE_RETRY_MS = [5_000, 15_000, 60_000, 300_000];
const MAX_PLAYS_KEPT = 50;
/** While the engine starts, the first ad stays up this long rather than the loop running ahead of it. */
const HOLD_FOR_ENGINE_MS = 30_000;

const params = new URLSearchParams(location.search);
const video = element('#camera', HTMLVideoElement);

/** Everything the kiosk knows; `window.glanceKiosk.status` is a read-only copy of parts of it. */
export const state = {
  phase: 'starting',
  /** @type {KioskConfig | null} */
  config: null,
  /** @type {Rules | null} */
  rules: null,
  /** @type {'fleet' | 'editor' | 'config' | null} */
  rulesSource: null,
  /** @type {string | null} */
  rulesProblem: null,
  /** @type {string | null} The ETag of the fleet document played by, when `rulesSource` is 'fleet'. */
  rulesEtag: null,
  /** @type {import('./fleet-rules.js').FleetRules | null} */
  fleetRules: null,
  /** @type {ScreenGeometry | null} */
  screen: null,
  /** @type {string | null} */
  deviceId: null,
  /** @type {typeof import('/pkg/glance.js') | null} */
  glance: null,
  /** @type {AudienceEngine | null} */
  engine: null,
  /** @type {string | null} */
  engineError: null,
  engineAttempts: 0,
  /** @type {number | null} */
  engineRetryAtMs: null,
  recreating: false,
  backendChanged: false,
  /** @type {string | null} */
  backendChangedReason: null,
  analysing: false,
  inFlight: false,
  counters: { frames: 0, hiddenRejections: 0, busySkips: 0, frameErrors: 0, adsStarted: 0, saves: 0, saveErrors: 0 },
  /** @type {number[]} */
  frameTimes: [],
  fps: 0,
  /** @type {Pick<import('/pkg/glance.js').AudienceSnapshot, 'present' | 'watchers' | 'lookingNow' | 'groupSize'> | null} */
  audience: null,
  /** @type {CurrentPlay | null} */
  current: null,
  switching: false,
  /** @type {LoggedPlay[]} */
  plays: [],
  /** @type {Fleet | null} */
  fleet: null,
  /** @type {string | null} */
  fleetProblem: null,
  /** @type {import('./outbox.js').Outbox | null} */
  outbox: null,
  /** @type {import('/pkg/glance.js').FleetRecord[]} taken from the engine, not yet stored */
  pendingRecords: [],
  /** Analysis stopped for good by `glanceKiosk.flushRecords()`. */
  flushed: false,
  localLoopIndex: 0,
  /** @type {number | null} */
  lastSavedAtMs: null,
  /** @type {number | null} */
  restoredFromMs: null,
  /** @type {string | null} */
  restoreError: null,
  /** @type {DisclosureStatus | null} */
  disclosure: null,
  /** The camera is off until the notice can be read again (the engine's `disclosurechange`). */
  pausedForDisclosure: false,
  /** @type {{ atMs: number, restoredFromMs: number | undefined, reason: string }[]} The engine's worker replaced after it stopped: when, and from which save. */
  workerRestarts: [],
};

const player = new AdPlayer(element('#stage'), {
  onFinished: (play) => advanceWhenReady(play),
  onMediaError: (ad, error) => console.warn(`Glance kiosk: creative of ${ad.adId} not shown:`, error.message),
});

export const camera = new CameraSource(video, {
  demoUrl: params.get('video'),
  onState: (cameraState) => {
    element('#camera-off').hidden = cameraState === 'on';
    if (cameraState === 'on') scheduleFrame();
    else installer.clear();
    renderStatus();
  },
});

export const installer = new Installer({
  status,
  cameraVideo: () => video,
  screen: () => state.screen ?? {},
  defaultScreen: () => ({ ...(state.config?.audience?.screen ?? {}) }),
  deviceId: () => state.deviceId,
  apply: applyInstallation,
});

// ---- start ---------------------------------------------------------------------------------

async function start() {
  exposeStatus();
  if (params.get('installer') === '1') installer.open();
  addEventListener('keydown', (e) => {
    if (e.key === 'i' && !e.ctrlKey && !e.metaKey && !e.altKey && !isTyping(e.target)) installer.toggle();
    else if (e.key === 'Escape' && installer.isOpen) installer.close();
    else if (e.key === 'f' && !isTyping(e.target)) toggleFullscreen();
  });
  addEventListener('dblclick', () => { if (!installer.isOpen) toggleFullscreen(); });
  addEventListener('resize', measureBanner);
  await registerServiceWorker();

  const config = await loadConfig();
  state.config = config;
  const [stored, installation, published] = await Promise.all([
    load(KEYS.rules).catch(() => undefined),
    load(KEYS.kioskConfig).catch(() => undefined),
    load(KEYS.fleetRules).catch(() => undefined),
  ]);
  const screen = { ...(config.audience?.screen ?? {}), ...(installation?.screen ?? {}) };
  state.screen = screen;
  state.deviceId = installation?.cameraDeviceId ?? null;
  camera.deviceId = state.deviceId;
  if (installer.isOpen) installer.fill(screen, state.deviceId);
  // Rules published to this screen win, then the editor's last good ones; config.json's are the
  // fallback (and the first run's).
  const fleet = installation?.fleet ?? config.fleet ?? null;
  if (published && fleet) {
    state.rules = published.rules;
    state.rulesSource = 'fleet';
    state.rulesEtag = published.etag;
  } else {
    state.rules = stored ?? config.rules;
    state.rulesSource = stored ? 'editor' : 'config';
  }
  startFleet(fleet);
  state.phase = 'playing';
  advance(); // the default loop plays at once, engine or not

  setInterval(tick, INTERRUPT_EVERY_MS);
  setInterval(() => persist('interval'), SAVE_EVERY_MS);
  setInterval(refreshRules, RULES_POLL_MS);
  addEventListener('pagehide', () => persist('pagehide'));
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') persist('hidden'); });

  await startEngine();
  cacheForOffline(state.rules);
}

/** @returns {Promise<KioskConfig>} */
async function loadConfig() {
  for (let attempt = 0; ; attempt++) {
    try {
      const response = await fetch('config.json', { cache: 'no-cache' });
      if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
      const config = await response.json();
      state.engineError = null;
      return config;
    } catch (error) {
      state.engineError = `cannot read config.json (${describeError(error).message})`;
      renderStatus();
      await sleep(Math.min(30_000, 2000 * 2 ** attempt));
    }
  }
}

// ---- engine --------------------------------------------------------------------------------

/** config.json, which `start` reads before anything else runs. */
function loadedConfig() {
  if (!state.config) throw new Error('config.json is not read yet');
  return state.config;
}

/** Whether an engine failure was its rules being refused. @param {unknown} error @returns {error is import('/pkg/glance.js').RulesValidationError} */
function isRulesRefusal(error) {
  return error instanceof Error && error.name === 'RulesValidationError';
}

/**
 * The engine's validation issues as one line: "path message; path message".
 * @param {import('/pkg/glance.js').ValidationIssue[]} issues
 */
export function issuesText(issues) {
  return issues.map((i) => `${i.path} ${i.message}`).join('; ');
}

/**
 * Why the engine refused rules: its issues, or the error's message for any other failure.
 * @param {unknown} error
 */
export function refusalText(error) {
  const issues = isRulesRefusal(error) ? error.issues : undefined;
  return issues ? issuesText(issues) : describeError(error).message;
}

/** @param {unknown} error */
function rulesRefusal(error) {
  return `stored rules rejected: ${refusalText(error)}`;
}

/**
 * @param {Rules | null} rules
 * @param {ScreenGeometry | null} screen
 * @returns {import('/pkg/glance.js').GlanceOptions}
 */
function engineOptions(rules, screen) {
  const config = loadedConfig();
  const thread = params.get('thread') ?? config.thread ?? 'auto';
  return {
    backend: 'auto',
    thread: thread === 'main' || thread === 'worker' ? thread : 'auto',
    models: { baseUrl: '/pkg/models' },
    banner: { ...config.banner },
    audience: { ...(config.audience ?? {}), screen: { ...screen } },
    ...(config.pipeline ? { pipeline: config.pipeline } : {}),
    rules: rules ?? undefined,
  };
}

/** @param {ScreenGeometry | null} screen */
async function createEngine(screen) {
  if (!state.glance) throw new Error('the engine module is not loaded');
  const { AudienceEngine } = state.glance;
  try {
    return await AudienceEngine.create(engineOptions(state.rules, screen));
  } catch (error) {
    // Stored rules (the editor's, or published ones kept from an earlier version) that this
    // engine rejects must not stop the kiosk: config.json's play.
    if (!isRulesRefusal(error) || state.rulesSource === 'config') throw error;
    state.rulesProblem = rulesRefusal(error);
    console.warn(`Glance kiosk: ${state.rulesProblem}; using config.json's rules`);
    state.rules = loadedConfig().rules;
    state.rulesSource = 'config';
    state.rulesEtag = null;
    return AudienceEngine.create(engineOptions(state.rules, screen));
  }
}

async function startEngine() {
  for (;;) {
    state.engineAttempts += 1;
    try {
      if (!state.glance) {
        // create() downloads the one engine module this kiosk's backend needs.
        state.glance = await import('/pkg/glance.js');
        pollFleetRules(); // published rules are checked with the module, engine or not
      }
      state.engine = await createEngine(state.screen);
      watchEngine(state.engine);
      state.engineError = null;
      break;
    } catch (error) {
      const { name, message } = describeError(error);
      state.engineError = `${name}: ${message}`;
      console.warn('Glance kiosk: the engine did not start; ads play on and it is tried again.', error);
      renderStatus();
      if (isCrash(error)) { crashed(); return; }
      measureBanner();
      const delay = ENGINE_RETRY_MS[Math.min(state.engineAttempts - 1, ENGINE_RETRY_MS.length - 1)];
      state.engineRetryAtMs = Date.now() + delay;
      await sleep(delay);
      state.engineRetryAtMs = null;
    }
  }
  const { engine } = state;
  if (!engine) return;
  await restoreAggregates(engine);
  // The ad already on screen (started before the engine was ready) counts too.
  if (state.current && !state.current.reported) reportStart(state.current);
  measureBanner();
  renderStatus();
  resumeWhenDisclosed();
  heartbeat(); // the network hears of a (re)start at once
}

/** @param {AudienceEngine} engine */
async function restoreAggregates(engine) {
  try {
    const saved = await load(KEYS.audienceState);
    if (!saved?.state) return;
    await engine.restoreState(saved.state);
    state.restoredFromMs = saved.savedAtMs ?? null;
    // The play on screen when the page went away ended then, cut short.
    const p = saved.playOnScreen;
    if (p?.adId && p?.playId) {
      try { await engine.adEnded(p.adId, false, p.playId, saved.savedAtMs); } catch { /* already ended */ }
    }
  } catch (error) {
    // Keep what is stored (it is not overwritten until this engine has something of its own).
    const { name, message } = describeError(error);
    state.restoreError = `${name}: ${message}`;
    console.warn('Glance kiosk: stored aggregates not restored:', error);
  }
}

/** Builds an engine with the new placement, moves the aggregates over, then retires the old one. */
/** @param {ScreenGeometry} screen */
async function recreateEngine(screen) {
  const old = state.engine;
  if (!old) throw new Error('the engine is not running yet');
  state.recreating = true;
  try {
    for (let i = 0; i < 40 && (state.inFlight || old.busy); i++) await sleep(50);
    const fresh = await createEngine(screen);
    try {
      await fresh.restoreState(await old.saveState());
    } catch (error) {
      await fresh.close();
      throw error;
    }
    watchEngine(fresh);
    state.engine = fresh;
    // The closed engine's memory goes with it when collected (wasm-bindgen's finalizer).
    await old.close();
  } finally {
    state.recreating = false;
    measureBanner();
  }
}

/** @param {{ screen: ScreenGeometry, cameraDeviceId: string | null }} installation */
async function applyInstallation({ screen, cameraDeviceId }) {
  // The new geometry is proven by building an engine with it before anything is stored.
  await recreateEngine(screen);
  state.screen = screen;
  state.deviceId = cameraDeviceId;
  // The fleet settings (not the installer's to change) are kept as they are.
  const kept = await load(KEYS.kioskConfig).catch(() => undefined);
  await save(KEYS.kioskConfig, { ...(kept?.fleet ? { fleet: kept.fleet } : {}), screen, cameraDeviceId, savedAtMs: Date.now() });
  await camera.useDevice(cameraDeviceId);
  resumeWhenDisclosed();
}

/**
 * An engine that cannot go on (a worker that stopped is replaced by the engine itself).
 * @param {unknown} error
 */
export function isCrash(error) {
  return isEngineCrash(error) && !error.restarting;
}

/** @param {unknown} error @returns {error is import('/pkg/glance.js').EngineCrashedError} */
function isEngineCrash(error) {
  return error instanceof Error && error.name === 'EngineCrashedError';
}

/**
 * The engine's events: who is present (no round trip to the worker per frame), visits ending
 * (saved at once), and its worker replaced (`restarted`, with the audience since the last save
 * lost) or not replaceable.
 * @param {AudienceEngine} engine
 */
function watchEngine(engine) {
  engine.addEventListener('audiencechange', ({ detail }) => {
    if (engine !== state.engine) return;
    state.audience = { present: detail.present, watchers: detail.watchers, lookingNow: detail.lookingNow, groupSize: detail.groupSize };
  });
  // Someone left: their visit just went into the totals, so save them now rather than in up to
  // 10 s (a write when the page goes away is not guaranteed to land).
  engine.addEventListener('visitend', () => {
    if (engine === state.engine) persist('visit ended');
  });
  engine.addEventListener('disclosurechange', ({ detail }) => {
    if (engine !== state.engine) return;
    state.disclosure = { ...detail };
    if (!detail.visible && state.analysing) pauseForDisclosure(detail.reason);
    else if (detail.visible && state.pausedForDisclosure) startAnalysis();
    else renderStatus();
  });
  engine.addEventListener('error', ({ detail }) => {
    if (!isEngineCrash(detail) || engine !== state.engine) return;
    if (!detail.restarted) { crashed(); return; }
    state.workerRestarts.push({ atMs: Date.now(), restoredFromMs: detail.restoredFromMs, reason: detail.message });
    if (state.workerRestarts.length > 10) state.workerRestarts.shift();
    console.warn(`Glance kiosk: ${detail.message}`);
  });
}

export function crashed() {
  // The engine cannot be used again in this page; a fresh page restores the last saved totals.
  stopAnalysis('off', 'engine crashed');
  state.engineError = 'engine crashed; restarting the page';
  renderStatus();
  setTimeout(() => location.reload(), 3000);
}

// ---- frames --------------------------------------------------------------------------------

let frameRequested = false;
let lastFrameCallbackMs = 0;

function scheduleFrame() {
  if (frameRequested || !state.analysing) return;
  frameRequested = true;
  if ('requestVideoFrameCallback' in HTMLVideoElement.prototype) video.requestVideoFrameCallback(onVideoFrame);
  else setTimeout(onVideoFrame, 66);
}

/** A new camera frame arrived while one was being analysed: analyse it as soon as that ends. */
let frameWaiting = false;

function onVideoFrame() {
  frameRequested = false;
  lastFrameCallbackMs = performance.now();
  if (!state.analysing) return;
  scheduleFrame();
  if (state.inFlight) frameWaiting = true;
  else analyse();
}

async function analyse() {
  const { engine } = state;
  if (!engine || state.recreating || state.inFlight || !camera.active || video.readyState < 2) return;
  if (engine.busy) { state.counters.busySkips += 1; return; }
  state.inFlight = true;
  try {
    const result = await engine.processFrame(video, Date.now());
    state.counters.frames += 1;
    countFps(performance.now());
    if (result.backendChanged) {
      state.backendChanged = true;
      state.backendChangedReason = engine.fallbackReason ?? null;
    }
    // Who is present comes with the engine's events (watchEngine); the installer's drawing
    // also wants every person's place on this frame. A result that arrives after analysis
    // stopped (notice hidden meanwhile) is not drawn.
    if (installer.isOpen && state.analysing) installer.draw(result, await engine.snapshot(), state.fps, result.backend);
  } catch (error) {
    onFrameError(error);
  } finally {
    state.inFlight = false;
  }
  // The engine (in its worker) would otherwise idle until the camera's next frame.
  if (frameWaiting && state.analysing) {
    frameWaiting = false;
    analyse();
  }
}

/** @param {unknown} error */
function onFrameError(error) {
  switch (describeError(error).name) {
    case 'DisclosureHiddenError':
      state.counters.hiddenRejections += 1;
      pauseForDisclosure(describeError(error).message);
      break;
    case 'EngineBusyError':
      state.counters.busySkips += 1;
      break;
    case 'EngineClosedError':
      break; // replaced by a new engine meanwhile
    case 'EngineCrashedError':
      if (isCrash(error)) crashed();
      else state.counters.frameErrors += 1; // its worker is being replaced
      break;
    default:
      state.counters.frameErrors += 1;
      if (state.counters.frameErrors <= 5) console.warn('Glance kiosk: frame not analysed:', error);
  }
}

/** @param {number} now */
function countFps(now) {
  const times = state.frameTimes;
  times.push(now);
  while (times.length > 11 || (times.length > 1 && now - times[0] > 5000)) times.shift();
  state.fps = times.length > 1 ? ((times.length - 1) * 1000) / (now - times[0]) : 0;
}

// ---- disclosure ----------------------------------------------------------------------------

function startAnalysis() {
  if (state.flushed) return;
  state.pausedForDisclosure = false;
  state.analysing = true;
  state.frameTimes = [];
  camera.start();
  scheduleFrame();
  renderStatus();
}

/**
 * @param {import('./camera.js').CameraState} cameraState
 * @param {string} why
 */
export function stopAnalysis(cameraState, why) {
  state.analysing = false;
  camera.stop(cameraState, why);
  installer.clear();
}

/**
 * The notice cannot be read: the camera goes off (its light too) until it can, which the
 * engine's `disclosurechange` tells (watchEngine).
 * @param {string | null} reason
 */
function pauseForDisclosure(reason) {
  state.disclosure = { visible: false, reason };
  state.pausedForDisclosure = true;
  stopAnalysis('paused', 'privacy notice not visible');
  renderStatus();
}

function readDisclosure() {
  try {
    state.disclosure = state.engine?.disclosure ?? null;
  } catch {
    state.disclosure = null;
  }
  return state.disclosure;
}

/** Opens the camera only once the notice can be read. */
function resumeWhenDisclosed() {
  if (!state.engine) return;
  const d = readDisclosure();
  if (d && !d.visible) pauseForDisclosure(d.reason);
  else if (!state.analysing) startAnalysis();
}

/** Our overlays keep clear of the engine's notice (it must never be covered). */
function measureBanner() {
  const banners = document.querySelectorAll('glance-disclosure');
  const banner = banners[banners.length - 1];
  let top = 0;
  let bottom = 0;
  if (banner) {
    const r = banner.getBoundingClientRect();
    if (r.height > 0) {
      if (r.top <= 1) top = r.bottom;
      else bottom = Math.max(0, innerHeight - r.top);
    }
  }
  document.documentElement.style.setProperty('--banner-inset-top', `${Math.ceil(top)}px`);
  document.documentElement.style.setProperty('--banner-inset-bottom', `${Math.ceil(bottom)}px`);
}

// ---- ads -----------------------------------------------------------------------------------

/**
 * The default loop of the rules, for when there is no engine (yet). It starts with the loop's
 * last ad: an engine starting afresh begins at the first, so the order carries on seamlessly.
 * @returns {AdChoice | null}
 */
function localDecision() {
  const { rules } = state;
  if (!rules) return null;
  const loop = rules.defaultLoop ?? [];
  for (let i = 0; i < loop.length; i++) {
    const position = (loop.length - 1 + state.localLoopIndex++) % loop.length;
    const id = loop[position];
    const ad = rules.ads?.find((a) => a.id === id);
    if (ad) {
      return { adId: ad.id, media: ad.media, kind: ad.kind, durationMs: ad.durationS * 1000, source: { type: 'defaultLoop', position }, reason: { summary: 'default loop (the engine is not running)' } };
    }
  }
  return null;
}

/** @returns {Promise<AdChoice | null>} */
async function decide() {
  if (state.engine && !state.recreating) {
    try {
      return await state.engine.nextAd();
    } catch (error) {
      if (isCrash(error)) crashed();
      else console.warn('Glance kiosk: no decision from the engine:', error);
    }
  }
  return localDecision();
}

/** @param {AdChoice} decision */
function why(decision) {
  const s = decision.source;
  if (s?.type === 'rule') return `rule ${s.ruleId}`;
  return 'default loop';
}

/**
 * The ad on screen is done. While the engine is still starting (not failed), it stays a little
 * longer so the engine, which continues from the ad on screen, decides the next one.
 * @param {import('./player.js').Play} play
 */
function advanceWhenReady(play) {
  if (state.current?.serial !== play.serial) return;
  if (!state.engine && !state.engineError && Date.now() - play.startedAtMs < HOLD_FOR_ENGINE_MS) {
    setTimeout(() => advanceWhenReady(play), 250);
    return;
  }
  advance();
}

/** Puts the next ad on screen: `next` (an interrupt) or the engine's (else the loop's) choice. */
/** @param {AdChoice | null} [next] */
async function advance(next = null) {
  if (state.switching && !next) return;
  state.switching = true;
  try {
    const decision = next ?? await decide();
    if (!decision) return;
    const shown = await player.show(decision);
    if (!shown) return; // a newer ad took its place meanwhile
    const previous = state.current;
    if (previous) endPlay(previous, !next, shown.startedAtMs);
    const play = {
      serial: shown.serial,
      adId: decision.adId,
      kind: decision.kind,
      playId: crypto.randomUUID(),
      startedAtMs: shown.startedAtMs,
      why: why(decision),
      reason: decision.reason?.summary ?? '',
      reported: false,
    };
    state.current = play;
    state.counters.adsStarted += 1;
    await reportStart(play);
    state.plays.push({ adId: play.adId, playId: play.playId, startedAtMs: play.startedAtMs, why: play.why, reported: play.reported, endedAtMs: null, completed: null });
    if (state.plays.length > MAX_PLAYS_KEPT) state.plays.shift();
    persist('ad changed'); // proof of play: the end of one and the start of the next
    renderStatus();
  } finally {
    state.switching = false;
  }
}

/** @param {CurrentPlay} play */
async function reportStart(play) {
  const { engine } = state;
  if (!engine || state.recreating) return;
  try {
    await engine.adStarted(play.adId, play.playId, play.startedAtMs);
    play.reported = true;
    const logged = state.plays.find((p) => p.playId === play.playId);
    if (logged) logged.reported = true;
  } catch (error) {
    console.warn(`Glance kiosk: start of ${play.adId} not recorded:`, error);
  }
}

/**
 * @param {CurrentPlay} play
 * @param {boolean} completed
 * @param {number} atMs
 */
function endPlay(play, completed, atMs) {
  const logged = state.plays.find((p) => p.playId === play.playId);
  if (logged) Object.assign(logged, { endedAtMs: atMs, completed });
  if (!play.reported || !state.engine) return;
  state.engine.adEnded(play.adId, completed, play.playId, atMs).catch((error) => {
    console.warn(`Glance kiosk: end of ${play.adId} not recorded:`, error);
  });
}

/** Once a second: may a rule cut in? Also keeps the status and layout current. */
function tick() {
  measureBanner();
  renderStatus();
  if (state.analysing && camera.active && performance.now() - lastFrameCallbackMs > 3000) {
    // No frame callback for a while (a new stream, a stalled clip): ask again.
    frameRequested = false;
    scheduleFrame();
  }
  const { engine, current } = state;
  if (!engine || state.recreating || state.switching || !current?.reported) return;
  engine.shouldInterrupt().then(
    (cut) => { if (cut && state.current === current) advance(cut); },
    (error) => { if (isCrash(error)) crashed(); },
  );
}

// ---- rules from the editor -----------------------------------------------------------------

async function refreshRules() {
  const { engine } = state;
  // Rules published to this screen win over the editor's.
  if (!engine || state.recreating || state.rulesSource === 'fleet') return;
  let stored;
  try { stored = await load(KEYS.rules); } catch { return; }
  const wanted = stored ?? loadedConfig().rules;
  if (JSON.stringify(wanted) === JSON.stringify(state.rules)) return;
  try {
    await engine.setRules(wanted);
    state.rules = wanted;
    state.rulesSource = stored ? 'editor' : 'config';
    state.rulesProblem = null;
    cacheForOffline(state.rules);
  } catch (error) {
    // The running rules stay in force.
    state.rulesProblem = rulesRefusal(error);
  }
}

/** A kiosk browser usually starts full screen (--kiosk); otherwise "f" or a double click. */
function toggleFullscreen() {
  if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  else document.documentElement.requestFullscreen?.().catch(() => {});
}

/** @param {EventTarget | null} target */
function isTyping(target) {
  return target instanceof HTMLInputElement || target instanceof HTMLSelectElement || target instanceof HTMLTextAreaElement;
}

/** @param {number} ms @returns {Promise<void>} */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

start();
