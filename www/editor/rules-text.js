// @ts-check
// The rules editor's JSON text, without the DOM: canonical form (for comparing and
// fingerprinting), paths in the engine's spelling, pretty printing, and where a path's value
// sits in the text (to point at a problem's line).

/**
 * @typedef {{ path: string, message: string }} Issue an engine validation issue
 * @typedef {{ start: number, end: number, keyStart: number }} Position where a value sits in the text
 * @typedef {{ start: number, end: number, line: number }} TextRange a range of the text, with its 1-based first line
 */

/**
 * JSON with sorted keys: two documents are the same rules iff their canonical texts are equal.
 * @param {any} value
 * @returns {string}
 */
export function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).filter((k) => value[k] !== undefined).sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/**
 * Short, stable fingerprint (FNV-1a, 32 bit) so a person can tell versions apart at a glance.
 * @param {any} value
 * @returns {string} 8 hex digits
 */
export function fingerprint(value) {
  const text = canonical(value);
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}

/**
 * Same key spelling as the engine (src/rules/validate/mod.rs push_key): `.name` or `["odd key"]`.
 * @param {readonly (string | number)[]} segments
 * @returns {string}
 */
export function formatPath(segments) {
  let out = '$';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(segment)) out += `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/**
 * `$.rules[2].when.all[0].share.value` -> ['rules', 2, 'when', 'all', 0, 'share', 'value'].
 * @param {string} path
 * @returns {(string | number)[]}
 */
export function parsePath(path) {
  /** @type {(string | number)[]} */
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
 * @param {string} text
 * @returns {Map<string, Position>}
 */
export function locateValues(text) {
  /** @type {Map<string, Position>} */
  const map = new Map();
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i++; };
  const string = () => {
    const start = i++;
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i));
  };
  /**
   * @param {(string | number)[]} path
   * @param {number} [keyStart]
   */
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

/**
 * A value as JSON on one line, with spaces after `:` and `,`.
 * @param {any} value
 * @returns {string}
 */
export function oneLine(value) {
  if (Array.isArray(value)) return `[${value.map(oneLine).join(', ')}]`;
  if (value && typeof value === 'object') {
    const members = Object.entries(value).filter(([, v]) => v !== undefined);
    return members.length ? `{ ${members.map(([k, v]) => `${JSON.stringify(k)}: ${oneLine(v)}`).join(', ')} }` : '{}';
  }
  return JSON.stringify(value ?? null);
}

/**
 * Pretty JSON in the style of examples/rules: short objects and lists stay on one line.
 * @param {any} value
 * @param {string} [indent] the indentation of the line the value starts on
 * @param {number} [used] characters already on that line
 * @param {number} [width] the widest line that stays one line
 * @returns {string}
 */
export function formatJson(value, indent = '', used = 0, width = 100) {
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
 * @param {any} value
 * @param {any} like
 * @returns {any}
 */
export function orderLike(value, like) {
  if (Array.isArray(value)) return value.map((v, i) => orderLike(v, Array.isArray(like) ? like[i] : undefined));
  if (!value || typeof value !== 'object') return value;
  const template = like && typeof like === 'object' && !Array.isArray(like) ? Object.keys(like) : [];
  const keys = [...template.filter((k) => k in value), ...Object.keys(value).filter((k) => !template.includes(k))];
  return Object.fromEntries(keys.map((k) => [k, orderLike(value[k], like?.[k])]));
}

/**
 * The 1-based line of a text offset.
 * @param {string} text
 * @param {number} offset
 */
export const lineOf = (text, offset) => text.slice(0, offset).split('\n').length;

/**
 * Text range of an issue in the JSON view (the nearest enclosing value that exists).
 * @param {Issue} issue
 * @param {string} text the draft
 * @param {Map<string, Position>} positions `locateValues(text)`, or empty when it is not JSON
 * @returns {TextRange | null}
 */
export function issueRange(issue, text, positions) {
  const syntax = /line (\d+), column (\d+)/.exec(issue.message);
  if (syntax && parsePath(issue.path).length === 0) {
    const lines = text.split('\n');
    const line = Math.min(Number(syntax[1]), lines.length);
    const start = lines.slice(0, line - 1).reduce((sum, l) => sum + l.length + 1, 0);
    return { start, end: start + lines[line - 1].length, line };
  }
  const segments = parsePath(issue.path);
  for (let n = segments.length; n >= 0; n--) {
    const at = positions.get(formatPath(segments.slice(0, n)));
    if (at) {
      // A missing field is reported at its object: point at the object's first line only.
      const end = n === segments.length ? at.end : Math.min(at.end, text.indexOf('\n', at.keyStart) >>> 0);
      return { start: at.keyStart, end, line: lineOf(text, at.keyStart) };
    }
  }
  return null;
}

/**
 * Issue messages by the 1-based line they point at.
 * @param {readonly Issue[]} issues
 * @param {string} text
 * @param {Map<string, Position>} positions
 * @returns {Map<number, string[]>}
 */
export function issuesByLine(issues, text, positions) {
  /** @type {Map<number, string[]>} */
  const out = new Map();
  for (const issue of issues) {
    const line = issueRange(issue, text, positions)?.line ?? null;
    if (line) out.set(line, [...(out.get(line) ?? []), issue.message]);
  }
  return out;
}

/**
 * The engine's issues for a draft text; a throw is a problem of its own, reported as one.
 * @param {(text: string) => unknown} validateRules the engine's `validateRules`
 * @param {string} text
 * @returns {Issue[]}
 */
export function validateText(validateRules, text) {
  try {
    const issues = validateRules(text);
    return Array.isArray(issues) ? issues : [];
  } catch (/** @type {any} */ error) {
    // The engine reports problems as issues; a throw is a problem of its own, show it as one.
    return error?.issues ?? [{ path: '$', message: String(error?.message ?? error) }];
  }
}

/**
 * "3 rules, 1 ad": what a rules document holds.
 * @param {any} doc
 */
export function describeDocument(doc) {
  const rules = Array.isArray(doc?.rules) ? doc.rules.length : 0;
  const ads = Array.isArray(doc?.ads) ? doc.ads.length : 0;
  return `${rules} rule${rules === 1 ? '' : 's'}, ${ads} ad${ads === 1 ? '' : 's'}`;
}

/**
 * The age bands a document lists (the strings among them).
 * @param {any} doc
 * @returns {string[]}
 */
export function ageBandsOf(doc) {
  return Array.isArray(doc?.ageBands) ? doc.ageBands.filter((/** @type {unknown} */ b) => typeof b === 'string') : [];
}

/**
 * An imported file's text as the draft: pretty printed when it is JSON, as it is otherwise (so
 * the problem can be found and fixed in the JSON view).
 * @param {string} text
 */
export function importedText(text) {
  try {
    return `${formatJson(JSON.parse(text))}\n`;
  } catch {
    return text;
  }
}

/**
 * A draft as the file to export: ending with a newline.
 * @param {string} text
 */
export const exportText = (text) => (text.endsWith('\n') ? text : `${text}\n`);
