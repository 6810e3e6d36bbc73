// Prices for the page, cached per request with node-cache. LEAKS=cache reproduces a common
// misuse: a NodeCache made per request and never closed. node-cache's docs say a cache starts a
// `checkperiod` timer that only `close()` clears; that timer is unref'd, so Node's list of
// active handles does not show it, yet it keeps the cache and everything in it.
import NodeCache from 'node-cache';

const PRODUCTS = ['Starter', 'Team', 'Business', 'Enterprise', 'Education', 'Non-profit'];

export function loadPrices(url, leaks) {
  const table = PRODUCTS.map((name, i) => JSON.stringify({ name, url, monthly: 9 + i * 10, yearly: (9 + i * 10) * 10, note: `${name} plan for ${url}`.repeat(8) }));
  if (!leaks.cache) return table;
  const cache = new NodeCache({ stdTTL: 3600, checkperiod: 3600 });
  table.forEach((row, i) => cache.set(`price-${i}`, row));
  return PRODUCTS.map((_, i) => cache.get(`price-${i}`));
}
