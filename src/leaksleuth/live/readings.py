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
  // baseline reading comes before any load); an attached process is left as found: RESTORE_JS
  // calls `restore` when we detach, and the wrapper removes itself a minute after the last
  // reading if we could not
  const probe = setTimeout(() => {}, 0);
  const proto = Object.getPrototypeOf(probe);
  clearTimeout(probe);
  const KEY = Symbol.for('leaksleuth.unref');
  let track = proto[KEY];
  if (!track && typeof WeakRef === 'function' && typeof proto.unref === 'function') {
    const unref = proto.unref;
    track = {refs: new Set(), read: Date.now(), off: false};
    const wrapper = function () {
      if (!track.off) {
        if (Date.now() - track.read > 60000) track.restore();
        else track.refs.add(new WeakRef(this));
      }
      return unref.apply(this, arguments);
    };
    track.restore = () => {
      track.off = true;
      if (proto.unref === wrapper) proto.unref = unref;  // not if someone wrapped it after us
      if (proto[KEY] === track) delete proto[KEY];
      track.refs.clear();
    };
    Object.defineProperty(proto, KEY, {value: track, configurable: true});
    proto.unref = wrapper;
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
  // ...and on emitters no walk reaches (an ES module's own emitter, a closure's): the methods
  // that add a listener are wrapped, like `unref` above, to keep a WeakRef to each emitter that
  // gains listeners in two intervals between readings, or 32 in one (a request's own emitters,
  // its socket and response, never last that long: they cost a WeakMap entry, and no object per
  // request that the reading would count); counted here unless the walk counted them
  const eproto = require('events').prototype;
  const LKEY = Symbol.for('leaksleuth.listeners');
  let emitters = Object.prototype.hasOwnProperty.call(eproto, LKEY) ? eproto[LKEY] : undefined;
  if (!emitters && typeof WeakRef === 'function') {
    const originals = {};
    for (const k of ['addListener', 'on', 'prependListener']) originals[k] = eproto[k];  // `once` calls `on`
    emitters = {refs: new Set(), kept: new WeakSet(), now: new WeakMap(), before: new WeakMap(),
                read: Date.now(), off: false};
    const note = (e) => {
      if (emitters.off || emitters.kept.has(e)) return;
      if (Date.now() - emitters.read > 60000) { emitters.restore(); return; }
      const n = (emitters.now.get(e) || 0) + 1;
      if (n < 32 && !emitters.before.has(e)) { emitters.now.set(e, n); return; }
      emitters.kept.add(e);
      emitters.refs.add(new WeakRef(e));
    };
    const wrappers = new Map();  // one wrapper per original: `on` stays `addListener`
    for (const f of Object.values(originals)) {
      if (typeof f !== 'function' || wrappers.has(f)) continue;
      wrappers.set(f, function () {
        if ((typeof this === 'object' && this !== null) || typeof this === 'function') note(this);
        return f.apply(this, arguments);
      });
    }
    emitters.restore = () => {
      emitters.off = true;
      for (const [k, f] of Object.entries(originals)) {
        if (wrappers.has(f) && eproto[k] === wrappers.get(f)) eproto[k] = f;
      }
      if (eproto[LKEY] === emitters) delete eproto[LKEY];
      emitters.refs.clear();
    };
    Object.defineProperty(eproto, LKEY, {value: emitters, configurable: true});
    for (const [k, f] of Object.entries(originals)) if (wrappers.has(f)) eproto[k] = wrappers.get(f);
  }
  if (emitters && !emitters.off) {
    emitters.read = Date.now();
    emitters.before = emitters.now;
    emitters.now = new WeakMap();
    for (const r of emitters.refs) {
      const e = r.deref();
      if (e === undefined) { emitters.refs.delete(r); continue; }
      if (seen.has(e)) continue;  // process (its own figure), or counted by the walk
      let events;
      try { events = Object.prototype.hasOwnProperty.call(e, '_events') ? e._events : null; } catch { events = null; }
      if (!events || typeof events !== 'object' || seen.has(events)) continue;
      seen.add(events);
      for (const k of Reflect.ownKeys(events)) {
        const h = events[k];
        emitterListeners += Array.isArray(h) ? h.length : (typeof h === 'function' ? 1 : 0);
      }
    }
  }
  resources['emitter listeners'] = emitterListeners;
  return {heapUsed: m.heapUsed, heapTotal: m.heapTotal, rss: m.rss, external: m.external,
          code, resources};
})()"""


# Puts back what READ_MEMORY_JS wrapped (Timeout.prototype.unref, the EventEmitter methods that
# add a listener) and deletes its tracking symbols at once: run when we detach from a process we
# did not start (the wrappers would otherwise remove themselves only a minute after the last
# reading, and only when called). It needs no `require`: the attach guard also runs it from a
# timer, when the leaksleuth that attached is gone. Its value: how many trackers it removed.
RESTORE_JS = r"""(() => {
  const probe = setTimeout(() => {}, 0);
  clearTimeout(probe);
  const places = [[Object.getPrototypeOf(probe), Symbol.for('leaksleuth.unref')]];
  for (let p = Object.getPrototypeOf(process); p; p = Object.getPrototypeOf(p)) {
    places.push([p, Symbol.for('leaksleuth.listeners')]);  // EventEmitter.prototype is on the way
  }
  let removed = 0;
  for (const [o, key] of places) {
    if (!Object.prototype.hasOwnProperty.call(o, key)) continue;
    const track = o[key];
    if (track && typeof track.restore === 'function') track.restore();
    else delete o[key];
    removed++;
  }
  return removed;
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
