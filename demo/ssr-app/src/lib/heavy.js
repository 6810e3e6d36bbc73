'use strict';
// A heavy module loaded lazily on the first request (LEAKS=lazy): it builds a
// lookup table of about 20 MB that is held for the life of the process.
// This is a one-time cost, not a leak: later requests add nothing.
const ENTRIES = 130000;

const table = new Map();
for (let i = 0; i < ENTRIES; i++) {
  const code = `R${i.toString(36).padStart(5, '0')}`;
  table.set(code, { code, name: `Region ${i}`, parent: i >> 4, weight: i % 97 });
}

function lookup(key) {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) >>> 0;
  const code = `R${(h % ENTRIES).toString(36).padStart(5, '0')}`;
  return table.get(code);
}

module.exports = { table, lookup, ENTRIES };
