// @ts-check
// The pages' one persistent store (IndexedDB, database "glance"). It holds aggregates and
// settings only: the engine's `saveState()` (anonymous totals, never per-person data or pixels),
// the last good rules document, and the kiosk's configuration. The kiosk writes it; the
// dashboard and the editor read it (same origin).
const DB_NAME = 'glance';
const DB_VERSION = 1;
const STORE = 'kv';

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
   */
  kioskConfig: 'kioskConfig',
});

/** @type {Promise<IDBDatabase> | null} */
let opening = null;

/** @returns {Promise<IDBDatabase>} */
function open() {
  opening ??= new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, DB_VERSION);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
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
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const request = action(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(request.result);
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
