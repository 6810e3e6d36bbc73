#!/usr/bin/env node
'use strict';
// Write the small test fixture tests/fixtures/memlab/small.heapsnapshot(.gz):
// an EventEmitter with 100 'leak' listeners, each a closure over a LeakyThing.
//
//   node bench/make_fixture.js [OUT_DIR]    (default tests/fixtures/memlab)
//
// The file is gzipped (small.heapsnapshot.gz) when it is larger than 2 MB; a
// bare Node 20 heap is already ~4 MB, so in practice it is always gzipped.
// After regenerating, rerun bench/memlab_expected.js: node ids change.
const fs = require('fs');
const path = require('path');
const v8 = require('v8');
const zlib = require('zlib');
const { EventEmitter } = require('events');

class LeakyThing {
  constructor(i) {
    this.index = i;
    this.label = 'leaky-thing-' + String(i).padStart(3, '0');
    // owned only by this LeakyThing: contributes to its retained size
    this.payload = new Array(24 + (i >> 1)).fill(0).map((_, k) => ({ k, v: i * 1000 + k }));
    this.buffer = new Float64Array(16 + (i % 7) * 8);
    this.shared = SHARED; // shared by all: must NOT count in any one's retained size
  }
}
const SHARED = { kind: 'shared-config', list: Array.from({ length: 200 }, (_, k) => 'cfg' + k) };

const bus = new EventEmitter();
bus.setMaxListeners(0);
for (let i = 0; i < 100; i++) {
  const thing = new LeakyThing(i);
  let calls = 0;
  bus.on('leak', function leakyListener(ev) { calls++; return thing.index + ev + calls; });
}
// one big array, the largest single user object
const bigArray = Array.from({ length: 12000 }, (_, k) => k + 0.5);
globalThis.__fixture = { bus, bigArray, SHARED };

const outDir = path.resolve(process.argv[2] || path.join(__dirname, '..', 'tests', 'fixtures', 'memlab'));
fs.mkdirSync(outDir, { recursive: true });
const raw = path.join(outDir, 'small.heapsnapshot');
v8.writeHeapSnapshot(raw);
const size = fs.statSync(raw).size;
for (const stale of [raw + '.gz']) fs.rmSync(stale, { force: true });
if (size > 2 * 1024 * 1024) {
  fs.writeFileSync(raw + '.gz', zlib.gzipSync(fs.readFileSync(raw), { level: 9 }));
  fs.unlinkSync(raw);
  console.log(`${raw}.gz (${size} bytes raw, ${fs.statSync(raw + '.gz').size} gzipped)`);
} else {
  console.log(`${raw} (${size} bytes)`);
}
