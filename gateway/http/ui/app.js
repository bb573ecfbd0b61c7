// edgegate status page: one EventSource, a few uPlot charts, no build step.
/* global uPlot */
"use strict";

const MAX_POINTS = 600;
const $ = (id) => document.getElementById(id);

function fmt(n, digits) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  const abs = Math.abs(n);
  if (abs >= 1e6) return (n / 1e6).toFixed(1) + " M";
  if (abs >= 1e4) return (n / 1e3).toFixed(1) + " k";
  if (digits !== undefined) return n.toFixed(digits);
  return abs >= 100 || Number.isInteger(n) ? Math.round(n).toLocaleString("en") : n.toFixed(1);
}

function duration(s) {
  if (s < 60) return Math.round(s) + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
  if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
}

function ago(iso) {
  if (!iso) return "never";
  return duration(Math.max(0, (Date.now() - Date.parse(iso)) / 1000)) + " ago";
}

const COLORS = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2"];
const points = [];
const charts = {};

function chartWidth(el) {
  return Math.max(240, el.clientWidth - 8);
}

function makeChart(id, seriesNames) {
  const el = $(id);
  const opts = {
    width: chartWidth(el),
    height: 170,
    legend: { live: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true } },
    axes: [{ stroke: "#888" }, { stroke: "#888", size: 50 }],
    series: [{}, ...seriesNames.map((name, i) => ({ label: name, stroke: COLORS[i % COLORS.length], width: 2, points: { show: false } }))],
  };
  const data = [[], ...seriesNames.map(() => [])];
  return { plot: new uPlot(opts, data, el), names: seriesNames.join("\u0000"), el };
}

function ensureChart(key, id, names) {
  const c = charts[key];
  if (c && c.names === names.join("\u0000")) return c;
  if (c) c.plot.destroy();
  charts[key] = makeChart(id, names);
  return charts[key];
}

function redraw() {
  const xs = points.map((p) => p.t / 1000);
  const ingest = ensureChart("ingest", "chart-ingest", ["messages/s", "samples in/s", "samples out/s"]);
  ingest.plot.setData([xs, points.map((p) => p.messages_per_second), points.map((p) => p.samples_in_per_second), points.map((p) => p.samples_out_per_second)]);
  const last = points[points.length - 1];
  const names = last ? last.targets.map((t) => t.name) : [];
  const byName = (p, name) => p.targets.find((t) => t.name === name);
  const outbox = ensureChart("outbox", "chart-outbox", names);
  outbox.plot.setData([xs, ...names.map((n) => points.map((p) => byName(p, n)?.outbox_rows ?? null))]);
  const age = ensureChart("age", "chart-age", names);
  age.plot.setData([xs, ...names.map((n) => points.map((p) => byName(p, n)?.oldest_age_seconds ?? null))]);
}

function kvTable(id, obj) {
  const body = $(id).tBodies[0];
  const entries = Object.entries(obj);
  body.replaceChildren(
    ...(entries.length === 0
      ? [row([["none", "muted"]])]
      : entries.map(([k, v]) => row([[k, ""], [fmt(v), "n"]]))),
  );
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const [text, cls] of cells) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.append(td);
  }
  return tr;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function renderTargets(targets) {
  $("targets").replaceChildren(
    ...targets.map((t) => {
      const card = el("div", "target");
      card.dataset.target = t.name;
      card.append(el("span", "badge " + t.state, t.state), el("span", "name", t.name), el("span", "url", t.url));
      const figs = el("div", "figs");
      figs.append(
        el("span", "", "outbox " + fmt(t.outbox_rows) + " batches"),
        el("span", "", "oldest " + duration(t.oldest_age_seconds)),
        el("span", "", fmt(t.samples_sent_per_second) + " samples/s sent"),
        el("span", "", "last success " + ago(t.last_success)),
        el("span", "", "dead letters " + fmt(t.dead_letter_rows)),
      );
      card.append(figs);
      if (t.last_error && t.state === "down") card.append(el("span", "err", "last error " + ago(t.last_error.at) + ": " + t.last_error.message));
      return card;
    }),
  );
}

function render(p) {
  const ready = $("ready");
  ready.textContent = p.ready ? "ready" : "not ready";
  ready.className = "badge " + (p.ready ? "up" : "down");
  $("uptime").textContent = duration(p.uptime_seconds);
  $("devices").textContent = fmt(p.connected_devices);
  $("messages-rate").textContent = fmt(p.messages_per_second);
  $("samples-in-rate").textContent = fmt(p.samples_in_per_second);
  $("samples-out-rate").textContent = fmt(p.samples_out_per_second);
  $("reduction").textContent = p.reduction_ratio === null ? "–" : fmt(p.reduction_ratio, 1) + " : 1";
  $("in-out").textContent = fmt(p.samples_in_total) + " in → " + fmt(p.samples_out_total) + " out";
  $("dead-letters").textContent = fmt(p.dead_letter_rows);
  renderTargets(p.targets);
  kvTable("drops", p.drops);
  kvTable("refusals", p.refusals);
}

function push(p) {
  points.push(p);
  if (points.length > MAX_POINTS) points.shift();
}

function connect() {
  const es = new EventSource("/api/v1/events");
  es.addEventListener("history", (e) => {
    points.length = 0;
    for (const p of JSON.parse(e.data)) push(p);
    if (points.length) render(points[points.length - 1]);
    redraw();
  });
  es.onmessage = (e) => {
    const p = JSON.parse(e.data);
    push(p);
    render(p);
    redraw();
  };
  es.onopen = () => ($("conn").textContent = "live");
  es.onerror = () => ($("conn").textContent = "reconnecting…");
}

window.addEventListener("resize", () => {
  for (const c of Object.values(charts)) c.plot.setSize({ width: chartWidth(c.el), height: 170 });
});

connect();
