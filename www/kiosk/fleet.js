// @ts-check
// The kiosk's side of the fleet: the outbox that sends the engine's records to the network's
// ingest service, a heartbeat a minute, and rules published to this screen (taken only when
// this kiosk can play them).
import {
  KEYS, countRecords, oldestRecords, queueRecords, removeRecords, save, takeDroppedCount, trimRecords,
} from '/lib/store.js';
import { Outbox } from './outbox.js';
import { FleetRules } from './fleet-rules.js';
import { cacheForOffline } from './offline.js';
import { camera, issuesText, refusalText, sleep, state, stopAnalysis } from './kiosk.js';
import { persist } from './persistence.js';
import { describeError } from '/lib/dom.js';

const HEARTBEAT_EVERY_MS = 60_000;
/** How often published rules are asked for, unless the fleet settings say (`rulesPollS`). */
const FLEET_RULES_POLL_MS = 60_000;
/** The longest rules problem a heartbeat carries (the record allows 2048 bytes). */
const MAX_RULES_PROBLEM_CHARS = 500;

/**
 * Checks the fleet settings and starts the outbox (which resumes what a past page left).
 * @param {Partial<Record<'endpoint' | 'screenId' | 'token', unknown>> & { rulesPollS?: unknown } | null} fleet
 *   as stored or in config.json, so not trusted to be complete
 */
export function startFleet(fleet) {
  if (!fleet) return;
  const { endpoint, screenId, token, rulesPollS } = fleet;
  if (typeof endpoint !== 'string' || !endpoint || typeof screenId !== 'string' || !screenId || typeof token !== 'string' || !token) {
    const missing = Object.entries({ endpoint, screenId, token }).filter(([, v]) => typeof v !== 'string' || !v).map(([k]) => k);
    state.fleetProblem = `fleet settings lack ${missing.join(', ')}: records are not sent`;
    console.warn(`Glance kiosk: ${state.fleetProblem}`);
    return;
  }
  state.fleet = { endpoint, screenId, token };
  state.outbox = new Outbox({
    endpoint,
    token,
    store: { oldestRecords, removeRecords, countRecords, trimRecords },
  });
  state.outbox.kick();
  setInterval(heartbeat, HEARTBEAT_EVERY_MS);
  state.fleetRules = new FleetRules({ endpoint, token, etag: state.rulesEtag });
  const pollMs = typeof rulesPollS === 'number' && Number.isFinite(rulesPollS) && rulesPollS > 0 ? rulesPollS * 1000 : FLEET_RULES_POLL_MS;
  setInterval(pollFleetRules, pollMs);
  pollFleetRules();
}

/**
 * Asks the ingest service for newer rules; takes them only when they pass every check a kiosk
 * can make (the engine's validation, every creative loadable), else keeps what it plays by and
 * says why (status, and at once in a heartbeat). Offline, nothing changes.
 */
export async function pollFleetRules() {
  const fleetRules = state.fleetRules;
  if (!fleetRules || fleetRules.busy || !state.glance) return;
  fleetRules.busy = true;
  try {
    const fetched = await fleetRules.fetchNewer();
    if (!fetched) return;
    const problem = await rulesProblem(fetched.rules);
    fleetRules.decided(fetched.etag);
    if (problem) {
      state.rulesProblem = `published rules ${fetched.etag} refused, playing by the previous ones: ${problem}`.slice(0, MAX_RULES_PROBLEM_CHARS);
      console.warn(`Glance kiosk: ${state.rulesProblem}`);
    } else {
      // Valid, so a parsed document (text that is not JSON never validates).
      state.rules = /** @type {import('/pkg/glance.js').GlanceRulesDocument} */ (fetched.rules);
      state.rulesSource = 'fleet';
      state.rulesEtag = fetched.etag;
      state.rulesProblem = null;
      await save(KEYS.fleetRules, { etag: fetched.etag, rules: fetched.rules, savedAtMs: Date.now() }).catch(() => undefined);
      cacheForOffline(state.rules);
    }
    heartbeat();
  } finally {
    fleetRules.busy = false;
  }
}

/**
 * Why a rules document cannot be played by here, or null after it was put in force: the
 * engine's validation, then each creative fetched, then the running engine's swap.
 * @param {string | object} rules
 * @returns {Promise<string | null>}
 */
async function rulesProblem(rules) {
  if (!state.glance) return 'the engine module is not loaded';
  const issues = state.glance.validateRules(rules);
  if (issues.length) return issuesText(issues);
  const valid = /** @type {import('/pkg/glance.js').GlanceRulesDocument} */ (rules);
  for (const ad of valid.ads ?? []) {
    const url = new URL(ad.media, location.href).href;
    try {
      const response = await fetch(url, { cache: 'no-store' });
      response.body?.cancel();
      if (!response.ok) return `ad "${ad.id}": its media ${ad.media} answered ${response.status}`;
    } catch (error) {
      return `ad "${ad.id}": its media ${ad.media} could not be loaded (${describeError(error).message})`;
    }
  }
  if (state.engine && !state.recreating) {
    try {
      await state.engine.setRules(rules);
    } catch (error) {
      return refusalText(error);
    }
  }
  return null;
}

/** The camera as a heartbeat tells it. */
function cameraHealth() {
  if (camera.state === 'on') return state.analysing ? 'live' : 'paused';
  if (camera.state === 'paused') return 'paused';
  if (camera.state === 'retrying' && /denied|not allowed|no camera/i.test(camera.detail)) return 'unavailable';
  return camera.state === 'off' && !camera.wanted ? 'paused' : 'stalled';
}

/** Queues a heartbeat (it needs the engine module, not a running engine). */
export async function heartbeat() {
  if (!state.fleet || !state.outbox) return;
  const { glance, engine } = state;
  try {
    if (!glance) return;
    /** @type {import('/pkg/glance.js').HealthBackend} */
    let backend = 'none';
    try { backend = engine?.backend ?? 'none'; } catch { /* closed */ }
    const dropped = await takeDroppedCount();
    const record = glance.heartbeatRecord(state.fleet.screenId, {
      camera: cameraHealth(),
      analysedFps: Math.min(1000, Math.max(0, state.fps || 0)),
      backend,
      outboxDepth: state.outbox.depth + state.pendingRecords.length,
      outboxDropped: dropped,
      lastAckMs: state.outbox.lastAckMs === null ? null : Math.floor(state.outbox.lastAckMs),
      rules: state.rulesSource ? { source: state.rulesSource, etag: state.rulesEtag, problem: state.rulesProblem } : null,
    });
    await queueRecords([record]);
    state.outbox.kick();
  } catch (error) {
    console.warn('Glance kiosk: no heartbeat:', error);
  }
}

/**
 * Stops analysis for good (until a reload), ends every visit, stores the last records and
 * sends until the outbox is empty or `timeoutMs` has passed: the end of a day, or a test's.
 * Resolves to the outbox's status.
 */
export async function flushRecords(timeoutMs = 60_000) {
  const { engine, outbox } = state;
  if (!engine || !outbox) throw new Error('no engine or no fleet configured');
  state.flushed = true;
  stopAnalysis('off', 'analysis ended: records flushed');
  for (let i = 0; i < 200 && state.inFlight; i++) await sleep(50);
  await engine.endVisits(Date.now());
  await persist('flush');
  await heartbeat();
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    outbox.retryAtMs = null;
    await outbox.sendAll();
    if ((await countRecords()) === 0 && state.pendingRecords.length === 0) break;
    await sleep(500);
  }
  return outbox.status();
}
