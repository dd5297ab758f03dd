// @ts-check
// The kiosk without the network: its service worker (sw.js) keeps the page, the engine and the
// creatives, so that it starts again offline.

export async function registerServiceWorker() {
  if (!('serviceWorker' in navigator)) return;
  try {
    // Scope "/": the engine's worker loads from /pkg/ and is controlled by the service worker
    // whose scope holds its URL (the server sends Service-Worker-Allowed: / for sw.js).
    await navigator.serviceWorker.register('/kiosk/sw.js', { scope: '/' });
    for (const old of await navigator.serviceWorker.getRegistrations()) {
      if (new URL(old.scope).pathname === '/kiosk/') old.unregister();
    }
    // On the very first visit, wait (briefly) until the worker controls this page, so the engine
    // and the creatives are cached on their way in rather than downloaded twice.
    if (!navigator.serviceWorker.controller) {
      await Promise.race([
        new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true })),
        sleep(3000),
      ]);
    }
  } catch (error) {
    console.warn('Glance kiosk: no offline support:', error);
  }
}

/**
 * Asks the worker to keep what this page uses: loaded files and the creatives of `rules`.
 * @param {{ ads?: { media: string }[] } | null} rules
 */
export async function cacheForOffline(rules) {
  try {
    const registration = await navigator.serviceWorker?.ready;
    const loaded = performance.getEntriesByType('resource').map((e) => e.name);
    const media = (rules?.ads ?? []).map((a) => new URL(a.media, location.href).href);
    registration?.active?.postMessage({ type: 'cache', urls: [location.href, ...loaded, ...media] });
  } catch {
    // Offline support is a bonus; the kiosk works without it.
  }
}

/** @param {number} ms @returns {Promise<void>} */
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
