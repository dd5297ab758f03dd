// @ts-check
// Media URLs the pages may load. The pages contact no third party: a creative (an ad's `media`)
// is shown, previewed or cached only when it is on the page's own origin.

/**
 * The absolute URL of `media` when it is on the same origin as `base`; null otherwise (and for
 * text that is no URL at all).
 * @param {unknown} media the ad's `media` (relative to `base`, or absolute)
 * @param {string} [base] the page's URL; `location.href` in a page
 * @returns {string | null}
 */
export function sameOriginMediaUrl(media, base = globalThis.location?.href) {
  try {
    const url = new URL(String(media), base);
    return url.origin === new URL(/** @type {string} */ (base)).origin ? url.href : null;
  } catch {
    return null;
  }
}
