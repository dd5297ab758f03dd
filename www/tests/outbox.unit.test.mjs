// Unit tests of the kiosk's outbox sender (www/kiosk/outbox.js): what each answer of the ingest
// service does to the queue, and the retry delays. The storage is a Map here; the real one
// (IndexedDB) and the real service are in fleet.test.mjs.
// Run: node --test tests/outbox.unit.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { FIRST_RETRY_MS, LONGEST_RETRY_MS, MAX_AGE_MS, Outbox, retryDelayMs, verdict } from "../kiosk/outbox.js";

const T0 = Date.UTC(2026, 11, 1, 10);

function minute(i) {
  return { kind: "audienceMinute", id: `s:minute:${T0 + i * 60_000}`, startMs: T0 + i * 60_000 };
}

/** The store functions over a Map, ordered by time as IndexedDB's index is. */
function memoryStore(records) {
  const map = new Map(records.map((r) => [r.id, r]));
  const time = (r) => r.startMs ?? r.atMs;
  return {
    map,
    oldestRecords: async (n) => [...map.values()].sort((a, b) => time(a) - time(b)).slice(0, n),
    removeRecords: async (ids) => { for (const id of ids) map.delete(id); },
    countRecords: async () => map.size,
    trimRecords: async (minTimeMs, maxCount) => {
      const sorted = [...map.values()].sort((a, b) => time(a) - time(b));
      const drop = sorted.filter((r) => time(r) < minTimeMs);
      const rest = sorted.filter((r) => time(r) >= minTimeMs);
      drop.push(...rest.slice(0, Math.max(0, rest.length - maxCount)));
      for (const r of drop) map.delete(r.id);
      return drop.length;
    },
  };
}

/** A fetch that answers from a list of statuses (0: a network failure) and keeps each body. */
function scriptedFetch(statuses) {
  const bodies = [];
  const fetch = async (_url, init) => {
    bodies.push(init.body);
    assert.equal(init.headers.Authorization, "Bearer tok");
    const status = statuses.shift();
    if (status === 0) throw new TypeError("Failed to fetch");
    return { status, text: async () => (status === 200 ? "{}" : '{"error":{"code":"x"}}') };
  };
  return { fetch, bodies };
}

function outbox(store, fetch, now = () => T0 + 3_600_000) {
  const box = new Outbox({ endpoint: "http://ingest/v1/records", token: "tok", store, fetch, now, random: () => 0.5 });
  box.kick = () => {}; // no timers in a unit test
  return box;
}

test("answers: 2xx acknowledged, 400 and 403 refused, 413 split, everything else retried", () => {
  assert.equal(verdict(200, 3), "acked");
  assert.equal(verdict(400, 3), "refused");
  assert.equal(verdict(403, 3), "refused");
  assert.equal(verdict(413, 3), "split");
  assert.equal(verdict(413, 1), "refused");
  for (const status of [0, 401, 429, 500, 502, 503]) assert.equal(verdict(status, 3), "retry", String(status));
});

test("retries back off from 1 s to 5 min, each a random point in the upper half", () => {
  assert.equal(retryDelayMs(1, () => 0), FIRST_RETRY_MS / 2);
  assert.equal(retryDelayMs(1, () => 1), FIRST_RETRY_MS);
  assert.equal(retryDelayMs(4, () => 1), 8 * FIRST_RETRY_MS);
  assert.equal(retryDelayMs(40, () => 1), LONGEST_RETRY_MS);
  assert.equal(retryDelayMs(40, () => 0), LONGEST_RETRY_MS / 2);
});

test("an acknowledged batch leaves the queue; a failure keeps it and schedules a retry", async () => {
  const store = memoryStore([minute(2), minute(0), minute(1)]);
  const { fetch, bodies } = scriptedFetch([503, 0, 200]);
  const box = outbox(store, fetch);
  await box.sendAll();
  assert.equal(store.map.size, 3);
  assert.equal(box.failures, 1);
  assert.ok(box.retryAtMs > T0 + 3_600_000);
  await box.sendAll();
  assert.equal(box.failures, 2);
  assert.match(box.lastError, /network/);
  await box.sendAll();
  assert.equal(store.map.size, 0);
  assert.equal(box.failures, 0);
  assert.equal(box.sent, 3);
  assert.equal(box.lastAckMs, T0 + 3_600_000);
  // NDJSON, oldest first, the same records each time.
  const lines = bodies[2].trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((r) => r.id), [minute(0).id, minute(1).id, minute(2).id]);
  assert.equal(bodies[0], bodies[2]);
});

test("too large a batch is halved until it goes; a refused one is dropped and counted", async () => {
  const store = memoryStore([minute(0), minute(1), minute(2), minute(3)]);
  const { fetch, bodies } = scriptedFetch([413, 200, 400]);
  const box = outbox(store, fetch);
  box.batchSize = 4;
  await box.sendAll();
  assert.deepEqual(bodies.map((b) => b.trim().split("\n").length), [4, 2, 2]);
  assert.equal(box.sent, 2);
  assert.equal(box.refused, 2);
  assert.equal(store.map.size, 0);
});

test("records older than 30 days are dropped before sending", async () => {
  const now = T0 + MAX_AGE_MS + 90_000;
  const store = memoryStore([minute(0), minute(1), minute(2)]);
  const { fetch, bodies } = scriptedFetch([200]);
  const box = outbox(store, fetch, () => now);
  await box.sendAll();
  const sent = bodies[0].trim().split("\n").map((l) => JSON.parse(l).id);
  assert.deepEqual(sent, [minute(2).id]);
});
