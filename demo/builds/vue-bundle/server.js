'use strict';
// Serves the webpack-built bundle through vue-server-renderer's bundle renderer.
//   npm ci && npm run build
//   PORT=3000 LEAKS=bus RUN_IN_NEW_CONTEXT=false node server.js
// LEAKS (comma list): bus (a $bus.$on in created(), src/components/AsideMenu.vue), cache (a
// node-cache per render, never closed: src/services/prices.js). RUN_IN_NEW_CONTEXT: true (Vue's
// default: a fresh vm context per request), false (what most production setups use) or once.
const http = require('http');
const path = require('path');
const { createBundleRenderer } = require('vue-server-renderer');

const KNOWN = ['bus', 'cache'];
const names = String(process.env.LEAKS || '').split(',').map((s) => s.trim()).filter((s) => s && s !== 'none');
for (const n of names) {
  if (!KNOWN.includes(n)) {
    console.error(`unknown leak "${n}" in LEAKS (known: ${KNOWN.join(', ')})`);
    process.exit(2);
  }
}
const leaks = Object.freeze(Object.fromEntries(KNOWN.map((k) => [k, names.includes(k)])));
const setting = process.env.RUN_IN_NEW_CONTEXT || 'true';
const runInNewContext = setting === 'once' ? 'once' : setting !== 'false';

const renderer = createBundleRenderer(path.join(__dirname, 'dist', 'vue-ssr-server-bundle.json'), { runInNewContext });

const server = http.createServer((req, res) => {
  renderer.renderToString({ url: req.url, leaks }).then((html) => {
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
  console.error(`vue-bundle pid ${process.pid}, leaks: ${names.join(',') || 'none'}, runInNewContext: ${runInNewContext}`);
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
