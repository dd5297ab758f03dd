// @ts-check
// The kiosk's service worker: after the first visit the kiosk starts without the network.
// Network first (a rebuilt package or new creatives are picked up at once), the cache when the
// network fails. It keeps only the kiosk's own static files: the page, the engine package, the
// libraries it uses and the creatives. It never sees a camera frame (frames never leave the page).
const sw = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));
const CACHE = 'glance-kiosk-v1';
/** The kiosk's own files. The worker's scope is the whole site ("/"), because the engine's
 * worker (/pkg/glance_worker_*.js) is controlled only by a service worker whose scope holds it. */
const SCOPE = '/kiosk/';

/** Paths worth keeping offline; everything else passes through untouched. */
const KEPT = [SCOPE, '/pkg/', '/node_modules/', '/ads/', '/lib/'];
/** The engine keeps its model files in its own cache; a second copy would only take space. */
const ENGINE_CACHED = ['/pkg/models/'];
/** A server that answers nothing within this time is treated as gone. */
const NETWORK_TIMEOUT_MS = 8000;

const SHELL = [
  SCOPE,
  `${SCOPE}kiosk.js`,
  `${SCOPE}kiosk.css`,
  `${SCOPE}player.js`,
  `${SCOPE}camera.js`,
  `${SCOPE}installer.js`,
  `${SCOPE}outbox.js`,
  `${SCOPE}fleet-rules.js`,
  `${SCOPE}fleet.js`,
  `${SCOPE}offline.js`,
  `${SCOPE}persistence.js`,
  `${SCOPE}status.js`,
  `${SCOPE}config.json`,
  '/lib/store.js',
  '/lib/media.js',
  '/lib/dom.js',
  '/pkg/glance.js',
  '/pkg/glance_modules.js',
  '/pkg/glance_threads.js',
  // The engine's worker and what it imports: loaded by the worker, so the page never lists them.
  '/pkg/glance_weights.js',
  '/pkg/glance_worker.js',
  '/pkg/glance_worker_cpu.js',
  '/pkg/glance_worker_webgpu.js',
];

/** @param {URL} url */
function kept(url) {
  return url.origin === sw.location.origin && KEPT.some((p) => url.pathname.startsWith(p));
}

/** Cache key: a page is one entry whatever its flags (?installer=1, ?video=…). */
/** @param {Request} request */
function keyFor(request) {
  const url = new URL(request.url);
  if (request.mode === 'navigate' || url.pathname === SCOPE) return url.origin + url.pathname;
  return url.href;
}

sw.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(SHELL);
    // The creatives of the shipped rules, so the default loop plays offline from the start.
    try {
      const config = await (await cache.match(`${SCOPE}config.json`))?.json();
      /** @type {URL[]} */
      const media = (config?.rules?.ads ?? []).map((/** @type {{ media: string }} */ a) => new URL(a.media, sw.location.origin + SCOPE)).filter(kept);
      await Promise.allSettled(media.map((u) => cache.add(u.href)));
    } catch {
      // Creatives are also cached as they play.
    }
    await sw.skipWaiting();
  })());
});

sw.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('glance-kiosk-') && name !== CACHE) await caches.delete(name);
    }
    await sw.clients.claim();
  })());
});

// The page lists what it loaded before this worker controlled it (and the rules' creatives).
sw.addEventListener('message', (event) => {
  if (event.data?.type !== 'cache' || !Array.isArray(event.data.urls)) return;
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    const urls = [.../** @type {Set<string>} */ (new Set(event.data.urls))]
      .flatMap((u) => { try { return [new URL(u)]; } catch { return []; } })
      .filter((u) => kept(u) && !ENGINE_CACHED.some((p) => u.pathname.startsWith(p)));
    await Promise.allSettled(urls.map(async (u) => {
      const key = u.pathname === SCOPE ? u.origin + u.pathname : u.href;
      if (await cache.match(key)) return;
      const response = await fetch(u.href, { cache: 'no-cache' });
      if (response.ok && response.status === 200) await cache.put(key, response);
    }));
  })());
});

sw.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (!kept(url)) return;
  if (request.headers.has('range')) {
    event.respondWith(ranged(request, event));
    return;
  }
  event.respondWith(networkFirst(request, event));
});

/**
 * @param {Request} request
 * @param {FetchEvent} event
 */
async function networkFirst(request, event) {
  const cache = await caches.open(CACHE);
  const key = keyFor(request);
  try {
    const response = await withTimeout(fetch(request), NETWORK_TIMEOUT_MS);
    const url = new URL(request.url);
    if (response.status === 200 && !ENGINE_CACHED.some((p) => url.pathname.startsWith(p))) {
      event.waitUntil(cache.put(key, response.clone()).catch(() => {}));
    }
    return response;
  } catch (error) {
    // Any cache will do: the engine's model cache included.
    const hit = (await cache.match(key)) ?? (await caches.match(request, { ignoreVary: true }));
    if (hit) return hit;
    throw error;
  }
}

/** Videos ask for byte ranges: from the network, else sliced from the cached file. */
/**
 * @param {Request} request
 * @param {FetchEvent} event
 */
async function ranged(request, event) {
  const cache = await caches.open(CACHE);
  let hit;
  try {
    const response = await withTimeout(fetch(request), NETWORK_TIMEOUT_MS);
    // Keep a whole copy for offline use (a range answer itself cannot be cached).
    if (!(await cache.match(request.url))) event.waitUntil(cache.add(request.url).catch(() => {}));
    return response;
  } catch (error) {
    hit = await cache.match(request.url);
    if (!hit) throw error;
  }
  const body = await hit.arrayBuffer();
  const m = /^bytes=(\d*)-(\d*)$/.exec(request.headers.get('range') ?? '');
  const size = body.byteLength;
  let start = m?.[1] ? Number(m[1]) : 0;
  let end = m?.[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
  if (!m?.[1] && m?.[2]) { start = Math.max(0, size - Number(m[2])); end = size - 1; }
  if (start >= size || start > end) {
    return new Response(null, { status: 416, headers: { 'Content-Range': `bytes */${size}` } });
  }
  const headers = new Headers(hit.headers);
  headers.set('Content-Range', `bytes ${start}-${end}/${size}`);
  headers.set('Content-Length', String(end - start + 1));
  headers.set('Accept-Ranges', 'bytes');
  return new Response(body.slice(start, end + 1), { status: 206, statusText: 'Partial Content', headers });
}

/**
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @returns {Promise<T>}
 */
function withTimeout(promise, ms) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  return Promise.race([
    promise,
    /** @type {Promise<never>} */ (new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('the network did not answer')), ms); })),
  ]).finally(() => clearTimeout(timer));
}
