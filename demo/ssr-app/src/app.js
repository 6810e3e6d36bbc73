'use strict';
// The SSR app: createApp(context) builds a fresh root Vue instance per request;
// render(url, leaks) renders it to a full HTML page with vue-server-renderer.
// There is deliberately no render cache.
const Vue = require('vue');
const { createRenderer } = require('vue-server-renderer');
const { parseLeaks } = require('./leaks');
require('./bus'); // installs Vue.prototype.$bus
const AsideMenu = require('./components/AsideMenu');
const NotificationBell = require('./components/NotificationBell');

Vue.config.productionTip = false;
Vue.config.devtools = false;

const renderer = createRenderer();
let heavy = null; // LEAKS=lazy: loaded on the first request only

const PAGES = {
  '/': { title: 'Home', body: 'Welcome to the demo site, rendered on the server for SEO.' },
  '/about': { title: 'About', body: 'A small Vue 2.7 server-side-rendered site used to demonstrate per-request memory leaks.' },
};

function createApp(context) {
  const leaks = context.leaks || parseLeaks(process.env.LEAKS);
  const page = PAGES[context.path] || { title: 'Page', body: `Content for ${context.path}.` };
  return new Vue({
    name: 'App',
    provide: { leaks },
    data: () => ({ page, url: context.url, region: context.region || null }),
    render(h) {
      return h('div', { attrs: { id: 'app' } }, [
        h('header', { class: 'site-header' }, [
          h('a', { class: 'logo', attrs: { href: '/' } }, 'Demo'),
          h('nav', [h('a', { attrs: { href: '/' } }, 'Home'), ' ', h('a', { attrs: { href: '/about' } }, 'About')]),
          h(NotificationBell, { props: { url: this.url } }),
        ]),
        h('div', { class: 'layout' }, [
          h(AsideMenu),
          h('main', { class: 'content' }, [
            h('h1', this.page.title),
            h('p', this.page.body),
            this.region ? h('p', { class: 'region' }, `Nearest region: ${this.region.name}`) : null,
          ]),
        ]),
        h('footer', { class: 'site-footer' }, `Rendered for ${this.url}`),
      ]);
    },
  });
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

async function render(url, leaks) {
  leaks = leaks || parseLeaks(process.env.LEAKS);
  const path = String(url || '/').split('?')[0] || '/';
  const context = { url, path, leaks, region: null };

  if (leaks.lazy) {
    // One-time cost: the first request loads a ~20 MB lookup table for good.
    if (!heavy) heavy = require('./lib/heavy');
    context.region = heavy.lookup(path);
  }

  if (leaks.listener) {
    // what the listener keeps: its own per-request trail (not the SSR context, which the bus
    // leak keeps: the demo's leaks do not share memory, so their sizes add up)
    const trail = { url, at: Date.now(), seen: [], slots: Array.from({ length: 60 }, (_, i) => `warning slot ${i} for ${url}`) };
    process.setMaxListeners(0); // keep stderr quiet about MaxListenersExceededWarning
    // LEAK(listener): src/app.js:73 (the process.on below) — one more process listener per request,
    // and its closure keeps this request's trail alive.
    process.on('warning', function onWarningForRequest(warning) {
      trail.seen.push(`${warning.name}: ${warning.message} (while rendering ${url})`);
    });
  }

  const app = createApp(context);
  const html = await renderer.renderToString(app, context);
  const title = app.page.title;
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} | Demo</title></head>\n<body>${html}</body></html>\n`;
}

module.exports = { createApp, render };
