// @ts-check
// Rules published to this screen through the ingest service (`GET /v1/rules` with the screen's
// token). An ETag makes an unchanged document a 304; a document the kiosk refused is not fetched
// again until a newer one is published. Checking and applying a document is the kiosk's job
// (`accept`); this module only knows HTTP.

/**
 * The rules URL beside the records URL: `https://host/v1/records` → `https://host/v1/rules`.
 * @param {string} recordsEndpoint
 */
export function rulesUrl(recordsEndpoint) {
  return new URL('rules', recordsEndpoint).href;
}

export class FleetRules {
  /**
   * @param {{ endpoint: string, token: string, etag?: string | null }} options `endpoint`: the
   *   records URL; `etag`: the document the kiosk plays by now (kept from an earlier page).
   */
  constructor({ endpoint, token, etag = null }) {
    this.url = rulesUrl(endpoint);
    this.token = token;
    /** The newest document this kiosk decided on, accepted or refused: what it asks about. */
    this.etag = etag;
    this.busy = false;
  }

  /**
   * The kiosk decided on this document (took it, or refused it): do not fetch it again.
   * @param {string} etag
   */
  decided(etag) {
    this.etag = etag;
  }

  /**
   * A document newer than the last one seen, or null (unchanged, none published, or the service
   * unreachable: the kiosk plays on by what it has).
   * @returns {Promise<{ etag: string, rules: string | object } | null>} `rules` as parsed, or the text that is not JSON
   */
  async fetchNewer() {
    /** @type {Record<string, string>} */
    const headers = { Authorization: `Bearer ${this.token}` };
    if (this.etag) headers['If-None-Match'] = this.etag;
    let response;
    try {
      response = await fetch(this.url, { headers, cache: 'no-store' });
    } catch {
      return null;
    }
    if (response.status !== 200) return null;
    const etag = response.headers.get('ETag');
    const text = await response.text();
    if (!etag) return null;
    try {
      return { etag, rules: JSON.parse(text) };
    } catch {
      return { etag, rules: text };
    }
  }
}
