'use strict';
// Synthetic leaking server, no dependencies: every request retains about
// LEAK_BYTES bytes of JS heap (V8 heap strings in a module-level list, not
// Buffers, which would be external memory). LEAK_BYTES=0 (default) leaks nothing.
//   PORT=3000 LEAK_BYTES=10000 node server.js
const http = require('http');

// Fixed cost of one retained entry on 64-bit V8 without pointer compression
// (Node's default build): a { s, next } object is 40 bytes and a sequential
// one-byte string has a 16-byte header, its payload rounded up to 8 bytes.
const ENTRY_OVERHEAD = 40 + 16;
const MAX_CHUNK = 1 << 20; // strings beyond ~1 MB may be created as external strings
const scratch = Buffer.alloc(MAX_CHUNK, 'x');

let retained = null; // module-level list (newest first): what the leak keeps
let retainedCount = 0;

function retain(bytes) {
  let remaining = Math.floor(bytes);
  while (remaining > 0) {
    const len = Math.min(MAX_CHUNK, Math.max(0, remaining - ENTRY_OVERHEAD));
    // toString() copies into a fresh, flat V8 heap string each time.
    retained = { s: scratch.toString('latin1', 0, len), next: retained };
    retainedCount++;
    remaining -= len + ENTRY_OVERHEAD;
  }
}

function createServer(leakBytes) {
  const bytes = Number(leakBytes === undefined ? process.env.LEAK_BYTES || 0 : leakBytes);
  if (!Number.isFinite(bytes) || bytes < 0) throw new Error(`LEAK_BYTES must be a non-negative number, got ${leakBytes}`);
  return http.createServer((req, res) => {
    retain(bytes);
    const body = `<!DOCTYPE html><html><head><title>synthetic</title></head><body><p>ok ${req.url.length}</p></body></html>\n`;
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
}

if (require.main === module) {
  let server;
  try {
    server = createServer();
  } catch (err) {
    console.error(err.message);
    process.exit(2);
  }
  const port = Number(process.env.PORT || 3000);
  server.on('error', (err) => {
    if (err.code === 'EADDRINUSE') console.error(`error: port ${port} on 127.0.0.1 is already in use`);
    else console.error(`error: cannot listen on 127.0.0.1:${port}: ${err.message}`);
    process.exit(1);
  });
  server.listen(port, '127.0.0.1', () => {
    console.log(`listening on http://127.0.0.1:${server.address().port}`);
  });
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

module.exports = { createServer, retain, stats: () => ({ entries: retainedCount }) };
