// @ts-check
// Plays ads full screen with a cross-fade. It knows nothing of the engine: the kiosk tells it
// what to show (a Decision-like object) and hears back when an ad finished by itself.
import { sameOriginMediaUrl } from '/lib/media.js';
import { describeError } from '/lib/dom.js';

const LOAD_TIMEOUT_MS = 8000;
const FADE_MS = 700;

/**
 * What `show` is given: a Decision-like object.
 * @typedef {{ adId: string, media: string, kind: string, durationMs: number }} ShownAd
 */
/**
 * An ad on screen.
 * @typedef {{ serial: number, ad: ShownAd, startedAtMs: number, element: HTMLElement }} Play
 */

/** The creative's URL when it is on this origin; null otherwise (the kiosk fetches nothing from elsewhere). */
export const localMediaUrl = (/** @type {string} */ media) => sameOriginMediaUrl(media);

/**
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @param {string} what
 * @returns {Promise<T>}
 */
function withTimeout(promise, ms, what) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  return Promise.race([
    promise,
    /** @type {Promise<never>} */ (new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms); })),
  ]).finally(() => clearTimeout(timer));
}

/**
 * @template {HTMLMediaElement} T
 * @param {T} target
 * @param {string} ok the event that means loaded
 * @returns {Promise<T>}
 */
function once(target, ok, fail = 'error') {
  return new Promise((resolve, reject) => {
    const done = (/** @type {Event} */ event) => {
      target.removeEventListener(ok, done);
      target.removeEventListener(fail, done);
      if (event.type === ok) resolve(target);
      else reject(new Error(`could not load ${target.currentSrc || target.src}`));
    };
    target.addEventListener(ok, done);
    target.addEventListener(fail, done);
  });
}

/**
 * @param {string} kind
 * @param {string} url
 * @param {string} adId
 * @returns {Promise<HTMLElement>}
 */
async function loadMedia(kind, url, adId) {
  if (kind === 'video') {
    const video = document.createElement('video');
    Object.assign(video, { muted: true, playsInline: true, preload: 'auto', disablePictureInPicture: true });
    video.setAttribute('aria-label', `Advertisement ${adId}`);
    const loaded = once(video, 'loadeddata');
    video.src = url;
    return withTimeout(loaded, LOAD_TIMEOUT_MS, `video ${url}`);
  }
  if (kind === 'html') {
    // A creative page: scripts allowed, but it gets an opaque origin so it cannot read the kiosk's storage.
    const frame = document.createElement('iframe');
    frame.setAttribute('sandbox', 'allow-scripts');
    frame.setAttribute('title', `Advertisement ${adId}`);
    frame.tabIndex = -1;
    frame.src = url;
    return frame; // appended at once: an iframe only loads once it is in the document
  }
  const img = new Image();
  img.alt = `Advertisement ${adId}`;
  img.decoding = 'async';
  img.src = url;
  await withTimeout(img.decode(), LOAD_TIMEOUT_MS, `image ${url}`);
  return img;
}

export class AdPlayer {
  /**
   * `onFinished(play)`: the ad on screen ended by itself (its time is up, or the video ended).
   * `onMediaError(ad, error)`: a creative could not be loaded (a placeholder is shown instead).
   * @param {HTMLElement} stage
   * @param {{ onFinished: (play: Play) => void, onMediaError?: (ad: ShownAd, error: Error) => void }} handlers
   */
  constructor(stage, { onFinished, onMediaError = () => {} }) {
    this.stage = stage;
    this.onFinished = onFinished;
    this.onMediaError = onMediaError;
    this.serial = 0;
    this.timer = 0;
    /** @type {Play | null} `{ serial, ad, startedAtMs, element }` of the ad on screen. */
    this.current = null;
  }

  /**
   * Puts `ad` ({ adId, media, kind, durationMs }) on screen with a cross-fade over whatever was
   * there. Resolves to the play once it is on screen, or null when a newer `show` overtook it.
   * @param {ShownAd} ad
   * @returns {Promise<Play | null>}
   */
  async show(ad) {
    const serial = ++this.serial;
    const slide = document.createElement('div');
    slide.className = 'slide';
    slide.dataset.adId = ad.adId;
    slide.dataset.kind = ad.kind;
    let media;
    const url = localMediaUrl(ad.media);
    try {
      if (!url) throw new Error(`${ad.media} is not on this server; only local creatives are played`);
      media = await loadMedia(ad.kind, url, ad.adId);
    } catch (error) {
      this.onMediaError(ad, error instanceof Error ? error : new Error(describeError(error).message));
      media = null;
    }
    if (serial !== this.serial) {
      if (media instanceof HTMLVideoElement) media.removeAttribute('src');
      return null;
    }
    if (media) slide.append(media);
    else {
      // Never a blank screen: a neutral card holds the ad's slot for its duration.
      slide.classList.add('placeholder');
      slide.textContent = ad.adId;
      const small = document.createElement('small');
      small.textContent = 'creative not available';
      slide.append(small);
    }
    const previous = [...this.stage.querySelectorAll('.slide')];
    this.stage.append(slide);
    slide.getBoundingClientRect(); // commit opacity 0 so the fade runs
    slide.classList.add('shown');
    for (const old of previous) {
      old.classList.remove('shown');
      setTimeout(() => {
        old.querySelector('video')?.pause();
        old.remove();
      }, FADE_MS + 100);
    }
    clearTimeout(this.timer);
    const play = { serial, ad, startedAtMs: Date.now(), element: slide };
    this.current = play;
    const finish = () => {
      if (this.current === play) {
        clearTimeout(this.timer);
        this.onFinished(play);
      }
    };
    let limitMs = ad.durationMs;
    if (media instanceof HTMLVideoElement) {
      media.addEventListener('ended', finish, { once: true });
      media.addEventListener('error', finish, { once: true });
      media.play().catch(finish);
      // The video's own end decides; the timer only guards against a stalled video.
      limitMs = Math.max(ad.durationMs, (Number.isFinite(media.duration) ? media.duration : 0) * 1000) + 2000;
    }
    this.timer = setTimeout(finish, Math.max(500, limitMs));
    return play;
  }
}
