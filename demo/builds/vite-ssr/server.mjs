// Serves the Vite-built ESM server bundle (dist/server/entry-server.js).
//   npm ci && npm run build
//   PORT=3000 LEAKS=emitter node server.mjs
// LEAKS: emitter (a listener on a module-level EventEmitter per render, in a composable:
// src/composables/useNotifications.ts); empty is the control.
import http from 'node:http';
import { render } from './dist/server/entry-server.js';

const KNOWN = ['emitter'];
const names = String(process.env.LEAKS || '').split(',').map((s) => s.trim()).filter((s) => s && s !== 'none');
for (const n of names) {
  if (!KNOWN.includes(n)) {
    console.error(`unknown leak "${n}" in LEAKS (known: ${KNOWN.join(', ')})`);
    process.exit(2);
  }
}
const leaks = Object.freeze(Object.fromEntries(KNOWN.map((k) => [k, names.includes(k)])));

const server = http.createServer((req, res) => {
  render(req.url, leaks).then((html) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(`<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Demo</title></head><body>${html}</body></html>\n`);
  }, (err) => {
    console.error(err);
    res.writeHead(500);
    res.end('render error');
  });
});
const port = Number(process.env.PORT || 3000);
server.listen(port, '127.0.0.1', () => {
  console.error(`vite-ssr pid ${process.pid}, leaks: ${names.join(',') || 'none'}`);
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
