#!/usr/bin/env node
'use strict';
// Build a realistic, seeded JS heap and write it with v8.writeHeapSnapshot.
//
//   node bench/gen_snapshot.js --mb 100 --out bench/out/heap-100mb.heapsnapshot
//
// Options:
//   --mb N        target size of the written .heapsnapshot in MB (default 100)
//   --out FILE    output path (required)
//   --seed N      PRNG seed (default 1)
//   --units N     build exactly N units (skips calibration; fully reproducible)
//   --quiet       less logging
//
// Heap content (all reachable from globalThis.__leaksleuthBench):
//   plain objects of several classes (User, Session, Order, LineItem,
//   CacheEntry, Config), closures with contexts, arrays (objects, doubles,
//   holey), Maps, Sets, flat / cons / sliced strings, nested TreeNode trees,
//   one EventEmitter with a listener per unit (closures over per-unit state).
//
// Sizing: unless --units is given, the script writes two small calibration
// snapshots (baseline and after K units) to a temp dir, measures the file-size
// growth per unit, builds the rest and writes the final snapshot. The number of
// units used is printed, so `--units N` reproduces the same heap exactly.
//
// If the V8 old-space limit looks too small for the requested size, the
// script re-executes itself with a bigger --max-old-space-size.

const fs = require('fs');
const os = require('os');
const path = require('path');
const v8 = require('v8');
const { EventEmitter } = require('events');
const { spawnSync } = require('child_process');

function parseArgs(argv) {
  const a = { mb: 100, out: null, seed: 1, units: null, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${k}`);
      return argv[++i];
    };
    if (k === '--mb') a.mb = Number(v());
    else if (k === '--out') a.out = v();
    else if (k === '--seed') a.seed = Number(v());
    else if (k === '--units') a.units = Number(v());
    else if (k === '--quiet') a.quiet = true;
    else if (k === '-h' || k === '--help') {
      console.log(fs.readFileSync(__filename, 'utf8').split('\n').slice(2, 26).join('\n'));
      process.exit(0);
    } else throw new Error(`unknown argument ${k}`);
  }
  if (!a.out) throw new Error('--out FILE is required');
  if (!(a.mb > 0)) throw new Error('--mb must be > 0');
  return a;
}

const args = parseArgs(process.argv.slice(2));
const log = (...m) => { if (!args.quiet) console.error('[gen_snapshot]', ...m); };

// ---- make sure the heap limit is large enough -------------------------------
// Rough: the live JS heap is ~ 0.7x the snapshot size in this generator, plus
// slack. Re-exec once if the current limit is below that.
{
  const needMb = Math.ceil(args.mb * 2 + 1024);
  const limitMb = v8.getHeapStatistics().heap_size_limit / 1048576;
  if (limitMb < needMb && !process.env.__GEN_SNAPSHOT_REEXEC) {
    log(`heap limit ${limitMb.toFixed(0)} MB < ${needMb} MB, re-executing with --max-old-space-size=${needMb}`);
    const r = spawnSync(process.execPath,
      [`--max-old-space-size=${needMb}`, ...process.execArgv, __filename, ...process.argv.slice(2)],
      { stdio: 'inherit', env: { ...process.env, __GEN_SNAPSHOT_REEXEC: '1' } });
    process.exit(r.status === null ? 1 : r.status);
  }
}

// ---- seeded PRNG (mulberry32) ------------------------------------------------
function mulberry32(seed) {
  let t = seed >>> 0;
  return function () {
    t = (t + 0x6D2B79F5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}
const rnd = mulberry32(args.seed);
const ri = (n) => Math.floor(rnd() * n);
const pick = (arr) => arr[ri(arr.length)];
const ALPHA = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_';
function rstr(len) {
  let s = '';
  for (let i = 0; i < len; i++) s += ALPHA[ri(ALPHA.length)];
  // flatten: the loop above builds a cons-string chain; force a flat copy
  return s.length > 12 ? Buffer.from(s, 'latin1').toString('latin1') : s;
}

// ---- classes -----------------------------------------------------------------
class User {
  constructor(id) {
    this.id = id;
    this.name = rstr(6 + ri(10));
    this.email = `${this.name}@example${ri(50)}.test`; // cons string
    this.score = rnd() * 1000; // heap number
    this.tags = [];
    this.prefs = { theme: pick(['dark', 'light', 'auto']), lang: pick(['en', 'fr', 'de', 'ja']), n: ri(100) };
  }
}
class Session {
  constructor(user) {
    this.user = user;
    this.token = rstr(32);
    this.createdAt = 1700000000000 + ri(1e9);
    this.history = [];
    this.attrs = new Map();
  }
}
class LineItem {
  constructor(sku, qty) {
    this.sku = sku;
    this.qty = qty;
    this.price = Math.round(rnd() * 10000) / 100;
  }
}
class Order {
  constructor(id, user) {
    this.id = id;
    this.user = user;
    this.items = [];
    this.total = 0;
    this.note = rnd() < 0.3 ? rstr(40 + ri(200)) : null;
  }
}
class CacheEntry {
  constructor(key, value) {
    this.key = key;
    this.value = value;
    this.hits = ri(1000);
    this.expires = 1700000000000 + ri(1e9);
  }
}
class Config {
  constructor() {
    this.flags = new Set();
    this.limits = new Float64Array(8 + ri(8));
    this.raw = JSON.stringify({ a: ri(100), b: rstr(20), c: [ri(9), ri(9), ri(9)] });
  }
}
class TreeNode {
  constructor(label, depth) {
    this.label = label;
    this.depth = depth;
    this.children = [];
    this.parent = null;
  }
}

function makeTree(depth, fanout, label) {
  const n = new TreeNode(label, depth);
  if (depth > 0) {
    for (let i = 0; i < fanout; i++) {
      const c = makeTree(depth - 1, fanout, label + '.' + i);
      c.parent = n;
      n.children.push(c);
    }
  }
  return n;
}

// Closures: each call creates a Context holding `session`, `counter`, `cache`.
function makeHandler(session, cache) {
  let counter = 0;
  const prefix = 'h:' + session.token.slice(0, 8); // sliced/cons
  return function onRequest(req) {
    counter++;
    cache.set(prefix + counter, req);
    return session.user.id + counter;
  };
}
function makeMiddleware(order) {
  const seen = new Set();
  return {
    before: (x) => { seen.add(x); return order.id; },
    after: (x) => seen.has(x),
  };
}

// ---- roots -----------------------------------------------------------------
const root = {
  units: [],
  emitter: new EventEmitter(),
  usersById: new Map(),
  globalCache: new Map(),
  allSkus: new Set(),
  logLines: [],
  config: new Config(),
};
root.emitter.setMaxListeners(0);
globalThis.__leaksleuthBench = root;

let nextId = 1;
function buildUnit(u) {
  const users = [];
  for (let i = 0; i < 4; i++) {
    const usr = new User(nextId++);
    for (let t = 0; t < 2 + ri(3); t++) usr.tags.push(pick(['admin', 'beta', 'trial', 'vip', 'eu', 'us']) + ri(20));
    root.usersById.set(usr.id, usr);
    users.push(usr);
  }
  const sessions = users.map((usr) => {
    const s = new Session(usr);
    for (let h = 0; h < 3 + ri(5); h++) s.history.push('/p/' + rstr(4 + ri(8)));
    s.attrs.set('ua', pick(['Mozilla/5.0', 'curl/8.0', 'node-fetch']));
    s.attrs.set('ip', `10.${ri(256)}.${ri(256)}.${ri(256)}`);
    return s;
  });
  const orders = [];
  for (let o = 0; o < 3; o++) {
    const ord = new Order(nextId++, pick(users));
    for (let k = 0; k < 2 + ri(5); k++) {
      const sku = 'SKU-' + ri(5000);
      root.allSkus.add(sku);
      const li = new LineItem(sku, 1 + ri(5));
      ord.items.push(li);
      ord.total += li.price * li.qty;
    }
    orders.push(ord);
  }
  const cache = new Map();
  for (let c = 0; c < 6; c++) {
    const key = `k${u}:${c}:${rstr(6)}`;
    cache.set(key, new CacheEntry(key, pick([pick(orders), pick(users), rstr(16 + ri(64)), [ri(9), ri(9)]])));
  }
  if (u % 4 === 0) root.globalCache.set('u' + u, cache);
  const handlers = sessions.map((s) => makeHandler(s, cache));
  const mws = orders.map(makeMiddleware);
  const doubles = new Array(8 + ri(24));
  for (let d = 0; d < doubles.length; d++) doubles[d] = rnd();
  const holey = [];
  holey[ri(40) + 1] = pick(users);
  const tree = u % 3 === 0 ? makeTree(3, 3, 't' + u) : makeTree(2, 2, 't' + u);
  const blob = rnd() < 0.1 ? rstr(200 + ri(800)) : rstr(10 + ri(30));
  const slice = blob.length > 40 ? blob.slice(5, 5 + 20 + ri(15)) : blob;
  if (u % 8 === 0) root.logLines.push(`[${u}] ` + blob.slice(0, 30) + ' ' + orders[0].id);

  const unit = { u, users, sessions, orders, cache, handlers, mws, doubles, holey, tree, blob, slice };
  // EventEmitter listener: a closure over this unit's state
  const listener = function onTick(ev) { return unit.handlers[ev % unit.handlers.length](ev); };
  root.emitter.on(u % 5 === 0 ? 'request' : pick(['tick', 'close', 'data', 'error']), listener);
  root.units.push(unit);
}

function buildUnits(n) {
  const start = root.units.length;
  for (let u = start; u < start + n; u++) buildUnit(u);
}

function snapSize(file) {
  const f = v8.writeHeapSnapshot(file);
  const sz = fs.statSync(f).size;
  fs.unlinkSync(f);
  return sz;
}

const MB = 1024 * 1024;
const target = args.mb * MB;
const t0 = Date.now();
let total;
if (args.units != null) {
  total = args.units;
  buildUnits(total);
} else {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gen-snap-'));
  try {
    const s0 = snapSize(path.join(tmp, 'a.heapsnapshot'));
    // ~22 KB of snapshot per unit (node 20); calibrate on ~20% of the target
    const k = Math.max(200, Math.min(20000, Math.round(target / 22000 * 0.2)));
    buildUnits(k);
    const s1 = snapSize(path.join(tmp, 'b.heapsnapshot'));
    const perUnit = (s1 - s0) / k;
    total = Math.max(k, Math.round((target - s0) / perUnit));
    log(`calibration: base ${(s0 / MB).toFixed(1)} MB, ${k} units -> ${(s1 / MB).toFixed(1)} MB, ` +
        `${perUnit.toFixed(0)} B/unit -> ${total} units`);
    buildUnits(total - k);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
log(`built ${total} units in ${((Date.now() - t0) / 1000).toFixed(1)}s, ` +
    `heapUsed ${(process.memoryUsage().heapUsed / MB).toFixed(0)} MB; writing ${args.out}`);
fs.mkdirSync(path.dirname(path.resolve(args.out)), { recursive: true });
const t1 = Date.now();
const written = v8.writeHeapSnapshot(args.out);
const size = fs.statSync(written).size;
log(`wrote ${written}: ${(size / MB).toFixed(1)} MB in ${((Date.now() - t1) / 1000).toFixed(1)}s ` +
    `(target ${args.mb} MB; reproduce with --seed ${args.seed} --units ${total})`);
console.log(JSON.stringify({ file: written, bytes: size, units: total, seed: args.seed }));
