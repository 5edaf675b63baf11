/* ocrstream live dashboard: uPlot line charts of window metrics + recent documents.
 *
 * Data: GET api/aggregates (columnar series per business, window_start in epoch ms UTC),
 * GET api/documents, GET api/documents/{id}. Filters come from the form, or at start
 * from the page URL (?business_id=a&business_id=b&start=..&end=..&granularity=..).
 * Times in the form are UTC. Default range: yesterday 00:00 to tomorrow 00:00 UTC.
 *
 * Test hooks (read by tests/test_dashboard_browser.py): <body data-state data-loads
 * data-query>, and per chart <div class="chart" data-metric data-points data-series
 * data-values> (points = x values drawn, values = non-null y values over all series).
 */
(function () {
  "use strict";

  const LABELS = {
    document_count: "documents per window",
    total_amount: "total amount",
    avg_score: "average score",
    avg_ocr_score: "average OCR score",
    median_score: "median score",
    median_ocr_score: "median OCR score",
    ocr_seconds_p50: "OCR seconds p50",
    ocr_seconds_p95: "OCR seconds p95",
    late_events: "late events",
    type_counts: "documents by type (selected businesses)",
  };
  const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777",
                   "#4b5563", "#65a30d"];

  const $ = (id) => document.getElementById(id);
  const body = document.body;
  let config = null;
  let charts = {};          // metric -> {plot, el, key}
  let timer = null;
  let loads = 0;
  let inFlight = false;
  let pending = null;       // a load asked for while one was running: run it next

  // ---------------------------------------------------------------- helpers

  function token() {
    return $("token").value || localStorage.getItem("ocrstream.token") || "";
  }

  async function api(path) {
    const headers = {};
    const t = token();
    if (t) headers["Authorization"] = "Bearer " + t;
    const resp = await fetch(path, { headers });
    if (!resp.ok) {
      let msg = resp.status + " " + resp.statusText;
      try {
        const j = await resp.json();
        msg += ": " + (typeof j.detail === "string" ? j.detail : j.detail.map((d) => d.msg).join("; "));
      } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    return resp.json();
  }

  function toInput(iso) { return iso ? iso.slice(0, 16) : ""; }            // "2024-05-01T10:00"
  function fromInput(v) { return v ? v + ":00Z" : ""; }                     // as UTC
  function fmtTime(iso) { return iso ? iso.replace("T", " ").replace(/\.\d+Z$/, "") : ""; }

  function setStatus(text, isError) {
    const el = $("status");
    el.textContent = text;
    el.classList.toggle("error", !!isError);
  }

  function selectedBusinesses() {
    return Array.from($("businesses").selectedOptions).map((o) => o.value);
  }

  function query() {
    const q = new URLSearchParams();
    for (const b of selectedBusinesses()) q.append("business_id", b);
    q.set("start", fromInput($("start").value));
    q.set("end", fromInput($("end").value));
    q.set("granularity", $("granularity").value);
    return q;
  }

  // ---------------------------------------------------------------- charts

  /** Align series on the union of their window starts (seconds); null where a business has no window. */
  function align(series, pick) {
    const xs = new Set();
    for (const s of series) for (const t of s.window_start) xs.add(t);
    const x = Array.from(xs).sort((a, b) => a - b);
    const index = new Map(x.map((t, i) => [t, i]));
    const ys = series.map((s) => {
      const y = new Array(x.length).fill(null);
      s.window_start.forEach((t, i) => { y[index.get(t)] = pick(s, i); });
      return y;
    });
    return [x.map((t) => t / 1000), ...ys];
  }

  function typeData(series) {
    const types = new Set();
    for (const s of series) for (const m of s.type_counts) for (const k of Object.keys(m)) types.add(k);
    const names = Array.from(types).sort();
    const xs = new Set();
    for (const s of series) for (const t of s.window_start) xs.add(t);
    const x = Array.from(xs).sort((a, b) => a - b);
    const index = new Map(x.map((t, i) => [t, i]));
    const ys = names.map(() => new Array(x.length).fill(null));
    for (const s of series) {
      s.window_start.forEach((t, i) => {
        const m = s.type_counts[i] || {};
        names.forEach((n, j) => { ys[j][index.get(t)] = (ys[j][index.get(t)] || 0) + (m[n] || 0); });
      });
    }
    return { names, data: [x.map((t) => t / 1000), ...ys] };
  }

  function chartEl(metric) {
    let el = document.querySelector(`.chart[data-metric="${metric}"]`);
    if (!el) {
      el = document.createElement("div");
      el.className = "chart";
      el.dataset.metric = metric;
      el.innerHTML = `<h3>${LABELS[metric] || metric}</h3><div class="plot"></div>`;
      $("charts").appendChild(el);
    }
    return el;
  }

  function draw(metric, names, data) {
    const el = chartEl(metric);
    const key = metric + "|" + names.join("\u0001");
    const values = data.slice(1).reduce((n, y) => n + y.filter((v) => v !== null).length, 0);
    el.dataset.points = String(data[0].length);
    el.dataset.series = String(names.length);
    el.dataset.values = String(values);
    const existing = charts[metric];
    if (existing && existing.key === key) {
      existing.plot.setData(data);            // live refresh keeps the chart (and zoom) in place
      return;
    }
    if (existing) existing.plot.destroy();
    const width = Math.max(el.clientWidth - 16, 300);
    const opts = {
      width, height: 200,
      scales: { x: { time: true } },
      series: [{ label: "window start (UTC)" },
               ...names.map((n, i) => ({ label: n, stroke: PALETTE[i % PALETTE.length], width: 1.5,
                                         spanGaps: false, points: { show: data[0].length < 120 } }))],
      axes: [{}, { size: 60 }],
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      legend: { live: true },
    };
    const plot = new uPlot(opts, data, el.querySelector(".plot"));
    charts[metric] = { plot, key };
  }

  function render(resp) {
    const series = resp.series;
    const names = series.map((s) => s.business_id);
    for (const metric of config.metrics) {
      draw(metric, names, align(series, (s, i) => s[metric][i]));
    }
    const t = typeData(series);
    draw("type_counts", t.names, t.data);
  }

  // ---------------------------------------------------------------- documents

  function renderDocuments(resp) {
    const tbody = $("documents").querySelector("tbody");
    tbody.replaceChildren();
    for (const d of resp.documents) {
      const tr = document.createElement("tr");
      if (d.is_late) tr.className = "late";
      const cells = [fmtTime(d.event_time), d.business_id, d.doc_type, d.engine,
                     d.total === null ? "" : (d.currency ? d.currency + " " : "") + d.total,
                     d.score.toFixed(2)];
      for (const c of cells) {
        const td = document.createElement("td");
        td.textContent = c;
        tr.appendChild(td);
      }
      const text = document.createElement("td");
      text.className = "text";
      text.textContent = d.text_preview + (d.text_chars > d.text_preview.length ? " …" : "");
      text.title = "show the full OCR result";
      text.addEventListener("click", () => showDocument(d.url));
      tr.appendChild(text);
      const img = document.createElement("td");
      const a = document.createElement("a");
      a.href = d.image_url;
      a.target = "_blank";
      a.rel = "noopener";
      a.textContent = "image";
      img.appendChild(a);
      tr.appendChild(img);
      tr.dataset.documentId = d.document_id;
      tbody.appendChild(tr);
    }
    $("doc-count").textContent = `${resp.count} shown`;
    $("documents").dataset.rows = String(resp.documents.length);
  }

  async function showDocument(url) {
    try {
      const d = await api(url);
      $("doc-detail").hidden = false;
      $("doc-detail-title").textContent = `${d.document_id} — ${d.business_id} — ${d.doc_type} (${d.engine})`;
      const fields = Object.entries(d.fields).filter(([, v]) => v !== null)
        .map(([k, v]) => `${k}: ${v}  (confidence ${(d.field_confidences[k] ?? NaN).toFixed(2)})`).join("\n");
      const timings = Object.entries(d.timings_s).map(([k, v]) => `${k} ${v.toFixed(3)} s`).join(", ");
      $("doc-detail-text").textContent = `${fields}\n\ntimings: ${timings}\n\n${d.text}`;
    } catch (e) {
      setStatus("document: " + e.message, true);
    }
  }

  // ---------------------------------------------------------------- loading

  async function load(reason) {
    if (inFlight) { pending = reason; return; }
    const ids = selectedBusinesses();
    const q = query();
    body.dataset.query = q.toString();
    if (!ids.length) {
      setStatus("select at least one business");
      body.dataset.state = "empty";
      return;
    }
    inFlight = true;
    body.dataset.state = "loading";
    try {
      const [agg, docs] = await Promise.all([
        api("api/aggregates?" + q.toString()),
        api("api/documents?" + new URLSearchParams([...ids.map((b) => ["business_id", b]),
                                                  ["start", q.get("start")], ["end", q.get("end")],
                                                  ["limit", "50"]]).toString()),
      ]);
      render(agg);
      renderDocuments(docs);
      loads += 1;
      body.dataset.loads = String(loads);
      body.dataset.state = "ready";
      const points = agg.series.reduce((n, s) => n + s.points, 0);
      setStatus(`${reason}: ${points} windows, ${docs.count} documents — ${new Date().toISOString().slice(11, 19)} UTC`);
    } catch (e) {
      body.dataset.state = "error";
      setStatus(e.message, true);
    } finally {
      inFlight = false;
      if (pending) { const next = pending; pending = null; load(next); }
    }
  }

  function schedule() {
    if (timer) clearInterval(timer);
    timer = null;
    if ($("auto").checked) timer = setInterval(() => load("refreshed"), config.refresh_s * 1000);
  }

  async function loadBusinesses(wanted) {
    const resp = await api("api/businesses");
    const select = $("businesses");
    const ids = resp.businesses.map((b) => b.business_id);
    for (const w of wanted) if (!ids.includes(w)) ids.push(w);   // allow ids with no hour window yet
    select.replaceChildren();
    for (const id of ids) {
      const opt = document.createElement("option");
      opt.value = id;
      opt.textContent = id;
      opt.selected = wanted.length ? wanted.includes(id) : select.options.length < 3;
      select.appendChild(opt);
    }
  }

  async function init() {
    config = await (await fetch("api/config")).json();
    const url = new URLSearchParams(location.search);
    const hash = new URLSearchParams(location.hash.slice(1));
    if (hash.get("token")) localStorage.setItem("ocrstream.token", hash.get("token"));
    $("token").value = localStorage.getItem("ocrstream.token") || "";
    $("token-box").hidden = !config.auth_required;
    $("refresh-s").textContent = `(${config.refresh_s} s)`;
    $("start").value = toInput(url.get("start") || config.default_start);
    $("end").value = toInput(url.get("end") || config.default_end);
    $("granularity").value = url.get("granularity") || "minute";
    if (url.has("auto")) $("auto").checked = url.get("auto") !== "0";
    try {
      await loadBusinesses(url.getAll("business_id"));
    } catch (e) {
      setStatus(e.message, true);
      body.dataset.state = "error";
    }
    for (const id of ["businesses", "granularity", "start", "end"]) {
      $(id).addEventListener("change", () => load("filter changed"));
    }
    $("auto").addEventListener("change", schedule);
    $("token").addEventListener("change", () => {
      localStorage.setItem("ocrstream.token", $("token").value);
      loadBusinesses(selectedBusinesses()).then(() => load("token changed"));
    });
    $("filters").addEventListener("submit", (ev) => { ev.preventDefault(); load("applied"); });
    window.addEventListener("resize", () => {
      for (const m of Object.keys(charts)) {
        const el = chartEl(m);
        charts[m].plot.setSize({ width: Math.max(el.clientWidth - 16, 300), height: 200 });
      }
    });
    await load("loaded");
    schedule();
  }

  window.ocrstreamDashboard = { load, charts: () => charts };
  init().catch((e) => { setStatus(String(e), true); body.dataset.state = "error"; });
})();
