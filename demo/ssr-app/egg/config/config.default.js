'use strict';
const os = require('os');
const path = require('path');
const { parseLeaks } = require('../../src/leaks');

module.exports = (appInfo) => {
  const config = {};
  const leaks = parseLeaks(process.env.LEAKS);

  config.keys = `${appInfo.name}_leaksleuth_demo_key`;
  config.ssrLeaks = leaks;
  config.middleware = leaks.stats ? ['stats'] : [];

  // Never write to ~/logs or into the source tree.
  const tmp = path.join(os.tmpdir(), 'ssr-egg-logs');
  config.logger = { dir: tmp, level: 'WARN', consoleLevel: 'WARN' };
  config.customLogger = { scheduleLogger: { file: path.join(tmp, 'egg-schedule.log') } };
  config.rundir = path.join(tmp, 'run');

  config.cluster = { listen: { hostname: '127.0.0.1' } };
  config.security = { csrf: { enable: false } }; // GET only; keeps the demo simple
  return config;
};
