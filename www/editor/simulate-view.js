// @ts-check
// The rules editor's simulator view: rows of people -> timeline steps -> glance.simulateRules ->
// plays with reasons, drawn on the page (the texts and timeline come from simulator.js).
import * as glance from '/pkg/glance.js';
import {
  ROW_FIELDS, bandSummary, buildSteps, conditionText, describeAudience, hue, interruptText, nextStart, onScreenText, rowFromFields, seconds, simulationError, simulationSummary, sketchProblem, skippedText, sourceText, stepSpans,
} from './simulator.js';
import { sameOriginMediaUrl } from '/lib/media.js';
import { isValid, state, ui } from './editor.js';
import { element } from '/lib/dom.js';

/** @typedef {import('/pkg/glance.js').SimulationReport} SimulationReport */
/**
 * What a new row starts with (left out: the sketch's defaults).
 * @typedef {Partial<Omit<import('./simulator.js').SketchRow, 'distanceM' | 'attentionS' | 'lookingNow'>> & { distanceM?: number, attentionS?: number, lookingNow?: number }} RowValues
 */

/** A row's field by its name. @param {HTMLElement} tr @param {string} name */
const field = (tr, name) => element(`[name="${name}"]`, HTMLElement, tr);

/** The age bands ticked in a row. @param {HTMLElement} tr */
function tickedBands(tr) {
  return [.../** @type {NodeListOf<HTMLInputElement>} */ (tr.querySelectorAll('.band-list input:checked'))].map((c) => c.value);
}

/** @param {HTMLElement} tr */
function readRow(tr) {
  return rowFromFields((name) => /** @type {HTMLInputElement | HTMLSelectElement} */ (field(tr, name)).value, tickedBands(tr));
}

export function refreshBandPickers() {
  for (const tr of ui.simRows.querySelectorAll('tr')) fillBandPicker(tr);
  const zone = state.draftDoc?.timeZone;
  ui.simZone.textContent = typeof zone === 'string' ? `Times in ${zone}` : '';
}

/**
 * @param {HTMLElement} tr
 * @param {string[]} [selected] left out: those ticked now
 */
function fillBandPicker(tr, selected) {
  const list = element('.band-list', HTMLElement, tr);
  const current = selected ?? tickedBands(tr);
  const bands = [...new Set([...state.ageBands, ...current])];
  const known = [...list.querySelectorAll('input')].map((c) => c.value);
  if (known.join('\n') !== bands.join('\n')) {
    const rowIndex = [...ui.simRows.children].indexOf(tr) + 1;
    list.replaceChildren(...bands.map((band) => {
      const label = document.createElement('label');
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.value = band;
      box.checked = current.includes(band);
      box.setAttribute('aria-label', `Row ${rowIndex}: age band ${band}`);
      box.addEventListener('change', () => updateBandSummary(tr));
      label.append(box, ` ${band}`);
      return label;
    }));
    if (!bands.length) list.textContent = 'The document lists no ageBands.';
  }
  updateBandSummary(tr);
}

/** @param {HTMLElement} tr */
function updateBandSummary(tr) {
  element('.bands summary', HTMLElement, tr).textContent = bandSummary(tickedBands(tr));
}

/** @param {HTMLElement} tr */
function labelRow(tr) {
  const n = [...ui.simRows.children].indexOf(tr) + 1;
  for (const [name, text] of Object.entries(ROW_FIELDS)) field(tr, name).setAttribute('aria-label', `Row ${n}: ${text}`);
  element('.bands summary', HTMLElement, tr).setAttribute('aria-label', `Row ${n}: age bands`);
  element('.remove-row', HTMLElement, tr).setAttribute('aria-label', `Remove row ${n}`);
}

/**
 * @param {RowValues} [values]
 * @returns {HTMLTableRowElement}
 */
export function addRow(values = {}) {
  const tr = /** @type {HTMLTableRowElement} */ (element('tr', HTMLTableRowElement, ui.rowTemplate.content).cloneNode(true));
  ui.simRows.append(tr);
  const last = [...ui.simRows.querySelectorAll('tr')].slice(-2, -1)[0];
  const previous = last ? readRow(last) : null;
  const start = values.start ?? nextStart(previous);
  const set = (/** @type {string} */ name, /** @type {string | number} */ value) => { /** @type {HTMLInputElement} */ (field(tr, name)).value = String(value); };
  set('start', start);
  set('durationS', values.durationS ?? 20);
  set('present', values.present ?? values.watchers ?? 1);
  set('watchers', values.watchers ?? 0);
  set('lookingNow', values.lookingNow ?? '');
  set('gender', values.gender ?? 'mixed');
  set('distanceM', values.distanceM ?? '');
  set('attentionS', values.attentionS ?? '');
  element('.remove-row', HTMLElement, tr).addEventListener('click', () => {
    tr.remove();
    for (const row of ui.simRows.querySelectorAll('tr')) labelRow(row);
  });
  labelRow(tr);
  fillBandPicker(tr, values.bands ?? []);
  return tr;
}

/** @param {Partial<import('/pkg/glance.js').Reason>} reason */
function renderConditions(reason) {
  const fragment = document.createDocumentFragment();
  if (reason.conditions?.length) {
    const list = document.createElement('ul');
    list.className = 'conditions';
    for (const c of reason.conditions) {
      const li = document.createElement('li');
      li.className = c.held ? 'held' : 'not-held';
      li.textContent = conditionText(c);
      list.append(li);
    }
    fragment.append(list);
  }
  if (reason.skipped?.length) {
    const heading = document.createElement('p');
    heading.textContent = 'Matched but did not play:';
    const list = document.createElement('ul');
    list.className = 'skipped';
    for (const s of reason.skipped) {
      const li = document.createElement('li');
      li.textContent = skippedText(s);
      list.append(li);
    }
    fragment.append(heading, list);
  }
  if (reason.interrupts) {
    const p = document.createElement('p');
    p.textContent = interruptText(reason.interrupts);
    fragment.append(p);
  }
  return fragment;
}

/**
 * @param {SimulationReport} report
 * @param {import('./simulator.js').Step[]} steps
 */
function renderSimulation(report, steps) {
  const plays = report.plays ?? [];
  ui.simTimeline.replaceChildren(...plays.map((play) => {
    const seg = document.createElement('div');
    seg.className = 'segment';
    seg.style.flexGrow = String(play.onScreenMs);
    seg.style.setProperty('--hue', String(hue(play.decision.adId)));
    seg.textContent = play.decision.adId;
    seg.title = `${play.local.slice(11, 19)} ${play.decision.adId} for ${seconds(play.onScreenMs)}`;
    return seg;
  }));
  ui.simTimeline.setAttribute('aria-label', `Plays in order: ${plays.map((p) => p.decision.adId).join(', ')}`);
  const spans = stepSpans(steps);
  ui.simAudience.replaceChildren(...spans.map(({ step, ms }) => {
    const seg = document.createElement('div');
    seg.className = 'segment';
    seg.dataset.empty = String(!step.audience.present);
    seg.style.flexGrow = String(Math.max(ms, 0.001));
    seg.textContent = describeAudience(step.audience);
    seg.title = `${step.t.slice(11)}: ${describeAudience(step.audience)}`;
    return seg;
  }));
  ui.simAudience.setAttribute('aria-label', `Audience: ${spans.map(({ step }) => `${step.t.slice(11)} ${describeAudience(step.audience)}`).join('; ')}`);
  ui.simFrom.textContent = steps[0]?.t.slice(11) ?? '';
  ui.simTo.textContent = steps.at(-1)?.t.slice(11) ?? '';
  ui.simPlays.replaceChildren(...plays.map((play, index) => {
    const d = play.decision;
    const tr = document.createElement('tr');
    tr.dataset.adId = d.adId;
    tr.dataset.source = d.source?.type === 'rule' ? d.source.ruleId : 'defaultLoop';
    tr.dataset.index = String(index);
    const time = document.createElement('td');
    time.textContent = (play.local ?? '').slice(11, 19);
    const ad = document.createElement('td');
    ad.className = 'ad-cell';
    const preview = sameOriginMediaUrl(d.media);
    if (preview && d.kind === 'image') {
      const img = document.createElement('img');
      img.src = preview;
      img.alt = '';
      img.loading = 'lazy';
      img.width = 48;
      img.height = 27;
      img.addEventListener('error', () => img.remove());
      ad.append(img);
    } else if (preview && d.kind === 'video') {
      const video = document.createElement('video');
      video.src = preview;
      video.muted = true;
      video.preload = 'metadata';
      video.width = 48;
      video.height = 27;
      video.setAttribute('aria-hidden', 'true');
      ad.append(video);
    }
    const id = document.createElement('span');
    id.className = 'ad-id';
    id.textContent = d.adId;
    ad.append(id);
    const onScreen = document.createElement('td');
    onScreen.textContent = onScreenText(play);
    const by = document.createElement('td');
    by.textContent = sourceText(d);
    const why = document.createElement('td');
    why.className = 'why';
    const details = document.createElement('details');
    const summary = document.createElement('summary');
    summary.textContent = d.reason?.summary ?? '';
    details.append(summary, renderConditions(d.reason ?? {}));
    why.append(details);
    tr.append(time, ad, onScreen, by, why);
    return tr;
  }));
  ui.simStatus.textContent = simulationSummary(report);
  ui.simResults.hidden = false;
}

/** @param {Event} [event] */
export function runSimulation(event) {
  event?.preventDefault();
  ui.simStatus.dataset.state = '';
  if (!isValid()) {
    ui.simStatus.textContent = 'The draft has problems; fix them to simulate.';
    ui.simStatus.dataset.state = 'error';
    return;
  }
  const date = ui.simDate.value;
  const rows = [...ui.simRows.querySelectorAll('tr')].map(readRow);
  const problem = sketchProblem(date, rows);
  if (problem) {
    ui.simStatus.textContent = problem;
    ui.simStatus.dataset.state = 'error';
    return;
  }
  const steps = buildSteps(date, rows);
  try {
    const report = glance.simulateRules(state.draftDoc, steps);
    renderSimulation(report, steps);
    ui.simStatus.dataset.state = 'done';
  } catch (error) {
    ui.simStatus.textContent = simulationError(error);
    ui.simStatus.dataset.state = 'error';
    ui.simResults.hidden = true;
  }
}

