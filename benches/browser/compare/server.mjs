// A static server for the comparison page, on localhost only. www/serve.mjs has fixed mounts, so
// this one adds the competitors' packages, their models and the evaluation photos. Same headers
// as the kiosk's server (COOP/COEP: cross-origin isolated, so the libraries that can use Wasm
// threads do, as they would on a kiosk served that way).
import { createServer } from "node:http";
import { createReadStream, statSync } from "node:fs";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = fileURLToPath(new URL(".", import.meta.url));
export const ROOT = resolve(HERE, "../../..");

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".jpg": "image/jpeg",
  ".png": "image/png",
  ".csv": "text/csv; charset=utf-8",
};

/** Starts the server on a free port; resolves to `{ url, close }`. */
export function serve({ evalDir }) {
  const mounts = [
    ["/pkg/", join(ROOT, "pkg")],
    ["/lib/", join(HERE, "node_modules")],
    ["/models/", join(HERE, "models")],
    ["/eval/", resolve(evalDir)],
    ["/", join(HERE, "page")],
  ];
  const fileFor = (pathname) => {
    const decoded = decodeURIComponent(pathname);
    for (const [prefix, dir] of mounts) {
      if (!decoded.startsWith(prefix)) continue;
      const file = normalize(join(dir, decoded.slice(prefix.length)));
      return file.startsWith(dir + sep) ? file : null;
    }
    return null;
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url, "http://localhost");
    const file = fileFor(url.pathname === "/" ? "/index.html" : url.pathname);
    const headers = {
      "Cross-Origin-Opener-Policy": "same-origin",
      "Cross-Origin-Embedder-Policy": "require-corp",
      "Cross-Origin-Resource-Policy": "same-origin",
      "Cache-Control": "no-cache",
    };
    let size = -1;
    try {
      const stat = file && statSync(file);
      if (stat && stat.isFile()) size = stat.size;
    } catch {
      size = -1;
    }
    if (size < 0) {
      res.writeHead(404, { ...headers, "Content-Type": "text/plain" });
      res.end("not found");
      return;
    }
    res.writeHead(200, { ...headers, "Content-Type": TYPES[extname(file)] ?? "application/octet-stream", "Content-Length": size });
    if (req.method === "HEAD") return res.end();
    createReadStream(file).pipe(res);
  });
  return new Promise((done, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      done({ url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((c) => server.close(c)) });
    });
  });
}
