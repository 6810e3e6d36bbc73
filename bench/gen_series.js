#!/usr/bin/env node
'use strict';
// Three snapshots of one process whose heap leaks between them, for the growth analysis bench.
//
//   node bench/gen_series.js --out bench/out/series-450 --nodes 6000000
//
// A steady base (objects with strings, arrays and closures) of about `--nodes` heap nodes, then
// s0, 300 "requests" that each leak 20 objects (a global array), s1, 300 more, s2.
const fs = require('fs');
const path = require('path');
const v8 = require('v8');

const args = process.argv.slice(2);
const opt = (name, fallback) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : fallback; };
const out = opt('--out', null);
const nodes = Number(opt('--nodes', 6000000));
if (!out) { console.error('usage: gen_series.js --out DIR [--nodes N]'); process.exit(2); }
fs.mkdirSync(out, { recursive: true });

class Item {
  constructor(i) { this.id = i; this.name = 'item-' + i; this.tags = [i, i + 1]; this.read = () => this.id; }
}
class Leaked {
  constructor(i) { this.i = i; this.payload = new Array(16).fill(i); this.label = 'leaked-' + i; }
}
const base = [];
for (let i = 0; i < nodes / 6; i++) base.push(new Item(i));
globalThis.base = base;
const leak = [];
globalThis.leak = leak;
let n = 0;
for (let s = 0; s < 3; s++) {
  const file = path.join(out, `s${s}.heapsnapshot`);
  const t0 = Date.now();
  v8.writeHeapSnapshot(file);
  console.log(`${file}: ${(fs.statSync(file).size / 1e6).toFixed(0)} MB in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  for (let r = 0; r < 300; r++) for (let j = 0; j < 20; j++) leak.push(new Leaked(n++));
}
