// @ts-check
// The kiosk's picture source: the camera (getUserMedia) or, for demos, a looping clip
// (?video=URL). It reopens itself when the camera disappears, is unplugged, busy or denied,
// with a growing pause between attempts, and says what it is doing through `onState`.

import { describeError } from '/lib/dom.js';

const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 60_000;

/**
 * Off (not wanted), opening, on, retrying (after a failure), paused (disclosure hidden).
 * @typedef {'off' | 'opening' | 'on' | 'retrying' | 'paused'} CameraState
 */

export class CameraSource {
  /**
   * `video`: the <video> element frames are read from. `demoUrl`: play this clip instead of the
   * camera. `deviceId`: preferred camera. `onState(state, detail)`: every change.
   * @param {HTMLVideoElement} video
   * @param {{ demoUrl?: string | null, deviceId?: string | null, onState?: (state: CameraState, detail: string) => void }} [options]
   */
  constructor(video, { demoUrl = null, deviceId = null, onState = () => {} } = {}) {
    this.video = video;
    this.demoUrl = demoUrl;
    this.deviceId = deviceId || null;
    this.onState = onState;
    /** @type {CameraState} */
    this.state = 'off';
    this.detail = '';
    /** @type {MediaStream | null} */
    this.stream = null;
    this.wanted = false;
    this.retries = 0;
    this.retryTimer = 0;
    /** @type {number | null} */
    this.nextRetryAtMs = null;
    /** @type {Promise<void> | null} */
    this.opening = null;
    /** @type {unknown} */
    this.lastError = null;
    if (!demoUrl && navigator.mediaDevices) {
      // A camera plugged in (or back) is worth trying at once rather than at the next retry.
      navigator.mediaDevices.addEventListener('devicechange', () => {
        if (this.wanted && this.state !== 'on' && this.state !== 'opening') this.retryNow();
        else if (this.wanted && this.state === 'on' && !this.liveTrack()) this.lost('the camera was disconnected');
      });
      // A permission granted later (site settings) should not wait for the backoff either.
      navigator.permissions?.query({ name: 'camera' }).then((status) => {
        status.addEventListener('change', () => {
          if (status.state === 'granted' && this.wanted && this.state !== 'on') this.retryNow();
        });
      }).catch(() => {});
    }
  }

  get active() { return this.state === 'on'; }

  liveTrack() {
    return this.stream?.getVideoTracks().find((t) => t.readyState === 'live') ?? null;
  }

  /** @param {CameraState} state */
  setState(state, detail = '') {
    this.state = state;
    this.detail = detail;
    this.onState(state, detail);
  }

  /** Opens the source (and keeps trying until it works or `stop` is called). */
  start() {
    this.wanted = true;
    if (this.state === 'on' || this.opening) return this.opening ?? Promise.resolve();
    clearTimeout(this.retryTimer);
    this.opening = this.open().finally(() => { this.opening = null; });
    return this.opening;
  }

  retryNow() {
    clearTimeout(this.retryTimer);
    this.retries = 0;
    this.start();
  }

  async open() {
    this.setState('opening');
    try {
      if (this.demoUrl) await this.openClip();
      else await this.openCamera();
      if (!this.wanted) { this.release(); return; }
      this.retries = 0;
      this.nextRetryAtMs = null;
      this.lastError = null;
      this.setState('on', this.demoUrl ? `demo clip ${this.demoUrl}` : this.liveTrack()?.label ?? 'camera');
    } catch (error) {
      this.release();
      this.lastError = error;
      if (this.wanted) this.scheduleRetry(describe(error));
    }
  }

  async openCamera() {
    if (!navigator.mediaDevices?.getUserMedia) throw Object.assign(new Error('this browser has no camera access'), { name: 'NotSupportedError' });
    /** @type {MediaTrackConstraints} */
    const video = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 15 } };
    if (this.deviceId) video.deviceId = { ideal: this.deviceId };
    const stream = await navigator.mediaDevices.getUserMedia({ video, audio: false });
    this.stream = stream;
    for (const track of stream.getVideoTracks()) {
      track.addEventListener('ended', () => { if (this.stream === stream) this.lost('the camera stopped'); });
    }
    this.video.srcObject = stream;
    await this.video.play();
  }

  async openClip() {
    const { video, demoUrl } = this;
    if (!demoUrl) return;
    video.loop = true;
    if (video.getAttribute('src') !== demoUrl) {
      const loaded = new Promise((resolve, reject) => {
        video.addEventListener('loadeddata', resolve, { once: true });
        video.addEventListener('error', () => reject(new Error(`could not load the demo clip ${demoUrl}`)), { once: true });
      });
      video.src = demoUrl;
      await loaded;
    }
    await video.play();
  }

  /** The camera went away while in use: drop it and come back when it does. */
  /** @param {string} why */
  lost(why) {
    this.release();
    if (this.wanted) this.scheduleRetry(why);
  }

  /** @param {string} why */
  scheduleRetry(why) {
    const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this.retries);
    this.retries += 1;
    this.nextRetryAtMs = Date.now() + delay;
    this.setState('retrying', why);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => { if (this.wanted) this.start(); }, delay);
  }

  /** Stops the tracks (the camera's light goes off) and forgets the stream. */
  release() {
    if (this.stream) {
      for (const track of this.stream.getTracks()) track.stop();
      this.stream = null;
    }
    if (this.demoUrl) this.video.pause();
    else if (this.video.srcObject) this.video.srcObject = null;
  }

  /** Stops for good (until the next `start`); `state` says why (e.g. "paused"). */
  /** @param {CameraState} [state] */
  stop(state = 'off', detail = '') {
    this.wanted = false;
    clearTimeout(this.retryTimer);
    this.nextRetryAtMs = null;
    this.release();
    this.setState(state, detail);
  }

  /** Switches to another camera (installer mode). */
  /** @param {string | null} deviceId */
  async useDevice(deviceId) {
    if ((deviceId || null) === this.deviceId) return;
    this.deviceId = deviceId || null;
    if (this.demoUrl || !this.wanted) return;
    this.release();
    this.state = 'off';
    await this.start();
  }
}

/** @param {unknown} error */
function describe(error) {
  const { name, message } = describeError(error);
  switch (name) {
    case 'NotAllowedError': return 'camera access denied';
    case 'NotFoundError':
    case 'OverconstrainedError': return 'no camera found';
    case 'NotReadableError': return 'camera busy or not working';
    default: return message || String(error);
  }
}
