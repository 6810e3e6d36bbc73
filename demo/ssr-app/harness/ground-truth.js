'use strict';
// Independent ground truth for leaksleuth's tests: measures JS heap growth per
// request of the Express SSR app, in-process, with forced GC.
//
//   node --expose-gc harness/ground-truth.js --leaks bus --warmup 50 --requests 400 --rounds 8
//
// Prints ONE JSON line:
//   {"bytes_per_request": <least-squares slope of heapUsed vs requests>,
//    "warmup_bytes": <heapUsed after warm-up minus heapUsed before it>, "readings": [...]}
const http = require('http');
const path = require('path');

function parseArgs(argv) {
  const opts = { leaks: 'none', warmup: 50, requests: 400, rounds: 8, concurrency: 1, path: '/' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unexpected argument: ${a}`);
    const key = m[1];
    const val = m[2] !== undefined ? m[2] : argv[++i];
    if (val === undefined) throw new Error(`missing value for --${key}`);
    if (key === 'leaks') opts.leaks = val;
    else if (key === 'path') opts.path = val;
    else if (['warmup', 'requests', 'rounds', 'concurrency'].includes(key)) {
      const n = Number(val);
      if (!Number.isInteger(n) || n < 0) throw new Error(`--${key} must be a non-negative integer`);
      opts[key] = n;
    } else throw new Error(`unknown option --${key}`);
  }
  if (opts.rounds < 2) throw new Error('--rounds must be at least 2');
  if (opts.requests < 1) throw new Error('--requests must be at least 1');
  if (opts.concurrency < 1) throw new Error('--concurrency must be at least 1');
  return opts;
}

function fullGc() {
  global.gc();
  global.gc();
}

function heapAfterGc() {
  fullGc();
  return process.memoryUsage().heapUsed;
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

function get(agent, port, urlPath) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode} for ${urlPath}`))));
      res.on('error', reject);
    });
    req.setTimeout(10000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

async function send(agent, port, urlPath, count, concurrency) {
  let next = 0;
  async function worker() {
    while (next < count) {
      next++;
      await get(agent, port, urlPath);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

function slope(xs, ys) {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

async function main() {
  if (typeof global.gc !== 'function') {
    console.error('error: run with node --expose-gc');
    process.exit(2);
  }
  const opts = parseArgs(process.argv.slice(2));
  const { parseLeaks } = require(path.join(__dirname, '..', 'src', 'leaks'));
  const leaks = parseLeaks(opts.leaks);
  const { start } = require(path.join(__dirname, '..', 'server'));
  const server = await start(0, leaks);
  const { port } = server.address();
  // keep-alive: no per-request sockets are left to the GC between rounds
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency });

  // one request so that the module graph and JIT are touched before the baseline
  await tick();
  const before = heapAfterGc();
  await send(agent, port, opts.path, opts.warmup, opts.concurrency);
  await tick();
  const afterWarmup = heapAfterGc();

  const readings = [{ requests: 0, heap_used: afterWarmup }];
  let total = 0;
  for (let r = 0; r < opts.rounds; r++) {
    await send(agent, port, opts.path, opts.requests, opts.concurrency);
    total += opts.requests;
    await tick();
    readings.push({ requests: total, heap_used: heapAfterGc() });
  }
  const bpr = slope(readings.map((r) => r.requests), readings.map((r) => r.heap_used));

  agent.destroy();
  server.close();
  server.closeAllConnections();
  process.stdout.write(`${JSON.stringify({
    bytes_per_request: Math.round(bpr * 10) / 10,
    warmup_bytes: afterWarmup - before,
    readings,
    leaks: opts.leaks,
    warmup: opts.warmup,
    requests_per_round: opts.requests,
    rounds: opts.rounds,
    concurrency: opts.concurrency,
    node: process.version,
  })}\n`, () => process.exit(0)); // exit: LEAKS=interval keeps timers alive
}

main().catch((err) => {
  console.error(`error: ${err.stack || err}`);
  process.exit(1);
});
