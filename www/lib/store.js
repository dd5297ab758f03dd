// @ts-check
// The pages' one persistent store (IndexedDB, database "glance"). It holds aggregates and
// settings only: the engine's `saveState()` (anonymous totals, never per-person data or pixels),
// the last good rules document, the kiosk's configuration, and the kiosk's outbox of fleet
// records (aggregates too) waiting for the ingest service. The kiosk writes it; the dashboard
// and the editor read it (same origin).
/** @typedef {import('/pkg/glance.js').FleetRecord} FleetRecord */

const DB_NAME = 'glance';
const DB_VERSION = 2;
const STORE = 'kv';
/** Fleet records by id (a record put twice is kept once), oldest first by `timeMs`. */
const OUTBOX = 'outbox';

/** Keys in use. */
export const KEYS = Object.freeze({
  /** `{ state: string, savedAtMs: number }` — what `engine.saveState()` returned. */
  audienceState: 'audienceState',
  /** The rules document (object) last accepted by `setRules`. */
  rules: 'rules',
  /**
   * The kiosk's installation settings, written by its installer mode:
   * `{ screen: { widthM, heightM, cameraOffsetM, cameraTiltDeg, cameraPanDeg }, cameraDeviceId?, savedAtMs }`
   * (`screen` is the audience configuration's screen geometry; it wins over kiosk/config.json's).
   * `fleet?: { endpoint, screenId, token }` sends the screen's records to an ingest service.
   */
  kioskConfig: 'kioskConfig',
  /** Records the outbox dropped (over its cap) and no heartbeat has reported yet: a number. */
  outboxDropped: 'outboxDropped',
  /**
   * `{ etag: string, rules: object, savedAtMs: number }`: the last rules document published to
   * this screen through the ingest service that the kiosk accepted (they win over the editor's
   * and config.json's).
   */
  fleetRules: 'fleetRules',
});

/** @type {Promise<IDBDatabase> | null} */
let opening = null;

/** @returns {Promise<IDBDatabase>} */
function open() {
  opening ??= new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, DB_VERSION);
    request.onupgradeneeded = (event) => {
      const db = request.result;
      if (event.oldVersion < 1) db.createObjectStore(STORE);
      if (event.oldVersion < 2) db.createObjectStore(OUTBOX, { keyPath: 'id' }).createIndex('byTime', 'timeMs');
    };
    request.onsuccess = () => {
      const db = request.result;
      // A page with a newer version of this store (another tab after an update) needs this
      // connection gone; the next call opens the new version.
      db.onversionchange = () => {
        db.close();
        opening = null;
      };
      resolve(db);
    };
    request.onerror = () => reject(request.error);
    request.onblocked = () => reject(new Error('the Glance database is open in an older version elsewhere'));
  });
  return opening;
}

/**
 * @param {IDBTransactionMode} mode
 * @param {(store: IDBObjectStore) => IDBRequest} action
 * @returns {Promise<any>}
 */
async function run(mode, action) {
  return runIn(STORE, mode, (tx) => action(tx.objectStore(STORE)));
}

/**
 * One transaction over `stores`; resolves with the result of the request `action` returns
 * (undefined for none) once the transaction is durable.
 * @param {string | string[]} stores
 * @param {IDBTransactionMode} mode
 * @param {(tx: IDBTransaction) => IDBRequest | void} action
 * @returns {Promise<any>}
 */
async function runIn(stores, mode, action) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(stores, mode, { durability: 'strict' });
    const request = /** @type {IDBRequest | undefined} */ (action(tx) || undefined);
    tx.oncomplete = () => resolve(request?.result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

/**
 * The value stored under `key`, or undefined.
 * @param {string} key
 * @returns {Promise<any>}
 */
export function load(key) {
  return run('readonly', (store) => store.get(key));
}

/**
 * Stores `value` (structured-cloneable) under `key`; resolves once it is durable.
 * @param {string} key
 * @param {unknown} value
 */
export function save(key, value) {
  return run('readwrite', (store) => store.put(value, key));
}

/**
 * Deletes `key`.
 * @param {string} key
 */
export function remove(key) {
  return run('readwrite', (store) => store.delete(key));
}

// ---- the outbox ----------------------------------------------------------------------------

/**
 * When a fleet record happened (its minute, its play's start, its heartbeat): the outbox's
 * order, and what its 30-day cap is measured on.
 * @param {FleetRecord} record
 */
export function recordTimeMs(record) {
  return record.kind === 'heartbeat' ? record.atMs : record.startMs;
}

/**
 * Stores `value` under `key` and queues `records` in one transaction: the engine's state
 * remembers which records it made, so the two must land together or not at all.
 * @param {string} key
 * @param {unknown} value
 * @param {FleetRecord[]} records
 */
export function saveWithRecords(key, value, records) {
  return runIn([STORE, OUTBOX], 'readwrite', (tx) => {
    putRecords(tx, records);
    tx.objectStore(STORE).put(value, key);
  });
}

/**
 * Queues records (a heartbeat) on their own.
 * @param {FleetRecord[]} records
 */
export function queueRecords(records) {
  return runIn(OUTBOX, 'readwrite', (tx) => putRecords(tx, records));
}

/**
 * Puts records into the outbox of `tx`, keyed by id (a record put twice is kept once).
 * @param {IDBTransaction} tx
 * @param {FleetRecord[]} records
 */
function putRecords(tx, records) {
  const outbox = tx.objectStore(OUTBOX);
  for (const record of records) outbox.put({ id: record.id, timeMs: recordTimeMs(record), record });
}

/**
 * The oldest `limit` queued records.
 * @param {number} limit
 * @returns {Promise<FleetRecord[]>}
 */
export async function oldestRecords(limit) {
  const entries = await runIn(OUTBOX, 'readonly', (tx) => tx.objectStore(OUTBOX).index('byTime').getAll(null, limit));
  return entries.map((/** @type {{ record: FleetRecord }} */ e) => e.record);
}

/**
 * Removes acknowledged (or refused) records.
 * @param {string[]} ids
 */
export function removeRecords(ids) {
  return runIn(OUTBOX, 'readwrite', (tx) => {
    const outbox = tx.objectStore(OUTBOX);
    for (const id of ids) outbox.delete(id);
  });
}

/** @returns {Promise<number>} how many records wait. */
export function countRecords() {
  return runIn(OUTBOX, 'readonly', (tx) => tx.objectStore(OUTBOX).count());
}

/**
 * Drops records older than `minTimeMs`, then the oldest beyond `maxCount`; adds how many to
 * the dropped count the next heartbeat reports, and returns it.
 * @param {number} minTimeMs
 * @param {number} maxCount
 * @returns {Promise<number>}
 */
export async function trimRecords(minTimeMs, maxCount) {
  const byTime = (/** @type {IDBTransaction} */ tx) => tx.objectStore(OUTBOX).index('byTime');
  /** @type {IDBValidKey[]} */
  const old = await runIn(OUTBOX, 'readonly', (tx) => byTime(tx).getAllKeys(IDBKeyRange.upperBound(minTimeMs, true)));
  const excess = Math.max(0, (await countRecords()) - old.length - maxCount);
  /** @type {IDBValidKey[]} */
  const oldest = excess > 0 ? await runIn(OUTBOX, 'readonly', (tx) => byTime(tx).getAllKeys(IDBKeyRange.lowerBound(minTimeMs), excess)) : [];
  const keys = [...old, ...oldest];
  if (keys.length === 0) return 0;
  await runIn([STORE, OUTBOX], 'readwrite', (tx) => {
    const outbox = tx.objectStore(OUTBOX);
    for (const key of keys) outbox.delete(key);
    const kv = tx.objectStore(STORE);
    const counted = kv.get(KEYS.outboxDropped);
    counted.onsuccess = () => kv.put((counted.result ?? 0) + keys.length, KEYS.outboxDropped);
  });
  return keys.length;
}

/** The dropped count for a heartbeat, reset to 0. @returns {Promise<number>} */
export async function takeDroppedCount() {
  return runIn(STORE, 'readwrite', (tx) => {
    const kv = tx.objectStore(STORE);
    const request = kv.get(KEYS.outboxDropped);
    request.onsuccess = () => { if (request.result) kv.put(0, KEYS.outboxDropped); };
    return request;
  }).then((n) => n ?? 0);
}
