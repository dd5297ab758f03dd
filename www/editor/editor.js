// @ts-check
// Glance rules editor: a form generated from the engine's JSON Schema and a raw JSON view of the
// same draft, validated live by the engine itself (so the editor never disagrees with the kiosk),
// a simulator, and import/export. Only a valid draft can be applied; the last applied document
// stays in the store (www/lib/store.js, KEYS.rules) whatever happens to the draft.
// This module is the view (the DOM and the engine); what can be tested without them lives in
// rules-text.js (JSON text), form.js (the form's schema) and simulator.js (timeline and texts).
import init, * as glance from '/pkg/glance.js';
import { KEYS, load, save } from '/lib/store.js';
import { downloadText } from '/lib/download.js';
import {
  ageBandsOf, canonical, describeDocument, exportText, fingerprint, formatJson, importedText, issueRange as rangeIn,
  issuesByLine, locateValues, orderLike, parsePath, validateText,
} from './rules-text.js';
import { formSchema } from './form.js';
import { addRow, refreshBandPickers, runSimulation } from './simulate-view.js';
import { localDate } from './simulator.js';
import { describeError, element } from '/lib/dom.js';

/** @typedef {import('./rules-text.js').Issue} Issue */
/** json-editor's editor objects (the library ships no types; the page uses a few fields). @typedef {any} JsonEditorNode */

/** The page's element for `selector` (there is one: the page's own markup). */
const $ = (/** @type {string} */ selector) => element(selector);

export const ui = {
  form: $('#form'),
  formLocked: $('#form-locked'),
  raw: element('#raw', HTMLTextAreaElement),
  gutter: $('#gutter'),
  lineMarks: $('#line-marks'),
  issues: $('#issues'),
  issueCount: $('#issue-count'),
  issuesOk: $('#issues-ok'),
  issuesHint: $('#issues-hint'),
  liveStatus: $('#live-status'),
  draftStatus: $('#draft-status'),
  apply: element('#apply', HTMLButtonElement),
  revert: element('#revert', HTMLButtonElement),
  exportButton: $('#export'),
  importFile: element('#import-file', HTMLInputElement),
  announcer: $('#announcer'),
  simForm: $('#sketch'),
  simDate: element('#sim-date', HTMLInputElement),
  simZone: $('#sim-zone'),
  simRows: $('#sim-rows'),
  addRow: $('#add-row'),
  runSim: element('#run-sim', HTMLButtonElement),
  simStatus: $('#sim-status'),
  simResults: $('#sim-results'),
  simTimeline: $('#sim-timeline'),
  simAudience: $('#sim-audience'),
  simPlays: element('#sim-plays tbody', HTMLTableSectionElement),
  simFrom: $('#sim-from'),
  simTo: $('#sim-to'),
  rowTemplate: element('#row-template', HTMLTemplateElement),
  publishForm: $('#publish'),
  publishUrl: element('#publish-url', HTMLInputElement),
  publishToken: element('#publish-token', HTMLInputElement),
  publishTarget: element('#publish-target', HTMLInputElement),
  publishButton: element('#publish-button', HTMLButtonElement),
  publishStatus: $('#publish-status'),
};

/** Everything the page knows; `draft` is the raw text (the single source of truth). */
export const state = {
  /** @type {object | null} the stored, applied document */
  live: null,
  /** @type {Date | null} when applied from this page in this session */
  liveAppliedAt: null,
  draftText: '',
  savedText: '', // the draft as loaded, applied or reverted: edits since then are unsaved
  /** @type {any} draftText parsed (any JSON), or null when it is not JSON */
  draftDoc: null,
  /** @type {Issue[]} from the engine */
  issues: [],
  /** @type {Map<string, import('./rules-text.js').Position>} canonical path -> text range in draftText */
  positions: new Map(),
  /** @type {JsonEditorNode | null} */
  jsonEditor: null,
  formEnabled: true,
  /** @type {string | null} canonical JSON of what the form last showed, to ignore its own echoes */
  formValue: null,
  /** @type {string[]} */
  ageBands: [],
};

// ---------------------------------------------------------------------------------------------
// The form: json-editor driven by the engine's schema, adapted for editing.

/** @type {Map<string, string[][]>} datalist id -> [value, label?] each (formSchema fills it) */
const LISTS = new Map();

function renderDatalists() {
  for (const [id, values] of LISTS) {
    let list = document.getElementById(id);
    if (!list) {
      list = document.createElement('datalist');
      list.id = id;
      document.body.append(list);
    }
    list.replaceChildren(...values.map(([value, label]) => {
      const option = document.createElement('option');
      option.value = value;
      if (label) option.label = label;
      return option;
    }));
  }
}

/**
 * @param {object} schema the engine's rules schema
 * @param {object} startval
 * @returns {Promise<JsonEditorNode>}
 */
async function createForm(schema, startval) {
  ui.form.replaceChildren();
  const editor = new window.JSONEditor(ui.form, {
    schema: formSchema(schema, LISTS),
    startval,
    theme: 'html',
    iconlib: null,
    show_errors: 'never', // the engine's issues are shown instead (markForm)
    disable_edit_json: true, // the JSON view is next to the form
    disable_collapse: true,
    disable_array_delete_all_rows: true,
    disable_array_delete_last_row: true,
    display_required_only: true, // optional settings appear only when the document has them
    no_additional_properties: true,
    keep_oneof_values: false,
    prompt_before_delete: false,
    use_name_attributes: true,
    form_name_root: 'root',
  });
  await new Promise((resolve) => editor.on('ready', resolve));
  renderDatalists();
  editor.on('change', onFormChange);
  return editor;
}

/**
 * The editor for a path, or its nearest ancestor that has one; `exact` tells which.
 * @param {(string | number)[]} segments
 * @returns {{ editor: JsonEditorNode, exact: boolean, depth: number } | null}
 */
function editorFor(segments) {
  const editor = state.jsonEditor;
  if (!editor) return null;
  for (let n = segments.length; n >= 0; n--) {
    const found = editor.getEditor(['root', ...segments.slice(0, n)].join('.'));
    if (found) return { editor: found, exact: n === segments.length, depth: n };
  }
  return null;
}

/**
 * The editor that actually shows a value: through oneOf/anyOf switchers to the active branch.
 * @param {JsonEditorNode} editor
 * @returns {JsonEditorNode}
 */
function activeEditor(editor) {
  let current = editor;
  while (current && Array.isArray(current.editors) && typeof current.type === 'number' && current.editors[current.type]) {
    current = current.editors[current.type];
  }
  return current;
}

/**
 * @param {JsonEditorNode} editor
 * @returns {HTMLElement | null}
 */
function inputOf(editor) {
  const active = activeEditor(editor);
  if (active?.input && active.input.type !== 'hidden') return active.input;
  return active?.container?.querySelector('input:not([type=hidden]), select, textarea') ?? null;
}

/**
 * Tabs (rules, ads) along the path.
 * @param {(string | number)[]} segments
 */
function tabsAlong(segments) {
  /** @type {{ parent: JsonEditorNode, index: number }[]} */
  const out = [];
  for (let n = 0; n < segments.length; n++) {
    const parent = state.jsonEditor?.getEditor(['root', ...segments.slice(0, n)].join('.'));
    const index = segments[n];
    if (parent?.tabs_holder && typeof index === 'number' && parent.rows?.[index]?.tab) out.push({ parent, index });
  }
  return out;
}

let markCounter = 0;

function clearFormMarks() {
  for (const el of ui.form.querySelectorAll('.glance-issue-message')) el.remove();
  for (const el of ui.form.querySelectorAll('.glance-invalid')) el.classList.remove('glance-invalid');
  for (const el of ui.form.querySelectorAll('[aria-invalid]')) {
    el.removeAttribute('aria-invalid');
    el.removeAttribute('aria-errormessage');
  }
  for (const el of ui.form.querySelectorAll('.je-tab.has-issue')) {
    el.classList.remove('has-issue');
    el.removeAttribute('title');
  }
}

/** Points every issue at its form field: a red outline, the message, aria-invalid. */
function markForm() {
  clearFormMarks();
  for (const issue of state.issues) {
    const segments = parsePath(issue.path);
    const found = editorFor(segments);
    if (!found) continue;
    const active = activeEditor(found.editor);
    const container = active.container ?? found.editor.container;
    container.classList.add('glance-invalid');
    const message = document.createElement('p');
    message.className = 'glance-issue-message';
    message.id = `glance-issue-${++markCounter}`;
    message.textContent = found.exact ? issue.message : `${issue.path}: ${issue.message}`;
    const input = found.exact ? inputOf(found.editor) : null;
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-errormessage', message.id);
      input.insertAdjacentElement('afterend', message);
    } else {
      container.prepend(message);
    }
    for (const { parent, index } of tabsAlong(segments)) {
      const tab = parent.rows[index].tab;
      tab.classList.add('has-issue');
      tab.title = 'has a problem';
    }
  }
}

/** json-editor's tabs are plain divs; give them tab semantics and make them keyboard operable. */
function enhanceTabs() {
  for (const holder of ui.form.querySelectorAll('.je-tabholder')) holder.setAttribute('role', 'tablist');
  for (const tab of /** @type {NodeListOf<HTMLElement>} */ (ui.form.querySelectorAll('.je-tab, .je-tab--top'))) {
    if (tab.dataset.enhanced) continue;
    tab.dataset.enhanced = '1';
    tab.tabIndex = 0;
    tab.setAttribute('role', 'tab');
    tab.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        tab.click();
      }
    });
    // json-editor's own click handler (registered first) switches the tab; then mark the state.
    tab.addEventListener('click', () => markSelectedTabs());
  }
  markSelectedTabs();
}

function markSelectedTabs() {
  for (const tab of /** @type {NodeListOf<HTMLElement>} */ (ui.form.querySelectorAll('.je-tab, .je-tab--top'))) {
    tab.setAttribute('aria-selected', String(tab.style.opacity !== '0.5'));
  }
}

/** @param {(string | number)[]} segments */
function focusFormField(segments) {
  const found = editorFor(segments);
  if (!found) return false;
  for (const { parent, index } of tabsAlong(segments.slice(0, found.depth))) {
    parent.active_tab = parent.rows[index].tab;
    parent.refreshTabs();
  }
  enhanceTabs();
  const target = (found.exact && inputOf(found.editor)) || activeEditor(found.editor).container;
  target.scrollIntoView({ block: 'center' });
  if (target.matches('input, select, textarea')) target.focus();
  else {
    target.tabIndex = -1;
    target.focus();
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// The JSON view: line numbers and marks for lines with problems.

let lineHeight = 20;

function renderGutter() {
  const lines = state.draftText.split('\n').length;
  const issueLines = issuesByLine(state.issues, state.draftText, state.positions);
  const numbers = [];
  for (let n = 1; n <= lines; n++) {
    const span = document.createElement('span');
    span.textContent = String(n);
    if (issueLines.has(n)) {
      span.className = 'bad';
      span.title = (issueLines.get(n) ?? []).join('\n');
    }
    numbers.push(span);
  }
  ui.gutter.replaceChildren(...numbers);
  ui.lineMarks.replaceChildren(...[...issueLines.keys()].map((n) => {
    const mark = document.createElement('div');
    mark.className = 'line-mark';
    mark.dataset.line = String(n);
    mark.style.top = `${(n - 1) * lineHeight}px`;
    return mark;
  }));
  syncScroll();
}

function syncScroll() {
  ui.gutter.scrollTop = ui.raw.scrollTop;
  ui.lineMarks.style.transform = `translate(${-ui.raw.scrollLeft}px, ${-ui.raw.scrollTop}px)`;
}

/**
 * Text range of an issue in the JSON view (the nearest enclosing value that exists).
 * @param {Issue} issue
 */
function issueRange(issue) {
  return rangeIn(issue, state.draftText, state.positions);
}

/** @param {Issue} issue */
function issueLine(issue) {
  return issueRange(issue)?.line ?? null;
}

/**
 * Scrolls the JSON view (without moving the focus) so that `line` is in sight.
 * @param {number} line
 */
function revealLine(line) {
  const top = (line - 1) * lineHeight;
  const visible = ui.raw.clientHeight - lineHeight;
  if (top < ui.raw.scrollTop || top > ui.raw.scrollTop + visible) {
    ui.raw.scrollTop = Math.max(0, top - 3 * lineHeight);
    syncScroll();
  }
}

/** @param {Issue} issue */
function focusJson(issue) {
  const range = issueRange(issue);
  if (!range) return;
  ui.raw.focus();
  ui.raw.setSelectionRange(range.start, range.end);
  ui.raw.scrollTop = Math.max(0, (range.line - 4) * lineHeight);
  syncScroll();
}

// ---------------------------------------------------------------------------------------------
// Draft, validation, status.

/** @param {string} text */
function validate(text) {
  return validateText(glance.validateRules, text);
}

/**
 * Sets the draft from text; `source` says which view the text came from.
 * @param {string} text
 * @param {'raw' | 'form' | 'load' | 'import'} source
 */
function setDraft(text, source) {
  state.draftText = text;
  try {
    state.draftDoc = JSON.parse(text);
  } catch {
    state.draftDoc = null;
  }
  state.positions = state.draftDoc !== null ? locateValues(text) : new Map();
  if (source !== 'raw' && ui.raw.value !== text) ui.raw.value = text;
  const editable = state.draftDoc !== null && typeof state.draftDoc === 'object' && !Array.isArray(state.draftDoc);
  if (source !== 'form' && editable && state.jsonEditor) {
    try {
      state.jsonEditor.setValue(state.draftDoc);
      // Remember what the form now shows so its change event (which follows) is not taken for an edit.
      state.formValue = canonical(state.jsonEditor.getValue());
    } catch (error) {
      console.warn('the form cannot show this document', error);
    }
  }
  setFormEnabled(editable);
  state.issues = validate(text);
  state.ageBands = ageBandsOf(state.draftDoc);
  renderIssues();
  renderGutter();
  // An edit in the form that breaks something: show the offending line in the JSON view too.
  // (Not for edits in the JSON view itself, where the person is typing.)
  if (source === 'form' && state.issues.length) {
    const line = issueLine(state.issues[0]);
    if (line) revealLine(line);
  }
  markForm();
  enhanceTabs();
  renderStatus();
  refreshBandPickers();
}

/**
 * While the JSON view holds no JSON object, the form (which still shows the last one) is read-only,
 * so that an edit there cannot silently throw away what is being typed in the JSON view.
 * @param {boolean} enabled
 */
function setFormEnabled(enabled) {
  const editor = state.jsonEditor;
  if (!editor || state.formEnabled === enabled) return;
  state.formEnabled = enabled;
  if (enabled) editor.enable();
  else editor.disable();
  ui.formLocked.hidden = enabled;
}

function onFormChange() {
  const value = state.jsonEditor?.getValue();
  const text = canonical(value);
  enhanceTabs();
  if (text === state.formValue) {
    markForm(); // json-editor may have redrawn parts of the form
    return;
  }
  state.formValue = text;
  setDraft(`${formatJson(orderLike(value, state.draftDoc))}\n`, 'form');
}

let rawTimer = 0;
function onRawInput() {
  clearTimeout(rawTimer);
  rawTimer = setTimeout(() => setDraft(ui.raw.value, 'raw'), 250);
}

/** Takes the JSON view's text now, not after the typing pause: what Apply or Publish acts on. */
function takeRawInput() {
  if (ui.raw.value !== state.draftText) {
    clearTimeout(rawTimer);
    setDraft(ui.raw.value, 'raw');
  }
}

export const isValid = () => state.draftDoc !== null && state.issues.length === 0;
const isApplied = () => state.live !== null && state.draftDoc !== null && canonical(state.draftDoc) === canonical(state.live);

function renderStatus() {
  if (state.live) {
    const when = state.liveAppliedAt ? `, applied ${state.liveAppliedAt.toLocaleTimeString()}` : '';
    ui.liveStatus.textContent = `Live rules: version ${fingerprint(state.live)} (${describeDocument(state.live)}${when})`;
    ui.liveStatus.dataset.state = 'live';
    ui.liveStatus.dataset.version = fingerprint(state.live);
  } else {
    ui.liveStatus.textContent = 'Live rules: none applied yet';
    ui.liveStatus.dataset.state = 'none';
    delete ui.liveStatus.dataset.version;
  }
  let text;
  let draftState;
  if (!isValid()) {
    const n = state.issues.length;
    text = `Draft: ${n} problem${n === 1 ? '' : 's'}; the live rules stay in force`;
    draftState = 'invalid';
  } else if (isApplied()) {
    text = 'Draft: same as the live rules';
    draftState = 'applied';
  } else {
    text = `Draft: version ${fingerprint(state.draftDoc)}, valid, not applied yet`;
    draftState = 'changed';
  }
  ui.draftStatus.textContent = text;
  ui.draftStatus.dataset.state = draftState;
  ui.apply.disabled = !isValid() || isApplied();
  ui.revert.disabled = !state.live || isApplied();
  ui.runSim.disabled = !isValid();
}

function renderIssues() {
  const issues = state.issues;
  ui.issueCount.textContent = issues.length ? `(${issues.length})` : '';
  ui.issuesOk.hidden = issues.length > 0;
  ui.issuesHint.hidden = issues.length === 0;
  ui.issues.replaceChildren(...issues.map((issue) => {
    const item = document.createElement('li');
    item.className = 'issue';
    item.dataset.path = issue.path;
    const go = document.createElement('button');
    go.type = 'button';
    go.className = 'issue-go';
    const path = document.createElement('code');
    path.className = 'issue-path';
    path.textContent = issue.path;
    const message = document.createElement('span');
    message.className = 'issue-message';
    message.textContent = issue.message;
    go.append(path, message);
    go.addEventListener('click', () => {
      if (!focusFormField(parsePath(issue.path))) focusJson(issue);
    });
    const line = issueLine(issue);
    const json = document.createElement('button');
    json.type = 'button';
    json.className = 'issue-json';
    json.textContent = line ? `JSON line ${line}` : 'JSON';
    json.setAttribute('aria-label', `Show ${issue.path} in the JSON view${line ? `, line ${line}` : ''}`);
    json.addEventListener('click', () => focusJson(issue));
    item.append(go, json);
    return item;
  }));
}

/** @param {string} text */
function announce(text) {
  ui.announcer.textContent = '';
  requestAnimationFrame(() => { ui.announcer.textContent = text; });
}

async function apply() {
  takeRawInput();
  // Check again at the moment of saving: only a document the engine accepts becomes live.
  const issues = validate(state.draftText);
  if (state.draftDoc === null || issues.length) {
    state.issues = issues;
    renderIssues();
    renderStatus();
    return;
  }
  const doc = structuredClone(state.draftDoc);
  ui.apply.disabled = true;
  try {
    await save(KEYS.rules, doc);
    state.live = doc;
    state.liveAppliedAt = new Date();
    state.savedText = state.draftText;
    announce(`Applied: version ${fingerprint(doc)} is live.`);
  } catch (error) {
    announce(`Could not store the rules: ${describeError(error).message}`);
  }
  renderStatus();
}

/**
 * Publishes the draft to screens through the ingest service (`PUT /v1/fleet/rules`): only a
 * draft without problems, as Apply; the service checks it again and says which screens it
 * reaches.
 * @param {Event} event
 */
async function publish(event) {
  event.preventDefault();
  takeRawInput();
  const issues = validate(state.draftText);
  const say = (/** @type {string} */ text) => { ui.publishStatus.textContent = text; announce(text); };
  if (state.draftDoc === null || issues.length) {
    say('Fix the problems before publishing.');
    return;
  }
  const base = ui.publishUrl.value.trim().replace(/\/+$/, '');
  const target = ui.publishTarget.value.trim();
  if (!base || !ui.publishToken.value || !target) {
    say('Give the ingest service, an editor token and whom to publish to.');
    return;
  }
  ui.publishButton.disabled = true;
  try {
    const response = await fetch(`${base}/v1/fleet/rules?target=${encodeURIComponent(target)}`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${ui.publishToken.value}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(state.draftDoc),
    });
    const body = await response.json().catch(() => null);
    if (response.ok) {
      const screens = body.screens.length ? body.screens.join(', ') : 'no screen now (each has newer rules of its own)';
      say(`Published ${body.etag} to ${body.target}: ${screens}.`);
    } else {
      const problems = body?.error?.issues?.map((/** @type {Issue} */ i) => `${i.path} ${i.message}`).join('; ');
      say(`Not published (${response.status}): ${body?.error?.message ?? response.statusText}${problems ? `: ${problems}` : ''}`);
    }
  } catch (error) {
    say(`Not published: the ingest service could not be reached (${describeError(error).message}).`);
  } finally {
    ui.publishButton.disabled = false;
  }
}

function revert() {
  if (!state.live) return;
  setDraft(`${formatJson(state.live)}\n`, 'load');
  state.savedText = state.draftText;
  announce('Draft reverted to the live rules.');
}

function exportJson() {
  const stamp = new Date().toISOString().slice(0, 10);
  downloadText(`glance-rules-${stamp}.json`, exportText(state.draftText), 'application/json');
}

async function importJson() {
  const file = ui.importFile.files?.[0];
  if (!file) return;
  const text = await file.text();
  ui.importFile.value = '';
  // Not JSON: kept as it is so the problem can be found and fixed in the JSON view.
  setDraft(importedText(text), 'import');
  announce(`Imported ${file.name}: ${state.issues.length ? `${state.issues.length} problem(s)` : 'no problems'}.`);
}

// ---------------------------------------------------------------------------------------------
// Start-up.

async function initialDocument() {
  let stored = null;
  try {
    stored = await load(KEYS.rules);
  } catch (error) {
    announce(`Could not read the stored rules: ${describeError(error).message}`);
  }
  if (typeof stored === 'string') {
    try {
      stored = JSON.parse(stored);
    } catch {
      stored = null;
    }
  }
  if (stored && typeof stored === 'object') {
    state.live = stored;
    return stored;
  }
  const response = await fetch(new URL('sample.rules.json', import.meta.url));
  return response.json();
}

function measureLineHeight() {
  const value = parseFloat(getComputedStyle(ui.raw).lineHeight);
  if (Number.isFinite(value) && value > 0) lineHeight = value;
  document.documentElement.style.setProperty('--code-line', `${lineHeight}px`);
}

async function main() {
  await init({ backend: 'cpu' }); // only the plain functions: the small module
  const given = glance.rulesSchema();
  const schema = typeof given === 'string' ? JSON.parse(given) : given;
  const doc = await initialDocument();
  measureLineHeight();
  const text = `${formatJson(doc)}\n`;
  state.jsonEditor = await createForm(schema, doc);
  state.formValue = canonical(state.jsonEditor?.getValue());
  setDraft(text, 'load');
  state.savedText = text;

  ui.raw.addEventListener('input', onRawInput);
  ui.raw.addEventListener('scroll', syncScroll);
  ui.apply.addEventListener('click', apply);
  ui.revert.addEventListener('click', revert);
  ui.exportButton.addEventListener('click', exportJson);
  ui.importFile.addEventListener('change', importJson);
  ui.simForm.addEventListener('submit', runSimulation);
  ui.publishForm.addEventListener('submit', publish);
  ui.addRow.addEventListener('click', () => element('input', HTMLInputElement, addRow()).focus());
  // Drafts live only in this page (only applied rules are stored): ask before dropping edits.
  window.addEventListener('beforeunload', (event) => {
    if (state.draftText !== state.savedText && !isApplied()) event.preventDefault();
  });

  // A first sketch to start from: two passers-by, then a young group stops and watches.
  ui.simDate.value = localDate(new Date());
  addRow({ start: '16:00:00', durationS: 20, present: 2, watchers: 0 });
  addRow({ start: '16:00:20', durationS: 20, present: 3, watchers: 3, bands: state.ageBands.filter((b) => b === '18-24' || b === '25-34') });

  document.body.dataset.ready = 'true';
}

main().catch((error) => {
  console.error(error);
  ui.form.textContent = `The editor could not start: ${describeError(error).message}`;
  document.body.dataset.ready = 'error';
});
