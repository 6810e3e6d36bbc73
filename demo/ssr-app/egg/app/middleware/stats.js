'use strict';
// Egg (koa) version of the stats middleware; the records go to the same
// never-trimmed module-level Map as the Express one (src/middleware/stats.js).
const stats = require('../../../src/middleware/stats');

module.exports = () => async function requestStats(ctx, next) {
  const record = stats.begin(ctx.method, ctx.url, ctx.headers);
  try {
    await next();
  } finally {
    stats.end(record, ctx.status);
  }
};
