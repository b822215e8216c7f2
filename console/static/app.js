// Clarion console. Plain JavaScript, no build step. Every value from the
// server is written with textContent or setAttribute, never as HTML: alert
// fields come from Okta events an attacker can influence.
'use strict';

(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const SVGNS = 'http://www.w3.org/2000/svg';

  let csrf = '';
  let me = null;             // the signed-in principal {id, name, email, role, via}
  const roleRank = { viewer: 1, analyst: 2, approver: 3, admin: 4 };
  const can = (role) => !!me && (roleRank[me.role] || 0) >= roleRank[role];
  let created = null;        // the integration the wizard created (with its secret)
  let hookTimer = null;
  let stream = null;
  let reloadTimer = null;

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') e.textContent = v; else if (k === 'class') e.className = v; else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
    return e;
  }
  function svg(tag, attrs) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  }

  function banner(msg, kind) {
    const b = $('#banner');
    if (!msg) { b.hidden = true; return; }
    b.textContent = msg; b.className = 'banner ' + (kind || 'info'); b.hidden = false;
  }

  class HTTPError extends Error {
    constructor(status, body) { super((body && body.message) || ('HTTP ' + status)); this.status = status; this.body = body; }
  }

  async function call(method, path, body) {
    const headers = { 'Accept': 'application/json' };
    if (method !== 'GET') headers['X-CSRF-Token'] = csrf;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const resp = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
    let data = null;
    if (resp.status !== 204) { try { data = await resp.json(); } catch (e) { data = null; } }
    if (resp.status === 401 && path.startsWith('/api/')) { signedOut(); }
    if (!resp.ok) throw new HTTPError(resp.status, data);
    return data;
  }

  // ---- session ----
  function signedIn(info) {
    csrf = info.csrf_token;
    me = info.principal || null;
    $('#sso').hidden = !info.oidc;
    $('#whoami').textContent = me ? me.name + ' (' + me.role + ')' : '';
    for (const a of $$('[data-nav="wizard"]')) a.hidden = !can('admin');
    $('#feedback-card').hidden = !can('analyst');
    $('#nav').hidden = false;
    openStream();
    if (!location.hash || location.hash === '#/login') location.hash = '#/alerts'; else route();
  }
  function signedOut(info) {
    csrf = '';
    me = null;
    $('#whoami').textContent = '';
    if (info && info.oidc !== undefined) $('#sso').hidden = !info.oidc;
    $('#nav').hidden = true;
    if (stream) { stream.close(); stream = null; }
    stopHookTimer();
    created = null;
    show('login');
  }
  $('#login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const err = $('#login-error'); err.hidden = true;
    try {
      const info = await call('POST', '/console/login', { token: $('#login-token').value });
      $('#login-token').value = '';
      signedIn(info);
    } catch (e) {
      err.textContent = e.status === 401 ? 'That is not the admin token.' : e.message; err.hidden = false;
    }
  });
  $('#logout').addEventListener('click', async () => {
    try { await call('POST', '/console/logout'); } catch (e) { /* the cookie is cleared either way */ }
    location.hash = '#/login';
    signedOut();
  });

  // ---- routing ----
  function show(name) {
    for (const v of $$('.view')) v.hidden = v.id !== 'view-' + name;
    for (const a of $$('[data-nav]')) {
      if (a.dataset.nav === name || (name === 'alert' && a.dataset.nav === 'alerts')) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    }
  }
  function route() {
    if (!csrf) { show('login'); return; }
    const h = location.hash.replace(/^#\//, '');
    const [page, id] = h.split('/');
    if (page !== 'tokens') { $('#tok-secret').value = ''; $('#tok-issued').hidden = true; }
    if (page !== 'wizard') {
      stopHookTimer();
      $('#out-secret').value = ''; // shown once: gone once the admin leaves the wizard
      if (created) created.auth_secret = '';
    }
    banner('');
    switch (page) {
      case 'wizard': showWizard(); break;
      case 'integrations': show('integrations'); loadIntegrations(); break;
      case 'tokens': show('tokens'); loadTokens(); break;
      case 'alert': show('alert'); loadAlert(decodeURIComponent(id || '')); break;
      default: show('alerts'); loadAlerts();
    }
  }
  window.addEventListener('hashchange', route);

  // ---- copy buttons ----
  for (const b of $$('button.copy')) {
    b.addEventListener('click', async () => {
      const src = document.getElementById(b.dataset.copy);
      try {
        await navigator.clipboard.writeText(src.value);
      } catch (e) {
        src.select(); document.execCommand('copy');
      }
      b.textContent = 'Copied';
      setTimeout(() => { b.textContent = 'Copy'; }, 1500);
    });
  }

  // ---- wizard ----
  function showWizard() {
    show('wizard');
    for (const s of $$('[data-needs="created"]')) s.classList.toggle('locked', !created);
    if (created) startHookTimer();
  }
  $('#create-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const err = $('#create-error'); err.hidden = true;
    const body = { name: $('#wiz-name').value.trim(), tenant_url: $('#wiz-tenant').value.trim(), client_id: $('#wiz-client').value.trim() };
    if ($('#wiz-insecure').checked) body.insecure = true;
    $('#create-btn').disabled = true;
    try {
      created = await call('POST', '/api/integrations', body);
      $('#out-jwk').value = JSON.stringify(created.public_key_jwk, null, 2);
      $('#out-url').value = created.webhook_url;
      $('#out-field').value = created.auth_field;
      $('#out-secret').value = created.auth_secret;
      $('#verify-results').replaceChildren();
      for (const f of $$('#create-form input')) f.disabled = true;
      showWizard();
      $('#step-key').scrollIntoView({ behavior: 'smooth', block: 'start' });
    } catch (e) {
      err.textContent = e.message; err.hidden = false;
      $('#create-btn').disabled = false;
    }
  });
  $('#restart-btn').addEventListener('click', () => {
    created = null;
    stopHookTimer();
    for (const id of ['out-jwk', 'out-url', 'out-field', 'out-secret']) document.getElementById(id).value = '';
    for (const f of $$('#create-form input')) { f.disabled = false; if (f.type !== 'checkbox') f.value = ''; else f.checked = false; }
    $('#create-btn').disabled = false;
    $('#verify-results').replaceChildren();
    showWizard();
    $('#step-create').scrollIntoView({ block: 'start' });
  });
  $('#verify-btn').addEventListener('click', async () => {
    if (!created) return;
    await runVerify(created.id, $('#verify-results'), $('#verify-btn'));
    refreshHook();
  });

  async function runVerify(id, list, btn) {
    btn.disabled = true;
    list.replaceChildren(el('li', { class: 'check pending', text: 'Checking the org…' }));
    try {
      const res = await call('POST', '/api/integrations/' + encodeURIComponent(id) + '/verify');
      list.replaceChildren(...(res.checks || []).map(renderCheck));
      list.dataset.ok = String(!!res.ok);
    } catch (e) {
      list.replaceChildren(el('li', { class: 'check failed', text: 'Verify failed: ' + e.message }));
      list.dataset.ok = 'false';
    } finally {
      btn.disabled = false;
    }
  }
  const checkNames = { token: 'Client authentication (token)', logs_read: 'Scope okta.logs.read', users_manage: 'Scope okta.users.manage and admin role', event_hook: 'Event hook' };
  function renderCheck(c) {
    const status = c.status || (c.ok ? 'ok' : 'failed');
    const li = el('li', { class: 'check ' + status, 'data-check': c.name },
      el('span', { class: 'mark', 'aria-hidden': 'true', text: status === 'ok' ? '✔' : status === 'failed' ? '✘' : '•' }),
      el('b', { text: checkNames[c.name] || c.name }), ' ',
      el('span', { class: 'status', text: status }),
      el('div', { class: 'detail', text: c.detail || '' }));
    if (c.fix) li.append(el('div', { class: 'fix' }, el('b', { text: 'Fix: ' }), c.fix));
    if (c.code) li.append(el('div', { class: 'code', text: 'Okta error ' + c.code }));
    return li;
  }

  function startHookTimer() {
    stopHookTimer();
    refreshHook();
    hookTimer = setInterval(refreshHook, 3000);
  }
  function stopHookTimer() { if (hookTimer) { clearInterval(hookTimer); hookTimer = null; } }
  async function refreshHook() {
    if (!created) return;
    try {
      const p = await call('GET', '/api/integrations/' + encodeURIComponent(created.id));
      renderHook(p.event_hook || {}, $('#hook-status'));
    } catch (e) { /* keep the last status */ }
  }
  function renderHook(h, root) {
    $('[data-hook="verified"]', root).textContent = h.verified_at ? 'yes, ' + fmtTime(h.verified_at) : 'not yet';
    $('[data-hook="last"]', root).textContent = h.last_delivery_at ? fmtTime(h.last_delivery_at) : 'none yet';
    $('[data-hook="rate"]', root).textContent = (h.events_per_minute || 0).toFixed(1);
    root.classList.toggle('verified', !!h.verified_at);
  }

  // ---- integrations ----
  async function loadIntegrations() {
    const body = $('#integrations-body');
    try {
      const res = await call('GET', '/api/integrations');
      body.replaceChildren(...(res.integrations || []).map((it) => {
        const h = it.event_hook || {};
        const btn = el('button', { type: 'button', text: 'Verify', 'aria-label': 'Verify ' + it.name });
        btn.addEventListener('click', () => runVerify(it.id, $('#integration-checks'), btn));
        return el('tr', {}, el('td', { text: it.name }), el('td', { text: it.tenant_url }), el('td', { text: it.client_id }),
          el('td', { text: h.verified_at ? fmtTime(h.verified_at) : 'no' }), el('td', { text: h.last_delivery_at ? fmtTime(h.last_delivery_at) : '–' }),
          el('td', { text: (h.events_per_minute || 0).toFixed(1) }), el('td', {}, btn));
      }));
      if (!body.children.length) body.append(el('tr', {}, el('td', { colspan: 7, text: 'No Okta org connected yet.' })));
    } catch (e) { banner(e.message, 'error'); }
  }

  // ---- alerts ----
  function filterQuery() {
    const q = new URLSearchParams();
    for (const f of $$('#alert-filters input, #alert-filters select')) if (f.value) q.set(f.name, f.value);
    return q.toString();
  }
  $('#alert-filters').addEventListener('submit', (ev) => { ev.preventDefault(); loadAlerts(); });
  $('#alert-filters').addEventListener('reset', () => setTimeout(loadAlerts, 0));
  for (const s of $$('#alert-filters select')) s.addEventListener('change', loadAlerts);

  async function loadAlerts() {
    try {
      const q = filterQuery();
      const res = await call('GET', '/api/alerts' + (q ? '?' + q : ''));
      const rows = (res.alerts || []).map((a) => {
        const link = el('a', { href: '#/alert/' + encodeURIComponent(a.id), text: (a.user && (a.user.login || a.user.id)) || '?' });
        return el('tr', { 'data-alert': a.id },
          el('td', {}, el('span', { class: 'sev sev-' + String(a.severity).toLowerCase(), text: a.severity })),
          el('td', {}, link), el('td', { text: (a.types || []).map(humanType).join(', ') }),
          el('td', { text: a.status }), el('td', { text: a.disposition }),
          el('td', {}, a.action_required && a.action_required !== 'none' ? el('span', { class: 'badge need-' + a.action_required, text: a.action_required }) : ''),
          el('td', { text: a.anomaly_count }),
          el('td', { text: fmtTime(a.last_seen) }));
      });
      $('#alerts-body').replaceChildren(...rows);
      $('#alerts-empty').hidden = rows.length > 0;
      $('#alerts-count').textContent = res.total > rows.length ? rows.length + ' of ' + res.total : String(res.total);
    } catch (e) { banner(e.message, 'error'); }
  }

  function openStream() {
    if (stream || !window.EventSource) return;
    stream = new EventSource('/api/alerts/stream');
    stream.addEventListener('alerts', () => {
      $('#alerts-live').textContent = 'Live: updated ' + new Date().toISOString().slice(11, 19) + ' UTC';
      clearTimeout(reloadTimer);
      reloadTimer = setTimeout(() => {
        if (!$('#view-alerts').hidden) loadAlerts();
        const h = location.hash.split('/');
        if (!$('#view-alert').hidden && h[1] === 'alert') loadAlert(decodeURIComponent(h[2] || ''), true);
      }, 250);
    });
    stream.addEventListener('error', () => { $('#alerts-live').textContent = 'Live updates reconnecting…'; });
  }

  const typeNames = { impossible_travel: 'Impossible travel', unusual_location: 'Unusual location', unusual_time: 'Unusual time', new_device: 'New device', new_network: 'New network', anonymizing_proxy: 'Anonymizing proxy' };
  function humanType(t) { return typeNames[t] || String(t).replace(/_/g, ' '); }
  function fmtTime(s) {
    if (!s) return '';
    const d = new Date(s);
    return isNaN(d) ? String(s) : d.toISOString().replace('T', ' ').slice(0, 19);
  }

  async function loadAlert(id, quiet) {
    try {
      const res = await call('GET', '/api/alerts/' + encodeURIComponent(id));
      if (!quiet || currentAlert !== id) resetRespond();
      currentAlert = id;
      renderAlert(res.alert, res.anomalies || []);
      keepOpen($('#alert-triage'), () => renderTriage(res.triage || []));
      keepOpen($('#alert-actions'), () => renderActions(res.actions || []));
      renderAudit(res.audit || [], res.actions || []);
    } catch (e) {
      if (!quiet) { $('#alert-title').textContent = 'Alert not found'; banner(e.message, 'error'); }
    }
  }

  function renderAlert(a, anomalies) {
    $('#alert-title').textContent = (a.severity || '') + ' alert: ' + ((a.user && (a.user.login || a.user.id)) || '');
    $('#alert-summary').textContent = a.summary || '';
    const facts = [['Status', a.status], ['Disposition', a.disposition], ['Severity', a.severity],
      ['Detection severity', a.detection_severity], ['Confidence', typeof a.confidence === 'number' ? Math.round(a.confidence * 100) + ' %' : undefined],
      ['Triaged by', a.triaged_by], ['Analyst feedback', a.feedback ? a.feedback.replace(/_/g, ' ') : undefined], ['Action required', a.action_required],
      ['User', a.user ? (a.user.login ? a.user.login + ' (' + a.user.id + ')' : a.user.id) : ''], ['Types', (a.types || []).map(humanType).join(', ')],
      ['Anomalies', a.anomaly_count], ['First seen (UTC)', fmtTime(a.first_seen)], ['Last seen (UTC)', fmtTime(a.last_seen)],
      ['Integration', a.integration_id], ['Dedup key', a.dedup_key], ['Version', a.version]];
    $('#alert-facts').replaceChildren(...facts.filter(([, v]) => v !== undefined && v !== '').flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
    drawMap(anomalies);
    renderBaseline(anomalies);
    $('#alert-anomalies').replaceChildren(...anomalies.map(renderAnomaly));
    if (!anomalies.length) $('#alert-anomalies').append(el('p', { class: 'hint', text: 'The anomalies of this alert have not been read yet.' }));
  }

  const evidenceLabels = {
    distance_km: ['Distance', 'km'], hours: ['Time between', 'h'], speed_kmh: ['Implied speed', 'km/h'], max_speed_kmh: ['Fastest plausible', 'km/h'],
    geo_error_km: ['Geolocation allowance', 'km'], nearest_known: ['Nearest known place', ''], nearest_known_km: ['Distance to nearest known place', 'km'],
    baseline_places: ['Places in baseline', ''], baseline_signins: ['Sign-ins in baseline', ''], history_days: ['Days of history', ''],
    tenant_share: ['Share of the tenant signing in from here', '%'], local_time: ['Local time', ''], time_zone: ['Time zone', ''],
    hour_of_week_share: ['Share of sign-ins at this hour of the week', '%'], hour_of_day_share: ['Share of sign-ins at this hour of day', '%'],
    known_devices: ['Known devices', ''], known_networks: ['Known networks', ''], failures_before: ['Failed sign-ins just before', ''],
    threat_suspected: ['Okta: threat suspected', ''], score_reduced_by: ['Score reduced by', ''], familiar: ['Familiar place (per sign-in)', ''],
  };
  function fmtEvidence(k, v, unit) {
    if (Array.isArray(v)) return v.map(String).join(', ');
    if (unit === '%' && typeof v === 'number') return (v * 100).toFixed(1) + ' %';
    if (typeof v === 'number') return (Math.round(v * 10) / 10) + (unit ? ' ' + unit : '');
    return String(v);
  }
  function renderAnomaly(an) {
    const ev = an.evidence || {};
    const box = el('article', { class: 'anomaly card', 'data-anomaly': an.id },
      el('h3', {}, humanType(an.type), ' ', el('span', { class: 'score', text: 'score ' + Number(an.score || 0).toFixed(2) })),
      el('p', { class: 'sentence', text: an.sentence || '' }));
    const rows = [];
    for (const [k, v] of Object.entries(ev)) {
      if (k === 'signins' || v === null || v === undefined || v === '') continue;
      const [label, unit] = evidenceLabels[k] || [k, ''];
      rows.push(el('dt', { text: label }), el('dd', { text: fmtEvidence(k, v, unit) }));
    }
    if (rows.length) box.append(el('h4', { text: 'Baseline and evidence' }), el('dl', { class: 'facts evidence' }, ...rows));
    const signins = ev.signins || [];
    if (signins.length) {
      box.append(el('h4', { text: 'Sign-ins' }), el('table', { class: 'grid small' },
        el('thead', {}, el('tr', {}, ...['Time (UTC)', 'Outcome', 'Place', 'IP', 'Network', 'Device'].map((h) => el('th', { text: h })))),
        el('tbody', {}, ...signins.map((s) => el('tr', {},
          el('td', { text: fmtTime(s.published) }), el('td', { text: s.outcome }),
          el('td', { text: [s.city, s.state, s.country].filter(Boolean).join(', ') || 'unknown' }),
          el('td', { text: s.ip || '' }),
          el('td', { text: [s.asn ? 'AS' + s.asn : '', s.isp, s.proxy ? 'proxy' : '', s.mobile_carrier ? 'mobile carrier' : ''].filter(Boolean).join(' · ') }),
          el('td', { text: [s.browser, s.os, s.device].filter(Boolean).join(' / ') }))))));
    }
    return box;
  }

  // Equirectangular: x = lon + 180, y = 90 - lat, in the 360 x 180 viewBox
  // of static/world.svg.
  function drawMap(anomalies) {
    const m = $('#alert-map');
    m.replaceChildren(svg('image', { href: '/static/world.svg', x: 0, y: 0, width: 360, height: 180, preserveAspectRatio: 'none' }));
    const seen = new Map();
    const proj = (s) => [s.lon + 180, 90 - s.lat];
    for (const an of anomalies) {
      const ss = ((an.evidence || {}).signins || []).filter((s) => typeof s.lat === 'number' && typeof s.lon === 'number');
      if (an.type === 'impossible_travel' && ss.length >= 2) {
        for (let i = 1; i < ss.length; i++) travelLine(m, proj(ss[i - 1]), proj(ss[i]));
      }
      ss.forEach((s, i) => {
        const key = (s.uuid || '') + '/' + s.lat + '/' + s.lon;
        if (seen.has(key)) return;
        seen.set(key, true);
        const [x, y] = proj(s);
        const familiar = ((an.evidence || {}).familiar || [])[i];
        const c = svg('circle', { cx: x, cy: y, r: 2.2, class: 'pin ' + (s.outcome === 'SUCCESS' ? 'ok' : 'fail') + (familiar ? ' familiar' : ''), 'data-uuid': s.uuid || '' });
        const t = svg('title', {});
        t.textContent = [fmtTime(s.published), [s.city, s.country].filter(Boolean).join(', '), s.ip, s.outcome].filter(Boolean).join(' · ');
        c.append(t);
        m.append(c);
      });
    }
  }
  function travelLine(m, a, b) {
    let [x1, y1] = a; let [x2, y2] = b;
    if (Math.abs(x2 - x1) > 180) { // across the date line: draw it the short way, in two pieces
      const shift = x2 > x1 ? -360 : 360;
      m.append(svg('line', { x1, y1, x2: x2 + shift, y2, class: 'travel' }));
      m.append(svg('line', { x1: x1 - shift, y1, x2, y2, class: 'travel' }));
      return;
    }
    m.append(svg('line', { x1, y1, x2, y2, class: 'travel' }));
  }

  // ---- baseline summary ----
  // The user's baseline as the detectors saw it: the largest figures any
  // anomaly of the alert reports, and the nearest known place.
  function renderBaseline(anomalies) {
    const keys = ['baseline_signins', 'baseline_places', 'history_days', 'known_devices', 'known_networks'];
    const best = {};
    let nearest = null;
    for (const an of anomalies) {
      const ev = an.evidence || {};
      for (const k of keys) if (typeof ev[k] === 'number' && (best[k] === undefined || ev[k] > best[k])) best[k] = ev[k];
      if (ev.nearest_known && (!nearest || (typeof ev.nearest_known_km === 'number' && ev.nearest_known_km < nearest.km))) {
        nearest = { place: ev.nearest_known, km: typeof ev.nearest_known_km === 'number' ? ev.nearest_known_km : Infinity };
      }
    }
    const rows = [];
    for (const k of keys) {
      if (best[k] === undefined) continue;
      const [label, unit] = evidenceLabels[k];
      rows.push(el('dt', { text: label }), el('dd', { 'data-baseline': k, text: fmtEvidence(k, best[k], unit) }));
    }
    if (nearest) {
      rows.push(el('dt', { text: 'Nearest known place' }),
        el('dd', { 'data-baseline': 'nearest_known', text: nearest.place + (isFinite(nearest.km) ? ' (' + Math.round(nearest.km) + ' km away)' : '') }));
    }
    if (!rows.length) rows.push(el('dt', { text: 'Baseline' }), el('dd', { text: 'No baseline figures in this alert\'s evidence (a new user, or the anomalies have not been read yet).' }));
    $('#alert-baseline').replaceChildren(...rows);
  }

  // ---- agent's reasoning ----
  // keepOpen re-renders root with render() and reopens the <details> that
  // were open (live updates re-render the view).
  function keepOpen(root, render) {
    const open = new Set($$('details[open]', root).map((d) => d.dataset.key));
    render();
    for (const d of $$('details', root)) if (open.has(d.dataset.key)) d.open = true;
  }
  function ms(v) { return typeof v === 'number' ? (v >= 1000 ? (v / 1000).toFixed(1) + ' s' : Math.round(v) + ' ms') : ''; }
  function pre(text, cls) { return el('pre', { class: 'text' + (cls ? ' ' + cls : ''), text: text === undefined || text === null ? '' : String(text) }); }
  function factList(pairs, cls) {
    return el('dl', { class: 'facts ' + (cls || '') }, ...pairs.filter(([, v]) => v !== undefined && v !== null && v !== '').flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: String(v) })]));
  }
  function outputLine(o) {
    if (!o) return '';
    return [o.disposition, o.severity, typeof o.confidence === 'number' ? 'confidence ' + Math.round(o.confidence * 100) + ' %' : ''].filter(Boolean).join(' · ');
  }
  function renderTriage(runs) {
    const root = $('#alert-triage');
    if (!runs.length) { root.replaceChildren(el('p', { class: 'hint', text: 'No triage run yet. Triage starts when the alert is New; its reasoning appears here by itself.' })); return; }
    root.replaceChildren(...runs.map((r, i) => {
      const out = r.output || {};
      const by = r.by === 'llm' ? 'LLM agent' + (r.provider || r.model ? ' (' + [r.provider, r.model].filter(Boolean).join(', ') + ')' : '') : r.by === 'deterministic' ? 'Deterministic triage' : String(r.by || '?');
      const box = el('article', { class: 'triage-run card', 'data-run': r.id || '', 'data-by': r.by || '' },
        el('h3', {}, (i === 0 ? 'Latest run' : 'Earlier run') + ' · alert version ' + r.alert_version + ' · ', el('span', { class: 'by', text: by })));
      if (r.fallback) box.append(el('p', { class: 'warning', 'data-fallback': '' }, el('b', { text: 'Fallback: ' }), 'the configured LLM was not used (' + r.fallback + '); the deterministic triage decided.'));
      if (r.gate) box.append(el('p', { class: 'warning', 'data-gate': '' }, el('b', { text: 'Policy gate: ' }), r.gate));
      box.append(el('p', { class: 'summary', text: out.summary || '' }));
      box.append(factList([
        ['Verdict', outputLine(out)],
        ['Agent said', r.agent_output ? outputLine(r.agent_output) : ''],
        ['Deterministic triage', outputLine(r.deterministic)],
        ['Recommended actions', (out.recommended_actions || []).join(', ') || 'none'],
        ['Evidence (event uuids)', (out.evidence || []).join(', ')],
        ['Tokens', r.tokens && r.tokens.total ? r.tokens.total + ' (' + r.tokens.prompt + ' prompt, ' + r.tokens.completion + ' completion)' : ''],
        ['Latency', ms(r.latency_ms)],
        ['Finished (UTC)', fmtTime(r.finished)],
      ], 'wide'));
      if (r.console_truncated) box.append(el('p', { class: 'hint', text: 'This run was large: the console shortened its texts. The whole run is in the clarion.triage topic.' }));
      const steps = r.steps || [];
      if (steps.length) {
        const ol = el('ol', { class: 'steps-list' });
        for (const st of steps) {
          const li = el('li', { class: 'step-item' }, el('div', { class: 'step-head', text: 'Step ' + st.n + (st.latency_ms ? ' · ' + ms(st.latency_ms) : '') }));
          if (st.text) li.append(pre(st.text));
          if (st.error) li.append(el('p', { class: 'error', text: 'Error: ' + st.error }));
          for (const [j, tc] of (st.tool_calls || []).entries()) {
            const d = el('details', { class: 'tool-call', 'data-key': (r.id || i) + '/' + st.n + '/' + j },
              el('summary', { text: 'Tool call: ' + tc.name + (tc.latency_ms ? ' · ' + ms(tc.latency_ms) : '') + (tc.error ? ' · failed' : '') }),
              el('h4', { text: 'Input' }), pre(tc.input), el('h4', { text: 'Output' }), pre(tc.output));
            if (tc.error) d.append(el('p', { class: 'error', text: 'Error: ' + tc.error }));
            li.append(d);
          }
          ol.append(li);
        }
        box.append(el('details', { class: 'run-steps', 'data-key': (r.id || i) + '/steps', open: i === 0 }, el('summary', { text: steps.length + ' step' + (steps.length === 1 ? '' : 's') + ' and tool calls' }), ol));
      }
      return box;
    }));
  }

  // ---- response actions ----
  const kindNames = { suspend_user: 'Suspend the user', clear_sessions: 'Clear the user\'s sessions' };
  function renderActions(actions) {
    const root = $('#alert-actions');
    if (!actions.length) { root.replaceChildren(el('p', { class: 'hint', text: 'No response action for this alert.' })); return; }
    root.replaceChildren(el('table', { class: 'grid actions' },
      el('thead', {}, el('tr', {}, ...['Action', 'State', 'Mode', 'Guard', 'Requested', 'Expires (UTC)', 'Decided', 'Result', ''].map((h) => el('th', { text: h })))),
      el('tbody', {}, ...actions.map((a) => {
        const cell = el('td', { class: 'buttons' });
        if (a.state === 'pending_approval' && can('approver')) {
          const ok = el('button', { type: 'button', class: 'primary', 'data-approve': a.id, text: 'Approve', 'aria-label': 'Approve: ' + (kindNames[a.kind] || a.kind) });
          const no = el('button', { type: 'button', 'data-reject': a.id, text: 'Reject', 'aria-label': 'Reject: ' + (kindNames[a.kind] || a.kind) });
          ok.addEventListener('click', () => decide(a, 'approve', ok, no));
          no.addEventListener('click', () => decide(a, 'reject', ok, no));
          cell.append(ok, ' ', no);
        }
        const result = [];
        if (a.error) result.push(el('div', { class: 'error', text: a.error }));
        if (a.dry_run) result.push(el('div', { text: 'dry run: Okta not called' }));
        if (a.attempts) result.push(el('div', { class: 'hint', text: a.attempts + ' attempt' + (a.attempts === 1 ? '' : 's') + (a.executed_at ? ', ' + fmtTime(a.executed_at) : '') }));
        if (a.result) result.push(el('details', { 'data-key': a.id + '/result' }, el('summary', { text: 'What Okta answered' }), pre(JSON.stringify(a.result, null, 2))));
        return el('tr', { 'data-action': a.id, 'data-kind': a.kind, 'data-state': a.state },
          el('td', {}, el('b', { text: kindNames[a.kind] || a.kind }), a.reason ? el('div', { class: 'hint', text: a.reason }) : ''),
          el('td', {}, el('span', { class: 'state state-' + a.state, text: String(a.state).replace(/_/g, ' ') })),
          el('td', { text: a.mode || '' }),
          el('td', { text: a.guard ? a.guard.replace(/_/g, ' ') : '' }),
          el('td', { text: [a.requested_by, fmtTime(a.requested_at)].filter(Boolean).join(', ') }),
          el('td', { text: a.state === 'pending_approval' || a.state === 'expired' ? fmtTime(a.expires_at) : '' }),
          el('td', { text: a.decided_by ? a.decided_by + ', ' + fmtTime(a.decided_at) : '' }),
          el('td', {}, ...result), cell);
      }))));
  }
  // ---- API tokens ----
  async function loadTokens() {
    $('#tok-kind').querySelector('option[value="service"]').disabled = !can('admin');
    for (const o of $$('#tok-role option')) o.disabled = !can(o.value);
    let res;
    try { res = await call('GET', '/api/tokens'); } catch (e) { banner('Could not load the tokens: ' + e.message, 'error'); return; }
    const body = $('#tokens-body');
    body.replaceChildren(...(res.tokens || []).map((tk) => {
      const cell = el('td', { class: 'buttons' });
      const live = !tk.revoked_at && new Date(tk.expires_at) > new Date();
      if (live) {
        const b = el('button', { type: 'button', 'data-revoke': tk.id, text: 'Revoke', 'aria-label': 'Revoke token ' + tk.name });
        b.addEventListener('click', async () => {
          b.disabled = true;
          try { await call('DELETE', '/api/tokens/' + encodeURIComponent(tk.id)); loadTokens(); } catch (e) { b.disabled = false; banner('Could not revoke: ' + e.message, 'error'); }
        });
        cell.append(b);
      }
      return el('tr', { 'data-token': tk.id },
        el('td', { text: tk.name }), el('td', { text: tk.kind }), el('td', { text: tk.role }), el('td', { text: tk.owner_name }),
        el('td', { text: fmtTime(tk.created_at) }), el('td', { text: fmtTime(tk.expires_at) }),
        el('td', { text: tk.revoked_at ? 'revoked ' + fmtTime(tk.revoked_at) : live ? 'active' : 'expired' }), cell);
    }));
  }
  $('#token-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const err = $('#tok-error'); err.hidden = true;
    try {
      const out = await call('POST', '/api/tokens', { name: $('#tok-name').value, kind: $('#tok-kind').value, role: $('#tok-role').value, ttl_seconds: Number($('#tok-days').value) * 86400 });
      $('#tok-secret').value = out.secret;
      $('#tok-issued').hidden = false;
      $('#tok-name').value = '';
      loadTokens();
    } catch (e) {
      err.textContent = e.message; err.hidden = false;
    }
  });

  // ---- audit ----
  const auditNames = { verdict: 'Verdict', approve: 'Approved', reject: 'Rejected' };
  function renderAudit(events, actions) {
    const kindOf = {};
    for (const a of actions) kindOf[a.id] = kindNames[a.kind] || a.kind;
    const root = $('#alert-audit');
    if (!events.length) { root.replaceChildren(el('p', { class: 'hint', text: 'Nobody has acted on this alert yet.' })); return; }
    root.replaceChildren(el('table', { class: 'grid audit' },
      el('thead', {}, el('tr', {}, ...['When (UTC)', 'Who', 'Role', 'What', 'On', 'From'].map((h) => el('th', { text: h })))),
      el('tbody', {}, ...events.map((ev) => {
        const actor = ev.actor || {};
        const d = ev.details || {};
        const what = (auditNames[ev.action] || ev.action) + (d.feedback ? ': ' + d.feedback.replace(/_/g, ' ') : '') + (d.note ? ' (' + d.note + ')' : '');
        return el('tr', { 'data-audit': ev.action },
          el('td', { text: fmtTime(ev.at) }),
          el('td', { class: 'audit-who', text: actor.name + (actor.email ? ' <' + actor.email + '>' : '') }),
          el('td', { text: actor.role || '' }),
          el('td', { text: what }),
          el('td', { text: ev.target === 'action' ? (kindOf[ev.target_id] || ev.target_id) : 'the alert' }),
          el('td', { text: ev.remote || '' }));
      }))));
  }

  async function decide(a, verb, ok, no) {
    ok.disabled = true; no.disabled = true;
    const out = $('#action-result');
    try {
      await call('POST', '/api/actions/' + encodeURIComponent(a.id) + '/' + verb);
      out.textContent = (verb === 'approve' ? 'Approved: ' : 'Rejected: ') + (kindNames[a.kind] || a.kind) + '. The state below follows by itself.';
      out.className = 'hint ok';
    } catch (e) {
      ok.disabled = false; no.disabled = false;
      out.className = 'error';
      out.textContent = e.status === 409 ? 'This action is no longer waiting for a decision.' : e.status === 404 ? 'The responder does not know this action.' : 'Could not ' + verb + ': ' + e.message;
    }
  }

  // ---- analyst feedback ----
  let currentAlert = '';
  let pendingFeedback = '';
  const feedbackQuestions = {
    confirm_compromised: 'Confirm that this account is compromised? The alert is escalated as a Confirmed Threat, and suspending the user and clearing their sessions are offered for approval.',
    confirm_safe: 'Confirm that these sign-ins were the user\'s own? The alert is closed as Benign, and their places and networks become known for this user.',
    dismiss: 'Dismiss this alert as a false positive? The alert is closed; the baseline does not change.',
  };
  function resetRespond() {
    pendingFeedback = '';
    $('#feedback-confirm').hidden = true;
    $('#feedback-note').value = '';
    $('#feedback-result').textContent = '';
    $('#action-result').textContent = '';
    for (const b of $$('#feedback-buttons button')) { b.disabled = false; b.removeAttribute('aria-pressed'); }
  }
  for (const b of $$('#feedback-buttons button')) {
    b.addEventListener('click', () => {
      pendingFeedback = b.dataset.feedback;
      for (const o of $$('#feedback-buttons button')) o.setAttribute('aria-pressed', String(o === b));
      $('#feedback-question').textContent = feedbackQuestions[pendingFeedback];
      $('#feedback-confirm').hidden = false;
      $('#feedback-result').textContent = '';
      $('#feedback-note').focus();
    });
  }
  $('#feedback-no').addEventListener('click', resetRespond);
  $('#feedback-confirm').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!pendingFeedback || !currentAlert) return;
    const kind = pendingFeedback;
    const btn = $('#feedback-yes');
    btn.disabled = true;
    try {
      await call('POST', '/api/alerts/' + encodeURIComponent(currentAlert) + '/feedback', { kind, note: $('#feedback-note').value });
      resetRespond();
      $('#feedback-result').textContent = { confirm_compromised: 'Recorded: compromised. The alert is escalating; approve the offered actions below when they appear.', confirm_safe: 'Recorded: safe. The alert closes shortly.', dismiss: 'Recorded: dismissed. The alert closes shortly.' }[kind];
    } catch (e) {
      $('#feedback-result').textContent = 'Could not record the feedback: ' + e.message;
    } finally {
      btn.disabled = false;
    }
  });

  // ---- start ----
  (async function start() {
    try { signedIn(await call('GET', '/console/session')); } catch (e) { signedOut(e.body); }
  })();
})();
