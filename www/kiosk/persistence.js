// @ts-check
// The kiosk's saves: the engine's aggregates (and, with a fleet, its records in the same
// IndexedDB transaction) every 10 s, when a visit ends, when the ad changes and when the page
// goes away. A save asked for while one runs is folded into one more after it.
import { KEYS, save, saveWithRecords } from '/lib/store.js';
import { crashed, isCrash, state } from './kiosk.js';

/** Records taken from the engine whose save failed wait in memory for the next save, at most this many. */
const MAX_PENDING_RECORDS = 10_000;

/** @type {Promise<void> | null} */
let saving = null;
let saveAgain = false;

/** Saves the aggregates; calls while a save runs are folded into one more save after it. */
/** @param {string} why @returns {Promise<void>} */
export function persist(why) {
  if (saving) {
    saveAgain = true;
    return saving;
  }
  saving = (async () => {
    do {
      saveAgain = false;
      await saveOnce(why);
    } while (saveAgain);
  })().finally(() => { saving = null; });
  return saving;
}

/** @param {string} why */
async function saveOnce(why) {
  const { engine } = state;
  if (!engine || state.recreating) return;
  /** @type {{ state: string, savedAtMs: number, playOnScreen?: { adId: string, playId: string } }} */
  let record;
  let records = state.pendingRecords;
  try {
    // Records first: the state saved next remembers them as made.
    if (state.fleet) records = [...records, ...(await engine.takeRecords(state.fleet.screenId, state.flushed))];
    state.pendingRecords = records;
    record = { state: await engine.saveState(), savedAtMs: Date.now() };
    if (state.current?.reported) record.playOnScreen = { adId: state.current.adId, playId: state.current.playId };
  } catch (error) {
    if (isCrash(error)) crashed();
    return;
  }
  try {
    if (state.fleet) {
      await saveWithRecords(KEYS.audienceState, record, records);
      state.pendingRecords = state.pendingRecords.slice(records.length);
      if (records.length) state.outbox?.kick();
    } else {
      await save(KEYS.audienceState, record);
    }
    state.lastSavedAtMs = record.savedAtMs;
    state.counters.saves += 1;
  } catch (error) {
    // The records stay in memory for the next save (their state was not saved either).
    if (state.pendingRecords.length > MAX_PENDING_RECORDS) state.pendingRecords = state.pendingRecords.slice(-MAX_PENDING_RECORDS);
    state.counters.saveErrors += 1;
    console.warn(`Glance kiosk: aggregates not saved (${why}):`, error);
  }
}
