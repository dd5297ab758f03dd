// Glance rules editor: a form generated from the engine's JSON Schema and a raw JSON view of the
// same draft, validated live by the engine itself (so the editor never disagrees with the kiosk),
// a simulator, and import/export. Only a valid draft can be applied; the last applied document
// stays in the store (www/lib/store.js, KEYS.rules) whatever happens to the draft.
import init, * as glance from '/pkg/glance.js';
import { KEYS, load, save } from '/lib/store.js';

const $ = (selector) => document.querySelector(selector);

const ui = {
  form: $('#form'),
  formLocked: $('#form-locked'),
  raw: $('#raw'),
  gutter: $('#gutter'),
  lineMarks: $('#line-marks'),
  issues: $('#issues'),
  issueCount: $('#issue-count'),
  issuesOk: $('#issues-ok'),
  issuesHint: $('#issues-hint'),
  liveStatus: $('#live-status'),
  draftStatus: $('#draft-status'),
  apply: $('#apply'),
  revert: $('#revert'),
  exportButton: $('#export'),
  importFile: $('#import-file'),
  download: $('#download'),
  announcer: $('#announcer'),
  simForm: $('#sketch'),
  simDate: $('#sim-date'),
  simZone: $('#sim-zone'),
  simRows: $('#sim-rows'),
  addRow: $('#add-row'),
  runSim: $('#run-sim'),
  simStatus: $('#sim-status'),
  simResults: $('#sim-results'),
  simTimeline: $('#sim-timeline'),
  simAudience: $('#sim-audience'),
  simPlays: $('#sim-plays tbody'),
  simFrom: $('#sim-from'),
  simTo: $('#sim-to'),
  rowTemplate: $('#row-template'),
};

/** Everything the page knows; `draft` is the raw text (the single source of truth). */
const state = {
  live: null, // the stored, applied document (object) or null
  liveAppliedAt: null, // Date when applied from this page in this session
  draftText: '',
  savedText: '', // the draft as loaded, applied or reverted: edits since then are unsaved
  draftDoc: null, // draftText parsed, or null when it is not JSON
  issues: [], // [{ path, message }] from the engine
  positions: new Map(), // canonical path -> text range in draftText
  jsonEditor: null,
  formEnabled: true,
  formValue: null, // canonical JSON of what the form last showed, to ignore its own echoes
  ageBands: [],
};

// ---------------------------------------------------------------------------------------------
// JSON helpers: canonical form (for comparing and fingerprinting), paths, pretty printing.

/** JSON with sorted keys: two documents are the same rules iff their canonical texts are equal. */
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).filter((k) => value[k] !== undefined).sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/** Short, stable fingerprint (FNV-1a, 32 bit) so a person can tell versions apart at a glance. */
function fingerprint(value) {
  const text = canonical(value);
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}

/** Same key spelling as the engine (src/rules/validate.rs push_key): `.name` or `["odd key"]`. */
function formatPath(segments) {
  let out = '$';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(segment)) out += `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/** `$.rules[2].when.all[0].share.value` -> ['rules', 2, 'when', 'all', 0, 'share', 'value']. */
function parsePath(path) {
  const segments = [];
  let i = path.startsWith('$') ? 1 : 0;
  while (i < path.length) {
    const c = path[i];
    if (c === '[') {
      if (path[i + 1] === '"') {
        let j = i + 2;
        while (j < path.length && path[j] !== '"') j += path[j] === '\\' ? 2 : 1;
        segments.push(JSON.parse(path.slice(i + 1, j + 1)));
        i = j + 2;
      } else {
        const j = path.indexOf(']', i);
        if (j < 0) break;
        segments.push(Number(path.slice(i + 1, j)));
        i = j + 1;
      }
    } else {
      if (c === '.') i++;
      let j = i;
      while (j < path.length && path[j] !== '.' && path[j] !== '[') j++;
      if (j > i) segments.push(path.slice(i, j));
      i = j;
    }
  }
  return segments;
}

/**
 * Where every value of a (valid) JSON text sits: canonical path -> { start, end, keyStart }.
 * JSON.parse has accepted the text already, so this scanner can trust its shape.
 */
function locateValues(text) {
  const map = new Map();
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i++; };
  const string = () => {
    const start = i++;
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const value = (path, keyStart) => {
    ws();
    const start = i;
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') i++;
      else {
        for (;;) {
          ws();
          const memberStart = i;
          const key = string();
          ws();
          i++; // ':'
          value([...path, key], memberStart);
          ws();
          if (text[i++] !== ',') break;
        }
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') i++;
      else {
        for (let index = 0; ; index++) {
          value([...path, index]);
          ws();
          if (text[i++] !== ',') break;
        }
      }
    } else if (c === '"') string();
    else while (i < text.length && !',]} \t\n\r'.includes(text[i])) i++;
    map.set(formatPath(path), { start, end: i, keyStart: keyStart ?? start });
  };
  value([]);
  return map;
}

function oneLine(value) {
  if (Array.isArray(value)) return `[${value.map(oneLine).join(', ')}]`;
  if (value && typeof value === 'object') {
    const members = Object.entries(value).filter(([, v]) => v !== undefined);
    return members.length ? `{ ${members.map(([k, v]) => `${JSON.stringify(k)}: ${oneLine(v)}`).join(', ')} }` : '{}';
  }
  return JSON.stringify(value ?? null);
}

/** Pretty JSON in the style of examples/rules: short objects and lists stay on one line. */
function formatJson(value, indent = '', used = 0, width = 100) {
  const flat = oneLine(value);
  if (!value || typeof value !== 'object' || used + flat.length <= width) return flat;
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (!value.length) return '[]';
    return `[\n${value.map((v) => inner + formatJson(v, inner, inner.length, width)).join(',\n')}\n${indent}]`;
  }
  const members = Object.entries(value).filter(([, v]) => v !== undefined);
  if (!members.length) return '{}';
  return `{\n${members.map(([k, v]) => {
    const head = `${inner}${JSON.stringify(k)}: `;
    return head + formatJson(v, inner, head.length, width);
  }).join(',\n')}\n${indent}}`;
}

/**
 * `value` with its object keys in the order `like` has them (new keys last): the form reports
 * required fields first, and an edit in the form should not reshuffle the JSON view.
 */
function orderLike(value, like) {
  if (Array.isArray(value)) return value.map((v, i) => orderLike(v, Array.isArray(like) ? like[i] : undefined));
  if (!value || typeof value !== 'object') return value;
  const template = like && typeof like === 'object' && !Array.isArray(like) ? Object.keys(like) : [];
  const keys = [...template.filter((k) => k in value), ...Object.keys(value).filter((k) => !template.includes(k))];
  return Object.fromEntries(keys.map((k) => [k, orderLike(value[k], like?.[k])]));
}

const lineOf = (text, offset) => text.slice(0, offset).split('\n').length;

// ---------------------------------------------------------------------------------------------
// The form: json-editor driven by the engine's schema, adapted for editing.

const LISTS = new Map(); // datalist id -> values
const ITEM_TITLES = { all: 'condition', any: 'condition', pick: 'choice', tags: 'tag', ageBands: 'age band', days: 'day', daysOfWeek: 'day', defaultLoop: 'ad id' };
const PROPERTY_ORDER = ['version', 'timeZone', 'id', 'description', 'enabled', 'priority', 'when', 'play',
  'media', 'kind', 'durationS', 'tags', 'among', 'ageBands', 'gender', 'op', 'value', 'start', 'end', 'days',
  'from', 'to', 'ad', 'weight', 'caps', 'cooldownS', 'canInterrupt', 'minOnScreenS', 'shareOfVoice',
  'dayparts', 'rules', 'ads', 'defaultLoop'];

/**
 * Adapts the engine's schema for json-editor without changing what it describes: the engine
 * is the validator, the form is only for editing. So: closed choices become text fields with
 * suggestions (an invalid value stays visible where the problem is, instead of a select
 * silently showing its first option); limits and patterns are dropped (they would make
 * json-editor's oneOf detection give up on a half-typed condition); `null` alternatives go
 * (absent and null mean the same); every oneOf branch gets a readable title; rules and ads
 * become tabs titled by their id.
 */
function formSchema(schema) {
  const listFor = (name, values) => {
    const id = `glance-list-${name}`;
    LISTS.set(id, values);
    return id;
  };
  const defName = (ref) => (typeof ref === 'string' ? ref.split('/').pop() : '');
  const visit = (node, name) => {
    if (Array.isArray(node)) return node.map((n) => visit(n, name));
    if (!node || typeof node !== 'object') return node;
    let out = {};
    for (const [key, child] of Object.entries(node)) {
      if (['pattern', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength', 'format'].includes(key) && typeof child !== 'object') continue;
      out[key] = key === 'properties' || key === '$defs' || key === 'definitions'
        ? Object.fromEntries(Object.entries(child).map(([k, v]) => [k, visit(v, k)]))
        : visit(child, name);
    }
    if (Array.isArray(out.oneOf) && out.oneOf.length && out.oneOf.every((o) => 'const' in o)) {
      const { oneOf, ...rest } = out;
      out = { ...rest, type: 'string', options: { inputAttributes: { list: listFor(name, oneOf.map((o) => [o.const, o.description])) } } };
      out.description ??= oneOf.map((o) => `${o.const}: ${o.description ?? ''}`).join('; ');
    } else if (Array.isArray(out.enum) && out.enum.every((v) => typeof v === 'string')) {
      const values = out.enum;
      delete out.enum;
      out.type = 'string';
      out.options = { ...out.options, inputAttributes: { list: listFor(name, values.map((v) => [v])) } };
    }
    if (Array.isArray(out.type) && out.type.includes('null')) {
      const types = out.type.filter((t) => t !== 'null');
      out.type = types.length === 1 ? types[0] : types;
    }
    if (name === 'description' && out.type === 'string') out.format = 'textarea';
    for (const key of ['anyOf', 'oneOf']) {
      if (!Array.isArray(out[key])) continue;
      const branches = out[key].filter((b) => b.type !== 'null');
      if (branches.length === 1) {
        const { [key]: _dropped, ...rest } = out;
        out = { ...branches[0], ...rest };
      } else {
        out[key] = branches.map((b) => {
          if (b.title) return b;
          const only = b.required?.length === 1 ? b.required[0] : null;
          const title = only ?? (b.type === 'array' ? 'list of numbers' : b.type === 'number' ? 'a number' : b.type) ?? defName(b.$ref);
          return { ...b, title };
        });
      }
    }
    // Nothing optional to add: hide json-editor's "Object Properties" button.
    if (out.properties && Array.isArray(out.required) && Object.keys(out.properties).every((k) => out.required.includes(k))) {
      out.options = { ...out.options, disable_properties: true };
    }
    if (out.type === 'array' && out.items && ITEM_TITLES[name] && !out.items.title) {
      out.items = { ...out.items, title: ITEM_TITLES[name] };
    }
    if (out.type === 'array' && out.items) {
      // Lists of words (tags, bands, the loop, days) as compact tables; copy buttons where a
      // copy is a useful start (conditions).
      if (out.items.type === 'string' || (out.items.$ref && /Weekday$/.test(out.items.$ref))) out.format = 'table';
      else out.options = { ...out.options, enable_array_copy: true };
    }
    return out;
  };
  const out = visit(schema, 'root');
  // Properties in the order a person reads a rule (the generated schema sorts them by name).
  const orderProperties = (node) => {
    if (!node || typeof node !== 'object') return;
    if (node.properties && typeof node.properties === 'object') {
      for (const [key, prop] of Object.entries(node.properties)) {
        const rank = PROPERTY_ORDER.indexOf(key);
        prop.propertyOrder = rank < 0 ? 100 : rank + 1;
      }
    }
    for (const child of Object.values(node)) if (child && typeof child === 'object') orderProperties(child);
  };
  orderProperties(out);
  // The document itself: what is edited most comes first.
  for (const [rank, key] of ['version', 'timeZone', 'description', 'rules', 'ads', 'defaultLoop', 'dayparts', 'ageBands', 'minOnScreenS'].entries()) {
    if (out.properties?.[key]) out.properties[key].propertyOrder = rank + 1;
  }
  const props = out.properties ?? {};
  if (props.rules) {
    props.rules.format = 'tabs';
    props.rules.items = { ...props.rules.items, headerTemplate: '{{ self.id }}', title: 'rule' };
  }
  if (props.ads) {
    props.ads.format = 'tabs';
    props.ads.items = { ...props.ads.items, headerTemplate: '{{ self.id }}', title: 'ad' };
  }
  if (props.$schema) props.$schema.options = { hidden: true };
  out.title = 'Rules document';
  return out;
}

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

async function createForm(schema, startval) {
  ui.form.replaceChildren();
  const editor = new window.JSONEditor(ui.form, {
    schema: formSchema(schema),
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

/** The editor for a path, or its nearest ancestor that has one; `exact` tells which. */
function editorFor(segments) {
  const editor = state.jsonEditor;
  if (!editor) return null;
  for (let n = segments.length; n >= 0; n--) {
    const found = editor.getEditor(['root', ...segments.slice(0, n)].join('.'));
    if (found) return { editor: found, exact: n === segments.length, depth: n };
  }
  return null;
}

/** The editor that actually shows a value: through oneOf/anyOf switchers to the active branch. */
function activeEditor(editor) {
  let current = editor;
  while (current && Array.isArray(current.editors) && typeof current.type === 'number' && current.editors[current.type]) {
    current = current.editors[current.type];
  }
  return current;
}

function inputOf(editor) {
  const active = activeEditor(editor);
  if (active?.input && active.input.type !== 'hidden') return active.input;
  return active?.container?.querySelector('input:not([type=hidden]), select, textarea') ?? null;
}

/** Tabs (rules, ads) along the path: [{ arrayEditor, index }]. */
function tabsAlong(segments) {
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
  for (const tab of ui.form.querySelectorAll('.je-tab, .je-tab--top')) {
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
  for (const tab of ui.form.querySelectorAll('.je-tab, .je-tab--top')) {
    tab.setAttribute('aria-selected', String(tab.style.opacity !== '0.5'));
  }
}

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
  const issueLines = new Map();
  for (const issue of state.issues) {
    const line = issueLine(issue);
    if (line) issueLines.set(line, [...(issueLines.get(line) ?? []), issue.message]);
  }
  const numbers = [];
  for (let n = 1; n <= lines; n++) {
    const span = document.createElement('span');
    span.textContent = String(n);
    if (issueLines.has(n)) {
      span.className = 'bad';
      span.title = issueLines.get(n).join('\n');
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

/** Text range of an issue in the JSON view (the nearest enclosing value that exists). */
function issueRange(issue) {
  const syntax = /line (\d+), column (\d+)/.exec(issue.message);
  if (syntax && parsePath(issue.path).length === 0) {
    const lines = state.draftText.split('\n');
    const line = Math.min(Number(syntax[1]), lines.length);
    const start = lines.slice(0, line - 1).reduce((sum, l) => sum + l.length + 1, 0);
    return { start, end: start + lines[line - 1].length, line };
  }
  const segments = parsePath(issue.path);
  for (let n = segments.length; n >= 0; n--) {
    const at = state.positions.get(formatPath(segments.slice(0, n)));
    if (at) {
      // A missing field is reported at its object: point at the object's first line only.
      const end = n === segments.length ? at.end : Math.min(at.end, state.draftText.indexOf('\n', at.keyStart) >>> 0);
      return { start: at.keyStart, end, line: lineOf(state.draftText, at.keyStart) };
    }
  }
  return null;
}

function issueLine(issue) {
  return issueRange(issue)?.line ?? null;
}

/** Scrolls the JSON view (without moving the focus) so that `line` is in sight. */
function revealLine(line) {
  const top = (line - 1) * lineHeight;
  const visible = ui.raw.clientHeight - lineHeight;
  if (top < ui.raw.scrollTop || top > ui.raw.scrollTop + visible) {
    ui.raw.scrollTop = Math.max(0, top - 3 * lineHeight);
    syncScroll();
  }
}

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

function validate(text) {
  try {
    const issues = glance.validateRules(text);
    return Array.isArray(issues) ? issues : [];
  } catch (error) {
    // The engine reports problems as issues; a throw is a problem of its own, show it as one.
    return error?.issues ?? [{ path: '$', message: String(error?.message ?? error) }];
  }
}

/** Sets the draft from text; `source` says which view the text came from. */
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
  state.ageBands = Array.isArray(state.draftDoc?.ageBands) ? state.draftDoc.ageBands.filter((b) => typeof b === 'string') : [];
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
  const value = state.jsonEditor.getValue();
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

const isValid = () => state.draftDoc !== null && state.issues.length === 0;
const isApplied = () => state.live !== null && state.draftDoc !== null && canonical(state.draftDoc) === canonical(state.live);

function describe(doc) {
  const rules = Array.isArray(doc?.rules) ? doc.rules.length : 0;
  const ads = Array.isArray(doc?.ads) ? doc.ads.length : 0;
  return `${rules} rule${rules === 1 ? '' : 's'}, ${ads} ad${ads === 1 ? '' : 's'}`;
}

function renderStatus() {
  if (state.live) {
    const when = state.liveAppliedAt ? `, applied ${state.liveAppliedAt.toLocaleTimeString()}` : '';
    ui.liveStatus.textContent = `Live rules: version ${fingerprint(state.live)} (${describe(state.live)}${when})`;
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

function announce(text) {
  ui.announcer.textContent = '';
  requestAnimationFrame(() => { ui.announcer.textContent = text; });
}

async function apply() {
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
    announce(`Could not store the rules: ${error.message}`);
  }
  renderStatus();
}

function revert() {
  if (!state.live) return;
  setDraft(`${formatJson(state.live)}\n`, 'load');
  state.savedText = state.draftText;
  announce('Draft reverted to the live rules.');
}

function exportJson() {
  const blob = new Blob([state.draftText.endsWith('\n') ? state.draftText : `${state.draftText}\n`], { type: 'application/json' });
  const url = URL.createObjectURL(blob);
  const stamp = new Date().toISOString().slice(0, 10);
  ui.download.href = url;
  ui.download.download = `glance-rules-${stamp}.json`;
  ui.download.click();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

async function importJson() {
  const file = ui.importFile.files?.[0];
  if (!file) return;
  const text = await file.text();
  ui.importFile.value = '';
  let pretty = text;
  try {
    pretty = `${formatJson(JSON.parse(text))}\n`;
  } catch {
    // Not JSON: keep the text as it is so the problem can be found and fixed in the JSON view.
  }
  setDraft(pretty, 'import');
  announce(`Imported ${file.name}: ${state.issues.length ? `${state.issues.length} problem(s)` : 'no problems'}.`);
}

// ---------------------------------------------------------------------------------------------
// Simulator: rows of people -> timeline steps -> glance.simulateRules -> plays with reasons.

const toSeconds = (hms) => {
  const [h = 0, m = 0, s = 0] = String(hms).split(':').map(Number);
  return h * 3600 + m * 60 + s;
};

/** Local wall-clock text "YYYY-MM-DDTHH:MM:SS" (the engine reads it in the rules' zone). */
function localTime(date, seconds) {
  const [y, mo, d] = date.split('-').map(Number);
  return new Date(Date.UTC(y, mo - 1, d) + seconds * 1000).toISOString().slice(0, 19);
}

function readRow(tr) {
  const field = (name) => tr.querySelector(`[name="${name}"]`);
  const number = (name) => {
    const raw = field(name).value.trim();
    return raw === '' ? null : Number(raw);
  };
  return {
    start: field('start').value,
    durationS: number('durationS') ?? 0,
    present: number('present') ?? 0,
    watchers: number('watchers') ?? 0,
    lookingNow: number('lookingNow') ?? 0,
    bands: [...tr.querySelectorAll('.band-list input:checked')].map((c) => c.value),
    gender: field('gender').value,
    distanceM: number('distanceM'),
    attentionS: number('attentionS'),
  };
}

/** A row's people, one by one: the first `watchers` of them watch; bands and genders alternate. */
function peopleOf(row) {
  const count = Math.max(row.present, row.watchers);
  const bands = row.bands.length ? row.bands : [null];
  const people = [];
  for (let i = 0; i < count; i++) {
    const gender = row.gender === 'mixed' ? (i % 2 ? 'male' : 'female') : row.gender === 'unknown' ? null : row.gender;
    people.push({ ageBand: bands[i % bands.length], gender, watcher: i < row.watchers });
  }
  return people;
}

/** The compact audience (src/rules/simulate.rs CompactAudience) of the rows active together. */
function audienceOf(rows) {
  if (!rows.length) return {};
  const cells = new Map();
  for (const row of rows) {
    for (const person of peopleOf(row)) {
      const key = `${person.ageBand}|${person.gender}`;
      const cell = cells.get(key) ?? { ageBand: person.ageBand, gender: person.gender, present: 0, watchers: 0 };
      cell.present += 1;
      cell.watchers += person.watcher ? 1 : 0;
      cells.set(key, cell);
    }
  }
  const audience = {
    present: rows.reduce((sum, r) => sum + Math.max(r.present, r.watchers), 0),
    watchers: rows.reduce((sum, r) => sum + r.watchers, 0),
    lookingNow: rows.reduce((sum, r) => sum + r.lookingNow, 0),
    groupSize: Math.max(...rows.map((r) => Math.max(r.present, r.watchers))),
    byBandGender: [...cells.values()].map((c) => {
      const cell = { present: c.present, watchers: c.watchers };
      if (c.ageBand) cell.ageBand = c.ageBand;
      if (c.gender) cell.gender = c.gender;
      return cell;
    }),
  };
  const attention = rows.map((r) => r.attentionS).filter((v) => v !== null);
  if (attention.length) audience.attentionS = Math.max(...attention);
  const distance = rows.map((r) => r.distanceM).filter((v) => v !== null);
  if (distance.length) audience.distanceM = Math.min(...distance);
  return audience;
}

/**
 * Timeline steps for glance.simulateRules: a step at every moment a group arrives or leaves,
 * with everybody there at that moment; the last departure ends the simulation.
 */
function buildSteps(date, rows) {
  const spans = rows.map((row) => ({ row, from: toSeconds(row.start), to: toSeconds(row.start) + row.durationS }));
  const moments = [...new Set(spans.flatMap((s) => [s.from, s.to]))].sort((a, b) => a - b);
  return moments.map((t) => ({
    t: localTime(date, t),
    audience: audienceOf(spans.filter((s) => s.from <= t && t < s.to).map((s) => s.row)),
  }));
}

function describeAudience(audience) {
  if (!audience.present) return 'nobody';
  const parts = [`${audience.present} present`];
  if (audience.watchers) parts.push(`${audience.watchers} watching`);
  if (audience.lookingNow) parts.push(`${audience.lookingNow} looking now`);
  return parts.join(', ');
}

function bandSummary(bands) {
  return bands.length ? bands.join(', ') : 'any band';
}

function refreshBandPickers() {
  for (const tr of ui.simRows.querySelectorAll('tr')) fillBandPicker(tr);
  const zone = state.draftDoc?.timeZone;
  ui.simZone.textContent = typeof zone === 'string' ? `Times in ${zone}` : '';
}

function fillBandPicker(tr, selected) {
  const list = tr.querySelector('.band-list');
  const current = selected ?? [...list.querySelectorAll('input:checked')].map((c) => c.value);
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

function updateBandSummary(tr) {
  const bands = [...tr.querySelectorAll('.band-list input:checked')].map((c) => c.value);
  tr.querySelector('.bands summary').textContent = bandSummary(bands);
}

function labelRow(tr) {
  const n = [...ui.simRows.children].indexOf(tr) + 1;
  const names = { start: 'start time', durationS: 'duration in seconds', present: 'people present', watchers: 'watchers', lookingNow: 'people looking now', gender: 'gender', distanceM: 'nearest distance in metres', attentionS: 'attention in seconds' };
  for (const [name, text] of Object.entries(names)) tr.querySelector(`[name="${name}"]`).setAttribute('aria-label', `Row ${n}: ${text}`);
  tr.querySelector('.bands summary').setAttribute('aria-label', `Row ${n}: age bands`);
  tr.querySelector('.remove-row').setAttribute('aria-label', `Remove row ${n}`);
}

function addRow(values = {}) {
  const tr = ui.rowTemplate.content.firstElementChild.cloneNode(true);
  ui.simRows.append(tr);
  const last = [...ui.simRows.querySelectorAll('tr')].slice(-2, -1)[0];
  const previous = last ? readRow(last) : null;
  const start = values.start ?? (previous ? new Date((toSeconds(previous.start) + previous.durationS) * 1000).toISOString().slice(11, 19) : '16:00:00');
  const set = (name, value) => { tr.querySelector(`[name="${name}"]`).value = value ?? ''; };
  set('start', start);
  set('durationS', values.durationS ?? 20);
  set('present', values.present ?? values.watchers ?? 1);
  set('watchers', values.watchers ?? 0);
  set('lookingNow', values.lookingNow ?? '');
  set('gender', values.gender ?? 'mixed');
  set('distanceM', values.distanceM ?? '');
  set('attentionS', values.attentionS ?? '');
  tr.querySelector('.remove-row').addEventListener('click', () => {
    tr.remove();
    for (const row of ui.simRows.children) labelRow(row);
  });
  labelRow(tr);
  fillBandPicker(tr, values.bands ?? []);
  return tr;
}

const OPERATORS = { eq: '=', neq: '≠', lt: '<', lte: '≤', gt: '>', gte: '≥', between: 'between', in: 'in' };

const seconds = (ms) => `${(ms / 1000).toFixed(ms % 1000 ? 1 : 0)} s`;

function hue(text) {
  let h = 0;
  for (const c of text) h = (h * 31 + c.charCodeAt(0)) % 360;
  return h;
}

/** Only media on this origin is previewed: the editor must not contact third parties. */
function sameOriginMedia(media) {
  try {
    const url = new URL(media, location.href);
    return url.origin === location.origin ? url.href : null;
  } catch {
    return null;
  }
}

function sourceText(decision) {
  const source = decision.source ?? {};
  if (source.type === 'rule') return `rule “${source.ruleId}” (priority ${source.priority})`;
  if (source.type === 'defaultLoop') return `default loop, position ${Number(source.position) + 1}`;
  return source.type ?? '';
}

function renderConditions(reason) {
  const fragment = document.createDocumentFragment();
  if (reason.conditions?.length) {
    const list = document.createElement('ul');
    list.className = 'conditions';
    for (const c of reason.conditions) {
      const li = document.createElement('li');
      li.className = c.held ? 'held' : 'not-held';
      const op = c.op ? ` ${OPERATORS[c.op] ?? c.op}` : ' in';
      const expected = typeof c.expected === 'string' ? c.expected : JSON.stringify(c.expected);
      li.textContent = `${c.held ? '✓' : '✗'} ${c.condition}: ${JSON.stringify(c.actual)}${op} ${expected}`;
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
      li.textContent = `${s.ruleId} (priority ${s.priority}): ${s.message ?? s.reason?.kind ?? ''}`;
      list.append(li);
    }
    fragment.append(heading, list);
  }
  if (reason.interrupts) {
    const p = document.createElement('p');
    p.textContent = `Interrupted ${reason.interrupts.adId ?? 'the ad on screen'}${reason.interrupts.onScreenMs !== undefined ? ` after ${seconds(reason.interrupts.onScreenMs)}` : ''}.`;
    fragment.append(p);
  }
  return fragment;
}

function renderSimulation(report, steps) {
  const plays = report.plays ?? [];
  const total = plays.reduce((sum, p) => sum + p.onScreenMs, 0) || 1;
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
  const spans = steps.slice(0, -1).map((step, i) => ({ step, ms: toSeconds(steps[i + 1].t.slice(11)) - toSeconds(step.t.slice(11)) }));
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
    const preview = sameOriginMedia(d.media);
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
    onScreen.textContent = seconds(play.onScreenMs) + (play.completed ? '' : play.interruptedBy ? `, interrupted by “${play.interruptedBy}”` : ', cut short');
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
  const s = report.summary ?? {};
  const interrupts = s.interrupts ? `, ${s.interrupts} interruption${s.interrupts === 1 ? '' : 's'}` : '';
  ui.simStatus.textContent = `${plays.length} play${plays.length === 1 ? '' : 's'} in ${s.simulatedS ?? total / 1000} s${interrupts}.`;
  ui.simResults.hidden = false;
}

function runSimulation(event) {
  event?.preventDefault();
  ui.simStatus.dataset.state = '';
  if (!isValid()) {
    ui.simStatus.textContent = 'The draft has problems; fix them to simulate.';
    ui.simStatus.dataset.state = 'error';
    return;
  }
  const date = ui.simDate.value;
  const rows = [...ui.simRows.querySelectorAll('tr')].map(readRow);
  const problem = !date ? 'Pick a day.'
    : !rows.length ? 'Add at least one row.'
      : rows.some((r) => !r.start) ? 'Every row needs a start time.'
        : rows.some((r) => !(r.durationS > 0)) ? 'Every row needs a duration of at least 1 s.'
          : rows.some((r) => [r.present, r.watchers, r.lookingNow].some((n) => !Number.isInteger(n) || n < 0)) ? 'Head counts are whole numbers, 0 or more.'
            : null;
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
    const issues = error?.issues?.map((i) => `${i.path}: ${i.message}`).join('; ');
    ui.simStatus.textContent = `Simulation failed: ${issues || error?.message || error}`;
    ui.simStatus.dataset.state = 'error';
    ui.simResults.hidden = true;
  }
}

// ---------------------------------------------------------------------------------------------
// Start-up.

async function initialDocument() {
  let stored = null;
  try {
    stored = await load(KEYS.rules);
  } catch (error) {
    announce(`Could not read the stored rules: ${error.message}`);
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
  let schema = glance.rulesSchema();
  if (typeof schema === 'string') schema = JSON.parse(schema);
  const doc = await initialDocument();
  measureLineHeight();
  const text = `${formatJson(doc)}\n`;
  state.jsonEditor = await createForm(schema, doc);
  state.formValue = canonical(state.jsonEditor.getValue());
  setDraft(text, 'load');
  state.savedText = text;

  ui.raw.addEventListener('input', onRawInput);
  ui.raw.addEventListener('scroll', syncScroll);
  ui.apply.addEventListener('click', apply);
  ui.revert.addEventListener('click', revert);
  ui.exportButton.addEventListener('click', exportJson);
  ui.importFile.addEventListener('change', importJson);
  ui.simForm.addEventListener('submit', runSimulation);
  ui.addRow.addEventListener('click', () => addRow().querySelector('input').focus());
  // Drafts live only in this page (only applied rules are stored): ask before dropping edits.
  window.addEventListener('beforeunload', (event) => {
    if (state.draftText !== state.savedText && !isApplied()) event.preventDefault();
  });

  // A first sketch to start from: two passers-by, then a young group stops and watches.
  const today = new Date();
  ui.simDate.value = new Date(today.getTime() - today.getTimezoneOffset() * 60_000).toISOString().slice(0, 10);
  addRow({ start: '16:00:00', durationS: 20, present: 2, watchers: 0 });
  addRow({ start: '16:00:20', durationS: 20, present: 3, watchers: 3, bands: state.ageBands.filter((b) => b === '18-24' || b === '25-34') });

  document.body.dataset.ready = 'true';
}

main().catch((error) => {
  console.error(error);
  ui.form.textContent = `The editor could not start: ${error.message}`;
  document.body.dataset.ready = 'error';
});
