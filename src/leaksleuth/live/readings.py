"""GC and memory readings of one process over its inspector session."""

from __future__ import annotations

import time

from leaksleuth.live.cdp import InspectorSession
from leaksleuth.model import Reading

# Evaluated in the target. `require` exists because evaluate() passes includeCommandLineAPI.
READ_MEMORY_JS = r"""(() => {
  const m = process.memoryUsage();
  let code = 0;
  for (const s of require('v8').getHeapSpaceStatistics()) {
    if (s.space_name.startsWith('code_')) code += s.space_used_size;
  }
  const resources = {};
  if (typeof process.getActiveResourcesInfo === 'function') {
    for (const k of process.getActiveResourcesInfo()) resources[k] = (resources[k] || 0) + 1;
  }
  let listeners = 0;
  for (const e of process.eventNames()) listeners += process.listenerCount(e);
  resources['process listeners'] = listeners;
  // every live timer, unref'd ones too: getActiveResourcesInfo lists only ref'd ones, and
  // counting Timeout objects in the heap (v8.queryObjects) takes seconds on a 100 MB heap. So
  // Timeout.prototype.unref is wrapped to keep a WeakRef to each timer unref'd from now on (the
  // baseline reading comes before any load); the wrapper removes itself a minute after the last
  // reading, so an attached process is left as found
  const probe = setTimeout(() => {}, 0);
  const proto = Object.getPrototypeOf(probe);
  clearTimeout(probe);
  const KEY = Symbol.for('leaksleuth.unref');
  let track = proto[KEY];
  if (!track && typeof WeakRef === 'function' && typeof proto.unref === 'function') {
    const unref = proto.unref;
    track = {refs: new Set(), read: Date.now()};
    Object.defineProperty(proto, KEY, {value: track, configurable: true});
    proto.unref = function () {
      if (Date.now() - track.read > 60000) {
        proto.unref = unref;
        delete proto[KEY];
        track.refs.clear();
      } else {
        track.refs.add(new WeakRef(this));
      }
      return unref.apply(this, arguments);
    };
  }
  if (track) {
    track.read = Date.now();
    let unrefd = 0;
    for (const r of track.refs) {
      const t = r.deref();
      if (t === undefined || t._destroyed) track.refs.delete(r);
      else if (!t.hasRef()) unrefd++;
    }
    resources["Timeout (unref'd)"] = unrefd;
  }
  // listeners on emitters reachable from the modules and globals (an app's event bus, a
  // store's subscribers): EventEmitters, and anything keeping an `_events` table (Vue 2's $on)
  let emitterListeners = 0;
  const seen = new Set([process]);
  let queue = [globalThis];
  for (const m of Object.values(require.cache || {})) if (m && m.exports) queue.push(m.exports);
  for (let depth = 0; depth < 4 && queue.length && seen.size < 20000; depth++) {
    const next = [];
    for (const o of queue) {
      if (o === null || (typeof o !== 'object' && typeof o !== 'function') || seen.has(o)) continue;
      seen.add(o);
      let events;
      try { events = Object.prototype.hasOwnProperty.call(o, '_events') ? o._events : null; } catch { events = null; }
      if (events && typeof events === 'object' && !seen.has(events)) {  // once, also behind a Proxy
        seen.add(events);
        for (const k of Reflect.ownKeys(events)) {
          const h = events[k];
          emitterListeners += Array.isArray(h) ? h.length : (typeof h === 'function' ? 1 : 0);
        }
      }
      let keys = [];
      try { keys = Object.keys(o); } catch { keys = []; }
      if (typeof o === 'function' && o.prototype) next.push(o.prototype);
      for (const k of keys.slice(0, 200)) {
        let v;
        try {
          const d = Object.getOwnPropertyDescriptor(o, k);
          v = d && 'value' in d ? d.value : undefined;
        } catch { v = undefined; }
        if (v !== null && (typeof v === 'object' || typeof v === 'function') && !seen.has(v)) next.push(v);
      }
    }
    queue = next;
  }
  resources['emitter listeners'] = emitterListeners;
  return {heapUsed: m.heapUsed, heapTotal: m.heapTotal, rss: m.rss, external: m.external,
          code, resources};
})()"""


async def collect_garbage(session: InspectorSession, passes: int = 2) -> None:
    """Full GC without --expose-gc; a second pass frees what the first one's finalizers released."""
    for _ in range(passes):
        await session.send("HeapProfiler.collectGarbage")


async def read_memory(session: InspectorSession, requests: int, gc: bool = True) -> Reading:
    """GC (optionally), then one reading of heap, RSS, external, code space and live resources."""
    if gc:
        await collect_garbage(session)
    v = await session.evaluate(READ_MEMORY_JS)
    return Reading(
        requests=requests,
        heap_used=int(v["heapUsed"]),
        heap_total=int(v["heapTotal"]),
        rss=int(v["rss"]),
        external=int(v["external"]),
        code_space=int(v["code"]),
        resources={str(k): int(n) for k, n in v["resources"].items()},
        time=time.time(),
    )
