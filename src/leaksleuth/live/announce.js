// Preloaded into every Node process of a target by leaksleuth (NODE_OPTIONS=--require).
// It opens the inspector on a random loopback port, if none is open, and writes
// {pid, ppid, url, ...} to LEAKSLEUTH_ANNOUNCE_DIR/<pid>.json. It never throws into the app.
// When a Node child that announced itself ends (a cluster worker, an Egg agent), its parent
// writes <pid>.exit = {pid, code, signal}: only the parent learns how a child died (SIGKILL by
// the OOM killer, a crash), and leaksleuth says it.
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
    recordChildExits(dir, fs, path);
  } catch (err) {
    // The target must run as if we were not there.
  }
})();

function recordChildExits(dir, fs, path) {
  const cp = require('child_process');
  const proto = cp.ChildProcess && cp.ChildProcess.prototype;
  if (!proto || typeof proto.spawn !== 'function' || proto.spawn.__leaksleuth) return;
  const spawn = proto.spawn;
  const wrapped = function spawnAndRecordExit() {
    const result = spawn.apply(this, arguments);
    const child = this;
    try {
      const pid = child.pid;
      if (pid) {
        child.once('exit', (code, signal) => {
          try {
            const file = path.join(dir, pid + '.json');
            if (!fs.existsSync(file)) return; // not a Node process of ours (a shell, git, ...)
            fs.writeFileSync(path.join(dir, pid + '.exit'), JSON.stringify({ pid, code, signal }));
          } catch (err) {
            // the target must run as if we were not there
          }
        });
      }
    } catch (err) {
      // idem
    }
    return result;
  };
  wrapped.__leaksleuth = true;
  proto.spawn = wrapped;
}
