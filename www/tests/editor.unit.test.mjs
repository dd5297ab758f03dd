// Unit tests of the rules editor's pure modules (no browser, no engine): JSON text, the form's
// schema, the simulator's timeline and texts. Run: node --test tests/editor.unit.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import {
  ageBandsOf, canonical, describeDocument, exportText, fingerprint, formatJson, formatPath, importedText, issueRange,
  issuesByLine, lineOf, locateValues, oneLine, orderLike, parsePath, validateText,
} from "../editor/rules-text.js";
import { formSchema, PROPERTY_ORDER } from "../editor/form.js";
import {
  audienceOf, bandSummary, buildSteps, conditionText, describeAudience, hue, interruptText, localDate, localTime,
  nextStart, onScreenText, peopleOf, rowFromFields, seconds, simulationError, simulationSummary, sketchProblem,
  skippedText, sourceText, stepSpans, toSeconds,
} from "../editor/simulator.js";

const SAMPLE = JSON.parse(await readFile(new URL("../editor/sample.rules.json", import.meta.url), "utf8"));

/** A sketch row with defaults. */
const row = (over = {}) => ({
  start: "16:00:00", durationS: 20, present: 1, watchers: 0, lookingNow: 0, bands: [], gender: "mixed",
  distanceM: null, attentionS: null, ...over,
});

test("canonical text ignores key order and undefined members", () => {
  assert.equal(canonical({ b: 1, a: { d: 2, c: null }, u: undefined }), '{"a":{"c":null,"d":2},"b":1}');
  assert.equal(canonical([{ y: 1, x: 2 }, "s", undefined]), '[{"x":2,"y":1},"s",null]');
  assert.equal(canonical({ b: [1, 2], a: 1 }), canonical({ a: 1, b: [1, 2] }));
});

test("fingerprint is FNV-1a of the canonical text, 8 hex digits", () => {
  assert.equal(fingerprint({ a: 1, b: [1, 2] }), "2a48ec0e");
  assert.equal(fingerprint({ b: [1, 2], a: 1 }), "2a48ec0e");
  assert.equal(fingerprint(null), fingerprint(undefined));
  assert.notEqual(fingerprint({ a: 1 }), fingerprint({ a: 2 }));
  assert.match(fingerprint(SAMPLE), /^[0-9a-f]{8}$/);
});

test("paths are spelt like the engine's and parse back", () => {
  assert.equal(formatPath([]), "$");
  assert.equal(formatPath(["rules", 2, "when", "all", 0, "share", "value"]), "$.rules[2].when.all[0].share.value");
  assert.equal(formatPath(["ads", "odd key", 'q"uote']), '$.ads["odd key"]["q\\"uote"]');
  assert.deepEqual(parsePath("$.rules[2].when.all[0].share.value"), ["rules", 2, "when", "all", 0, "share", "value"]);
  assert.deepEqual(parsePath('$.ads["odd key"]["q\\"uote"]'), ["ads", "odd key", 'q"uote']);
  assert.deepEqual(parsePath("$"), []);
  for (const segments of [["a-b", 0, "c_d"], ["x.y", 3], [0, 1]]) assert.deepEqual(parsePath(formatPath(segments)), segments);
});

test("oneLine and formatJson: short values stay on one line, long ones break", () => {
  assert.equal(oneLine({ a: [1, "x"], b: {}, c: undefined }), '{ "a": [1, "x"], "b": {} }');
  assert.equal(formatJson({ op: "gte", value: 2 }), '{ "op": "gte", "value": 2 }');
  assert.equal(formatJson({ rules: [{ id: "x", priority: 2 }], ads: [] }, "", 0, 20),
    '{\n  "rules": [\n    {\n      "id": "x",\n      "priority": 2\n    }\n  ],\n  "ads": []\n}');
  // The sample pretty prints to text that parses back to the same document, no line over 100 wide
  // unless it is one value that cannot break.
  const text = formatJson(SAMPLE);
  assert.deepEqual(JSON.parse(text), SAMPLE);
  assert.ok(text.split("\n").length > 10);
});

test("orderLike keeps the keys in the order of the previous document, new keys last", () => {
  const value = { b: 1, new: true, a: { y: 2, x: 1 }, list: [{ q: 1, p: 2 }] };
  const like = { a: { x: 0, y: 0 }, b: 0, list: [{ p: 0, q: 0 }] };
  const ordered = orderLike(value, like);
  assert.deepEqual(Object.keys(ordered), ["a", "b", "list", "new"]);
  assert.deepEqual(Object.keys(ordered.a), ["x", "y"]);
  assert.deepEqual(Object.keys(ordered.list[0]), ["p", "q"]);
  assert.equal(canonical(ordered), canonical(value));
  assert.equal(orderLike(5, { a: 1 }), 5);
});

test("locateValues finds every value's range and its key", () => {
  const text = formatJson({ rules: [{ id: "x", priority: 2 }], ads: [] }, "", 0, 20);
  const at = locateValues(text);
  assert.deepEqual([...at.keys()], ["$.rules[0].id", "$.rules[0].priority", "$.rules[0]", "$.rules", "$.ads", "$"]);
  const id = at.get("$.rules[0].id");
  assert.equal(text.slice(id.start, id.end), '"x"');
  assert.equal(text.slice(id.keyStart, id.end), '"id": "x"');
  assert.equal(text.slice(at.get("$.ads").start, at.get("$.ads").end), "[]");
  assert.deepEqual(at.get("$"), { start: 0, end: text.length, keyStart: 0 });
  assert.equal(lineOf(text, id.keyStart), 4);
  assert.equal(lineOf(text, 0), 1);
});

test("issueRange: the value's lines, a missing field's object head, a syntax error's line", () => {
  const text = formatJson({ rules: [{ id: "x", priority: 2 }], ads: [] }, "", 0, 20);
  const at = locateValues(text);
  const priority = issueRange({ path: "$.rules[0].priority", message: "too high" }, text, at);
  assert.equal(text.slice(priority.start, priority.end), '"priority": 2');
  assert.equal(priority.line, 5);
  // A field that is missing (or any path below what exists): the object's first line only.
  const missing = issueRange({ path: "$.rules[0].when", message: "missing field `when`" }, text, at);
  assert.deepEqual(missing, { start: 19, end: 20, line: 3 });
  assert.equal(text.slice(missing.start, missing.end), "{");
  // Not JSON: the engine names a line and column at the root.
  const broken = '{\n  "rules": [,\n}';
  const syntax = issueRange({ path: "$", message: "expected value at line 2, column 13" }, broken, new Map());
  assert.deepEqual(syntax, { start: 2, end: 15, line: 2 });
  assert.equal(broken.slice(syntax.start, syntax.end), '  "rules": [,');
  assert.equal(issueRange({ path: "$", message: "expected value at line 99, column 1" }, broken, new Map()).line, 3);
  assert.equal(issueRange({ path: "$.x", message: "no position" }, broken, new Map()), null);
  const lines = issuesByLine([
    { path: "$.rules[0].priority", message: "a" },
    { path: "$.rules[0].priority", message: "b" },
    { path: "$.ads", message: "c" },
  ], text, at);
  assert.deepEqual([...lines], [[5, ["a", "b"]], [8, ["c"]]]);
});

test("validateText passes on the engine's issues and turns a throw into one", () => {
  const issue = { path: "$.version", message: "must be 1" };
  assert.deepEqual(validateText(() => [issue], "{}"), [issue]);
  assert.deepEqual(validateText(() => undefined, "{}"), []);
  assert.deepEqual(validateText(() => { throw Object.assign(new Error("bad"), { issues: [issue] }); }, "{}"), [issue]);
  assert.deepEqual(validateText(() => { throw new Error("engine not ready"); }, "{}"), [{ path: "$", message: "engine not ready" }]);
  assert.deepEqual(validateText(() => { throw "plain"; }, "{}"), [{ path: "$", message: "plain" }]);
  let seen;
  validateText((text) => { seen = text; return []; }, '{"a":1}');
  assert.equal(seen, '{"a":1}');
});

test("document summaries, age bands, import and export text", () => {
  assert.equal(describeDocument({ rules: [{}], ads: [{}, {}] }), "1 rule, 2 ads");
  assert.equal(describeDocument({ rules: [], ads: [{}] }), "0 rules, 1 ad");
  assert.equal(describeDocument(null), "0 rules, 0 ads");
  assert.deepEqual(ageBandsOf({ ageBands: ["18-24", 3, "65+"] }), ["18-24", "65+"]);
  assert.deepEqual(ageBandsOf({ ageBands: "18-24" }), []);
  assert.deepEqual(ageBandsOf(null), []);
  assert.equal(importedText('{"b":1,"a":[1,2]}'), '{ "b": 1, "a": [1, 2] }\n');
  assert.equal(importedText("{ not json"), "{ not json");
  assert.equal(exportText("{}"), "{}\n");
  assert.equal(exportText("{}\n"), "{}\n");
});

test("formSchema adapts the engine's schema for json-editor", () => {
  const schema = {
    type: "object",
    required: ["version", "rules"],
    properties: {
      $schema: { type: "string" },
      version: { type: "integer", minimum: 1, maximum: 1 },
      description: { type: ["string", "null"], maxLength: 500 },
      rules: { type: "array", items: { type: "object", properties: { id: { type: "string", pattern: "^[a-z]+$" } } } },
      gender: { oneOf: [{ const: "female", description: "women" }, { const: "male", description: "men" }] },
      kind: { enum: ["image", "video"] },
      tags: { type: "array", items: { type: "string" } },
      when: { anyOf: [{ $ref: "#/$defs/Condition" }, { type: "null" }] },
      share: { oneOf: [{ type: "object", required: ["among"], properties: { among: {} } }, { type: "number" }] },
    },
  };
  const lists = new Map();
  const out = formSchema(schema, lists);
  assert.equal(out.title, "Rules document");
  assert.deepEqual(out.properties.$schema.options, { hidden: true });
  // Limits and patterns are gone; the engine checks them.
  assert.deepEqual(Object.keys(out.properties.version).sort(), ["propertyOrder", "type"]);
  assert.equal(out.properties.rules.items.properties.id.pattern, undefined);
  // null alternatives go; a description is a textarea.
  assert.equal(out.properties.description.type, "string");
  assert.equal(out.properties.description.format, "textarea");
  assert.equal(out.properties.when.$ref, "#/$defs/Condition");
  assert.equal(out.properties.when.anyOf, undefined);
  // Closed choices are text fields with suggestions.
  assert.equal(out.properties.gender.type, "string");
  assert.equal(out.properties.gender.options.inputAttributes.list, "glance-list-gender");
  assert.equal(out.properties.gender.description, "female: women; male: men");
  assert.equal(out.properties.kind.enum, undefined);
  assert.deepEqual([...lists], [["glance-list-gender", [["female", "women"], ["male", "men"]]], ["glance-list-kind", [["image"], ["video"]]]]);
  // Branch titles, tabs, tables, item titles.
  assert.deepEqual(out.properties.share.oneOf.map((b) => b.title), ["among", "a number"]);
  assert.equal(out.properties.rules.format, "tabs");
  assert.equal(out.properties.rules.items.headerTemplate, "{{ self.id }}");
  assert.equal(out.properties.rules.items.title, "rule");
  assert.equal(out.properties.tags.format, "table");
  assert.equal(out.properties.tags.items.title, "tag");
  // Reading order: the document's own, then PROPERTY_ORDER.
  assert.equal(out.properties.version.propertyOrder, 1);
  assert.equal(out.properties.description.propertyOrder, 3);
  assert.equal(out.properties.rules.propertyOrder, 4);
  assert.equal(out.properties.gender.propertyOrder, PROPERTY_ORDER.indexOf("gender") + 1);
  assert.equal(out.properties.$schema.propertyOrder, 100);
  // The input is left as it was.
  assert.equal(schema.properties.version.minimum, 1);
  assert.ok(Array.isArray(schema.properties.gender.oneOf));
});

test("times: seconds of a day, local wall-clock text, today's date", () => {
  assert.equal(toSeconds("16:00:20"), 57620);
  assert.equal(toSeconds("01:02"), 3720);
  assert.equal(localTime("2025-03-14", 57620), "2025-03-14T16:00:20");
  assert.equal(localTime("2025-03-14", 86400 + 5), "2025-03-15T00:00:05");
  const now = new Date(2025, 2, 14, 23, 30);
  assert.equal(localDate(now), "2025-03-14");
  assert.equal(nextStart(null), "16:00:00");
  assert.equal(nextStart(row({ start: "16:00:20", durationS: 45 })), "16:01:05");
});

test("rowFromFields reads numbers, empty optional ones as null", () => {
  const fields = { start: "16:00:00", durationS: " 20 ", present: "3", watchers: "", lookingNow: "1", gender: "female", distanceM: "", attentionS: "2.5" };
  assert.deepEqual(rowFromFields((name) => fields[name], ["18-24"]), {
    start: "16:00:00", durationS: 20, present: 3, watchers: 0, lookingNow: 1, bands: ["18-24"], gender: "female",
    distanceM: null, attentionS: 2.5,
  });
});

test("sketchProblem names the first problem of a sketch", () => {
  assert.equal(sketchProblem("", [row()]), "Pick a day.");
  assert.equal(sketchProblem("2025-03-14", []), "Add at least one row.");
  assert.equal(sketchProblem("2025-03-14", [row({ start: "" })]), "Every row needs a start time.");
  assert.equal(sketchProblem("2025-03-14", [row({ durationS: 0 })]), "Every row needs a duration of at least 1 s.");
  assert.equal(sketchProblem("2025-03-14", [row({ watchers: 1.5 })]), "Head counts are whole numbers, 0 or more.");
  assert.equal(sketchProblem("2025-03-14", [row({ lookingNow: -1 })]), "Head counts are whole numbers, 0 or more.");
  assert.equal(sketchProblem("2025-03-14", [row(), row({ present: 0 })]), null);
});

test("peopleOf and audienceOf: watchers first, bands and genders alternate", () => {
  assert.deepEqual(peopleOf(row({ present: 3, watchers: 2, bands: ["18-24", "25-34"] })), [
    { ageBand: "18-24", gender: "female", watcher: true },
    { ageBand: "25-34", gender: "male", watcher: true },
    { ageBand: "18-24", gender: "female", watcher: false },
  ]);
  assert.deepEqual(peopleOf(row({ present: 1, watchers: 2, gender: "unknown" })).map((p) => p.gender), [null, null]);
  assert.deepEqual(audienceOf([]), {});
  assert.deepEqual(audienceOf([
    row({ present: 2 }),
    row({ present: 3, watchers: 3, lookingNow: 1, bands: ["18-24"], gender: "male", distanceM: 2.5, attentionS: 4 }),
    row({ present: 1, distanceM: 1.5, attentionS: 1 }),
  ]), {
    present: 6, watchers: 3, lookingNow: 1, groupSize: 3,
    byBandGender: [
      { present: 2, watchers: 0, gender: "female" },
      { present: 1, watchers: 0, gender: "male" },
      { present: 3, watchers: 3, ageBand: "18-24", gender: "male" },
    ],
    attentionS: 4, distanceM: 1.5,
  });
});

test("buildSteps: a step at each arrival and departure, the last one empty", () => {
  const steps = buildSteps("2025-03-14", [
    row({ start: "16:00:00", durationS: 20, present: 2 }),
    row({ start: "16:00:10", durationS: 20, present: 3, watchers: 3 }),
  ]);
  assert.deepEqual(steps.map((s) => s.t), ["2025-03-14T16:00:00", "2025-03-14T16:00:10", "2025-03-14T16:00:20", "2025-03-14T16:00:30"]);
  assert.deepEqual(steps.map((s) => s.audience.present ?? 0), [2, 5, 3, 0]);
  assert.deepEqual(steps.map((s) => s.audience.watchers ?? 0), [0, 3, 3, 0]);
  assert.deepEqual(steps.at(-1).audience, {});
  assert.deepEqual(stepSpans(steps).map((s) => s.ms), [10, 10, 10]);
  assert.deepEqual(stepSpans(steps).map((s) => describeAudience(s.step.audience)), ["2 present", "5 present, 3 watching", "3 present, 3 watching"]);
});

test("simulator texts", () => {
  assert.equal(describeAudience({}), "nobody");
  assert.equal(describeAudience({ present: 4, watchers: 2, lookingNow: 1 }), "4 present, 2 watching, 1 looking now");
  assert.equal(bandSummary([]), "any band");
  assert.equal(bandSummary(["18-24", "25-34"]), "18-24, 25-34");
  assert.equal(seconds(20000), "20 s");
  assert.equal(seconds(2500), "2.5 s");
  assert.equal(hue("coffee"), hue("coffee"));
  assert.ok(hue("coffee") >= 0 && hue("coffee") < 360);
  assert.equal(hue("a"), 97);
  assert.equal(sourceText({ source: { type: "rule", ruleId: "young-groups", priority: 5 } }), "rule “young-groups” (priority 5)");
  assert.equal(sourceText({ source: { type: "defaultLoop", position: 0 } }), "default loop, position 1");
  assert.equal(sourceText({}), "");
  assert.equal(conditionText({ held: true, condition: "watchers", actual: 3, op: "gte", expected: 2 }), "✓ watchers: 3 ≥ 2");
  assert.equal(conditionText({ held: false, condition: "daypart", actual: "16:00", expected: ["morning"] }), '✗ daypart: "16:00" in ["morning"]');
  assert.equal(conditionText({ held: true, condition: "x", actual: 1, op: "odd", expected: "y" }), "✓ x: 1 odd y");
  assert.equal(skippedText({ ruleId: "r", priority: 2, message: "capped" }), "r (priority 2): capped");
  assert.equal(skippedText({ ruleId: "r", priority: 2, reason: { kind: "cooldown" } }), "r (priority 2): cooldown");
  assert.equal(interruptText({ adId: "coffee", onScreenMs: 4500 }), "Interrupted coffee after 4.5 s.");
  assert.equal(interruptText({}), "Interrupted the ad on screen.");
  assert.equal(onScreenText({ onScreenMs: 10000, completed: true }), "10 s");
  assert.equal(onScreenText({ onScreenMs: 4000, completed: false, interruptedBy: "young-groups" }), "4 s, interrupted by “young-groups”");
  assert.equal(onScreenText({ onScreenMs: 4000, completed: false }), "4 s, cut short");
  assert.equal(simulationSummary({ plays: [{ onScreenMs: 1 }], summary: { simulatedS: 30, interrupts: 1 } }), "1 play in 30 s, 1 interruption.");
  assert.equal(simulationSummary({ plays: [{ onScreenMs: 1500 }, { onScreenMs: 500 }], summary: { interrupts: 2 } }), "2 plays in 2 s, 2 interruptions.");
  assert.equal(simulationSummary({}), "0 plays in 0.001 s.");
  assert.equal(simulationError({ issues: [{ path: "$.ads", message: "empty" }, { path: "$", message: "x" }] }), "Simulation failed: $.ads: empty; $: x");
  assert.equal(simulationError(new Error("boom")), "Simulation failed: boom");
  assert.equal(simulationError("plain"), "Simulation failed: plain");
});
