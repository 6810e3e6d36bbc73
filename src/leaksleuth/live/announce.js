// Preloaded into every Node process of a target by leaksleuth (NODE_OPTIONS=--require).
// It opens the inspector on a random loopback port, if none is open, and writes
// {pid, ppid, url, ...} to LEAKSLEUTH_ANNOUNCE_DIR/<pid>.json. It never throws into the app.
'use strict';
(function announce() {
  const dir = process.env.LEAKSLEUTH_ANNOUNCE_DIR;
  if (!dir) return;
  try {
    const inspector = require('inspector');
    if (!inspector.url()) {
      inspector.open(0, '127.0.0.1', false);
      // With a session attached, an exiting Node waits for the debugger to disconnect: close
      // the inspector on exit so the process ends (and we see it end) at once.
      process.on('exit', () => inspector.close());
    }
    const fs = require('fs');
    const path = require('path');
    const cluster = require('cluster');
    const info = {
      pid: process.pid,
      ppid: process.ppid,
      url: inspector.url() || null,
      argv: process.argv,
      execArgv: process.execArgv,
      clusterWorker: cluster.isWorker === true,
      time: Date.now(),
    };
    const file = path.join(dir, process.pid + '.json');
    fs.writeFileSync(file + '.tmp', JSON.stringify(info));
    fs.renameSync(file + '.tmp', file);
  } catch (err) {
    // The target must run as if we were not there.
  }
})();
