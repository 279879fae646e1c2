/* Starling dashboard: plain JavaScript, no framework, no build step, no other host.
 *
 * Everything shown comes from the agent's local API (docs/api.md) with the bearer token
 * the operator typed in; the token lives in this tab's sessionStorage and travels only
 * in the Authorization header (never in a URL). Pages are hash routes:
 *   #/overview   counters, flows/s, evidence and alerts over time, top attackers
 *   #/alerts     alerts; a click shows the evidence and the flows (Zeek uids) behind one
 *   #/ip/<ip>    one address: timeline, network opinion with each peer's weight, threat
 *                intelligence, the current decision
 *   #/peers      the peer graph coloured by reputation, a table, trust history
 *   #/decisions  blocking decisions; unblock and ban with the admin token
 * Live updates: GET /api/v1/stream read with fetch() and a stream reader (EventSource
 * cannot send the Authorization header), reconnecting with Last-Event-ID.
 * Graphs are drawn as SVG by the small functions below. Text from the agent is only
 * ever put in the page with textContent (never innerHTML).
 */
'use strict';

(() => {
  const TOKEN_KEY = 'starling.token';
  const FLOWS_KEY = 'starling.flows';
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const LEVELS = ['info', 'low', 'medium', 'high', 'critical'];
  const FLOW_SAMPLE_MS = 5000;
  const PEERS_REFRESH_MS = 10000;

  const state = {
    token: null,
    role: null,
    streamAbort: null,
    streamEvents: 0,
    live: false,
    listeners: [],
    timers: [],
    generation: 0,
    metrics: null,
    flowSamples: [],
    flowTimer: null,
    onMetrics: null,
    selectedPeer: null,
  };

  // -- DOM helpers ----------------------------------------------------------------------

  const $ = (sel, root = document) => root.querySelector(sel);

  function setAttrs(el, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'text') el.textContent = String(v);
      else if (k === 'class') el.setAttribute('class', v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    return el;
  }

  function h(tag, attrs, ...children) {
    const el = setAttrs(document.createElement(tag), attrs);
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function S(tag, attrs, ...children) {
    const el = setAttrs(document.createElementNS(SVG_NS, tag), attrs);
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  const kids = (list) => list.flat().filter((k) => k !== null && k !== undefined && k !== false);
  /* replaceChildren/append, skipping absent parts (the DOM would print "null"). */
  const put = (el, ...list) => el.replaceChildren(...kids(list));
  const add = (el, ...list) => el.append(...kids(list));

  function flash(message, ok = false) {
    const el = $('#flash');
    el.textContent = message;
    el.className = ok ? 'ok' : '';
    el.hidden = false;
    clearTimeout(flash.timer);
    flash.timer = setTimeout(() => { el.hidden = true; }, ok ? 4000 : 12000);
  }

  // -- formatting -----------------------------------------------------------------------

  const pad = (n) => String(n).padStart(2, '0');

  function fmtTime(ts) {
    if (ts === null || ts === undefined) return '—';
    const d = new Date(ts * 1000);
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} `
      + `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  }

  function fmtClock(ts) {
    const d = new Date(ts * 1000);
    return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  }

  function fmtShortClock(ts) {
    const d = new Date(ts * 1000);
    return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  }

  function fmtDuration(seconds) {
    const s = Math.abs(seconds);
    if (s < 90) return `${Math.round(s)} s`;
    if (s < 5400) return `${Math.round(s / 60)} min`;
    if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
    return `${(s / 86400).toFixed(1)} d`;
  }

  function fmtNum(n, digits = 0) {
    if (n === null || n === undefined || Number.isNaN(n)) return '—';
    return Number(n).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  }

  function fmtBytes(n) {
    if (!n) return '0 B';
    const units = ['B', 'kB', 'MB', 'GB', 'TB'];
    const i = Math.min(units.length - 1, Math.floor(Math.log10(n) / 3));
    return `${(n / 1000 ** i).toFixed(i ? 1 : 0)} ${units[i]}`;
  }

  const shortPeer = (id) => (id ? `${id.slice(0, 8)}…${id.slice(-6)}` : '—');
  const levelBadge = (lvl) => h('span', { class: `badge lvl-${lvl}`, text: lvl || '—' });
  const ipLink = (ip) => h('a', { href: `#/ip/${encodeURIComponent(ip)}`, class: 'mono', text: ip });
  const maxLevel = (levels) => levels.reduce((a, b) => (LEVELS.indexOf(b) > LEVELS.indexOf(a) ? b : a), 'info');

  function decisionState(d, now = Date.now() / 1000) {
    if (d.lifted !== null && d.lifted !== undefined) return 'lifted';
    return d.expires > now ? 'active' : 'expired';
  }

  // -- API ------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path, { method = 'GET', body } = {}) {
    const headers = { Authorization: `Bearer ${state.token}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(path, {
      method, headers, cache: 'no-store', body: body === undefined ? undefined : JSON.stringify(body),
    });
    const type = res.headers.get('Content-Type') || '';
    const payload = type.includes('json') ? await res.json() : await res.text();
    if (!res.ok) {
      const message = (payload && payload.error) || res.statusText;
      if (res.status === 401) logout(`The agent refused the token: ${message}`);
      throw new ApiError(res.status, `${res.status}: ${message}`);
    }
    return payload;
  }

  async function allPages(path, maxItems = 5000) {
    const items = [];
    let cursor = null;
    do {
      const sep = path.includes('?') ? '&' : '?';
      const page = await api(`${path}${sep}limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      items.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor && items.length < maxItems);
    return items;
  }

  function parseMetrics(text) {
    const out = new Map();
    for (const line of text.split('\n')) {
      if (!line || line.startsWith('#')) continue;
      const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/);
      if (!m) continue;
      const labels = {};
      for (const lm of (m[2] || '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2];
      if (!out.has(m[1])) out.set(m[1], []);
      out.get(m[1]).push({ labels, value: Number(m[3]) });
    }
    return out;
  }

  function metric(metrics, name, labels = {}) {
    const rows = (metrics && metrics.get(name)) || [];
    const hit = rows.filter((r) => Object.entries(labels).every(([k, v]) => r.labels[k] === v));
    return hit.length ? hit.reduce((a, r) => a + r.value, 0) : null;
  }

  // -- flows/s: the rate of starling_flows_total between scrapes of /metrics ------------

  function loadFlowSamples() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(FLOWS_KEY) || '[]');
      state.flowSamples = Array.isArray(saved) ? saved : [];
    } catch (e) {
      state.flowSamples = [];
    }
  }

  async function sampleMetrics() {
    const text = await api('/metrics');
    const metrics = parseMetrics(text);
    state.metrics = metrics;
    const flows = metric(metrics, 'starling_flows_total');
    const uptime = metric(metrics, 'starling_uptime_seconds');
    const now = Date.now() / 1000;
    const samples = state.flowSamples;
    const last = samples[samples.length - 1];
    const started = uptime === null ? null : now - uptime;
    // a restarted agent (counter went down, or started after our last sample): start over
    if (last && (flows < last.flows || (started !== null && started > last.t + 5))) samples.length = 0;
    if (!samples.length && started !== null) samples.push({ t: started, flows: 0 });
    samples.push({ t: now, flows: flows || 0 });
    while (samples.length > 720) samples.shift();
    sessionStorage.setItem(FLOWS_KEY, JSON.stringify(samples));
    return metrics;
  }

  function flowRates() {
    const s = state.flowSamples;
    const out = [];
    for (let i = 1; i < s.length; i += 1) {
      const dt = s[i].t - s[i - 1].t;
      if (dt > 0) out.push({ t0: s[i - 1].t, t1: s[i].t, rate: Math.max(0, (s[i].flows - s[i - 1].flows) / dt) });
    }
    return out;
  }

  // -- live events ----------------------------------------------------------------------

  function setLive(on) {
    state.live = on;
    const el = $('#live');
    el.className = `live ${on ? 'on' : 'off'}`;
    el.textContent = on ? `● live · ${state.streamEvents} events` : '● reconnecting…';
  }

  function handleFrame(frame, cursor) {
    let kind = null;
    const data = [];
    for (const line of frame.split('\n')) {
      if (!line || line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const key = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (key === 'event') kind = value;
      else if (key === 'data') data.push(value);
      else if (key === 'id') cursor.last = value;
    }
    if (!kind || !data.length) return;
    let record;
    try {
      record = JSON.parse(data.join('\n'));
    } catch (e) {
      return;
    }
    state.streamEvents += 1;
    setLive(true);
    for (const fn of state.listeners) {
      try {
        fn(kind, record);
      } catch (e) {
        flash(`live update failed: ${e.message}`);
      }
    }
  }

  async function followStream() {
    const ctrl = new AbortController();
    state.streamAbort = ctrl;
    const cursor = { last: null };
    while (!ctrl.signal.aborted) {
      try {
        const headers = { Authorization: `Bearer ${state.token}` };
        if (cursor.last) headers['Last-Event-ID'] = cursor.last;
        const res = await fetch('/api/v1/stream', { headers, signal: ctrl.signal, cache: 'no-store' });
        if (res.status === 401) {
          logout('The agent refused the token.');
          return;
        }
        if (res.ok && res.body) {
          setLive(true);
          const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
          let buf = '';
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buf += value.replace(/\r\n?/g, '\n');
            let end = buf.indexOf('\n\n');
            while (end >= 0) {
              handleFrame(buf.slice(0, end), cursor);
              buf = buf.slice(end + 2);
              end = buf.indexOf('\n\n');
            }
          }
        }
      } catch (e) {
        if (ctrl.signal.aborted) return;
      }
      setLive(false);
      await new Promise((resolve) => { setTimeout(resolve, 3000); });
    }
  }

  const onLive = (fn) => state.listeners.push(fn);
  const every = (ms, fn) => state.timers.push(setInterval(fn, ms));

  function throttle(fn, ms) {
    let timer = null;
    return () => {
      if (timer) return;
      timer = setTimeout(() => { timer = null; fn(); }, ms);
    };
  }

  // -- charts (SVG) ---------------------------------------------------------------------

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  /* A line chart. series: [{name, cls, points: [[x, y]], area, dots, step, stroke}]. */
  function lineChart(opts) {
    const W = opts.width || 640;
    const H = opts.height || 220;
    const m = { l: 48, r: 14, t: 12, b: 26 };
    const svg = S('svg', { viewBox: `0 0 ${W} ${H}`, class: `chart ${opts.cls || ''}`, role: 'img', 'aria-label': opts.label });
    const pts = opts.series.flatMap((s) => s.points);
    if (!pts.length) {
      svg.append(S('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty', text: opts.empty || 'no data yet' }));
      return svg;
    }
    let x0 = opts.x0 ?? Math.min(...pts.map((p) => p[0]));
    let x1 = opts.x1 ?? Math.max(...pts.map((p) => p[0]));
    if (x1 <= x0) { x0 -= 30; x1 += 30; }
    const y1 = opts.yMax ?? niceMax(Math.max(...pts.map((p) => p[1])));
    const sx = (x) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
    const sy = (y) => H - m.b - (y / y1) * (H - m.t - m.b);
    for (let i = 0; i <= 4; i += 1) {
      const y = (y1 * i) / 4;
      svg.append(S('line', { x1: m.l, x2: W - m.r, y1: sy(y), y2: sy(y), class: i ? 'grid-line' : 'axis' }));
      svg.append(S('text', { x: m.l - 6, y: sy(y) + 4, 'text-anchor': 'end', text: fmtNum(y, Number.isInteger(y) ? 0 : 2) }));
    }
    for (let i = 0; i <= 4; i += 1) {
      const x = x0 + ((x1 - x0) * i) / 4;
      const anchor = i === 0 ? 'start' : i === 4 ? 'end' : 'middle';
      svg.append(S('text', { x: sx(x), y: H - 8, 'text-anchor': anchor, text: (opts.xFormat || fmtClock)(x) }));
    }
    for (const s of opts.series) {
      if (!s.points.length) continue;
      const coords = [];
      s.points.forEach(([x, y], i) => {
        if (s.step && i > 0) coords.push([sx(x), sy(s.points[i - 1][1])]);
        coords.push([sx(x), sy(y)]);
      });
      const d = coords.map(([x, y], i) => `${i ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
      if (s.area) {
        const base = sy(0).toFixed(1);
        svg.append(S('path', { d: `${d} L${coords[coords.length - 1][0].toFixed(1)},${base} L${coords[0][0].toFixed(1)},${base} Z`, class: `a-${s.cls}` }));
      }
      svg.append(S('path', { d, class: `s-${s.cls} series`, stroke: s.stroke, 'data-series': s.name }));
      if (s.dots) {
        for (const [x, y] of s.points) {
          if (s.dots === 'nonzero' && !y) continue;
          svg.append(S('circle', { cx: sx(x), cy: sy(y), r: 3.2, class: `dot-${s.cls} pt`, fill: s.stroke },
            S('title', { text: `${s.name}: ${fmtNum(y, 3)} at ${(opts.xFormat || fmtClock)(x)}` })));
        }
      }
    }
    return svg;
  }

  function legend(items) {
    return h('div', { class: 'legend' }, items.map(([cls, text]) => h('span', {}, h('i', { class: `k-${cls}` }), text)));
  }

  const BUCKETS = [[60, 'minute'], [300, '5 min'], [900, '15 min'], [3600, 'hour'], [21600, '6 h'], [86400, 'day']];

  /* Counts per time bucket of several record lists (by their ts), on one shared axis. */
  function bucketise(lists) {
    const ts = lists.flat().map((r) => r.ts).filter((t) => Number.isFinite(t));
    if (!ts.length) return { size: 60, unit: 'minute', series: lists.map(() => []) };
    const lo = Math.min(...ts);
    const hi = Math.max(...ts);
    const [size, unit] = BUCKETS.find(([s]) => (hi - lo) / s <= 120) || BUCKETS[BUCKETS.length - 1];
    const last = Math.floor(hi / size) * size;
    const first = Math.min(Math.floor(lo / size) * size, last - 14 * size);
    const series = lists.map((list) => {
      const counts = new Map();
      for (const r of list) {
        const b = Math.floor(r.ts / size) * size;
        counts.set(b, (counts.get(b) || 0) + 1);
      }
      const out = [];
      for (let b = first; b <= last + size; b += size) out.push([b, counts.get(b) || 0]);
      return out;
    });
    return { size, unit, series };
  }

  /* The peers around this agent: colour = reputation (red 0 → green 1), size = certainty. */
  function peerGraph(view, selected, onSelect) {
    const W = 560;
    const H = 380;
    const cx = W / 2;
    const cy = H / 2;
    const svg = S('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart peer-graph', role: 'img', 'aria-label': 'peer graph' });
    const defs = S('defs');
    const grad = S('linearGradient', { id: 'rep-gradient', x1: '0', x2: '1', y1: '0', y2: '0' });
    for (const [off, rep] of [[0, 0], [0.5, 0.5], [1, 1]]) grad.append(S('stop', { offset: off, 'stop-color': repColour(rep) }));
    defs.append(grad);
    svg.append(defs);
    const peers = view.peers || [];
    const r = Math.min(W, H) / 2 - 60;
    peers.forEach((p, i) => {
      const a = (2 * Math.PI * i) / Math.max(peers.length, 1) - Math.PI / 2;
      p.x = cx + r * Math.cos(a);
      p.y = cy + r * Math.sin(a);
    });
    for (const p of peers) {
      svg.append(S('line', {
        x1: cx, y1: cy, x2: p.x, y2: p.y, class: `edge${p.connected ? '' : ' off'}`,
        'stroke-width': (1.5 + 5 * (p.trust.weight || 0)).toFixed(1),
      }));
    }
    svg.append(S('circle', { cx, cy, r: 18, class: 'node self' }, S('title', { text: `this agent ${view.self ? view.self.peer_id : ''}` })));
    svg.append(S('text', { x: cx, y: cy + 34, 'text-anchor': 'middle', text: 'this agent' }));
    for (const p of peers) {
      const rep = p.trust.reputation;
      const g = S('g', { class: p.connected ? 'peer' : 'peer gone', 'data-peer': p.peer_id });
      const node = S('circle', {
        cx: p.x, cy: p.y, r: (10 + 10 * (p.trust.certainty || 0)).toFixed(1), fill: repColour(rep),
        class: `node${p.peer_id === selected ? ' selected' : ''}`, 'data-reputation': String(rep),
        tabindex: 0, onclick: () => onSelect(p.peer_id),
      }, S('title', { text: `${p.peer_id}\nreputation ${rep.toFixed(3)} · certainty ${p.trust.certainty.toFixed(3)} · weight ${p.trust.weight.toFixed(3)}${p.connected ? '' : ' · disconnected'}` }));
      g.append(node);
      g.append(S('text', { x: p.x, y: p.y + 32, 'text-anchor': 'middle', text: shortPeer(p.peer_id) }));
      g.append(S('text', { x: p.x, y: p.y + 46, 'text-anchor': 'middle', text: `rep ${rep.toFixed(2)}` }));
      svg.append(g);
    }
    // legend: reputation scale
    svg.append(S('rect', { x: 16, y: H - 26, width: 140, height: 10, fill: 'url(#rep-gradient)', rx: 3 }));
    svg.append(S('text', { x: 16, y: H - 32, text: 'reputation 0 → 1' }));
    if (!peers.length) svg.append(S('text', { x: cx, y: cy - 40, 'text-anchor': 'middle', class: 'empty', text: 'no peers yet' }));
    return svg;
  }

  function repColour(rep) {
    const hue = Math.floor(Math.max(0, Math.min(1, rep)) * 120 + 0.5);
    return `hsl(${hue}, 70%, 48%)`;
  }

  /* One address's timeline: a row per evidence type, alerts on top. */
  function timeline(evidence, alerts, ip) {
    const types = [...new Set(evidence.map((e) => e.type))].sort();
    const rows = ['alerts', ...types];
    const W = 900;
    const rowH = 26;
    const m = { l: 190, r: 16, t: 10, b: 26 };
    const H = m.t + m.b + rowH * rows.length;
    const svg = S('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart timeline', role: 'img', 'aria-label': `timeline of ${ip}` });
    const ts = [...evidence, ...alerts].map((r) => r.ts);
    if (!ts.length) {
      svg.append(S('text', { x: W / 2, y: H / 2 + 4, 'text-anchor': 'middle', class: 'empty', text: 'nothing recorded about this address' }));
      return svg;
    }
    let x0 = Math.min(...ts);
    let x1 = Math.max(...ts);
    if (x1 - x0 < 60) { x0 -= 30; x1 += 30; }
    const sx = (x) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
    const rowY = (i) => m.t + rowH * i + rowH / 2;
    rows.forEach((name, i) => {
      svg.append(S('line', { x1: m.l, x2: W - m.r, y1: rowY(i), y2: rowY(i), class: 'grid-line' }));
      svg.append(S('text', { x: m.l - 8, y: rowY(i) + 4, 'text-anchor': 'end', class: 'row-label', text: name }));
    });
    for (let i = 0; i <= 4; i += 1) {
      const x = x0 + ((x1 - x0) * i) / 4;
      svg.append(S('text', { x: sx(x), y: H - 8, 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle', text: fmtClock(x) }));
    }
    for (const a of alerts) {
      const x = sx(a.ts);
      const y = rowY(0);
      svg.append(S('path', { d: `M${x},${y - 8} L${x + 7},${y} L${x},${y + 8} L${x - 7},${y} Z`, class: 'alert-mark mark' },
        S('title', { text: `${fmtTime(a.ts)} alert, score ${a.score}: ${a.description}` })));
    }
    for (const e of evidence) {
      const victim = e.attacker !== ip;
      svg.append(S('circle', {
        cx: sx(e.ts), cy: rowY(rows.indexOf(e.type)), r: 5, class: `ev-${e.threat_level} mark${victim ? ' victim' : ''}`,
      }, S('title', { text: `${fmtTime(e.ts)} ${e.threat_level}${victim ? ' (as victim)' : ''}: ${e.description}` })));
    }
    return svg;
  }

  // -- pages ----------------------------------------------------------------------------

  function table(headers, rows, attrs = {}) {
    return h('table', attrs, h('thead', {}, h('tr', {}, headers.map((t) => h('th', { text: t })))), h('tbody', {}, rows));
  }

  async function pageOverview(root) {
    const [metrics, evidence, alerts, active] = await Promise.all([
      sampleMetrics(),
      api('/api/v1/evidence?order=desc&limit=1000').then((p) => p.items),
      api('/api/v1/alerts?order=desc&limit=1000').then((p) => p.items),
      allPages('/api/v1/decisions?active=true'),
    ]);
    const cards = h('div', { class: 'cards', id: 'cards' });
    const timePanel = h('div', { class: 'panel', id: 'findings-chart' });
    const flowPanel = h('div', { class: 'panel', id: 'flows-chart' });
    const attackers = h('div', { class: 'panel', id: 'top-attackers' });
    add(root, h('h1', { text: 'Overview' }), cards, h('div', { class: 'grid cols-2' }, timePanel, flowPanel), h('div', { class: 'grid', id: 'below' }, attackers));
    const activeIds = new Set(active.filter((d) => decisionState(d) === 'active').map((d) => d.id));
    const activeValues = () => new Set(active.filter((d) => activeIds.has(d.id)).map((d) => d.value));

    function card(id, label, value, sub) {
      return h('div', { class: 'card', id: `card-${id}` }, h('div', { class: 'label', text: label }),
        h('div', { class: 'value', text: value }), h('div', { class: 'sub', text: sub || '' }));
    }

    function drawCards() {
      const m = state.metrics;
      const rates = flowRates();
      const rate = rates.length ? rates[rates.length - 1].rate : null;
      const flows = metric(m, 'starling_flows_total');
      const storedEvidence = metric(m, 'starling_store_items', { kind: 'evidence' });
      const storedAlerts = metric(m, 'starling_store_items', { kind: 'alerts' });
      const connected = metric(m, 'starling_p2p_peers_connected');
      const known = metric(m, 'starling_peers', { state: 'known' });
      // What the agent could not analyse: lines skipped, detector state lost to full caps,
      // detector errors (a bug: the detector raised and the record went on without it).
      const lost = [
        [metric(m, 'starling_lines_skipped_total'), 'lines skipped'],
        [metric(m, 'starling_detector_state_overflow_total'), 'detector state overflows'],
        [metric(m, 'starling_detector_errors_total'), 'detector errors'],
      ].filter(([n]) => n).map(([n, what]) => `${fmtNum(n)} ${what}`);
      put(cards,
        card('flows', 'Flows analysed', fmtNum(flows), lost.length ? lost.join(' · ') : 'since the agent started'),
        card('flow-rate', 'Flows / s', rate === null ? '—' : fmtNum(rate, 1), 'over the last sample'),
        card('evidence', 'Evidence', fmtNum(Math.max(storedEvidence || 0, evidence.length)), 'in the store'),
        card('alerts', 'Alerts', fmtNum(Math.max(storedAlerts || 0, alerts.length)), 'in the store'),
        card('decisions', 'Active decisions', fmtNum(activeIds.size), metric(m, 'starling_blocking_dry_run') ? 'dry-run' : 'enforced'),
        card('peers', 'Peers', connected === null ? 'off' : fmtNum(connected), connected === null ? 'P2P disabled' : `connected of ${fmtNum(known)} known`),
      );
    }

    function drawFindings() {
      const b = bucketise([evidence, alerts]);
      put(timePanel,
        h('h2', { text: `Evidence and alerts per ${b.unit} (record time, UTC)` }),
        lineChart({
          label: 'evidence and alerts over time',
          xFormat: b.size >= 86400 ? (x) => fmtTime(x).slice(0, 10) : fmtShortClock,
          series: [
            { name: 'evidence', cls: 'evidence', points: b.series[0], area: true, dots: 'nonzero' },
            { name: 'alerts', cls: 'alerts', points: b.series[1], dots: 'nonzero' },
          ],
        }),
        legend([['evidence', `evidence (newest ${evidence.length})`], ['alerts', `alerts (newest ${alerts.length})`]]),
      );
    }

    function drawFlows() {
      const rates = flowRates();
      const points = rates.length ? [[rates[0].t0, rates[0].rate], ...rates.map((r) => [r.t1, r.rate])] : [];
      put(flowPanel,
        h('h2', { text: 'Flows per second (wall clock, UTC)' }),
        lineChart({
          label: 'flows per second', empty: 'waiting for the first sample',
          series: [{ name: 'flows/s', cls: 'flows', points, area: true, step: true }],
        }),
        legend([['flows', `rate of starling_flows_total, sampled every ${FLOW_SAMPLE_MS / 1000} s while the dashboard is open`]]),
      );
    }

    function drawAttackers() {
      const by = new Map();
      const row = (ip) => {
        if (!by.has(ip)) by.set(ip, { ip, evidence: 0, alerts: 0, levels: [], types: new Set(), last: 0 });
        return by.get(ip);
      };
      for (const e of evidence) {
        if (!e.attacker) continue;
        const r = row(e.attacker);
        r.evidence += 1;
        r.levels.push(e.threat_level);
        r.types.add(e.type);
        r.last = Math.max(r.last, e.ts);
      }
      for (const a of alerts) {
        const r = row(a.profile);
        r.alerts += 1;
        r.levels.push(a.threat_level);
        r.last = Math.max(r.last, a.ts);
      }
      const banned = activeValues();
      const top = [...by.values()].sort((a, b) => b.alerts - a.alerts || b.evidence - a.evidence).slice(0, 10);
      put(attackers,
        h('h2', { text: 'Top attackers (by alerts, then evidence)' }),
        top.length ? table(['address', 'alerts', 'evidence', 'max level', 'evidence types', 'last seen (UTC)', 'decision'],
          top.map((r) => h('tr', { 'data-ip': r.ip },
            h('td', {}, ipLink(r.ip)), h('td', { text: r.alerts }), h('td', { text: r.evidence }),
            h('td', {}, levelBadge(maxLevel(r.levels))),
            h('td', {}, [...r.types].sort().map((t) => h('span', { class: 'tag', text: t }))),
            h('td', { class: 'nowrap', text: fmtTime(r.last) }),
            h('td', {}, banned.has(r.ip) ? h('span', { class: 'badge state-active', text: 'blocked' }) : '—'))),
          { id: 'attackers-table' }) : h('p', { class: 'muted', text: 'No evidence yet.' }),
      );
    }

    drawCards();
    drawFindings();
    drawFlows();
    drawAttackers();
    const redraw = throttle(() => { drawCards(); drawFindings(); drawAttackers(); }, 400);
    onLive((kind, rec) => {
      if (kind === 'evidence') evidence.unshift(rec);
      else if (kind === 'alert') alerts.unshift(rec);
      else if (kind === 'decision') {
        if (decisionState(rec) === 'active') {
          active.push(rec);
          activeIds.add(rec.id);
        } else activeIds.delete(rec.id);
      }
      redraw();
    });
    state.onMetrics = () => { drawCards(); drawFlows(); };
  }

  async function pageAlerts(root, selectedId) {
    const alerts = await allPages('/api/v1/alerts?order=desc', 2000);
    const detail = h('div', { class: 'panel', id: 'alert-detail' }, h('p', { class: 'muted', text: 'Click an alert to see the evidence and flows behind it.' }));
    const tbody = h('tbody');
    const title = h('h1', { text: `Alerts (${alerts.length}${alerts.length >= 2000 ? '+' : ''})` });
    add(root,
      title,
      h('div', { class: 'grid cols-3' },
        h('div', { class: 'panel scroll' }, h('table', { id: 'alerts-table' },
          h('thead', {}, h('tr', {}, ['time (UTC)', 'address', 'level', 'score', 'evidence types', 'source'].map((t) => h('th', { text: t })))),
          tbody)),
        detail),
    );

    function alertRow(a, fresh = false) {
      return h('tr', { class: `clickable${fresh ? ' fresh' : ''}${a.id === selectedId ? ' selected' : ''}`, 'data-id': a.id, onclick: () => { location.hash = `#/alerts/${a.id}`; } },
        h('td', { class: 'nowrap', text: fmtTime(a.ts) }), h('td', {}, ipLink(a.profile)), h('td', {}, levelBadge(a.threat_level)),
        h('td', { text: `${a.score.toFixed(2)} / ${a.threshold.toFixed(2)}` }),
        h('td', {}, [...new Set(a.evidence_types)].map((t) => h('span', { class: 'tag', text: t }))),
        h('td', { class: 'mono', text: a.source }));
    }
    tbody.append(...alerts.map((a) => alertRow(a)));
    if (!alerts.length) tbody.append(h('tr', {}, h('td', { colspan: 6, class: 'muted', text: 'No alerts yet.' })));
    onLive((kind, rec) => {
      if (kind !== 'alert') return;
      alerts.unshift(rec);
      tbody.prepend(alertRow(rec, true));
      title.textContent = `Alerts (${alerts.length})`;
    });

    const chosen = alerts.find((a) => a.id === selectedId);
    if (!chosen) return;
    const [evPage, ipView] = await Promise.all([
      api(`/api/v1/evidence?ip=${encodeURIComponent(chosen.profile)}&limit=1000`),
      api(`/api/v1/ip/${encodeURIComponent(chosen.profile)}`),
    ]);
    const wanted = new Set(chosen.evidence_ids);
    const found = evPage.items.filter((e) => wanted.has(e.id));
    const win = ipView.local.profile.recent_windows.find((w) => w.timewindow === chosen.timewindow);
    put(detail,
      h('h2', { text: 'Alert' }),
      h('dl', { class: 'kv' },
        h('dt', { text: 'address' }), h('dd', {}, ipLink(chosen.profile)),
        h('dt', { text: 'time (UTC)' }), h('dd', { text: fmtTime(chosen.ts) }),
        h('dt', { text: 'window' }), h('dd', { text: chosen.timewindow }),
        h('dt', { text: 'score' }), h('dd', { text: `${chosen.score} (threshold ${chosen.threshold})` }),
        h('dt', { text: 'confidence' }), h('dd', { text: fmtNum(chosen.confidence, 3) }),
        h('dt', { text: 'source' }), h('dd', { class: 'mono', text: chosen.source }),
        h('dt', { text: 'id' }), h('dd', { class: 'mono', text: chosen.id })),
      h('p', { text: chosen.description }),
      h('h2', { text: `Evidence (${found.length} of ${chosen.evidence_ids.length})` }),
      h('div', { id: 'alert-evidence' }, found.map((e) => h('div', { class: 'evidence-item', 'data-id': e.id },
        h('div', {}, levelBadge(e.threat_level), ' ', h('strong', { text: e.type }), ' ', h('span', { class: 'muted', text: `${fmtTime(e.ts)} · confidence ${fmtNum(e.confidence, 3)}${e.attack_technique ? ` · ATT&CK ${e.attack_technique}` : ''}` })),
        h('div', { class: 'description', text: e.description }),
        e.uids.length ? h('div', { class: 'muted', text: `${e.uids.length} flow uid(s)` }) : null))),
      found.length < chosen.evidence_ids.length ? h('p', { class: 'muted', text: 'Evidence not listed here is not in this agent\'s store (reported by a peer, or pruned).' }) : null,
      h('h2', { text: `Flows behind it (${chosen.uids.length} Zeek uid${chosen.uids.length === 1 ? '' : 's'})` }),
      win ? h('p', { id: 'alert-window', text: `Window ${win.timewindow}: ${win.flows_out} flows out, ${win.flows_in} in, ${fmtBytes(win.bytes_out)} out, ${win.distinct_dsts} destinations, ${win.distinct_dports} ports (${fmtTime(win.start)} – ${fmtClock(win.end)}).` }) : null,
      h('div', { class: 'uids', id: 'alert-uids' }, chosen.uids.map((u) => h('code', { class: 'tag', text: u }))),
      h('p', { class: 'muted', text: 'Each uid names one flow in the Zeek logs (conn.log and the protocol logs): grep for it to see the flow.' }),
    );
  }

  function unblockButton(value, onDone) {
    const admin = state.role === 'admin';
    return h('button', {
      type: 'button', class: 'danger unblock', 'data-value': value, disabled: !admin,
      title: admin ? `lift the ban on ${value}` : 'needs the admin token (this is a read-only session)',
      onclick: async (ev) => {
        ev.target.disabled = true;
        try {
          const res = await api(`/api/v1/decisions/${value}`, { method: 'DELETE' });
          flash(`Lifted ${res.lifted.length} decision(s) on ${res.value}.`, true);
          if (onDone) onDone(res);
        } catch (e) {
          flash(`Unblock refused: ${e.message}`);
          ev.target.disabled = state.role !== 'admin';
        }
      },
    }, 'Unblock');
  }

  async function pageIp(root, ip) {
    const [view, evidence, alerts] = await Promise.all([
      api(`/api/v1/ip/${encodeURIComponent(ip)}`),
      allPages(`/api/v1/evidence?ip=${encodeURIComponent(ip)}`, 5000),
      allPages(`/api/v1/alerts?ip=${encodeURIComponent(ip)}`, 2000),
    ]);
    const local = view.local;
    const p = local.profile;
    add(root,
      h('h1', {}, 'Address ', h('span', { class: 'mono', id: 'ip-title', text: view.ip }), ' ',
        h('span', { class: `badge verdict-${local.verdict.split(' ')[0]}`, id: 'verdict', text: local.verdict })),
      h('div', { class: 'cards' },
        [['Evidence', local.evidence], ['Alerts', local.alerts], ['Max level', local.max_threat_level || '—'],
          ['Flows out / in', `${fmtNum(p.flows_out)} / ${fmtNum(p.flows_in)}`], ['Bytes out / in', `${fmtBytes(p.bytes_out)} / ${fmtBytes(p.bytes_in)}`],
          ['Closed windows', p.windows, `max score ${p.max_score.toFixed(2)}`]]
          .map(([label, value, sub]) => h('div', { class: 'card' }, h('div', { class: 'label', text: label }), h('div', { class: 'value', text: value }),
            h('div', { class: 'sub', text: sub || '' })))),
      h('div', { class: 'panel', id: 'ip-timeline' }, h('h2', { text: 'Timeline (record time, UTC): alerts ◆, evidence ● by threat level (hollow: as victim)' }), timeline(evidence, alerts, view.ip)),
    );
    const decision = view.decision;
    const decisionPanel = h('div', { class: 'panel', id: 'ip-decision' }, h('h2', { text: 'Current decision' }),
      decision ? h('div', {},
        h('p', {}, h('span', { class: 'badge state-active', text: `blocked${decision.dry_run ? ' (dry-run)' : ''}` }), ' ',
          `${decision.origin}, offence ${decision.offence}, expires in ${fmtDuration(decision.expires - Date.now() / 1000)}`),
        h('p', { class: 'muted', text: decision.reason }),
        unblockButton(decision.value, () => navigate()))
        : h('p', { class: 'muted', text: 'No active decision on this address.' }));
    const intel = view.intel;
    const intelPanel = h('div', { class: 'panel', id: 'ip-intel' }, h('h2', { text: 'Threat intelligence' }),
      !intel.enabled ? h('p', { class: 'muted', text: 'Threat intelligence is disabled.' })
        : intel.matches.length ? table(['feed', 'indicator', 'level', 'description'], intel.matches.map((mm) => h('tr', {},
          h('td', { class: 'mono', text: mm.feed }), h('td', { class: 'mono', text: mm.indicator }), h('td', {}, levelBadge(mm.threat_level)), h('td', { text: mm.description }))))
          : h('p', { class: 'muted', text: 'Listed by no loaded feed.' }));
    const op = view.network_opinion;
    const opinionPanel = h('div', { class: 'panel', id: 'ip-opinion' }, h('h2', { text: 'Network opinion' }),
      !op ? h('p', { class: 'muted', text: 'P2P is disabled on this agent.' }) : h('div', {},
        h('p', {}, h('span', { class: `badge ${op.block ? 'state-active' : ''}`, text: op.block ? 'peers say block' : 'no block' }), ' ',
          `score ${op.score}, confidence ${op.confidence}, support ${op.support}, ${op.trusted_reporters} trusted reporter(s) — ${op.reason}`),
        op.contributions.length ? table(['reporter', 'score', 'confidence', 'reputation', 'weight', 'trusted'], op.contributions.map((c) => h('tr', { 'data-reporter': c.reporter },
          h('td', {}, h('a', { href: `#/peers/${c.reporter}`, class: 'mono', title: c.reporter, text: shortPeer(c.reporter) })),
          h('td', { text: c.score }), h('td', { text: c.confidence }), h('td', { text: c.reputation.toFixed(3) }),
          h('td', { class: 'weight' }, h('meter', { min: 0, max: 1, value: c.weight }), ` ${c.weight.toFixed(3)}`),
          h('td', { text: c.trusted ? 'yes' : 'no' }))), { id: 'contributions' })
          : h('p', { class: 'muted', text: 'No peer has reported this address.' })));
    const reportsPanel = h('div', { class: 'panel', id: 'ip-reports' }, h('h2', { text: `Peer reports (${view.peer_reports.length})` }),
      view.peer_reports.length ? table(['reporter', 'score', 'confidence', 'evidence types', 'signed (UTC)', 'expired'], view.peer_reports.map((r) => h('tr', {},
        h('td', {}, h('a', { href: `#/peers/${r.reporter}`, class: 'mono', title: r.reporter, text: shortPeer(r.reporter) })),
        h('td', { text: r.score }), h('td', { text: r.confidence }), h('td', {}, r.evidence_types.map((t) => h('span', { class: 'tag', text: t }))),
        h('td', { text: fmtTime(r.signed_at) }), h('td', { text: r.expired ? 'yes' : 'no' }))))
        : h('p', { class: 'muted', text: 'None.' }));
    const evPanel = h('div', { class: 'panel scroll', id: 'ip-evidence' }, h('h2', { text: `Evidence (${evidence.length})` }),
      evidence.length ? table(['time (UTC)', 'type', 'level', 'role', 'description'], evidence.slice().reverse().map((e) => h('tr', {},
        h('td', { class: 'nowrap', text: fmtTime(e.ts) }), h('td', { text: e.type }), h('td', {}, levelBadge(e.threat_level)),
        h('td', { text: e.attacker === view.ip ? 'attacker' : 'victim' }), h('td', { text: e.description }))))
        : h('p', { class: 'muted', text: 'None.' }));
    add(root, h('div', { class: 'grid cols-2' }, opinionPanel, h('div', { class: 'grid' }, decisionPanel, intelPanel)),
      h('div', { class: 'grid cols-2' }, evPanel, reportsPanel));
    const refresh = throttle(() => navigate(), 1000);
    onLive((kind, rec) => {
      if ([rec.attacker, rec.victim, rec.profile, rec.value].includes(view.ip)) refresh();
    });
  }

  async function pagePeers(root, selected) {
    const view = await api('/api/v1/peers?limit=1000');
    add(root, h('h1', { text: 'Peers' }));
    if (view.p2p === 'disabled') {
      add(root, h('p', { class: 'muted', text: 'P2P is disabled on this agent.' }));
      return;
    }
    // The agent's own ID can show up among its peers (its own gossip echoed back by a
    // neighbour); it is the centre of the graph, not a peer.
    const own = (v) => v.peers.filter((p) => !v.self || p.peer_id !== v.self.peer_id);
    view.peers = own(view);
    state.selectedPeer = selected || state.selectedPeer;
    const graphPanel = h('div', { class: 'panel', id: 'peer-graph' });
    const historyPanel = h('div', { class: 'panel', id: 'trust-history' });
    const tablePanel = h('div', { class: 'panel', id: 'peers-table-panel' });
    add(root,
      h('p', { class: 'muted' }, 'This agent: ', h('span', { class: 'mono', id: 'self-id', text: view.self.peer_id }),
        ` · messages accepted ${view.messages.accepted}, dropped ${Object.values(view.messages.dropped).reduce((a, b) => a + b, 0)}`),
      h('div', { class: 'grid cols-2' }, graphPanel, historyPanel), tablePanel);

    function select(id) {
      state.selectedPeer = state.selectedPeer === id ? null : id;
      draw();
    }

    function draw() {
      put(graphPanel, h('h2', { text: 'Peer graph (colour: reputation; size: certainty; edge: weight; dashed: disconnected)' }),
        peerGraph(view, state.selectedPeer, select));
      const now = Date.now() / 1000;
      const shown = view.peers.filter((p) => !state.selectedPeer || p.peer_id === state.selectedPeer);
      const series = shown.map((p) => ({
        name: shortPeer(p.peer_id), cls: 'history', stroke: repColour(p.trust.reputation), dots: true,
        points: [...p.trust.history.map(([t, r]) => [t, r]), [now, p.trust.reputation]],
      }));
      put(historyPanel, h('h2', { text: `Trust history${state.selectedPeer ? ` of ${shortPeer(state.selectedPeer)}` : ' (every peer; click a node for one)'} — reputation over time, UTC` }),
        lineChart({ label: 'trust history', cls: 'history', yMax: 1, series, empty: 'no peers yet' }));
      put(tablePanel, h('h2', { text: `Peers (${view.peers.length})` }), table(
        ['peer', 'connected', 'agent', 'reputation', 'certainty', 'weight', 'reports', 'confirmed', 'contradicted', 'faults', 'accepted', 'dropped', 'addresses'],
        view.peers.map((p) => {
          const dropped = Object.entries(p.dropped);
          return h('tr', { class: `clickable${p.peer_id === state.selectedPeer ? ' selected' : ''}`, 'data-peer': p.peer_id, onclick: () => select(p.peer_id) },
            h('td', { class: 'mono', title: p.peer_id, text: shortPeer(p.peer_id) }), h('td', { text: p.connected ? 'yes' : 'no' }),
            h('td', { text: p.agent || '—' }),
            h('td', { class: 'reputation' }, h('meter', { min: 0, max: 1, low: 0.34, high: 0.66, optimum: 1, value: p.trust.reputation }), ` ${p.trust.reputation.toFixed(3)}`),
            h('td', { text: p.trust.certainty.toFixed(3) }), h('td', { text: p.trust.weight.toFixed(3) }),
            h('td', { text: p.trust.reports }), h('td', { text: p.trust.confirmed }), h('td', { text: p.trust.contradicted }), h('td', { text: p.trust.faults }),
            h('td', { text: p.messages_accepted }),
            h('td', { title: dropped.map(([k, v]) => `${k}: ${v}`).join(', '), text: dropped.reduce((a, [, v]) => a + v, 0) }),
            h('td', { class: 'mono addrs', text: p.addrs.join(' ') }));
        }), { id: 'peers-table' }));
    }
    draw();
    every(PEERS_REFRESH_MS, async () => {
      const fresh = await api('/api/v1/peers?limit=1000');
      Object.assign(view, fresh, { peers: own(fresh) });
      draw();
    });
  }

  async function pageDecisions(root) {
    const page = await api('/api/v1/decisions?limit=1');
    const decisions = await allPages('/api/v1/decisions');
    const byId = new Map(decisions.map((d) => [d.id, d]));
    const admin = state.role === 'admin';
    const tbody = h('tbody');
    const onlyActive = h('input', { type: 'checkbox', id: 'only-active' });
    const count = h('span', { class: 'muted', id: 'decision-count' });
    const addForm = h('form', { id: 'ban-form', class: 'toolbar' },
      h('input', { name: 'value', placeholder: 'IP or CIDR to ban', required: true, disabled: !admin, 'aria-label': 'address to ban' }),
      h('input', { name: 'ttl', type: 'number', min: 1, placeholder: 'TTL s (optional)', disabled: !admin, 'aria-label': 'ttl in seconds' }),
      h('input', { name: 'reason', placeholder: 'reason (optional)', disabled: !admin, 'aria-label': 'reason' }),
      h('button', { type: 'submit', disabled: !admin, title: admin ? 'ban now' : 'needs the admin token' }, 'Ban'),
      admin ? null : h('span', { class: 'muted', text: 'Read-only session: banning and unblocking need the admin token.' }));
    addForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const f = new FormData(addForm);
      const body = { value: String(f.get('value')).trim() };
      if (f.get('ttl')) body.ttl = Number(f.get('ttl'));
      if (String(f.get('reason')).trim()) body.reason = String(f.get('reason')).trim();
      try {
        const res = await api('/api/v1/decisions', { method: 'POST', body });
        upsert(res.decision);
        addForm.reset();
        flash(`Banned ${res.decision.value}${res.decision.dry_run ? ' (dry-run)' : ''}.`, true);
      } catch (e) {
        flash(`Ban refused: ${e.message}`);
      }
    });
    add(root,
      h('h1', { text: 'Decisions' }),
      page.dry_run ? h('div', { class: 'banner', text: 'Blocking is in dry-run: decisions are recorded and shown, not applied to the firewall (blocking.enabled: false).' }) : null,
      h('div', { class: 'panel' }, addForm,
        h('div', { class: 'toolbar' }, h('label', {}, onlyActive, ' active only'), h('span', { class: 'spacer' }), count),
        h('div', { class: 'scroll' }, h('table', { id: 'decisions-table' },
          h('thead', {}, h('tr', {}, ['value', 'state', 'origin', 'reason', 'created (UTC)', 'expires', 'offence', ''].map((t) => h('th', { text: t })))),
          tbody))));

    function row(d, fresh = false) {
      const st = decisionState(d);
      const now = Date.now() / 1000;
      return h('tr', { class: fresh ? 'fresh' : '', 'data-id': d.id, 'data-value': d.value, 'data-state': st },
        h('td', {}, d.scope === 'ip' ? ipLink(d.value) : h('span', { class: 'mono', text: d.value })),
        h('td', {}, h('span', { class: `badge state-${st}`, text: st + (d.dry_run ? ' · dry-run' : '') })),
        h('td', { class: 'nowrap', text: d.origin }), h('td', { text: d.reason }), h('td', { class: 'nowrap', text: fmtTime(d.created) }),
        h('td', { class: 'nowrap', text: st === 'active' ? `in ${fmtDuration(d.expires - now)}` : st === 'lifted' ? `lifted ${fmtTime(d.lifted)}` : fmtTime(d.expires) }),
        h('td', { text: d.offence }),
        h('td', {}, st === 'active' ? unblockButton(d.value, (res) => res.lifted.forEach((x) => upsert(x))) : null));
    }

    function render(freshId = null) {
      const rows = [...byId.values()].sort((a, b) => b.created - a.created)
        .filter((d) => !onlyActive.checked || decisionState(d) === 'active');
      put(tbody, ...rows.map((d) => row(d, d.id === freshId)));
      if (!rows.length) tbody.append(h('tr', {}, h('td', { colspan: 8, class: 'muted', text: 'No decisions.' })));
      const active = [...byId.values()].filter((d) => decisionState(d) === 'active').length;
      count.textContent = `${active} active · ${byId.size} in all`;
    }

    function upsert(d) {
      byId.set(d.id, d);
      render(d.id);
    }
    onlyActive.addEventListener('change', () => render());
    render();
    onLive((kind, rec) => { if (kind === 'decision') upsert(rec); });
  }

  // -- routing, session -----------------------------------------------------------------

  const PAGES = {
    overview: (root) => pageOverview(root),
    alerts: (root, arg) => pageAlerts(root, arg),
    ip: (root, arg) => pageIp(root, arg),
    peers: (root, arg) => pagePeers(root, arg),
    decisions: (root) => pageDecisions(root),
  };

  async function navigate() {
    if (!state.token) return;
    const [, name = 'overview', ...rest] = location.hash.replace(/^#/, '').split('/');
    const page = PAGES[name] ? name : 'overview';
    const arg = rest.length ? decodeURIComponent(rest.join('/')) : null;
    state.generation += 1;
    const gen = state.generation;
    state.listeners = [];
    state.onMetrics = null;
    state.timers.forEach(clearInterval);
    state.timers = [];
    for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === page);
    const root = h('div', { class: `page page-${page}`, id: `page-${page}` });
    try {
      await PAGES[page](root, arg);
    } catch (e) {
      if (gen !== state.generation || !state.token) return;
      console.error(e);
      add(root, h('p', { class: 'error page-error', text: `Could not load this page: ${e.message}` }));
    }
    if (gen !== state.generation) return;
    root.dataset.loaded = 'true';
    put($('#page'), root);
  }

  function showSession(on) {
    $('#login').hidden = on;
    for (const id of ['#nav', '#ip-search', '#session']) $(id).hidden = !on;
    if (on) {
      const role = $('#role');
      role.textContent = state.role;
      role.className = `role ${state.role === 'admin' ? 'admin' : 'read-only'}`;
    }
  }

  async function checkToken(token) {
    const res = await fetch('/api/v1/session', { headers: { Authorization: `Bearer ${token}` }, cache: 'no-store' });
    if (res.status === 401) return null;
    if (!res.ok) throw new Error(`${res.status}: ${(await res.json()).error || res.statusText}`);
    return (await res.json()).role;
  }

  async function login(token) {
    const role = await checkToken(token);
    if (!role) return false;
    state.token = token;
    state.role = role;
    sessionStorage.setItem(TOKEN_KEY, token);
    showSession(true);
    loadFlowSamples();
    followStream();
    clearInterval(state.flowTimer);
    state.flowTimer = setInterval(async () => {
      try {
        await sampleMetrics();
        if (state.onMetrics) state.onMetrics();
      } catch (e) {
        if (state.token) flash(`Could not read /metrics: ${e.message}`);
      }
    }, FLOW_SAMPLE_MS);
    if (!location.hash || location.hash === '#' || location.hash === '#/') location.hash = '#/overview';
    else navigate();
    return true;
  }

  function logout(message) {
    state.token = null;
    state.role = null;
    sessionStorage.removeItem(TOKEN_KEY);
    if (state.streamAbort) state.streamAbort.abort();
    clearInterval(state.flowTimer);
    state.onMetrics = null;
    state.timers.forEach(clearInterval);
    state.timers = [];
    state.listeners = [];
    state.generation += 1;
    put($('#page'));
    showSession(false);
    const err = $('#login-error');
    err.hidden = !message;
    err.textContent = message || '';
    $('#token').focus();
  }

  function start() {
    $('#login-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const token = $('#token').value.trim();
      const err = $('#login-error');
      try {
        if (await login(token)) {
          $('#token').value = '';
          err.hidden = true;
        } else {
          err.textContent = 'The agent refused this token.';
          err.hidden = false;
        }
      } catch (e) {
        err.textContent = `Could not reach the agent: ${e.message}`;
        err.hidden = false;
      }
    });
    $('#logout').addEventListener('click', () => logout(''));
    $('#ip-search').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const ip = $('#ip-search-input').value.trim();
      if (ip) location.hash = `#/ip/${encodeURIComponent(ip)}`;
    });
    window.addEventListener('hashchange', () => navigate());
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) {
      login(saved).then((ok) => { if (!ok) logout('The saved token is no longer accepted.'); })
        .catch((e) => logout(`Could not reach the agent: ${e.message}`));
    } else logout('');
  }

  start();
})();
