'use strict';
// Routes beside the SSR pages, for per-route attribution (leaksleuth --per-route, --scenario).
// They always answer; under LEAKS=routes two of them leak at different rates:
//
//   GET  /api/health   clean: a small JSON status
//   GET  /search?q=... small leak: every search is appended to `searchHistory` (~1 KB/request)
//   POST /api/cart     large leak: every cart change is appended to `cartAudit` with a copy of
//                      the cart it produced (~12 KB/request); JSON or form body {item, qty}
//   POST /login        a session per login (form or JSON {user}): Set-Cookie sid=...; logs
//                      "session created for <user>" on stdout
//   GET  /account      the logged-in user's page; 401 without a valid `sid` cookie
//
// Sessions grow per login, not per request: a scenario logs in once per virtual user.
const crypto = require('crypto');
const express = require('express');

// LEAK(routes): the next line is src/routes.js:18 — one record per search, never trimmed.
const searchHistory = [];
// LEAK(routes): the next line is src/routes.js:20 — one audit entry per cart change, never trimmed.
const cartAudit = [];
const sessions = new Map();
const CATALOGUE = Array.from({ length: 40 }, (_, i) => ({ sku: `sku-${i}`, name: `Product ${i}`, price: 5 + i }));

function parseCookies(header) {
  const out = {};
  for (const part of String(header || '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = decodeURIComponent(part.slice(i + 1).trim());
  }
  return out;
}

function mountRoutes(app, leaks) {
  const body = [express.json({ limit: '64kb' }), express.urlencoded({ extended: false, limit: '64kb' })];

  app.get('/api/health', (req, res) => {
    res.json({ ok: true, uptime: Math.round(process.uptime()), sessions: sessions.size });
  });

  app.get('/search', (req, res) => {
    const q = String(req.query.q || '');
    const terms = q.toLowerCase().split(/\s+/).filter(Boolean);
    const results = CATALOGUE.filter((p) => terms.some((t) => p.name.toLowerCase().includes(t) || p.sku.includes(t))).slice(0, 10);
    if (leaks.routes) {
      searchHistory.push({
        q, terms, at: Date.now(), count: results.length,
        note: `search #${searchHistory.length + 1} for "${q}" from ${req.ip}`,
        hits: results.map((p) => ({ sku: p.sku, score: Math.random() })),
        agent: `${req.get('user-agent') || ''} ${Date.now()}`,
      });
    }
    res.json({ q, results });
  });

  app.post('/api/cart', body, (req, res) => {
    const item = String((req.body && req.body.item) || '');
    const qty = Number((req.body && req.body.qty) || 1);
    if (!item) return res.status(400).json({ error: 'item is required' });
    const lines = CATALOGUE.map((p, i) => ({ sku: p.sku, qty: p.sku === item ? qty : i % 3, price: p.price, note: `line ${i} of ${item}` }));
    if (leaks.routes) {
      cartAudit.push({ at: new Date().toISOString(), item, qty, headers: Object.assign({}, req.headers), lines,
        summary: lines.map((l) => `${l.sku}×${l.qty}`).join(',') });
    }
    return res.json({ item, qty, total: lines.reduce((s, l) => s + l.qty * l.price, 0) });
  });

  app.post('/login', body, (req, res) => {
    const user = String((req.body && req.body.user) || '').trim();
    if (!user) return res.status(400).json({ error: 'user is required' });
    const sid = crypto.randomBytes(12).toString('hex');
    sessions.set(sid, { user, hits: 0, since: Date.now() });
    console.log(`session created for ${user}`);
    res.set('Set-Cookie', `sid=${sid}; Path=/; HttpOnly; SameSite=Lax`);
    return res.json({ user });
  });

  app.get('/account', (req, res) => {
    const session = sessions.get(parseCookies(req.headers.cookie).sid);
    if (!session) return res.status(401).send('log in first\n');
    session.hits += 1;
    res.set('Content-Type', 'text/html; charset=utf-8');
    return res.send(`<!DOCTYPE html>\n<html><body><h1>Account of ${session.user}</h1><p>visit ${session.hits}</p></body></html>\n`);
  });
}

module.exports = { mountRoutes, searchHistory, cartAudit, sessions };
