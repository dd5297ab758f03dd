// The pages' server sends compressible files compressed: the build's `.br` copy when it is
// fresh, otherwise brotli or gzip made on the fly; untouched for browsers that take neither.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliCompressSync, brotliDecompressSync, gunzipSync } from "node:zlib";
import { serve } from "../serve.mjs";

const media = mkdtempSync(join(tmpdir(), "glance-serve-"));
const wasm = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7) % 13));
let server;

before(async () => {
  writeFileSync(join(media, "engine.wasm"), wasm);
  writeFileSync(join(media, "clip.webm"), wasm);
  server = await serve({ port: 0, media });
});
after(() => server.close());

const get = (path, acceptEncoding) =>
  fetch(`${server.url}${path}`, { headers: acceptEncoding === undefined ? {} : { "accept-encoding": acceptEncoding } })
    .then(async (r) => ({ headers: r.headers, body: Buffer.from(await r.arrayBuffer()) }));

// Node's fetch decodes what it can, so read the raw bytes through a plain request instead.
async function raw(path, acceptEncoding) {
  const { request } = await import("node:http");
  return new Promise((resolve, reject) => {
    request(`${server.url}${path}`, { headers: { "accept-encoding": acceptEncoding } }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ encoding: res.headers["content-encoding"], length: Number(res.headers["content-length"]), vary: res.headers.vary, body: Buffer.concat(chunks) }));
    }).on("error", reject).end();
  });
}

test("brotli when the browser takes it, gzip when only that, identity otherwise", async () => {
  const br = await raw("/media/engine.wasm", "gzip, deflate, br, zstd");
  assert.equal(br.encoding, "br");
  assert.equal(br.length, br.body.length);
  assert.ok(br.body.length < wasm.length / 10, `${br.body.length} bytes`);
  assert.deepEqual(brotliDecompressSync(br.body), wasm);
  assert.equal(br.vary, "Accept-Encoding");

  const gz = await raw("/media/engine.wasm", "gzip;q=1, br;q=0");
  assert.equal(gz.encoding, "gzip");
  assert.deepEqual(gunzipSync(gz.body), wasm);

  const plain = await raw("/media/engine.wasm", "identity");
  assert.equal(plain.encoding, undefined);
  assert.deepEqual(plain.body, wasm);

  const video = await raw("/media/clip.webm", "br");
  assert.equal(video.encoding, undefined, "video is compressed already");
  assert.equal((await get("/media/engine.wasm")).headers.get("content-type"), "application/wasm");
});

test("a fresh .br copy beside the file is what goes out; a stale one is ignored", async () => {
  const marker = brotliCompressSync(Buffer.from("the build's copy"));
  writeFileSync(join(media, "engine.wasm.br"), marker);
  assert.deepEqual((await raw("/media/engine.wasm", "br")).body, marker);
  const past = new Date(Date.now() - 60_000);
  utimesSync(join(media, "engine.wasm.br"), past, past);
  assert.deepEqual(brotliDecompressSync((await raw("/media/engine.wasm", "br")).body), wasm);
});
