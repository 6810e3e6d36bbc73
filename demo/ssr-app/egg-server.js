'use strict';
// Egg.js cluster entry (master + agent + app workers), like the seed's setting.
//   PORT=7001 WORKERS=2 LEAKS=bus,agent node egg-server.js
// Logs go to $TMPDIR/ssr-egg-logs (see egg/config/config.default.js).
const path = require('path');
const { parseLeaks } = require('./src/leaks');

try {
  parseLeaks(process.env.LEAKS); // fail fast on a typo, before forking anything
} catch (err) {
  console.error(err.message);
  process.exit(2);
}

require('egg').startCluster({
  baseDir: path.join(__dirname, 'egg'),
  workers: Number(process.env.WORKERS || 2),
  port: Number(process.env.PORT || 7001),
  env: process.env.EGG_SERVER_ENV || 'prod',
});
