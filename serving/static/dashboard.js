/* ocrstream live dashboard: uPlot charts of window metrics, totals, documents of a window.
 *
 * Data: GET api/aggregates (columnar series per business, window_start/window_end in epoch
 * ms UTC), GET api/businesses, GET api/documents. State comes from the form, or at start
 * from the page URL (?business_id=a&business_id=b&start=<ms|ISO>&end=..&granularity=..
 * &tz=utc|local&window=<window start ms>&window_business=a), and is written back to it.
 *
 * Charts read like Grafana's time series panels:
 * - the x axis spans exactly the selected [start, end) - never the data's extent;
 *   default yesterday 00:00 to tomorrow 00:00 (UTC, or local days with tz=local);
 * - one line with points per business, colour fixed per business across charts, and a
 *   grey "total" line over the selected businesses where a total means something
 *   (sums; document-weighted means for average scores; none for medians/percentiles);
 * - the line breaks wherever a business has no window (no interpolation across gaps);
 * - the tooltip shows the window, each business's value, document count and whether the
 *   row is final, current (window still open) or a late update (re-emitted after late
 *   events); drag to zoom the range; click a point to list that window's documents.
 *
 * Series -> chart frames (pure functions): static/frames.js. This file is over 500 lines
 * because it is one page controller: its sections (form state, charts, documents, loading)
 * share the page state object and the uPlot instances.
 *
 * Test hooks (tests/integration/test_dashboard_browser.py): <body data-state data-loads data-query>;
 * per chart <div class="chart" data-metric data-points data-series data-values
 * data-per-series data-x-min data-x-max> (points = windows drawn, values = non-null
 * business values, x-min/x-max = the x scale in epoch ms); window.ocrstreamDashboard.
 */
(function () {
  "use strict";

  const O = window.ocrstream;
  const { el, MINUTE_MS, HOUR_MS } = O;

  const { METRIC_INFO, TYPE_COLOURS, frame, metricData, typeData, rowStatus } = window.ocrstreamFrames;

  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const state = {
    config: null, all: [], selected: [], tz: "utc", startMs: 0, endMs: 0, granularity: "minute",
    window: null,       // {businesses, startMs, endMs} whose documents are listed, or null
    agg: null,
    signedOut: false,   // the API needs a token and this browser has no session
  };
  const charts = {};    // metric -> {plot, key, frame, names}
  let timer = null;
  let loads = 0;
  let inFlight = false;
  let pending = null;

  function sizeMs() { return state.granularity === "hour" ? HOUR_MS : MINUTE_MS; }

  // ---------------------------------------------------------------- form <-> state

  function presetRange(preset, nowMs) {
    const minute = Math.floor(nowMs / MINUTE_MS) * MINUTE_MS;
    switch (preset) {
      case "1h": return [minute - HOUR_MS + MINUTE_MS, minute + MINUTE_MS];
      case "6h": return [minute - 6 * HOUR_MS + MINUTE_MS, minute + MINUTE_MS];
      case "24h": return [minute - 24 * HOUR_MS + MINUTE_MS, minute + MINUTE_MS];
      case "7d": return [O.startOfDay(nowMs, state.tz, -6), O.startOfDay(nowMs, state.tz, 1)];
      default: return [O.startOfDay(nowMs, state.tz, -1), O.startOfDay(nowMs, state.tz, 1)];
    }
  }

  function writeRangeInputs() {
    $("start").value = O.toInput(state.startMs, state.tz);
    $("end").value = O.toInput(state.endMs, state.tz);
    for (const node of document.querySelectorAll(".tz-label")) node.textContent = O.tzName(state.tz);
  }

  function readForm() {
    state.selected = Array.from($("businesses").querySelectorAll("input:checked")).map((i) => i.value);
    state.granularity = $("granularity").value;
    // the inputs show minutes: only a value the user changed replaces the (exact) range
    if ($("start").value !== O.toInput(state.startMs, state.tz)) {
      const s = O.fromInput($("start").value, state.tz);
      if (!Number.isNaN(s)) state.startMs = s;
    }
    if ($("end").value !== O.toInput(state.endMs, state.tz)) {
      const e = O.fromInput($("end").value, state.tz);
      if (!Number.isNaN(e)) state.endMs = e;
    }
  }

  function query() {
    const q = new URLSearchParams();
    for (const b of state.selected) q.append("business_id", b);
    q.set("start", String(state.startMs));
    q.set("end", String(state.endMs));
    q.set("granularity", state.granularity);
    return q;
  }

  function writeUrl() {
    const q = query();
    q.set("tz", state.tz);
    if ($("preset").value !== "custom") q.set("preset", $("preset").value);
    if (state.window) {
      q.set("window", String(state.window.startMs));
      for (const b of state.window.businesses) q.append("window_business", b);
    }
    history.replaceState(null, "", location.pathname + "?" + q.toString() + location.hash);
  }

  function renderBusinessPicker(wanted) {
    const box = $("businesses");
    for (const node of Array.from(box.querySelectorAll("label"))) node.remove();
    for (const id of state.all) {
      const input = el("input", { type: "checkbox", value: id });
      input.checked = wanted.includes(id);
      input.addEventListener("change", () => load("filter changed"));
      box.appendChild(el("label", { class: "biz" }, input, O.swatch(O.colourOf(id, state.all)), id));
    }
  }

  // ---------------------------------------------------------------- charts

  function chartEl(metric) {
    let node = document.querySelector(`.chart[data-metric="${metric}"]`);
    if (!node) {
      const info = METRIC_INFO[metric] || [metric, null, false];
      node = el("div", { class: "chart", dataset: { metric } },
        el("h3", {}, info[0]), el("div", { class: "legend" }), el("div", { class: "plot" }),
        el("div", { class: "chart-empty", hidden: true }, "no windows in this range"));
      $("charts").appendChild(node);
    }
    return node;
  }

  function yRange(fromZero) {
    return (u, min, max) => {
      if (min === null || max === null) return [0, 1];
      if (fromZero) return [0, max > 0 ? max * 1.1 : 1];
      const pad = Math.max((max - min) * 0.1, 0.02);
      return [Math.max(0, min - pad), max + pad];
    };
  }

  function legendFor(node, entries) {
    const legend = node.querySelector(".legend");
    legend.replaceChildren(...entries.map(([name, colour, dashed]) =>
      el("span", { class: "item" + (dashed ? " dashed" : "") }, O.swatch(colour), name)));
  }

  function draw(metric, names, colours, f, ys, total) {
    const node = chartEl(metric);
    const info = METRIC_INFO[metric] || [metric, null, false];
    const data = [f.x.map((t) => t / 1000), ...ys];
    if (total) data.push(total);
    const key = [metric, state.tz, total ? "t" : "", ...names].join("\u0001");
    const perSeries = {};
    names.forEach((n, k) => { perSeries[n] = ys[k].filter((v) => v !== null).length; });
    node.dataset.points = String(f.windows);
    node.dataset.series = String(names.length);
    node.dataset.values = String(ys.reduce((n, y) => n + y.filter((v) => v !== null).length, 0));
    node.dataset.perSeries = JSON.stringify(perSeries);
    node.querySelector(".chart-empty").hidden = f.windows > 0;
    const entries = names.map((n, k) => [n, colours[k], false]);
    if (total) entries.push([info[1] === "sum" ? "total" : "all selected (weighted mean)", O.TOTAL_COLOUR, true]);
    legendFor(node, entries);
    const existing = charts[metric];
    if (existing && existing.key === key) {
      existing.state.frame = f;
      existing.plot.setData(data);          // live refresh keeps the chart in place
      return;
    }
    if (existing) existing.plot.destroy();
    const width = Math.max(node.clientWidth - 16, 300);
    const dense = f.x.length > 0 ? width / f.x.length : 10;
    const pointSize = Math.max(2.5, Math.min(6, dense));
    const series = [{ label: "window start", value: (u, v) => (v === null ? "" : O.fmtTime(v * 1000, state.tz)) },
      ...names.map((n, k) => ({ label: n, stroke: colours[k], width: 1.5, spanGaps: false,
                                points: { show: true, size: pointSize, fill: colours[k], stroke: colours[k] } }))];
    if (total) {
      series.push({ label: "total", stroke: "rgba(17, 24, 39, 0.55)", width: 1, spanGaps: false,
                    points: { show: false } });
    }
    const plotState = { metric, dragged: false, frame: f, names, total: !!total };
    const opts = {
      width, height: 210,
      scales: { x: { time: true, range: () => [state.startMs / 1000, state.endMs / 1000] },
                y: { range: yRange(info[2]) } },
      series,
      axes: [{ label: `window start (${O.tzName(state.tz)})`, labelSize: 18, labelFont: "11px system-ui",
               font: "11px system-ui", values: timeTicks },
             { size: 56, font: "11px system-ui" }],
      tzDate: state.tz === "local" ? (ts) => new Date(ts * 1000) : (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      legend: { show: false },
      cursor: { drag: { x: true, y: false, setScale: false }, points: { size: 9 } },
      hooks: {
        setCursor: [(u) => tooltip(u, plotState)],
        setSelect: [(u) => zoomTo(u, plotState)],
        setScale: [(u, key) => { if (key === "x") markScale(node, u); }],
      },
    };
    const plot = new uPlot(opts, data, node.querySelector(".plot"));
    plot.over.addEventListener("mousedown", () => { plotState.dragged = false; });
    plot.over.addEventListener("mouseleave", () => { $("tooltip").hidden = true; });
    plot.over.addEventListener("click", () => clickWindow(plot, plotState));
    charts[metric] = { plot, key, state: plotState };
  }

  /** 24-hour tick labels in the chosen zone; a day boundary shows the date. */
  function timeTicks(u, splits, axisIdx, space, incr) {
    return splits.map((ts) => {
      const text = O.fmtTime(ts * 1000, state.tz);   // "YYYY-MM-DD HH:MM"
      const day = text.slice(5, 10), hm = text.slice(11);
      return hm === "00:00" || incr >= 86400 ? day : hm;
    });
  }

  function markScale(node, plot) {
    if (plot.scales.x.min === null || plot.scales.x.min === undefined) return;
    node.dataset.xMin = String(Math.round(plot.scales.x.min * 1000));
    node.dataset.xMax = String(Math.round(plot.scales.x.max * 1000));
  }

  function fmtValue(metric, v) {
    if (v === null || v === undefined) return "–";
    if (metric === "document_count" || metric === "late_events" || metric === "type_counts") return O.fmtNumber(v);
    if (metric.startsWith("ocr_seconds")) return v.toFixed(3) + " s";
    if (metric === "total_amount") return O.fmtNumber(Math.round(v * 100) / 100);
    return v.toFixed(3);
  }

  function tooltip(u, ps) {
    const tip = $("tooltip");
    const j = u.cursor.idx;
    if (j === null || j === undefined || u.cursor.left < 0) { tip.hidden = true; return; }
    const f = ps.frame;
    const start = f.x[j];
    const rows = [];
    const series = state.agg ? state.agg.series : [];
    if (ps.metric === "type_counts") {
      ps.names.forEach((n, k) => {
        const v = u.data[k + 1][j];
        if (v !== null) rows.push(el("div", { class: "row" }, O.swatch(TYPE_COLOURS[n] || "#6b7280"), n, ": ", String(v)));
      });
    } else {
      ps.names.forEach((n, k) => {
        const i = f.rows[k][j];
        if (i < 0) {
          rows.push(el("div", { class: "row muted" }, O.swatch(O.colourOf(n, state.all)), n, ": no window"));
          return;
        }
        const s = series[k];
        rows.push(el("div", { class: "row" }, O.swatch(O.colourOf(n, state.all)),
          el("b", {}, n), ": ", fmtValue(ps.metric, u.data[k + 1][j]),
          el("span", { class: "muted" }, ` · ${s.document_count[i]} docs · ${rowStatus(s, i)}`)));
      });
      if (ps.total) {
        const v = u.data[u.data.length - 1][j];
        rows.push(el("div", { class: "row total" }, O.swatch(O.TOTAL_COLOUR), el("b", {}, "total"), ": ", fmtValue(ps.metric, v)));
      }
    }
    const size = sizeMs();
    tip.replaceChildren(el("div", { class: "when" }, `${state.granularity} window ${O.fmtWindow(start, start + size, state.tz)}`),
      ...rows, el("div", { class: "muted hint" }, "click to list this window's documents"));
    const box = u.over.getBoundingClientRect();
    tip.hidden = false;
    const left = box.left + window.scrollX + u.cursor.left + 14;
    const maxLeft = window.scrollX + document.documentElement.clientWidth - tip.offsetWidth - 8;
    tip.style.left = Math.min(left, maxLeft) + "px";
    tip.style.top = (box.top + window.scrollY + u.cursor.top + 14) + "px";
  }

  function zoomTo(u, ps) {
    if (u.select.width < 5) return;
    ps.dragged = true;
    const size = sizeMs();
    const a = Math.floor(u.posToVal(u.select.left, "x") * 1000 / size) * size;
    const b = Math.ceil(u.posToVal(u.select.left + u.select.width, "x") * 1000 / size) * size;
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    if (b - a < size) return;
    state.startMs = a;
    state.endMs = b;
    $("preset").value = "custom";
    writeRangeInputs();
    load("zoomed");
  }

  /** The business whose point is nearest the cursor (within 40 px), else every business with a window there. */
  function clickWindow(u, ps) {
    if (ps.dragged) { ps.dragged = false; return; }
    const j = u.cursor.idx;
    if (j === null || j === undefined) return;
    const f = ps.frame;
    const start = f.x[j];
    let businesses = ps.metric === "type_counts" ? [] : ps.names.filter((_, k) => f.rows[k][j] >= 0);
    if (ps.metric !== "type_counts") {
      let best = null, bestD = 40;
      ps.names.forEach((n, k) => {
        const v = u.data[k + 1][j];
        if (v === null) return;
        const d = Math.abs(u.valToPos(v, "y") - u.cursor.top);
        if (d < bestD) { best = n; bestD = d; }
      });
      if (best) businesses = [best];
    }
    if (!businesses.length) businesses = state.selected.slice();
    openWindow(businesses, start, start + sizeMs());
  }

  function render(agg) {
    const series = agg.series;
    const names = series.map((s) => s.business_id);
    const colours = names.map((n) => O.colourOf(n, state.all));
    const f = frame(series);
    for (const metric of state.config.metrics) {
      const { ys, total } = metricData(series, f, metric);
      draw(metric, names, colours, f, ys, total);
    }
    const t = typeData(series, f);
    draw("type_counts", t.names, t.names.map((n) => TYPE_COLOURS[n] || "#6b7280"), f, t.ys, null);
    renderSummary(series);
    const windows = series.reduce((n, s) => n + s.points, 0);
    const empty = $("empty");
    if (!windows) {
      empty.hidden = false;
      empty.replaceChildren(
        el("b", {}, `No ${state.granularity} windows for ${names.join(", ")} between `
                    + `${O.fmtTime(state.startMs, state.tz)} and ${O.fmtTime(state.endMs, state.tz)} ${O.tzName(state.tz)}.`),
        el("br"), "Pick a longer range or hour windows, or send documents through the pipeline: ",
        el("code", {}, `ocrstream publish ~/receipts --business ${names[0] || "acme"}`),
        " (with ", el("code", {}, "ocrstream worker"), " and ", el("code", {}, "ocrstream sink"), " running), or run ",
        el("code", {}, "make demo"), ".");
    } else {
      empty.hidden = true;
    }
    return windows;
  }

  function renderSummary(series) {
    const tbody = $("summary").querySelector("tbody");
    const tfoot = $("summary").querySelector("tfoot");
    const totals = { docs: 0, late: 0, tooLate: 0, amount: 0, score: 0, ocr: 0, windows: 0, open: 0 };
    const rowFor = (label, colour, t) => el("tr", {},
      el("td", {}, colour ? O.swatch(colour) : null, label), el("td", {}, O.fmtNumber(t.docs)),
      el("td", {}, O.fmtNumber(t.late)), el("td", {}, O.fmtNumber(t.tooLate)),
      el("td", {}, O.fmtNumber(Math.round(t.amount * 100) / 100)),
      el("td", {}, t.docs ? (t.score / t.docs).toFixed(3) : "–"), el("td", {}, t.docs ? (t.ocr / t.docs).toFixed(3) : "–"),
      el("td", {}, O.fmtNumber(t.windows)), el("td", {}, O.fmtNumber(t.open)));
    const rows = series.map((s) => {
      const t = { docs: 0, late: 0, tooLate: 0, amount: 0, score: 0, ocr: 0, windows: s.points, open: 0 };
      for (let i = 0; i < s.points; i++) {
        t.docs += s.document_count[i];
        t.late += s.late_events[i];
        t.tooLate += s.too_late_events ? s.too_late_events[i] : 0;
        t.amount += s.total_amount[i];
        t.score += (s.avg_score[i] || 0) * s.document_count[i];
        t.ocr += (s.avg_ocr_score[i] || 0) * s.document_count[i];
        t.open += s.is_final[i] ? 0 : 1;
      }
      for (const k of Object.keys(totals)) totals[k] += t[k];
      return rowFor(s.business_id, O.colourOf(s.business_id, state.all), t);
    });
    tbody.replaceChildren(...rows);
    const foot = rowFor(`total (${series.length} selected)`, O.TOTAL_COLOUR, totals);
    foot.className = "total";
    tfoot.replaceChildren(foot);
    $("summary").dataset.totalDocuments = String(totals.docs);
  }

  // ---------------------------------------------------------------- documents

  function renderDocuments(resp) {
    const tbody = $("documents").querySelector("tbody");
    tbody.replaceChildren();
    for (const d of resp.documents) {
      const view = `document?id=${encodeURIComponent(d.document_id)}&tz=${state.tz}`;
      const open = () => { location.href = view; };
      const total = d.total === null ? "" : (d.currency ? d.currency + " " : "") + d.total;
      const preview = d.text_preview.split("\n").filter((t) => t.trim()).join(" · ")
                      + (d.text_chars > d.text_preview.length ? " …" : "");
      const tr = el("tr", { class: d.is_late ? "late" : null, dataset: { documentId: d.document_id } },
        el("td", {}, el("a", { href: view }, O.fmtTime(Date.parse(d.event_time), state.tz, true))),
        el("td", {}, O.swatch(O.colourOf(d.business_id, state.all)), d.business_id),
        el("td", {}, d.doc_type), el("td", {}, d.engine), el("td", {}, total), el("td", {}, d.score.toFixed(2)),
        el("td", {}, d.is_late ? "late: not in the aggregates" : d.late_update ? "late update (counted)" : "on time"),
        el("td", { class: "text", title: d.text_preview, onclick: open }, preview),
        el("td", {}, el("a", { href: d.image_url, target: "_blank", rel: "noopener noreferrer" }, "original")));
      tbody.appendChild(tr);
    }
    $("doc-count").textContent = `${resp.count} shown`;
    $("documents").dataset.rows = String(resp.documents.length);
  }

  function documentsQuery() {
    const w = state.window;
    const pairs = w ? [...w.businesses.map((b) => ["business_id", b]), ["start", String(w.startMs)],
                       ["end", String(w.endMs)], ["limit", String(state.config.max_documents || 500)]]
                    : [...state.selected.map((b) => ["business_id", b]), ["start", String(state.startMs)],
                       ["end", String(state.endMs)], ["limit", "50"]];
    return new URLSearchParams(pairs).toString();
  }

  function setDocumentsTitle() {
    const w = state.window;
    const section = $("documents-section");
    $("doc-back").hidden = !w;
    if (w) {
      $("doc-title").textContent = `Documents of the ${state.granularity} window ${O.fmtWindow(w.startMs, w.endMs, state.tz)} · ${w.businesses.join(", ")}`;
      section.dataset.windowStart = String(w.startMs);
      section.dataset.windowEnd = String(w.endMs);
      section.dataset.windowBusinesses = w.businesses.join(",");
    } else {
      $("doc-title").textContent = "Recent documents";
      delete section.dataset.windowStart;
      delete section.dataset.windowEnd;
      delete section.dataset.windowBusinesses;
    }
  }

  async function openWindow(businesses, startMs, endMs) {
    state.window = { businesses, startMs, endMs };
    setDocumentsTitle();
    writeUrl();
    try {
      renderDocuments(await O.api("api/documents?" + documentsQuery()));
      $("documents-section").dataset.loadedWindow = String(startMs);
      $("documents-section").scrollIntoView({ block: "start" });
    } catch (e) {
      O.setStatus("documents: " + e.message, true);
    }
  }

  // ---------------------------------------------------------------- loading

  async function load(reason) {
    if (inFlight) { pending = reason; return; }
    if (reason === "refreshed" && !state.signedOut) await refreshBusinesses();
    if (inFlight) { pending = reason; return; }
    readForm();
    const q = query();
    body.dataset.query = q.toString();
    writeUrl();
    if (state.signedOut) {
      body.dataset.state = "signin";
      $("empty").hidden = false;
      $("empty").replaceChildren(el("b", {}, "Sign in to see data."), " This API needs a token (",
        el("code", {}, "OCRSTREAM_API__TOKENS"), "): enter it above; it is kept in an HttpOnly session cookie only.");
      O.setStatus("sign in to see data", true);
      return;
    }
    if (!state.all.length) {
      body.dataset.state = "empty";
      $("empty").hidden = false;
      $("empty").replaceChildren(el("b", {}, "No data yet."), " Windows appear here once documents went through the pipeline: ",
        el("code", {}, "make demo"), ", or ", el("code", {}, "ocrstream publish ~/receipts --business acme"),
        " with ", el("code", {}, "ocrstream worker"), " and ", el("code", {}, "ocrstream sink"), " running.");
      O.setStatus("no businesses yet");
      return;
    }
    if (!state.selected.length) {
      O.setStatus("select at least one business");
      body.dataset.state = "empty";
      return;
    }
    if (!(state.endMs > state.startMs)) {
      O.setStatus("'To' must be after 'From'", true);
      body.dataset.state = "error";
      return;
    }
    inFlight = true;
    body.dataset.state = "loading";
    try {
      const [agg, docs] = await Promise.all([O.api("api/aggregates?" + q.toString()),
                                             O.api("api/documents?" + documentsQuery())]);
      state.agg = agg;
      const windows = render(agg);
      setDocumentsTitle();
      renderDocuments(docs);
      loads += 1;
      body.dataset.loads = String(loads);
      body.dataset.state = "ready";
      O.setStatus(`${reason}: ${windows} windows, ${docs.count} documents — ${O.fmtTime(Date.now(), state.tz, true)} ${O.tzName(state.tz)}`);
    } catch (e) {
      body.dataset.state = "error";
      O.setStatus(e.message, true);
    } finally {
      inFlight = false;
      if (pending) { const next = pending; pending = null; load(next); }
    }
  }

  function schedule() {
    if (timer) clearInterval(timer);
    timer = null;
    if ($("auto").checked) timer = setInterval(() => load("refreshed"), state.config.refresh_s * 1000);
  }

  /** Refresh the business list (new businesses appear as they arrive); the user's ticks are kept. */
  async function refreshBusinesses() {
    let ids;
    try {
      ids = await businessIds();
    } catch (e) {
      return;  // the data load below reports the error
    }
    const known = new Set(state.all);
    const added = ids.filter((id) => !known.has(id));
    if (!added.length) return;
    const ticked = Array.from($("businesses").querySelectorAll("input:checked")).map((i) => i.value);
    state.all = state.all.concat(added).sort();
    renderBusinessPicker(ticked);
  }

  async function businessIds() {
    return (await O.api("api/businesses")).businesses.map((b) => b.business_id);
  }

  async function loadBusinesses(wanted) {
    let ids = [];
    state.signedOut = false;
    try {
      ids = await businessIds();
    } catch (e) {
      if (e.status !== 401) throw e;
      state.signedOut = true;
    }
    for (const w of wanted) if (!ids.includes(w)) ids.push(w);   // ids with no hour window yet
    state.all = ids.slice().sort();
    const pick = wanted.length ? wanted : state.all.slice(0, 4);
    renderBusinessPicker(pick);
  }

  function parseTime(value) {
    if (!value) return NaN;
    return /^-?\d+$/.test(value) ? Number(value) : Date.parse(value);
  }

  async function init() {
    state.config = await O.api("api/config");
    await O.consumeHashToken().catch((e) => O.setStatus("sign-in: " + e.message, true));
    const url = new URLSearchParams(location.search);
    state.tz = url.get("tz") === "local" ? "local" : "utc";
    $("tz").value = state.tz;
    $("tz-local").textContent = `local (${O.LOCAL_TZ})`;
    $("refresh-s").textContent = `(${state.config.refresh_s} s)`;
    $("granularity").value = url.get("granularity") === "hour" ? "hour" : "minute";
    state.granularity = $("granularity").value;
    const start = parseTime(url.get("start")), end = parseTime(url.get("end"));
    if (!Number.isNaN(start) && !Number.isNaN(end)) {
      [state.startMs, state.endMs] = [start, end];
      $("preset").value = url.get("preset") || "custom";
    } else if (url.get("preset")) {
      $("preset").value = url.get("preset");
      [state.startMs, state.endMs] = presetRange(url.get("preset"), Date.now());
    } else if (state.tz === "utc") {
      [state.startMs, state.endMs] = [Date.parse(state.config.default_start), Date.parse(state.config.default_end)];
    } else {
      [state.startMs, state.endMs] = presetRange("days", Date.now());
    }
    writeRangeInputs();
    if (url.has("auto")) $("auto").checked = url.get("auto") !== "0";
    const reloadAll = async () => { await loadBusinesses(state.selected); await load("signed in"); };
    await O.setupSignIn(reloadAll).catch((e) => O.setStatus(e.message, true));
    try {
      await loadBusinesses(url.getAll("business_id"));
    } catch (e) {
      O.setStatus(e.message, true);
      body.dataset.state = "error";
    }
    if (url.get("window")) {
      const ws = Number(url.get("window"));
      const wb = url.getAll("window_business");
      state.window = { businesses: wb.length ? wb : url.getAll("business_id"), startMs: ws, endMs: ws + sizeMs() };
    }
    for (const id of ["granularity", "start", "end"]) {
      $(id).addEventListener("change", () => {
        if (id !== "granularity") $("preset").value = "custom";
        state.window = null;
        load("filter changed");
      });
    }
    $("preset").addEventListener("change", () => {
      if ($("preset").value === "custom") return;
      [state.startMs, state.endMs] = presetRange($("preset").value, Date.now());
      writeRangeInputs();
      load("range changed");
    });
    $("tz").addEventListener("change", () => {
      readForm();
      state.tz = $("tz").value;
      if ($("preset").value !== "custom") [state.startMs, state.endMs] = presetRange($("preset").value, Date.now());
      writeRangeInputs();
      load("time zone changed");
    });
    $("auto").addEventListener("change", schedule);
    $("doc-back").addEventListener("click", () => { state.window = null; load("recent documents"); });
    $("filters").addEventListener("submit", (ev) => { ev.preventDefault(); load("applied"); });
    window.addEventListener("resize", () => {
      for (const m of Object.keys(charts)) {
        const node = chartEl(m);
        charts[m].plot.setSize({ width: Math.max(node.clientWidth - 16, 300), height: 210 });
      }
    });
    await load("loaded");
    schedule();
  }

  /** Page coordinates (CSS px, viewport) of a business's point at a window start, for tests. */
  function pointPosition(metric, business, windowStartMs) {
    const c = charts[metric];
    if (!c) return null;
    const ps = c.state;
    const k = ps.names.indexOf(business);
    const j = ps.frame.x.indexOf(windowStartMs);
    if (k < 0 || j < 0) return null;
    const v = c.plot.data[k + 1][j];
    if (v === null) return null;
    const box = c.plot.over.getBoundingClientRect();
    return { x: box.left + c.plot.valToPos(windowStartMs / 1000, "x"), y: box.top + c.plot.valToPos(v, "y"), value: v };
  }

  window.ocrstreamDashboard = { load, charts: () => charts, state, pointPosition, openWindow };
  init().catch((e) => { O.setStatus(String(e), true); body.dataset.state = "error"; });
})();
