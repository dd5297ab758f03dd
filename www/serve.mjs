#!/usr/bin/env node
// Serves Glance's pages on localhost: www/ at /, the built npm package at /pkg/, the pages'
// libraries at /node_modules/, and an optional folder of sample media at /media/.
//
//   node www/serve.mjs [--port 8080] [--media DIR]
//
// Sends COOP/COEP so the pages are cross-origin isolated (Wasm threads need it) and
// `Cache-Control: no-cache` with an ETag, so a rebuilt package is picked up at once while an
// unchanged one costs a 304 instead of a download (the kiosk's service worker does the offline
// caching). Used by `scripts/dev demo` and by the browser tests.
import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
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
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    let file = fileFor(url.pathname, mounts);
    let stat = null;
    try {
      stat = file && statSync(file);
      if (stat && stat.isDirectory()) {
        if (!url.pathname.endsWith('/')) {
          res.writeHead(301, { Location: url.pathname + '/' + url.search });
          res.end();
          return;
        }
        file = join(file, 'index.html');
        stat = statSync(file);
      }
    } catch {
      stat = null;
    }
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Cache-Control': 'no-cache',
    };
    if (!stat || !stat.isFile()) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' });
      res.end('not found');
      if (!quiet) console.log(`404 ${url.pathname}`);
      return;
    }
    const type = TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
    const etag = `"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
    headers.ETag = etag;
    headers['Last-Modified'] = stat.mtime.toUTCString();
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    // Video elements ask for ranges; answer them so seeking and looping work.
    const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
    if (range) {
      const start = range[1] ? Number(range[1]) : 0;
      const end = range[2] ? Math.min(Number(range[2]), stat.size - 1) : stat.size - 1;
      res.writeHead(206, {
        ...headers,
        'Content-Type': type,
        'Content-Range': `bytes ${start}-${end}/${stat.size}`,
        'Content-Length': end - start + 1,
        'Accept-Ranges': 'bytes',
      });
      if (req.method === 'HEAD') return res.end();
      createReadStream(file, { start, end }).pipe(res);
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': type, 'Content-Length': stat.size, 'Accept-Ranges': 'bytes' });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).pipe(res);
  });
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
