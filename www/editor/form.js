// @ts-check
// The rules editor's form, without the DOM: the engine's JSON Schema adapted for json-editor.

/** @type {Record<string, string>} */
export const ITEM_TITLES = { all: 'condition', any: 'condition', pick: 'choice', tags: 'tag', ageBands: 'age band', days: 'day', daysOfWeek: 'day', defaultLoop: 'ad id' };
export const PROPERTY_ORDER = ['version', 'timeZone', 'id', 'description', 'enabled', 'priority', 'when', 'play',
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
 *
 * Each closed choice's suggestions are put in `lists`, datalist id -> [[value, label?]], for the
 * page to render as <datalist>s.
 * @param {any} schema the engine's `rulesSchema()`
 * @param {Map<string, string[][]>} [lists]
 * @returns {any} the schema for json-editor
 */
export function formSchema(schema, lists = new Map()) {
  /**
   * @param {string} name
   * @param {string[][]} values
   */
  const listFor = (name, values) => {
    const id = `glance-list-${name}`;
    lists.set(id, values);
    return id;
  };
  const out = formNode(schema, 'root', listFor);
  arrangeDocument(out);
  return out;
}

/** @param {unknown} ref */
const defName = (ref) => (typeof ref === 'string' ? ref.split('/').pop() : '');

/**
 * One node of the schema, and everything under it, adapted for the form (see `formSchema`).
 * @param {any} node
 * @param {string} name the property the node describes
 * @param {(name: string, values: string[][]) => string} listFor a datalist's id for these suggestions
 * @returns {any}
 */
function formNode(node, name, listFor) {
  if (Array.isArray(node)) return node.map((n) => formNode(n, name, listFor));
  if (!node || typeof node !== 'object') return node;
  /** @type {any} */
  let out = {};
  for (const [key, child] of Object.entries(node)) {
    if (['pattern', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength', 'format'].includes(key) && typeof child !== 'object') continue;
    out[key] = key === 'properties' || key === '$defs' || key === 'definitions'
      ? Object.fromEntries(Object.entries(child).map(([k, v]) => [k, formNode(v, k, listFor)]))
      : formNode(child, name, listFor);
  }
  out = asSuggestions(out, name, listFor);
  if (Array.isArray(out.type) && out.type.includes('null')) {
    const types = out.type.filter((/** @type {string} */ t) => t !== 'null');
    out.type = types.length === 1 ? types[0] : types;
  }
  if (name === 'description' && out.type === 'string') out.format = 'textarea';
  out = titledBranches(out);
  return asFormParts(out, name);
}

/**
 * A closed choice (a oneOf of consts, or an enum of words) as a text field with suggestions.
 * @param {any} out
 * @param {string} name
 * @param {(name: string, values: string[][]) => string} listFor
 * @returns {any}
 */
function asSuggestions(out, name, listFor) {
  if (Array.isArray(out.oneOf) && out.oneOf.length && out.oneOf.every((/** @type {any} */ o) => 'const' in o)) {
    const { oneOf, ...rest } = out;
    out = { ...rest, type: 'string', options: { inputAttributes: { list: listFor(name, oneOf.map((/** @type {any} */ o) => [o.const, o.description])) } } };
    out.description ??= oneOf.map((/** @type {any} */ o) => `${o.const}: ${o.description ?? ''}`).join('; ');
  } else if (Array.isArray(out.enum) && out.enum.every((/** @type {unknown} */ v) => typeof v === 'string')) {
    const values = out.enum;
    delete out.enum;
    out.type = 'string';
    out.options = { ...out.options, inputAttributes: { list: listFor(name, values.map((/** @type {string} */ v) => [v])) } };
  }
  return out;
}

/**
 * anyOf/oneOf without their `null` branch (absent and null mean the same), one branch left
 * merged into the node, the others titled.
 * @param {any} out
 * @returns {any}
 */
function titledBranches(out) {
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
  return out;
}

/**
 * How json-editor shows an object or a list: no "Object Properties" button where nothing is
 * optional, item titles, compact tables for lists of words.
 * @param {any} out
 * @param {string} name
 * @returns {any}
 */
function asFormParts(out, name) {
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
}

/**
 * The document's properties in reading order, rules and ads as tabs titled by their id.
 * @param {any} out the adapted schema
 */
function arrangeDocument(out) {
  // Properties in the order a person reads a rule (the generated schema sorts them by name).
  /** @param {any} node */
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
}
