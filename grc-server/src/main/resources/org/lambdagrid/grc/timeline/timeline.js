// The GRC's timeline page: polls /api/timeline (and /api/job for the selected job) and redraws.
// Every value from the GRC is written as text (textContent, attributes), never as markup.
// The JSON is for operators: each request carries the operator token the user signed in with,
// kept in this tab's sessionStorage only (gone with the tab) until "sign out".
'use strict';
(() => {
  const SVG = 'http://www.w3.org/2000/svg';
  const SPANS = {'5m': 5 * 60e3, '30m': 30 * 60e3, '2h': 2 * 3600e3, '12h': 12 * 3600e3,
    '3d': 3 * 86400e3};
  const POLL_MS = 1500;
  const LABEL_W = 230;
  const AXIS_H = 34;
  const ROW_H = 64;
  const CHAR_W = 6.4; // of an 11px label, to leave out labels that would not fit
  const SECTION_H = 20;
  const TERMINAL_JOB = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);
  const TERMINAL_RES = new Set(['ENDED', 'CANCELLED']);

  const TOKEN_KEY = 'lambdagrid.timeline.token';

  const params = new URLSearchParams(location.search);
  let spanKey = Object.hasOwn(SPANS, params.get('span') || '') ? params.get('span') : '30m';
  let selectedJob = params.get('job');
  let last = null;
  let loop = 0; // the polling loop's generation: a new one (sign-in) ends the one before

  // ------------------------------------------------------------------ small helpers

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function titled(node, text) {
    node.appendChild(svg('title', {}, text));
    return node;
  }

  const pad = (n, w = 2) => String(n).padStart(w, '0');

  function clock(ms, seconds = true) {
    const d = new Date(ms);
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + (seconds ? ':' + pad(d.getSeconds()) : '');
  }

  function stamp(ms) {
    const d = new Date(ms);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + clock(ms);
  }

  function duration(ms) {
    if (ms < 1000) return ms + ' ms';
    const s = ms / 1000;
    if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + ' s';
    const m = Math.floor(s / 60);
    if (m < 60) return m + ' min ' + pad(Math.floor(s % 60)) + ' s';
    const h = Math.floor(m / 60);
    return h + ' h ' + pad(m % 60) + ' min';
  }

  function rate(bps) {
    const units = [[1e12, 'Tbit/s'], [1e9, 'Gbit/s'], [1e6, 'Mbit/s'], [1e3, 'kbit/s']];
    for (const [f, u] of units) {
      if (bps >= f) return (bps / f).toFixed(bps % f === 0 ? 0 : 1) + ' ' + u;
    }
    return bps + ' bit/s';
  }

  const entries = (o) => Object.entries(o || {}).sort((a, b) => a[0].localeCompare(b[0]));

  // ------------------------------------------------------------------ polling

  function setStatus(text, error) {
    const s = document.getElementById('status');
    s.textContent = text;
    s.classList.toggle('error', !!error);
  }

  // The GRC refused the token (or there was none): 401.
  class SignInNeeded extends Error {}

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  async function getJson(url) {
    const headers = {};
    const t = token();
    if (t) headers.Authorization = 'Bearer ' + t;
    const r = await fetch(url, {cache: 'no-store', credentials: 'omit', headers});
    if (r.status === 401) throw new SignInNeeded((await r.text()).trim());
    if (!r.ok) throw new Error(r.status + ' ' + (await r.text()).trim());
    return r.json();
  }

  function startPolling() {
    const mine = ++loop;
    const tick = async () => {
      if (mine !== loop) return;
      try {
        const data = await getJson('api/timeline?span=' + SPANS[spanKey]);
        if (mine !== loop) return;
        showContent();
        last = data;
        render(data);
        if (selectedJob) await pollJob();
        setStatus('updated ' + clock(data.now) + ' (every ' + POLL_MS / 1000 + ' s)');
      } catch (e) {
        if (mine !== loop) return;
        if (e instanceof SignInNeeded) {
          showLogin(e.message);
          return; // until the next sign-in
        }
        setStatus('cannot read the GRC: ' + e.message, true);
      }
      setTimeout(tick, POLL_MS);
    };
    tick();
  }

  // ------------------------------------------------------------------ signing in and out

  function showLogin(reason) {
    loop++;
    const hadToken = token() !== null;
    sessionStorage.removeItem(TOKEN_KEY);
    clearData();
    document.getElementById('content').hidden = true;
    document.getElementById('sign-out').hidden = true;
    document.getElementById('login').hidden = false;
    document.getElementById('login-error').textContent = hadToken
        ? 'The GRC refused the token: ' + reason : '';
    setStatus('not signed in');
    document.getElementById('token').focus();
  }

  function showContent() {
    document.getElementById('login').hidden = true;
    document.getElementById('content').hidden = false;
    document.getElementById('sign-out').hidden = false;
  }

  // Forgets everything the GRC sent: nothing of it stays on screen once signed out.
  function clearData() {
    last = null;
    document.getElementById('chart').replaceChildren();
    for (const t of ['#reservations', '#jobs', '#phases', '#job-events']) {
      document.querySelector(t + ' tbody').replaceChildren();
    }
    document.getElementById('job-title').textContent = '';
    document.getElementById('job-summary').textContent = '';
  }

  function signIn(e) {
    e.preventDefault();
    const input = document.getElementById('token');
    const t = input.value.trim();
    input.value = '';
    if (!t) {
      document.getElementById('login-error').textContent = 'Paste an operator token.';
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, t);
    document.getElementById('login-error').textContent = '';
    setStatus('signing in...');
    startPolling();
  }

  function signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin('');
  }

  async function pollJob() {
    const id = selectedJob;
    try {
      const job = await getJson('api/job?id=' + encodeURIComponent(id));
      if (id === selectedJob) renderJob(job);
    } catch (e) {
      if (e instanceof SignInNeeded) throw e;
      if (id === selectedJob) {
        document.getElementById('job-summary').textContent = 'cannot read job ' + id + ': '
            + e.message;
      }
    }
  }

  function select(id) {
    selectedJob = id;
    const u = new URL(location.href);
    if (id) u.searchParams.set('job', id); else u.searchParams.delete('job');
    history.replaceState(null, '', u);
    document.getElementById('job').hidden = !id;
    if (last) render(last);
    if (id) {
      pollJob().catch((e) => { if (e instanceof SignInNeeded) showLogin(e.message); });
    }
  }

  // ------------------------------------------------------------------ the chart

  // First fit: each item gets the lowest offset where it overlaps in time no item placed before
  // it. Live items are placed first, so an ended one never pushes a live one aside.
  function place(items, capacity, size) {
    const placed = [];
    const offsets = new Map();
    const order = items.slice().sort((a, b) =>
        (TERMINAL_RES.has(a.state) - TERMINAL_RES.has(b.state)) || (a.start - b.start));
    for (const it of order) {
      const k = size(it);
      const busy = placed.filter((p) => p.start < it.shownEnd && it.start < p.shownEnd);
      const candidates = [0, ...busy.map((p) => p.offset + p.size)].sort((a, b) => a - b);
      let offset = 0;
      for (const c of candidates) {
        if (c + k > capacity + 1e-9) break;
        if (busy.every((p) => c + k <= p.offset + 1e-9 || c >= p.offset + p.size - 1e-9)) {
          offset = c;
          break;
        }
      }
      placed.push({start: it.start, shownEnd: it.shownEnd, offset, size: k});
      offsets.set(it.id, offset);
    }
    return offsets;
  }

  function render(data) {
    const chart = document.getElementById('chart');
    const width = Math.max(700, chart.clientWidth || 1000);
    const plotW = width - LABEL_W - 12;
    const span = data.to - data.from;
    const x = (t) => LABEL_W + Math.max(0, Math.min(plotW, (t - data.from) / span * plotW));
    const reservations = data.reservations.map((r) => Object.assign({}, r, {
      shownEnd: r.endedAt !== undefined && r.endedAt < r.end ? r.endedAt : r.end}));
    const byRes = new Map(reservations.map((r) => [r.id, r]));
    const height = AXIS_H + 2 * SECTION_H + (data.sites.length + data.links.length) * ROW_H + 6;
    const root = svg('svg', {width, height, viewBox: `0 0 ${width} ${height}`,
      role: 'img', 'aria-label': 'timeline of sites and links'});

    // time axis
    const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
      43200, 86400].map((s) => s * 1000);
    const step = steps.find((s) => s / span * plotW >= 90) || 86400e3;
    const tz = new Date(data.from).getTimezoneOffset() * 60e3;
    for (let t = Math.ceil((data.from - tz) / step) * step + tz; t < data.to; t += step) {
      root.appendChild(svg('line', {class: 'tick', x1: x(t), x2: x(t), y1: AXIS_H - 6,
        y2: height}));
      root.appendChild(svg('text', {class: 'tick-label', x: x(t) + 3, y: AXIS_H - 8},
          step >= 86400e3 ? stamp(t).slice(0, 10) : clock(t, step < 60e3)));
    }

    let y = AXIS_H;
    let alt = false;
    const section = (name) => {
      root.appendChild(svg('text', {class: 'section', x: 8, y: y + 14}, name));
      y += SECTION_H;
    };
    const rowBase = (attrs) => {
      const g = svg('g', attrs);
      g.appendChild(svg('rect', {class: 'row-bg' + (alt ? ' alt' : ''), x: 0, y, width,
        height: ROW_H}));
      alt = !alt;
      root.appendChild(g);
      return g;
    };
    const gauge = (g, share) => {
      g.appendChild(svg('rect', {class: 'gauge', x: 8, y: y + 38, width: 150, height: 7}));
      g.appendChild(svg('rect', {class: 'gauge-fill' + (share >= 1 ? ' full' : ''), x: 8,
        y: y + 38, width: 150 * Math.min(1, share), height: 7}));
    };
    const inner = (offset, size, capacity) => {
      const h = ROW_H - 8;
      return {y: y + 4 + h * offset / capacity, h: Math.max(3, h * size / capacity)};
    };

    section('sites (nodes)');
    for (const site of data.sites) {
      const g = rowBase({'data-site': site.name});
      g.appendChild(svg('text', {class: 'row-name', x: 8, y: y + 16}, site.name));
      g.appendChild(svg('text', {class: 'row-note', x: 8, y: y + 31},
          `${site.nodesReservedNow} of ${site.nodes} nodes reserved now`));
      gauge(g, site.nodes > 0 ? site.nodesReservedNow / site.nodes : 0);
      const here = reservations.filter((r) => r.siteNodes[site.name]);
      const capacity = Math.max(site.nodes, 1);
      const offsets = place(here, capacity, (r) => r.siteNodes[site.name]);
      for (const r of here.sort((a, b) => TERMINAL_RES.has(b.state) - TERMINAL_RES.has(a.state))) {
        const n = r.siteNodes[site.name];
        const b = inner(offsets.get(r.id), n, capacity);
        const x0 = x(r.start);
        const w = Math.max(2, x(r.shownEnd) - x0);
        g.appendChild(titled(svg('rect', {class: 'res s-' + r.state, x: x0, y: b.y, width: w,
          height: b.h, 'data-reservation': r.id, 'data-state': r.state}),
        `${r.id} (${r.user}) ${r.state}: ${n} of ${site.nodes} nodes, ${stamp(r.start)} to `
          + `${stamp(r.end)}` + (r.message ? ' - ' + r.message : '')));
        // A tall enough bar carries its label on top and its jobs below it.
        const labelled = b.h >= 24;
        label(g, 'res-label', x0 + 4, b.y + 11, w - 8, `${r.id} ${r.user}`, labelled);
        const band = labelled ? {y: b.y + 13, h: b.h - 13} : b;
        for (const job of data.jobs.filter((j) => j.reservation === r.id)) {
          drawJob(g, job, band, x, data.now, labelled);
        }
      }
      // jobs whose reservation is not shown (left out of the answer): at the row's middle
      for (const job of data.jobs.filter((j) => !byRes.has(j.reservation) && j.sites[site.name])) {
        drawJob(g, job, {y: y + 4, h: ROW_H - 8}, x, data.now, false);
      }
      y += ROW_H;
    }

    section('inter-site links (bandwidth)');
    for (const link of data.links) {
      const g = rowBase({'data-link': link.id});
      g.appendChild(svg('text', {class: 'row-name', x: 8, y: y + 16}, link.id));
      const share = link.reservedNowBps / link.capacityBps;
      g.appendChild(svg('text', {class: 'row-note', x: 8, y: y + 31},
          `${rate(link.reservedNowBps)} of ${rate(link.capacityBps)} reserved now`
            + ` (${Math.round(share * 100)}%)`));
      gauge(g, share);
      const here = reservations.filter((r) => r.linkBps[link.id]);
      const offsets = place(here, link.capacityBps, (r) => r.linkBps[link.id]);
      for (const r of here) {
        const bps = r.linkBps[link.id];
        const b = inner(offsets.get(r.id), bps, link.capacityBps);
        const x0 = x(r.start);
        const w = Math.max(2, x(r.shownEnd) - x0);
        g.appendChild(titled(svg('rect', {class: 'link-share s-' + r.state, x: x0, y: b.y,
          width: w, height: b.h, 'data-reservation': r.id, 'data-state': r.state}),
        `${r.id} (${r.user}) ${r.state}: ${rate(bps)} of ${rate(link.capacityBps)}`
          + ` (${Math.round(bps / link.capacityBps * 100)}%)`));
        label(g, 'res-label', x0 + 4, b.y + Math.min(b.h / 2, 10) + 4, w - 8,
            `${r.id} ${rate(bps)}`, b.h >= 9);
      }
      y += ROW_H;
    }

    if (data.now >= data.from && data.now < data.to) {
      root.appendChild(svg('line', {class: 'now', x1: x(data.now), x2: x(data.now), y1: AXIS_H - 4,
        y2: height}));
      root.appendChild(svg('text', {class: 'now-label', x: x(data.now) + 3, y: 11},
          'now ' + clock(data.now)));
    }
    root.addEventListener('click', (e) => {
      const target = e.target.closest('[data-job]');
      if (target) select(target.getAttribute('data-job'));
    });
    root.addEventListener('keydown', (e) => {
      const target = e.target.closest('[data-job]');
      if (target && e.key === 'Enter') select(target.getAttribute('data-job'));
    });
    chart.replaceChildren(root);
    renderTables(data);
  }

  // A label only where it fits: inside [x, x + room] and when tall enough.
  function label(g, cls, x, y, room, text, tallEnough) {
    if (tallEnough && text.length * CHAR_W <= room) {
      g.appendChild(svg('text', {class: cls, x, y}, text));
    }
  }

  function drawJob(g, job, band, x, now, fill) {
    if (job.started === undefined) return; // still pending: no bar yet
    const end = job.ended !== undefined ? job.ended : now;
    const x0 = x(job.started);
    const w = Math.max(3, x(end) - x0);
    const h = Math.max(3, fill ? band.h - 3 : band.h * 0.56);
    const y = fill ? band.y : band.y + (band.h - h) / 2;
    const cls = 'job s-' + job.state + (job.id === selectedJob ? ' selected' : '');
    g.appendChild(titled(svg('rect', {class: cls, x: x0, y, width: w, height: h,
      'data-job': job.id, 'data-state': job.state, tabindex: 0}),
    `${job.id} (${job.user}) ${job.state}: ${job.command}\nstarted ${stamp(job.started)}, `
      + (job.ended !== undefined ? 'ran ' : 'running for ') + duration(end - job.started)));
    label(g, 'job-label', x0 + 4, y + h / 2 + 4, w - 8, `${job.id} ${job.state}`, h >= 12);
  }

  // ------------------------------------------------------------------ the tables

  function stateCell(state) {
    const td = el('td', {class: 'state'});
    td.appendChild(el('span', {class: 'swatch job s-' + state}));
    td.appendChild(document.createTextNode(' ' + state));
    return td;
  }

  function renderTables(data) {
    const rb = document.querySelector('#reservations tbody');
    const rows = data.reservations.map((r) => {
      const tr = el('tr', {'data-reservation': r.id, 'data-state': r.state});
      tr.appendChild(el('td', {}, r.id));
      tr.appendChild(el('td', {}, r.user));
      tr.appendChild(el('td', {class: 'state'}, r.state));
      tr.appendChild(el('td', {}, stamp(r.start) + ' to ' + clock(r.end)));
      tr.appendChild(el('td', {}, entries(r.siteNodes).map(([s, n]) => s + '=' + n).join(', ')));
      tr.appendChild(el('td', {}, r.bandwidthBps ? rate(r.bandwidthBps) : '-'));
      tr.appendChild(el('td', {}, r.jobs.join(', ')));
      return tr;
    });
    if (data.more.reservations) {
      const tr = el('tr');
      tr.appendChild(el('td', {colspan: 7},
          `... and ${data.more.reservations} older ones in this span`));
      rows.push(tr);
    }
    rb.replaceChildren(...rows);

    const jb = document.querySelector('#jobs tbody');
    const jrows = data.jobs.map((j) => {
      const tr = el('tr', {'data-job': j.id, 'data-state': j.state,
        class: 'clickable' + (j.id === selectedJob ? ' selected' : '')});
      tr.appendChild(el('td', {}, j.id));
      tr.appendChild(el('td', {}, j.user));
      tr.appendChild(stateCell(j.state));
      tr.appendChild(el('td', {}, j.reservation));
      tr.appendChild(el('td', {}, j.started !== undefined ? stamp(j.started) : '-'));
      tr.appendChild(el('td', {class: 'num'}, j.started === undefined ? '-'
          : duration((j.ended !== undefined ? j.ended : data.now) - j.started)));
      tr.appendChild(el('td', {}, j.command));
      tr.addEventListener('click', () => select(j.id));
      return tr;
    });
    if (data.more.jobs) {
      const tr = el('tr');
      tr.appendChild(el('td', {colspan: 7}, `... and ${data.more.jobs} older ones in this span`));
      jrows.push(tr);
    }
    jb.replaceChildren(...jrows);
  }

  // ------------------------------------------------------------------ one job's phases

  function renderJob(job) {
    document.getElementById('job').hidden = false;
    document.getElementById('job-title').textContent = `job ${job.id} (${job.user}): ${job.state}`;
    const summary = [`command: ${job.command}`];
    if (job.reservation) summary.push(`reservation ${job.reservation}`);
    summary.push('nodes ' + entries(job.sites).map(([s, n]) => s + '=' + n).join(', '));
    if (job.exitCode !== undefined) summary.push(`exit code ${job.exitCode}`);
    if (job.message) summary.push(job.message);
    document.getElementById('job-summary').textContent = summary.join(' \u00b7 ');

    const total = Math.max(1, ...job.phases.map((p) => p.durationMs));
    const rows = job.phases.map((p) => {
      const tr = el('tr', {'data-state': p.state});
      tr.appendChild(stateCell(p.state));
      tr.appendChild(el('td', {}, p.phase));
      tr.appendChild(el('td', {}, clock(p.start)));
      const open = p.end === undefined;
      tr.appendChild(el('td', {class: 'num'}, TERMINAL_JOB.has(p.state) ? '-'
          : duration(p.durationMs) + (open ? ' so far' : '')));
      const bar = el('td');
      if (!TERMINAL_JOB.has(p.state)) {
        const pr = el('progress', {max: total, value: p.durationMs});
        bar.appendChild(pr);
      }
      tr.appendChild(bar);
      tr.appendChild(el('td', {class: 'num'}, String(p.nodeEvents)));
      tr.appendChild(el('td', {}, p.message));
      return tr;
    });
    document.querySelector('#phases tbody').replaceChildren(...rows);

    // The API answers the latest 500 events; all of those are shown, and the rest counted.
    document.getElementById('job-events-summary').textContent = job.eventsLeftOut > 0
        ? `events: the latest ${job.events.length} of ${job.events.length + job.eventsLeftOut}`
        : `events: all ${job.events.length}`;
    const ev = job.events.map((e) => {
      const tr = el('tr', {'data-kind': e.kind});
      tr.appendChild(el('td', {class: 'num'}, String(e.seq)));
      tr.appendChild(el('td', {}, clock(e.time)));
      tr.appendChild(el('td', {}, e.host || e.site || 'job'));
      tr.appendChild(el('td', {}, e.state));
      tr.appendChild(el('td', {}, e.phase));
      tr.appendChild(el('td', {}, e.message));
      return tr;
    });
    document.querySelector('#job-events tbody').replaceChildren(...ev);
  }

  // ------------------------------------------------------------------ start

  function start() {
    for (const b of document.querySelectorAll('#spans button')) {
      b.classList.toggle('on', b.getAttribute('data-span') === spanKey);
      b.addEventListener('click', () => {
        spanKey = b.getAttribute('data-span');
        const u = new URL(location.href);
        u.searchParams.set('span', spanKey);
        history.replaceState(null, '', u);
        for (const o of document.querySelectorAll('#spans button')) {
          o.classList.toggle('on', o === b);
        }
        if (last) once();
      });
    }
    document.getElementById('job-close').addEventListener('click', () => select(null));
    document.getElementById('login-form').addEventListener('submit', signIn);
    document.getElementById('sign-out').addEventListener('click', signOut);
    window.addEventListener('resize', () => { if (last) render(last); });
    if (selectedJob) document.getElementById('job').hidden = false;
    startPolling(); // without a token the GRC answers 401: the sign-in form
  }

  // A span change fetches at once, without starting a second polling loop.
  async function once() {
    const mine = loop;
    try {
      const data = await getJson('api/timeline?span=' + SPANS[spanKey]);
      if (mine !== loop) return;
      last = data;
      render(data);
    } catch (e) {
      if (mine !== loop) return;
      if (e instanceof SignInNeeded) showLogin(e.message);
      else setStatus('cannot read the GRC: ' + e.message, true);
    }
  }

  start();
})();
