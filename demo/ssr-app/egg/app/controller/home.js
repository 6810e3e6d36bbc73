'use strict';
const { Controller } = require('egg');
const { render } = require('../../../src/app');
const PHASES = ['accept', 'parse', 'route', 'fetch', 'render', 'serialize', 'compress', 'send'].flatMap((p) => [p, `${p}:end`]);

class HomeController extends Controller {
  async index() {
    const { ctx, app } = this;
    const leaks = app.config.ssrLeaks;
    if (leaks.agent) {
      // LEAK(agent): egg/app/controller/home.js:12 — the agent (egg/agent.js) keeps every message.
      app.messenger.sendToAgent('ssr-rendered', { url: ctx.url, pid: process.pid, at: Date.now(), headers: Object.assign({}, ctx.headers), phases: PHASES.map((phase, i) => ({ phase, at: i })) });
    }
    ctx.type = 'html';
    ctx.body = await render(ctx.url, leaks);
  }
}

module.exports = HomeController;
