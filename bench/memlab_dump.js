#!/usr/bin/env node
'use strict';
// Dump MemLab's dominator tree and retained sizes for EVERY node of a snapshot.
//
//   node bench/memlab_dump.js FILE.heapsnapshot OUTDIR
//
// Loads FILE with memlab (@memlab/heap-analysis getFullHeapFromFile, as
// bench/memlab_expected.js does; it runs memlab's own Lengauer-Tarjan dominator
// pass, TraceFinder.computeDominatorsAndRetainedSizes) and writes, in memlab's
// node order (= the file's node order, ordinal i = i-th node of the file):
//
//   OUTDIR/id.f64        node id                                  Float64, LE
//   OUTDIR/retained.f64  memlab retained size (node.retainedSize) Float64, LE
//   OUTDIR/dom_id.f64    node id of node.dominatorNode            Float64, LE
//                        (NaN if memlab gives no dominator)
//   OUTDIR/dom_ord.u32   ordinal of node.dominatorNode            Uint32, LE
//                        (0xFFFFFFFF if none)
//   OUTDIR/meta.json     node count, memlab/node versions, timings
//
// Float64 is exact for every integer below 2^53: V8 node ids (odd numbers that
// can exceed 2^31 on long-lived processes) and retained sizes fit.
//
// How memlab treats nodes the root cannot reach (memlab 2.0.5, TraceFinder):
//   * an edge counts for dominators ("essential") unless it is weak, a shortcut
//     from a node other than the root, a self edge, or goes from a node that
//     is not "page-owned" into a page-owned one (page-owned = reachable from
//     the root's non-shortcut edges over non-weak edges, shortcuts included);
//   * after the DFS from the root, every unvisited node whose referrers are all
//     weak or shortcut edges (or none) becomes a DFS child of the root, with
//     the subgraph it reaches;
//   * every node still unvisited ("cliques" retained only by one another) is
//     numbered as a child of the root without being searched from; such nodes
//     end up with the root as dominator and retained size = self size.
//   * the root's dominator is the root itself. Every node gets a dominator
//     (dominatorNode is never null after this pass, but it is checked).
//
// Memory: memlab itself needs ~4-5x the file size; this script only adds
// fixed-size chunk buffers. It re-executes itself with a larger
// --max-old-space-size (MEMLAB_HEAP_MB, default 12000) if the limit is lower.
const fs = require('fs');
const os = require('os');
const path = require('path');
const v8 = require('v8');
const zlib = require('zlib');
const { spawnSync } = require('child_process');

const inFile = process.argv[2];
const outDir = process.argv[3];
if (!inFile || !outDir) {
  console.error('usage: node bench/memlab_dump.js FILE.heapsnapshot[.gz] OUTDIR');
  process.exit(2);
}

{
  const needMb = Number(process.env.MEMLAB_HEAP_MB || 12000);
  const limitMb = v8.getHeapStatistics().heap_size_limit / 1048576;
  if (limitMb < needMb * 0.95 && !process.env.__MEMLAB_DUMP_REEXEC) {
    const r = spawnSync(process.execPath,
      [`--max-old-space-size=${needMb}`, ...process.execArgv, __filename, ...process.argv.slice(2)],
      { stdio: 'inherit', env: { ...process.env, __MEMLAB_DUMP_REEXEC: '1' } });
    process.exit(r.status === null ? 1 : r.status);
  }
}

function req(name) {
  const local = path.join(__dirname, '.memlab', 'node_modules', name);
  try { return require(local); } catch (e) { return require(name); }
}
const { getFullHeapFromFile } = req('@memlab/heap-analysis');
let memlabVersion = 'unknown';
try {
  memlabVersion = require(path.join(__dirname, '.memlab', 'node_modules', '@memlab', 'core', 'package.json')).version;
} catch (e) { /* not installed locally */ }

const CHUNK = 1 << 20; // nodes per write

class Out {
  constructor(file, Ctor) {
    this.fd = fs.openSync(file, 'w');
    this.buf = new Ctor(CHUNK);
    this.n = 0;
  }
  push(v) {
    this.buf[this.n++] = v;
    if (this.n === CHUNK) this.flush();
  }
  flush() {
    if (this.n === 0) return;
    const bytes = new Uint8Array(this.buf.buffer, 0, this.n * this.buf.BYTES_PER_ELEMENT);
    let off = 0;
    while (off < bytes.length) off += fs.writeSync(this.fd, bytes, off, bytes.length - off);
    this.n = 0;
  }
  close() { this.flush(); fs.closeSync(this.fd); }
}

(async () => {
  if (os.endianness() !== 'LE') throw new Error('big-endian host: output would not be little-endian');
  let file = path.resolve(inFile);
  let tmp = null;
  if (file.endsWith('.gz')) {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'memlab-dump-'));
    const raw = path.join(tmp, path.basename(file, '.gz'));
    fs.writeFileSync(raw, zlib.gunzipSync(fs.readFileSync(file)));
    file = raw;
  }
  fs.mkdirSync(outDir, { recursive: true });
  const t0 = process.hrtime.bigint();
  const heap = await getFullHeapFromFile(file);
  const t1 = process.hrtime.bigint();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });

  const nodes = heap.nodes;
  const n = nodes.length;
  const ids = new Out(path.join(outDir, 'id.f64'), Float64Array);
  const ret = new Out(path.join(outDir, 'retained.f64'), Float64Array);
  const domId = new Out(path.join(outDir, 'dom_id.f64'), Float64Array);
  const domOrd = new Out(path.join(outDir, 'dom_ord.u32'), Uint32Array);
  let noDominator = 0;
  let maxId = 0;
  for (let i = 0; i < n; i++) {
    const node = nodes.get(i);
    if (node.nodeIndex !== i) throw new Error(`node order: nodes.get(${i}).nodeIndex = ${node.nodeIndex}`);
    const id = node.id;
    if (id > maxId) maxId = id;
    ids.push(id);
    ret.push(node.retainedSize);
    const d = node.dominatorNode;
    if (d) {
      domId.push(d.id);
      domOrd.push(d.nodeIndex);
    } else {
      noDominator++;
      domId.push(NaN);
      domOrd.push(0xFFFFFFFF);
    }
  }
  ids.close(); ret.close(); domId.close(); domOrd.close();
  const t2 = process.hrtime.bigint();
  const meta = {
    snapshot: path.resolve(inFile),
    node_count: n,
    max_id: maxId,
    nodes_without_dominator: noDominator,
    root: { id: nodes.get(0).id, retained_size: nodes.get(0).retainedSize },
    oracle: `memlab ${memlabVersion} (@memlab/heap-analysis getFullHeapFromFile), node ${process.version}`,
    load_seconds: Number(t1 - t0) / 1e9,
    dump_seconds: Number(t2 - t1) / 1e9,
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    files: { 'id.f64': 'float64', 'retained.f64': 'float64', 'dom_id.f64': 'float64', 'dom_ord.u32': 'uint32' },
  };
  fs.writeFileSync(path.join(outDir, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
  console.error(`[memlab_dump] ${n} nodes -> ${outDir} (load ${meta.load_seconds.toFixed(1)} s, `
    + `dump ${meta.dump_seconds.toFixed(1)} s, peak RSS ${meta.peak_rss_mb} MB)`);
})().catch((e) => { console.error(e); process.exit(1); });
