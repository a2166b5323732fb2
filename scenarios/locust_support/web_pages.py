"""The HTML and JavaScript that ``web_ui`` serves: the fault-controls page and the tab's link.

Plain strings with ``__NAME__`` placeholders (filled and HTML-escaped by ``web_ui``); the page
polls ``./live.json`` every second and draws its plots as inline SVG (no external assets: the
UI works offline).
"""

# ruff: noqa: E501  (HTML and JavaScript in strings: long lines read better than split ones)

from __future__ import annotations

TAB_SCRIPT = r"""
// Adds a link to the fault-controls page above the Retries tab's table (the React table
// renders text only).
setInterval(function () {
  var onTab = new URLSearchParams(location.search).get('tab') === 'retries';
  var link = document.getElementById('rh-fault-link');
  if (!onTab) { if (link) link.remove(); return; }
  if (link) return;
  var table = document.querySelector('table');
  if (!table) return;
  link = document.createElement('div');
  link.id = 'rh-fault-link';
  link.style.margin = '8px 0';
  link.innerHTML = '<a href="./retries/faults" style="font-weight:bold">Fault controls and plots</a>'
    + ' · <a href="./retries/download/verdict.json">verdict JSON</a>'
    + ' · <a href="./retries/download/report.html">HTML report</a>'
    + ' · <a href="./retries/download/run.zip">run folder (zip)</a>';
  var holder = table.closest('.MuiTableContainer-root') || table;
  holder.parentNode.insertBefore(link, holder);
}, 500);
"""

FAULT_PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>retry-harness: faults and retries</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.2em; color: #222; }
fieldset { display: inline-block; vertical-align: top; margin: 0 1em 1em 0; }
label { display: block; margin: .3em 0; }
input { width: 9em; }
table { border-collapse: collapse; margin: .5em 0 1em; }
td, th { border: 1px solid #ccc; padding: .2em .5em; font-size: 90%; text-align: left; }
.pass { background: #d9f2d9; } .fail { background: #f7d4d4; }
.inconclusive, .not_judged, .not_applicable { background: #f2ecd0; }
#error { color: #a00; font-weight: bold; }
svg { border: 1px solid #ddd; margin-right: 1em; }
</style></head><body>
<h1>retry-harness · __SCENARIO__</h1>
<p><a href="../?tab=retries">← back to Locust (Retries tab)</a> ·
<a href="./download/verdict.json">verdict JSON</a> ·
<a href="./download/report.html">HTML report</a> ·
<a href="./download/run.zip">run folder (zip)</a> ·
<a href="./download/run.zip?epoch=all">every epoch (zip)</a></p>
<p id="error">__ERROR__</p>
<h2>Fault controls (every replica: __REPLICAS__)</h2>
<form id="faults" method="post" action="./faults">
<fieldset><legend>Failures</legend>
<label>failure rate <input name="failure_rate" id="failure_rate"></label>
<label>status mix <input name="failure_status" id="failure_status" placeholder="503:1,502:1"></label>
<label>Retry-After <input name="retry_after" id="retry_after" placeholder="seconds or HTTP date"></label>
</fieldset>
<fieldset><legend>Hangs and resets</legend>
<label>hang rate <input name="hang_rate" id="hang_rate"></label>
<label>hang bound (s) <input name="hang_s" id="hang_s"></label>
<label>reset rate <input name="reset_rate" id="reset_rate"></label>
</fieldset>
<fieldset><legend>Latency</legend>
<label>kind <select name="latency_kind" id="latency_kind">
<option>none</option><option>fixed</option><option>uniform</option><option>lognormal</option>
</select></label>
<label>ms (fixed; median for lognormal) <input name="latency_ms" id="latency_ms"></label>
<label>min ms (uniform) <input name="latency_min_ms" id="latency_min_ms"></label>
<label>max ms (uniform) <input name="latency_max_ms" id="latency_max_ms"></label>
</fieldset>
<p><button id="apply" type="submit">Apply to every replica</button></p>
</form>
<details><summary>current profile (JSON)</summary><pre id="profile">__PROFILE__</pre></details>

<h2>Verdict, live</h2>
<p id="share">waiting for the first judgement…</p>
<table id="epochs"><thead><tr><th>epoch</th><th>why</th><th>from</th><th>to</th><th>profile</th>
<th>judged</th><th>verdict</th><th>downloads</th></tr></thead><tbody></tbody></table>
<h3 id="checks-title">Checks</h3>
<table id="checks"><thead><tr><th>check</th><th>state</th><th>summary</th><th>evidence</th></tr>
</thead><tbody></tbody></table>
<h3>Plots (latest judged epoch)</h3>
<svg id="attempts-plot" width="460" height="240"></svg>
<svg id="delay-plot" width="460" height="240"></svg>
<p><small>Left: attempts per logical request, observed share (bars) against the model (dots).
Right: delay before each retry, observed median with 5–95 % range (black) against the
policy's window (green band).</small></p>
<script>
var profile = JSON.parse(document.getElementById('profile').textContent || '{}');
function setv(id, v) { var e = document.getElementById(id); if (e && v !== undefined && v !== null) e.value = v; }
setv('failure_rate', profile.failure_rate); setv('hang_rate', profile.hang_rate);
setv('hang_s', profile.hang_s); setv('reset_rate', profile.reset_rate);
setv('retry_after', profile.retry_after || '');
if (profile.failure_status) setv('failure_status', Object.entries(profile.failure_status).map(function (kv) { return kv[0] + ':' + (+kv[1]).toFixed(3); }).join(','));
if (profile.latency) { setv('latency_kind', profile.latency.kind); setv('latency_ms', profile.latency.ms || profile.latency.median_ms);
  setv('latency_min_ms', profile.latency.min_ms); setv('latency_max_ms', profile.latency.max_ms); }
function esc(s) { return String(s === undefined || s === null ? '' : s).replace(/[&<>"]/g, function (c) { return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]; }); }
function clock(us) { return us ? new Date(us / 1000).toLocaleTimeString() : 'now'; }
function pct(x) { return (100 * x).toFixed(1) + ' %'; }
function svg(tag, attrs, text) { var s = '<' + tag; for (var k in attrs) s += ' ' + k + '="' + attrs[k] + '"'; return s + '>' + (text || '') + '</' + tag + '>'; }
function check(v, name) { return (v.checks || []).find(function (c) { return c.name === name; }); }
function drawAttempts(v) {
  var el = document.getElementById('attempts-plot'), c = check(v, 'attempt_distribution'), d = c && c.data;
  if (!d || !d.attempts) { el.innerHTML = svg('text', {x: 10, y: 20}, 'attempts per request: no data (' + esc(c ? c.summary : 'no check') + ')'); return; }
  var total = d.observed.reduce(function (a, b) { return a + b; }, 0) || 1, n = d.attempts.length, w = 400 / n, out = '';
  out += svg('text', {x: 10, y: 15}, 'attempts per request (n=' + total + ')');
  d.attempts.forEach(function (k, i) {
    var obs = d.observed[i] / total, exp = d.expected[i], x = 40 + i * w;
    out += svg('rect', {x: x + 4, y: 210 - 180 * obs, width: w - 8, height: 180 * obs, fill: '#6a9fd8', 'class': 'bar'});
    out += svg('circle', {cx: x + w / 2, cy: 210 - 180 * exp, r: 5, fill: '#d9534f', 'class': 'model'});
    out += svg('text', {x: x + w / 2 - 4, y: 228}, k);
  });
  el.innerHTML = out;
}
function drawDelays(v) {
  var el = document.getElementById('delay-plot'), c = check(v, 'backoff_window'), d = c && c.data && c.data.per_index;
  if (!d || !Object.keys(d).length) { el.innerHTML = svg('text', {x: 10, y: 20}, 'delay per retry: no data (' + esc(c ? c.summary : 'no check') + ')'); return; }
  var keys = Object.keys(d).sort(function (a, b) { return a - b; }), top = 0.001;
  keys.forEach(function (k) { var b = d[k]; top = Math.max(top, b.hi_s, Math.max.apply(null, (b.delays_s || [0]).concat([0]))); });
  var w = 400 / keys.length, out = svg('text', {x: 10, y: 15}, 'delay before retry k (max ' + (top * 1e3).toFixed(1) + ' ms)');
  keys.forEach(function (k, i) {
    var b = d[k], x = 40 + i * w, ys = function (s) { return 210 - 180 * s / top; };
    out += svg('rect', {x: x + 4, y: ys(b.hi_s), width: w - 8, height: Math.max(1, ys(b.lo_s) - ys(b.hi_s)), fill: '#bfe5bf', 'class': 'window'});
    var ds = (b.delays_s || []).slice().sort(function (a, c) { return a - c; });
    if (ds.length) {
      var q = function (p) { return ds[Math.min(ds.length - 1, Math.floor(p * ds.length))]; };
      out += svg('line', {x1: x + w / 2, x2: x + w / 2, y1: ys(q(0.05)), y2: ys(q(0.95)), stroke: 'black'});
      out += svg('circle', {cx: x + w / 2, cy: ys(q(0.5)), r: 4, fill: 'black', 'class': 'median'});
    }
    out += svg('text', {x: x + w / 2 - 4, y: 228}, k);
  });
  el.innerHTML = out;
}
function render(live) {
  if (live.error) { document.getElementById('share').textContent = live.error; return; }
  var s = live.share || {};
  if (s.requests === undefined) return;
  document.getElementById('share').textContent = 'share judged: ' + s.judged + ' of ' + s.requests + ' requests'
    + (s.requests ? ' (' + pct(s.judged / s.requests) + ')' : '') + '; ' + s.straddling + ' straddle a fault change (not judged); '
    + s.pending + ' ended less than ' + s.settle_s + ' s ago (judged next).';
  var rows = '', latest = null;
  (live.epochs || []).forEach(function (e) {
    var v = e.verdict;
    if (v && e.current !== false) latest = e;  // the checks and plots: the current test's
    var p = e.profile, prof = 'fail ' + pct(p.failure_rate) + ' ' + Object.keys(p.failure_status || {}).join('/')
      + (p.hang_rate ? '; hang ' + pct(p.hang_rate) : '') + (p.reset_rate ? '; reset ' + pct(p.reset_rate) : '')
      + (p.latency && p.latency.kind !== 'none' ? '; latency ' + p.latency.kind : '') + (p.retry_after ? '; Retry-After ' + p.retry_after : '');
    var dl = v ? '<a href="./download/verdict.json?epoch=' + e.index + '">json</a> <a href="./download/report.html?epoch=' + e.index + '">html</a> <a href="./download/run.zip?epoch=' + e.index + '">run.zip</a>' : '';
    rows += '<tr class="epoch ' + (v ? v.outcome : '') + '"><td>' + e.index + '</td><td>' + esc(e.cause) + (e.current === false ? ' (earlier test)' : '') + (e.errors.length ? ' (' + esc(e.errors.join('; ')) + ')' : '')
      + '</td><td>' + clock(e.start_us) + '</td><td>' + clock(e.end_us) + '</td><td class="profile">' + esc(prof) + '</td><td>' + e.judged
      + '</td><td>' + (v ? v.outcome : '–') + '</td><td>' + dl + '</td></tr>';
  });
  document.querySelector('#epochs tbody').innerHTML = rows;
  if (!latest) return;
  var v = latest.verdict, crow = '';
  document.getElementById('checks-title').textContent = 'Checks (epoch ' + latest.index + ', ' + v.outcome + ')';
  (v.checks || []).forEach(function (c) {
    crow += '<tr class="' + c.outcome + '" data-check="' + esc(c.name) + '"><td>' + esc(c.title || c.name) + '</td><td>' + c.outcome + '</td><td>'
      + esc(c.summary) + '</td><td>' + esc((c.evidence || []).slice(0, 2).join(' | ')) + '</td></tr>';
  });
  document.querySelector('#checks tbody').innerHTML = crow;
  drawAttempts(v); drawDelays(v);
}
function poll() { fetch('./live.json').then(function (r) { return r.json(); }).then(render).catch(function () {}); }
poll(); setInterval(poll, 1000);
</script></body></html>
"""
