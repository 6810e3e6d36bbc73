#!/usr/bin/env node
'use strict';
// Independent oracle for leaksleuth's dominator / retained-size engine.
// Loads a .heapsnapshot with memlab (@memlab/heap-analysis getFullHeapFromFile,
// which runs memlab's own Lengauer-Tarjan dominator pass) and writes, for ~20
// chosen nodes, memlab's self size, retained size and immediate dominator.
//
//   NODE_PATH=bench/.memlab/node_modules node bench/memlab_expected.js \
//       tests/fixtures/memlab/small.heapsnapshot.gz tests/fixtures/memlab/expected.json
//
// (bench/heap_bench.sh installs memlab into bench/.memlab.) The input may be
// gzipped; it is then inflated to a temp file first. See
// tests/fixtures/memlab/README.md for the output format.
const fs = require('fs');
const os = require('os');
const path = require('path');
const zlib = require('zlib');

function req(name) {
  const local = path.join(__dirname, '.memlab', 'node_modules', name);
  try { return require(local); } catch (e) { return require(name); }
}
const { getFullHeapFromFile } = req('@memlab/heap-analysis');
const memlabVersion = require(path.join(
  path.dirname(require.resolve(path.join(__dirname, '.memlab', 'node_modules', '@memlab/core'))), '..', 'package.json',
)).version;

const inFile = process.argv[2] || path.join(__dirname, '..', 'tests', 'fixtures', 'memlab', 'small.heapsnapshot.gz');
const outFile = process.argv[3] || path.join(path.dirname(inFile), 'expected.json');

function edge(node, name) {
  for (const e of node.references) if (String(e.name_or_index) === name && e.type !== 'weak') return e.toNode;
  return null;
}
function must(x, what) { if (!x) throw new Error(`fixture: cannot find ${what}`); return x; }

(async () => {
  let file = path.resolve(inFile);
  let tmp = null;
  if (file.endsWith('.gz')) {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'memlab-exp-'));
    const raw = path.join(tmp, path.basename(file, '.gz'));
    fs.writeFileSync(raw, zlib.gunzipSync(fs.readFileSync(file)));
    file = raw;
  }
  const heap = await getFullHeapFromFile(file);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });

  const chosen = new Map(); // id -> {role}
  const pick = (node, role) => {
    if (!node) return;
    if (!chosen.has(node.id)) chosen.set(node.id, { node, roles: [] });
    chosen.get(node.id).roles.push(role);
  };

  // __fixture = {bus, bigArray, SHARED}: find it as the object with those 3 properties
  let fixture = null;
  let nodeCount = 0;
  let totalSelf = 0;
  const leaky = [];
  heap.nodes.forEach((n) => {
    nodeCount++;
    totalSelf += n.self_size;
    if (n.name === 'LeakyThing' && n.type === 'object') leaky.push(n);
    if (!fixture && n.type === 'object' && edge(n, 'bus') && edge(n, 'bigArray') && edge(n, 'SHARED')) fixture = n;
  });
  must(fixture, '__fixture object');
  const bus = must(edge(fixture, 'bus'), 'bus');
  const events = must(edge(bus, '_events'), '_events');
  const listeners = must(edge(events, 'leak'), "_events.leak");
  const bigArray = must(edge(fixture, 'bigArray'), 'bigArray');
  const shared = must(edge(fixture, 'SHARED'), 'SHARED');
  pick(fixture, 'globalThis.__fixture');
  pick(bus, 'EventEmitter bus');
  pick(events, 'bus._events');
  pick(listeners, 'bus._events.leak (listeners array)');
  pick(bigArray, 'bigArray (12000 doubles)');
  pick(shared, 'SHARED (referenced by every LeakyThing)');
  const closures = [];
  for (const e of listeners.references) if (e.type === 'element') closures.push(e.toNode);
  if (closures.length !== 100) throw new Error(`expected 100 listeners, found ${closures.length}`);
  for (const i of [0, 1, 50, 99]) {
    const c = closures[i];
    pick(c, `listener closure #${i}`);
    const ctx = edge(c, 'context');
    pick(ctx, `context of listener #${i}`);
    if (i === 0 || i === 99) {
      // V8 may record the captured variable as a named 'context' edge or as a
      // 'hidden' element edge of the Context: take whichever leads to a LeakyThing
      let thing = null;
      for (const e of ctx.references) if (e.toNode.name === 'LeakyThing') thing = e.toNode;
      pick(thing, `LeakyThing of listener #${i}`);
      pick(thing && edge(thing, 'payload'), `LeakyThing #${i}.payload`);
    }
  }
  leaky.sort((a, b) => a.id - b.id);
  if (leaky.length !== 100) throw new Error(`expected 100 LeakyThing, found ${leaky.length}`);
  pick(leaky[37], 'a LeakyThing (by id order)');
  // the five largest user-land objects/arrays/closures by memlab retained size
  const big = [];
  heap.nodes.forEach((n) => {
    if (['object', 'closure', 'array'].includes(n.type) && n.nodeIndex !== 0) big.push(n);
  });
  big.sort((a, b) => b.retainedSize - a.retainedSize || a.id - b.id);
  big.slice(0, 5).forEach((n, k) => pick(n, `largest retained #${k + 1}`));

  const nodes = [...chosen.values()].map(({ node, roles }) => ({
    id: node.id,
    ordinal: node.nodeIndex,
    type: node.type,
    name: node.name.length > 80 ? node.name.slice(0, 80) + '…' : node.name,
    self_size: node.self_size,
    retained_size: node.retainedSize,
    dominator_id: node.dominatorNode ? node.dominatorNode.id : null,
    roles,
  }));
  const root = heap.nodes.get(0);
  const leakySelf = leaky.reduce((s, n) => s + n.self_size, 0);
  const leakyRetained = leaky.reduce((s, n) => s + n.retainedSize, 0);
  const out = {
    snapshot: path.basename(inFile),
    generator: 'bench/make_fixture.js',
    oracle: `memlab ${memlabVersion} (@memlab/heap-analysis getFullHeapFromFile), node ${process.version}`,
    node_count: nodeCount,
    total_self_size: totalSelf,
    root: { id: root.id, retained_size: root.retainedSize },
    classes: {
      LeakyThing: { count: leaky.length, self_size: leakySelf, retained_size_sum: leakyRetained },
    },
    nodes,
  };
  fs.writeFileSync(outFile, JSON.stringify(out, null, 2) + '\n');
  console.log(`wrote ${outFile}: ${nodes.length} nodes, ${nodeCount} heap nodes`);
})().catch((e) => { console.error(e); process.exit(1); });
