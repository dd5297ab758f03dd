#!/usr/bin/env node
// Serves Glance's pages on localhost: www/ at /, the built npm package at /pkg/, the pages'
// libraries at /node_modules/, and an optional folder of sample media at /media/.
//
//   node www/serve.mjs [--port 8080] [--media DIR]
//
// Sends COOP/COEP so the pages are cross-origin isolated (Wasm threads need it) and
// `Cache-Control: no-cache` with an ETag, so a rebuilt package is picked up at once while an
// unchanged one costs a 304 instead of a download (the kiosk's service worker does the offline
// caching). Compressible files go out compressed: the `.br` copy that `scripts/build-web` writes
// beside a wasm module or a weight file when the browser takes brotli, otherwise brotli or gzip
// made on the fly and kept in memory. Used by `scripts/dev demo` and by the browser tests.
import { createServer } from 'node:http';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const www = fileURLToPath(new URL('.', import.meta.url));
const root = resolve(www, '..');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.jsonl': 'application/jsonl; charset=utf-8',
  '.wasm': 'application/wasm',
  '.bpk': 'application/octet-stream',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.webm': 'video/webm',
  '.mp4': 'video/mp4',
  '.ts': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/** Types worth compressing (video and pictures are compressed already). */
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.json', '.jsonl', '.wasm', '.bpk', '.svg', '.ts', '.md', '.webmanifest']);
/** Compressed bodies made on the fly, by file, encoding and ETag. */
const compressed = new Map();

/**
 * The body to send for `file` and its encoding: a fresh `.br` copy beside it, else brotli
 * (quality 5: fast, and close to the best for these files) or gzip made once and cached.
 * Null when the browser takes neither or the type is not worth it.
 */
function encodedBody(file, stat, etag, acceptEncoding) {
  const taken = new Set((acceptEncoding ?? '').split(',').map((part) => part.trim().split(';'))
    .filter(([, q]) => !q || Number(q.trim().replace(/^q=/, '')) > 0).map(([name]) => name.trim()));
  if (!COMPRESSIBLE.has(extname(file).toLowerCase())) return null;
  const encoding = taken.has('br') ? 'br' : taken.has('gzip') ? 'gzip' : null;
  if (!encoding) return null;
  if (encoding === 'br') {
    try {
      const copy = statSync(`${file}.br`);
      if (copy.mtimeMs >= stat.mtimeMs) return { encoding, body: readFileSync(`${file}.br`) };
    } catch {
      // No precompressed copy: compress below.
    }
  }
  const key = `${file}\0${encoding}\0${etag}`;
  if (!compressed.has(key)) {
    const data = readFileSync(file);
    const body = encoding === 'br'
      ? brotliCompressSync(data, { params: { [zlib.BROTLI_PARAM_QUALITY]: 5, [zlib.BROTLI_PARAM_SIZE_HINT]: data.length } })
      : gzipSync(data, { level: 6 });
    for (const k of compressed.keys()) if (k.startsWith(`${file}\0`)) compressed.delete(k);
    compressed.set(key, body);
  }
  return { encoding, body: compressed.get(key) };
}

/** Maps a URL path to a file, or null when it is outside every served folder. */
function fileFor(pathname, mounts) {
  const decoded = decodeURIComponent(pathname);
  for (const [prefix, dir] of mounts) {
    if (!decoded.startsWith(prefix)) continue;
    const file = normalize(join(dir, decoded.slice(prefix.length)));
    if (file !== dir && !file.startsWith(dir.endsWith(sep) ? dir : dir + sep)) return null;
    return file;
  }
  return null;
}

/**
 * The file a request names and its stat (a folder's index.html), null when there is none, or
 * 'redirected' when a folder was asked for without its slash (answered here).
 */
function requestedFile(url, mounts, res) {
  let file = fileFor(url.pathname, mounts);
  try {
    let stat = file && statSync(file);
    if (stat && stat.isDirectory()) {
      if (!url.pathname.endsWith('/')) {
        res.writeHead(301, { Location: url.pathname + '/' + url.search });
        res.end();
        return 'redirected';
      }
      file = join(file, 'index.html');
      stat = statSync(file);
    }
    return stat && stat.isFile() ? { file, stat } : null;
  } catch {
    return null;
  }
}

/** The headers every answer carries: cross-origin isolation and revalidation. */
function commonHeaders(url) {
  const headers = {
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Embedder-Policy': 'require-corp',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Cache-Control': 'no-cache',
  };
  // The kiosk's service worker covers the whole site: the engine's worker (/pkg/) is a client
  // of the worker whose scope holds its own URL, not of the page that started it.
  if (url.pathname === '/kiosk/sw.js') headers['Service-Worker-Allowed'] = '/';
  return headers;
}

/** Answers one request: a file (whole, a range, or compressed), a 304, a redirect or a 404. */
function answer(req, res, mounts, quiet) {
  const url = new URL(req.url, 'http://localhost');
  const found = requestedFile(url, mounts, res);
  if (found === 'redirected') return;
  const headers = commonHeaders(url);
  if (!found) {
    res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' });
    res.end('not found');
    if (!quiet) console.log(`404 ${url.pathname}`);
    return;
  }
  const { file, stat } = found;
  const type = TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
  const encoded = req.headers.range ? null : encodedBody(file, stat, `${stat.size}-${stat.mtimeMs}`, req.headers['accept-encoding']);
  const etag = `"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}${encoded ? `-${encoded.encoding}` : ''}"`;
  headers.ETag = etag;
  headers.Vary = 'Accept-Encoding';
  headers['Last-Modified'] = stat.mtime.toUTCString();
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  // Video elements ask for ranges; answer them so seeking and looping work.
  const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
  if (range) {
    sendRange(req, res, { file, stat, type, headers }, range);
    return;
  }
  if (encoded) {
    res.writeHead(200, { ...headers, 'Content-Type': type, 'Content-Encoding': encoded.encoding, 'Content-Length': encoded.body.length });
    res.end(req.method === 'HEAD' ? undefined : encoded.body);
    return;
  }
  res.writeHead(200, { ...headers, 'Content-Type': type, 'Content-Length': stat.size, 'Accept-Ranges': 'bytes' });
  if (req.method === 'HEAD') res.end();
  else createReadStream(file).pipe(res);
}

/** The bytes a `Range: bytes=start-end` asks for (206). */
function sendRange(req, res, { file, stat, type, headers }, range) {
  const start = range[1] ? Number(range[1]) : 0;
  const end = range[2] ? Math.min(Number(range[2]), stat.size - 1) : stat.size - 1;
  res.writeHead(206, {
    ...headers,
    'Content-Type': type,
    'Content-Range': `bytes ${start}-${end}/${stat.size}`,
    'Content-Length': end - start + 1,
    'Accept-Ranges': 'bytes',
  });
  if (req.method === 'HEAD') res.end();
  else createReadStream(file, { start, end }).pipe(res);
}

/**
 * Starts the server; resolves to `{ url, close }`. `port` 0 picks a free port.
 * `media`: a folder served at /media/ (sample clips for the demo), or null.
 */
export function serve({ port = 8080, host = '127.0.0.1', media = null, quiet = true } = {}) {
  const mounts = [
    ['/pkg/', join(root, 'pkg')],
    ['/node_modules/', join(www, 'node_modules')],
    ...(media ? [['/media/', resolve(media)]] : []),
    ['/', www],
  ];
  const server = createServer((req, res) => answer(req, res, mounts, quiet));
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const { port: actual } = server.address();
      resolvePromise({
        url: `http://${host}:${actual}`,
        close: () => new Promise((done) => server.close(done)),
      });
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const option = (name, fallback) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : fallback;
  };
  const { url } = await serve({
    port: Number(option('--port', 8080)),
    media: option('--media', null),
    quiet: false,
  });
  console.log(`Glance pages on ${url}/ :`);
  console.log(`  kiosk      ${url}/kiosk/`);
  console.log(`  editor     ${url}/editor/`);
  console.log(`  dashboard  ${url}/dashboard/`);
}
