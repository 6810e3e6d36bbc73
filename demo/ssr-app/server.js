'use strict';
// Express server for the Vue SSR demo. LEAKS (comma list) switches leaks on;
// empty, unset or "none" is the leak-free control.
//   PORT=3000 LEAKS=bus node server.js
const express = require('express');
const { parseLeaks, describe } = require('./src/leaks');
const { render } = require('./src/app');
const { statsMiddleware } = require('./src/middleware/stats');
const { mountRoutes } = require('./src/routes');

function createServer(leaks) {
  if (!leaks || typeof leaks === 'string') leaks = parseLeaks(leaks === undefined ? process.env.LEAKS : leaks);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  if (leaks.stats) app.use(statsMiddleware);
  mountRoutes(app, leaks); // /api/health, /search, POST /api/cart, POST /login, /account (src/routes.js)
  app.get('*', (req, res, next) => {
    render(req.originalUrl, leaks).then((html) => {
      res.set('Content-Type', 'text/html; charset=utf-8');
      res.send(html);
    }, next);
  });
  app.locals.leaks = leaks;
  return app;
}

// Resolves with the listening http.Server; rejects on listen errors (e.g. EADDRINUSE).
function start(port, leaks, host = '127.0.0.1') {
  const app = createServer(leaks);
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host);
    server.once('listening', () => resolve(server));
    server.once('error', reject);
  });
}

if (require.main === module) {
  let leaks;
  try {
    leaks = parseLeaks(process.env.LEAKS);
  } catch (err) {
    console.error(err.message);
    process.exit(2);
  }
  if (leaks.agent) console.error('note: the "agent" leak only exists in the Egg.js server (egg-server.js); ignored here');
  const port = Number(process.env.PORT || 3000);
  start(port, leaks).then((server) => {
    const { port: actual } = server.address();
    console.error(`ssr-app pid ${process.pid}, leaks: ${describe(leaks)}`);
    console.log(`listening on http://127.0.0.1:${actual}`);
    const stop = (signal) => {
      server.close(() => process.exit(0));
      server.closeAllConnections();
      setTimeout(() => process.exit(0), 2000).unref();
      if (signal === 'SIGINT') process.stdout.write('\n');
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  }, (err) => {
    if (err.code === 'EADDRINUSE') console.error(`error: port ${port} on 127.0.0.1 is already in use`);
    else console.error(`error: cannot listen on 127.0.0.1:${port}: ${err.message}`);
    process.exit(1);
  });
}

module.exports = { createServer, start };
