// The rules editor in headless Chromium: the engine's validation points at the right field in
// the form and the right line in the JSON view, an invalid draft can never replace the stored
// rules, the simulator plays what the rules say, and export/import round-trip the document.
// Needs pkg/ built with validateRules, rulesSchema and simulateRules.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startServer, launch, guardNetwork, collectErrors } from "./browser.mjs";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SCREENSHOTS = join(ROOT, "target", "screenshots");
const SAMPLE = JSON.parse(await readFile(join(ROOT, "www", "editor", "sample.rules.json"), "utf8"));

// In the sample, rules[1] is "young-groups": watchers >= 2 and a share of 18-34s among them.
const YOUNG = 1;
const OP_FIELD = `root[rules][${YOUNG}][when][all][0][watchers][op]`;
const SHARE_FIELD = `root[rules][${YOUNG}][when][all][1][share][value]`;

let server;
let browser;

before(async () => {
  await mkdir(SCREENSHOTS, { recursive: true });
  server = await startServer();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** What the page's store holds under KEYS.rules (read through the page's own store module). */
function storedRules(page) {
  return page.evaluate(async () => {
    const { KEYS, load } = await import("/lib/store.js");
    return load(KEYS.rules);
  });
}

const rawText = (page) => page.locator("#raw").inputValue();
const draft = async (page) => JSON.parse(await rawText(page));

/** The issues the page lists, as { path, message }. */
function listedIssues(page) {
  return page.locator("#issues li").evaluateAll((items) => items.map((li) => ({
    path: li.querySelector(".issue-path").textContent,
    message: li.querySelector(".issue-message").textContent,
  })));
}

/** 1-based numbers of the JSON view's lines marked as having a problem. */
function markedLines(page) {
  return page.locator("#gutter span.bad").evaluateAll((spans) => spans.map((s) => Number(s.textContent)));
}

/** 1-based line of the first occurrence of `needle` in the JSON view. */
async function lineOf(page, needle) {
  const text = await rawText(page);
  const at = text.indexOf(needle);
  assert.ok(at >= 0, `${needle} is in the JSON view`);
  return text.slice(0, at).split("\n").length;
}

/** Waits until the page lists exactly issues at `paths` (in order) and returns them. */
async function waitForIssues(page, paths) {
  await page.waitForFunction((want) => JSON.stringify([...document.querySelectorAll("#issues .issue-path")]
    .map((p) => p.textContent)) === want, JSON.stringify(paths));
  return listedIssues(page);
}

test("rules editor: live validation points at fields, keeps the last good rules, simulates, exports", async () => {
  const context = await browser.newContext({ viewport: { width: 1440, height: 1000 }, acceptDownloads: true });
  const network = await guardNetwork(context, server.url);
  const page = await context.newPage();
  const errors = collectErrors(page);
  await page.goto(`${server.url}/editor/`);
  await page.waitForSelector("body[data-ready]");
  assert.equal(await page.getAttribute("body", "data-ready"), "true", `editor started (${errors.join("; ")})`);

  // Nothing stored yet: the sample is the draft, valid, and can be applied.
  assert.equal(await storedRules(page), undefined);
  assert.deepEqual(await draft(page), SAMPLE);
  assert.equal(await page.locator("#issues li").count(), 0);
  assert.ok(await page.locator("#issues-ok").isVisible());
  assert.equal(await page.getAttribute("#live-status", "data-state"), "none");
  assert.ok(await page.locator("#apply").isEnabled());
  // The form shows the same document.
  assert.equal(await page.locator(`[name="root[rules][${YOUNG}][id]"]`).inputValue(), "young-groups");
  await page.screenshot({ path: join(SCREENSHOTS, "editor.png") });

  await page.locator("#apply").click();
  await page.waitForFunction(() => document.querySelector("#live-status").dataset.state === "live");
  assert.deepEqual(await storedRules(page), SAMPLE);
  const firstVersion = await page.getAttribute("#live-status", "data-version");
  assert.match(await page.locator("#live-status").textContent(), new RegExp(firstVersion));
  assert.equal(await page.getAttribute("#draft-status", "data-state"), "applied");
  assert.ok(await page.locator("#apply").isDisabled(), "nothing to apply when the draft is the live version");

  // --- Break a rule in the JSON view: an unknown operator.
  const good = await rawText(page);
  const opText = '"watchers": { "op": "gte", "value": 2 }';
  assert.equal(good.split(opText).length, 2, "young-groups' watchers condition is on one line");
  await page.locator("#raw").fill(good.replace(opText, '"watchers": { "op": "bogus", "value": 2 }'));
  const [opIssue] = await waitForIssues(page, [`$.rules[${YOUNG}].when.all[0].watchers.op`]);
  assert.match(opIssue.message, /bogus/);
  // The form field for that path shows the bad value and is marked; so is the JSON line.
  const opField = page.locator(`[name="${OP_FIELD}"]`);
  assert.equal(await opField.inputValue(), "bogus");
  assert.equal(await opField.getAttribute("aria-invalid"), "true");
  assert.equal(await page.locator("#form [aria-invalid=true]").count(), 1, "only the broken field is marked");
  const opMessage = await opField.getAttribute("aria-errormessage");
  assert.match(await page.locator(`[id="${opMessage}"]`).textContent(), /bogus/);
  assert.deepEqual(await markedLines(page), [await lineOf(page, '"op": "bogus"')]);
  assert.match(await page.locator(".je-tab.has-issue").textContent(), /young-groups/);
  // Invalid: Apply is off and the store still holds the last good document.
  assert.ok(await page.locator("#apply").isDisabled());
  assert.equal(await page.getAttribute("#draft-status", "data-state"), "invalid");
  assert.deepEqual(await storedRules(page), SAMPLE);
  // "JSON line n" selects the value in the JSON view; clicking the issue focuses the field.
  await page.locator("#issues .issue-json").click();
  assert.equal(await page.evaluate(() => {
    const raw = document.activeElement;
    return raw.id === "raw" ? raw.value.slice(raw.selectionStart, raw.selectionEnd) : null;
  }), '"op": "bogus"');
  await page.locator("#issues .issue-go").click();
  assert.equal(await page.evaluate(() => document.activeElement.name), OP_FIELD);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(SCREENSHOTS, "editor-invalid-json.png") });

  // Not JSON at all (a missing comma): the engine's syntax error marks the line where the
  // parser stopped, and the form turns read-only until the JSON view holds an object again.
  const priorityText = '"priority": 30,';
  await page.locator("#raw").fill(good.replace(priorityText, priorityText.slice(0, -1)));
  const [syntaxIssue] = await waitForIssues(page, ["$"]);
  assert.match(syntaxIssue.message, /line \d+, column \d+/);
  assert.deepEqual(await markedLines(page), [(await lineOf(page, '"priority": 30\n')) + 1]);
  assert.ok(await page.locator("#form-locked").isVisible());
  assert.ok(await page.locator(`[name="root[rules][${YOUNG}][priority]"]`).isDisabled());
  assert.ok(await page.locator("#apply").isDisabled());

  // Fixing it in the JSON view clears everything; the draft is the live version again.
  await page.locator("#raw").fill(good);
  await waitForIssues(page, []);
  assert.equal(await page.locator("#form [aria-invalid]").count(), 0);
  assert.deepEqual(await markedLines(page), []);
  assert.equal(await opField.inputValue(), "gte");
  assert.ok(await page.locator("#form-locked").isHidden());
  assert.ok(await opField.isEditable());
  assert.equal(await page.getAttribute("#draft-status", "data-state"), "applied");

  // --- Break a rule through the form: a share of 7 (shares are 0..1).
  const shareField = page.locator(`[name="${SHARE_FIELD}"]`);
  await page.locator(".je-tab", { hasText: "young-groups" }).click();
  await shareField.fill("7");
  await shareField.press("Tab");
  const [shareIssue] = await waitForIssues(page, [`$.rules[${YOUNG}].when.all[1].share.value`]);
  assert.match(shareIssue.message, /between 0 and 1/);
  assert.equal((await draft(page)).rules[YOUNG].when.all[1].share.value, 7, "the form edit reached the JSON view");
  assert.equal(await shareField.getAttribute("aria-invalid"), "true");
  assert.equal(await page.locator("#form [aria-invalid=true]").count(), 1);
  const valueLine = await lineOf(page, '"value": 7');
  assert.ok((await markedLines(page)).includes(valueLine), `JSON line ${valueLine} is marked`);
  assert.ok(await page.locator("#apply").isDisabled());
  assert.deepEqual(await storedRules(page), SAMPLE, "an invalid edit never replaces the stored rules");
  await shareField.scrollIntoViewIfNeeded();
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(SCREENSHOTS, "editor-invalid-form.png") });

  // Fix it with a real change (60 % instead of 50 %) and apply.
  await shareField.fill("0.6");
  await shareField.press("Tab");
  await waitForIssues(page, []);
  await page.waitForFunction(() => !document.querySelector("#apply").disabled);
  const fixed = await draft(page);
  assert.equal(fixed.rules[YOUNG].when.all[1].share.value, 0.6);
  const expected = structuredClone(SAMPLE);
  expected.rules[YOUNG].when.all[1].share.value = 0.6;
  assert.deepEqual(fixed, expected, "the form changed that one value and nothing else");
  await page.locator("#apply").click();
  await page.waitForFunction((v) => document.querySelector("#live-status").dataset.version !== v, firstVersion);
  assert.deepEqual(await storedRules(page), expected);
  assert.ok(await page.locator("#apply").isDisabled());

  // --- Simulator: Monday 24 Nov 2025, 16:00 (no daypart, not Advent) in Europe/Berlin.
  await page.locator("#sim-date").fill("2025-11-24");
  const rows = page.locator("#sim-rows tr");
  while (await rows.count() < 2) await page.locator("#add-row").click();
  while (await rows.count() > 2) await rows.last().locator(".remove-row").click();
  const fillRow = async (row, { start, durationS, present, watchers, bands }) => {
    await row.locator("[name=start]").fill(start);
    await row.locator("[name=durationS]").fill(String(durationS));
    await row.locator("[name=present]").fill(String(present));
    await row.locator("[name=watchers]").fill(String(watchers));
    await row.locator("[name=lookingNow]").fill("");
    await row.locator("[name=gender]").selectOption("mixed");
    await row.locator(".bands summary").click();
    for (const box of await row.locator(".band-list input").all()) {
      await box.setChecked(bands.includes(await box.getAttribute("value")));
    }
    await row.locator(".bands summary").click();
  };
  // Two people walking past, nobody looking; then "3 watchers, 25-34, for 20 s".
  await fillRow(rows.nth(0), { start: "16:00:00", durationS: 20, present: 2, watchers: 0, bands: [] });
  await fillRow(rows.nth(1), { start: "16:00:20", durationS: 20, present: 3, watchers: 3, bands: ["25-34"] });
  assert.equal(await rows.nth(1).locator(".bands summary").textContent(), "25-34");
  await page.locator("#run-sim").click();
  await page.waitForSelector("#sim-results:not([hidden])");
  const plays = await page.locator("#sim-plays tbody tr").evaluateAll((trs) => trs.map((tr) => ({
    start: tr.cells[0].textContent,
    ad: tr.dataset.adId,
    by: tr.dataset.source,
    why: tr.querySelector(".why summary").textContent,
  })));
  // What the rules must do: passers-by (2 present, nobody watching) shows look-here (6 s); then
  // the loop: brand-a (behind its 25 % share of voice), brand-b. The young group arrives at
  // 16:00:20 while brand-b has been on for 4 s (< the 5 s minimum), so young-groups (3 of 3
  // watchers in 25-34 >= 0.6) takes the next slot at 16:00:26: sneaker-spot (weight 3 of 4).
  assert.deepEqual(plays.map(({ start, ad, by }) => ({ start, ad, by })), [
    { start: "16:00:00", ad: "look-here", by: "passers-by" },
    { start: "16:00:06", ad: "brand-a", by: "defaultLoop" },
    { start: "16:00:16", ad: "brand-b", by: "defaultLoop" },
    { start: "16:00:26", ad: "sneaker-spot", by: "young-groups" },
  ]);
  assert.match(plays[3].why, /young-groups/);
  assert.match(plays[0].why, /passers-by/);
  assert.match(await page.locator("#sim-timeline").getAttribute("aria-label"), /look-here, brand-a, brand-b, sneaker-spot/);
  await page.locator("#sim-plays tbody tr").last().locator("summary").click();
  await page.evaluate(() => window.scrollTo(0, document.querySelector("#simulator").getBoundingClientRect().top + window.scrollY - 90));
  await page.screenshot({ path: join(SCREENSHOTS, "editor-simulator.png") });

  // --- Export: the download is the document in the editor (and the live one).
  const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#export").click()]);
  assert.match(download.suggestedFilename(), /\.json$/);
  const exported = JSON.parse(await readFile(await download.path(), "utf8"));
  assert.deepEqual(exported, await draft(page));
  assert.deepEqual(exported, await storedRules(page));

  // --- Import a file with a broken reference: shown and marked, never stored.
  const imported = structuredClone(expected);
  imported.rules[0].play.ad = "crowd-specal";
  const file = join(tmpdir(), `glance-import-${process.pid}.json`);
  await writeFile(file, JSON.stringify(imported));
  await page.locator("#import-file").setInputFiles(file);
  const [importIssue] = await waitForIssues(page, ["$.rules[0].play.ad"]);
  assert.match(importIssue.message, /crowd-specal/);
  assert.equal(await page.locator('[name="root[rules][0][play][ad]"]').getAttribute("aria-invalid"), "true");
  assert.deepEqual(await draft(page), imported);
  assert.ok(await page.locator("#apply").isDisabled());
  assert.deepEqual(await storedRules(page), expected);

  // A reload starts from the stored (last good) rules, shown as live.
  // (The unapplied import makes the page ask before leaving; accept.)
  page.on("dialog", (dialog) => dialog.accept());
  await page.reload();
  await page.waitForSelector("body[data-ready=true]");
  assert.deepEqual(await draft(page), expected);
  assert.equal(await page.getAttribute("#draft-status", "data-state"), "applied");
  assert.notEqual(await page.getAttribute("#live-status", "data-version"), firstVersion);

  assert.deepEqual(network.foreign, [], "no request left the local server");
  assert.deepEqual(errors, []);
  await context.close();
});
