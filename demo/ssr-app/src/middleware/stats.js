'use strict';
// Per-request statistics, modelled on the seed's stats plugin: one record
// (~3 KB: url, a copy of the headers, a timeline) per request, kept in a
// module-level Map that is never trimmed. Active only under LEAKS=stats.
let seq = 0;
const PHASES = ['accept', 'parse', 'route', 'fetch', 'render', 'serialize', 'compress', 'send'].flatMap((p) => [p, `${p}:end`]);
// LEAK(stats): the next line is src/middleware/stats.js:8 — grows by one record per request, forever.
const requestStats = new Map();

function begin(method, url, headers) {
  const id = ++seq;
  const record = {
    id,
    method,
    url,
    headers: Object.assign({}, headers),
    startedAt: new Date().toISOString(),
    start: Number(process.hrtime.bigint()) / 1e6,
    durationMs: null,
    status: null,
    note: `request #${id} ${method} ${url} served by pid ${process.pid}`,
    timeline: PHASES.map((phase, i) => ({ phase, at: i, detail: `${phase} of request #${id}` })),
  };
  requestStats.set(id, record);
  return record;
}

function end(record, status) {
  record.durationMs = Number(process.hrtime.bigint()) / 1e6 - record.start;
  record.status = status;
  record.finishedAt = new Date().toISOString();
}

// Express middleware.
function statsMiddleware(req, res, next) {
  const record = begin(req.method, req.originalUrl || req.url, req.headers);
  res.on('finish', () => end(record, res.statusCode));
  next();
}

module.exports = { requestStats, begin, end, statsMiddleware };
