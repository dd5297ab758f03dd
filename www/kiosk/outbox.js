// @ts-check
// The kiosk's outbox sender: fleet records wait in IndexedDB (www/lib/store.js, written together
// with the engine's state) and go to the network's ingest service as NDJSON batches with the
// screen's token, oldest first, until acknowledged. Failures are retried with exponential
// backoff and full jitter (a network coming back does not have every screen retry at once);
// the queue survives reloads and crashes; records older than 30 days are dropped first, and the
// loss is told in the next heartbeat. See docs/fleet.md.

/** @typedef {import('/pkg/glance.js').FleetRecord} FleetRecord */

export const BATCH_RECORDS = 500;
export const MAX_AGE_MS = 30 * 24 * 60 * 60 * 1000;
/** A count cap as well, so a broken clock cannot fill the disk. */
export const MAX_RECORDS = 200_000;
export const FIRST_RETRY_MS = 1000;
export const LONGEST_RETRY_MS = 5 * 60 * 1000;

/**
 * What an answer means for the batch sent: `acked` (stored, drop it), `refused` (it can never
 * be stored: drop it and say so), `split` (too large: send half), `retry` (later).
 * @param {number} status HTTP status; 0 when the request failed on the network
 * @param {number} batchSize
 * @returns {'acked' | 'refused' | 'split' | 'retry'}
 */
export function verdict(status, batchSize) {
  if (status >= 200 && status < 300) return 'acked';
  if (status === 413) return batchSize > 1 ? 'split' : 'refused';
  if (status === 400 || status === 403) return 'refused';
  return 'retry';
}

/**
 * The wait before retry number `failures` (1, 2, ...): doubling from 1 s up to 5 min, a random
 * point in its upper half.
 * @param {number} failures
 * @param {() => number} [random]
 */
export function retryDelayMs(failures, random = Math.random) {
  const cap = Math.min(LONGEST_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(Math.max(failures - 1, 0), 20));
  return Math.round(cap / 2 + (random() * cap) / 2);
}

/**
 * The storage the sender works on (www/lib/store.js's outbox functions).
 * @typedef {{
 *   oldestRecords: (limit: number) => Promise<FleetRecord[]>,
 *   removeRecords: (ids: string[]) => Promise<void>,
 *   countRecords: () => Promise<number>,
 *   trimRecords: (minTimeMs: number, maxCount: number) => Promise<number>,
 * }} OutboxStore
 */

/**
 * @typedef {{
 *   endpoint: string, token: string, store: OutboxStore,
 *   fetch?: typeof fetch, now?: () => number, random?: () => number,
 * }} OutboxOptions
 */

export class Outbox {
  /** @param {OutboxOptions} options */
  constructor(options) {
    this.endpoint = options.endpoint;
    this.token = options.token;
    this.store = options.store;
    this.fetch = options.fetch ?? ((...args) => fetch(...args));
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.batchSize = BATCH_RECORDS;
    this.failures = 0;
    /** @type {number | null} */
    this.lastAckMs = null;
    /** @type {string | null} */
    this.lastError = null;
    this.sent = 0;
    this.refused = 0;
    this.depth = 0;
    /** @type {number | null} when the next attempt may start */
    this.retryAtMs = null;
    /** @type {Promise<void> | null} */
    this.sending = null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null;
    this.stopped = false;
  }

  /** A copy of what the sender knows, for the kiosk's status and its heartbeats. */
  status() {
    return {
      endpoint: this.endpoint, depth: this.depth, lastAckMs: this.lastAckMs, lastError: this.lastError,
      failures: this.failures, sent: this.sent, refused: this.refused, retryAtMs: this.retryAtMs,
    };
  }

  /** Sends soon: records were queued. A pending retry keeps its time. */
  kick() {
    if (this.stopped || this.timer) return;
    const wait = this.retryAtMs === null ? 0 : Math.max(0, this.retryAtMs - this.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.sendAll().catch((error) => { this.lastError = String(error?.message ?? error); });
    }, wait);
  }

  stop() {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Sends batches until the queue is empty or an attempt fails (then a retry is scheduled). */
  sendAll() {
    this.sending ??= (async () => {
      try {
        while (!this.stopped && (await this.sendBatch())) { /* next batch */ }
      } finally {
        this.sending = null;
      }
    })();
    return this.sending;
  }

  /**
   * One batch: trims the queue to its caps, sends the oldest records, and acts on the answer.
   * @returns {Promise<boolean>} whether to go on at once
   */
  async sendBatch() {
    await this.store.trimRecords(this.now() - MAX_AGE_MS, MAX_RECORDS);
    const batch = await this.store.oldestRecords(this.batchSize);
    if (batch.length === 0) {
      this.depth = 0;
      return false;
    }
    const { status, detail } = await this.post(batch);
    switch (verdict(status, batch.length)) {
      case 'acked':
        await this.store.removeRecords(batch.map((r) => r.id));
        this.sent += batch.length;
        this.lastAckMs = this.now();
        this.lastError = null;
        this.failures = 0;
        this.retryAtMs = null;
        this.batchSize = BATCH_RECORDS;
        this.depth = await this.store.countRecords();
        return this.depth > 0;
      case 'split':
        this.batchSize = Math.max(1, Math.floor(batch.length / 2));
        return true;
      case 'refused':
        // Resending cannot help: the service says what is wrong with the records themselves.
        console.warn(`Glance kiosk: the ingest service refused ${batch.length} records:`, detail);
        await this.store.removeRecords(batch.map((r) => r.id));
        this.refused += batch.length;
        this.lastError = `refused: ${detail}`;
        this.depth = await this.store.countRecords();
        return this.depth > 0;
      default:
        this.failures += 1;
        this.lastError = detail;
        this.retryAtMs = this.now() + retryDelayMs(this.failures, this.random);
        this.depth = await this.store.countRecords();
        this.kick();
        return false;
    }
  }

  /**
   * @param {FleetRecord[]} batch
   * @returns {Promise<{ status: number, detail: string }>}
   */
  async post(batch) {
    const body = batch.map((r) => JSON.stringify(r)).join('\n') + '\n';
    try {
      const response = await this.fetch(this.endpoint, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-ndjson', Authorization: `Bearer ${this.token}` },
        body,
        cache: 'no-store',
      });
      const text = await response.text().catch(() => '');
      return { status: response.status, detail: `HTTP ${response.status} ${text.slice(0, 300)}` };
    } catch (error) {
      return { status: 0, detail: `network: ${error instanceof Error ? error.message : String(error)}` };
    }
  }
}
