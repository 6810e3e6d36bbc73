'use strict';
// Parses the LEAKS environment variable (a comma-separated list) into a set of
// switches. Empty, unset or "none" means the control: no leak at all.
const KNOWN = ['bus', 'interval', 'stats', 'listener', 'lazy', 'agent', 'routes'];

function parseLeaks(value) {
  const raw = value === undefined || value === null ? '' : String(value);
  const names = raw.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  const leaks = {};
  for (const k of KNOWN) leaks[k] = false;
  for (const name of names) {
    if (name === 'none') continue;
    if (name === 'all') {
      for (const k of KNOWN) leaks[k] = true;
      continue;
    }
    if (!KNOWN.includes(name)) {
      throw new Error(`unknown leak "${name}" in LEAKS (known: ${KNOWN.join(', ')}, none, all)`);
    }
    leaks[name] = true;
  }
  return Object.freeze(leaks);
}

function describe(leaks) {
  const on = KNOWN.filter((k) => leaks[k]);
  return on.length ? on.join(',') : 'none';
}

module.exports = { KNOWN, parseLeaks, describe };
