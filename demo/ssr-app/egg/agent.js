'use strict';
// The Egg agent process serves no HTTP. Under LEAKS=agent each worker sends
// it one message per request, and it keeps them all: a leak in a process that
// never sees a request. NODE_DEBUG=ssr-agent prints the count every 100 messages.
const debug = require('util').debuglog('ssr-agent');
const received = [];

module.exports = (agent) => {
  agent.messenger.on('ssr-rendered', (msg) => {
    received.push(Object.assign({ receivedAt: new Date().toISOString() }, msg)); // LEAK(agent): egg/agent.js:10
    if (received.length % 100 === 0) debug('agent pid %d holds %d messages', process.pid, received.length);
  });
};

module.exports.received = received;
