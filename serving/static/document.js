/* The document view (/document?id=<document_id>[&tz=utc|local]).
 *
 * Data: GET api/documents/{id} (same token scopes as every data route; a document of
 * another business reads as missing). Each page image comes from its signed link
 * (api/documents/{id}/pages/{n}): the original page, decoded as the pipeline decoded it.
 * Every box ([x0, y0, x1, y1]) is in source page pixels, so the SVG over the image has
 * the page's stored size (page_sizes) as its viewBox and the boxes are drawn 1:1, also
 * when the image was scaled down. Extracted fields are highlighted where the extractor
 * read them (or, for results without evidence, on the lines holding their value); line
 * items are outlined while their row is hovered; low-confidence values are marked.
 *
 * Test hooks: <body data-state="ready" data-lines data-lines-with-boxes data-boxes-drawn
 * data-field-boxes>, per page <figure class="page" data-page data-boxes data-width data-height>.
 */
(function () {
  "use strict";

  const O = window.ocrstream;
  const { el } = O;
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const url = new URLSearchParams(location.search);
  const tz = url.get("tz") === "local" ? "local" : "utc";
  const SVG = "svg:";
  let doc = null;

  function pct(v) { return v === null || v === undefined ? "–" : (v * 100).toFixed(0) + " %"; }

  function confidence(v, low) {
    const bar = el("span", { class: "bar" }, el("i"));
    bar.firstChild.style.width = Math.max(0, Math.min(1, v || 0)) * 100 + "%";
    return el("span", { class: "conf" + (low ? " low" : "") }, bar, pct(v), low ? el("span", { class: "badge low" }, "low") : null);
  }

  function fmtField(name, value, currency) {
    if (value === null || value === undefined) return "–";
    if (["subtotal", "tax", "total"].includes(name) && typeof value === "number") {
      return (currency ? currency + " " : "") + value.toFixed(2);
    }
    return String(value);
  }

  function highlight(selector, on) {
    for (const node of document.querySelectorAll(selector)) node.classList.toggle("hl", on);
  }

  function hoverable(node, selector) {
    node.addEventListener("mouseenter", () => { node.classList.add("hover"); highlight(selector, true); });
    node.addEventListener("mouseleave", () => { node.classList.remove("hover"); highlight(selector, false); });
    return node;
  }

  // ---------------------------------------------------------------- pages and boxes

  function drawBoxes(figure, img, page) {
    // the boxes' frame: the source page size stored with the result (the image may be scaled down)
    const frame = doc.page_sizes[page];
    const w = frame && frame.width > 0 ? frame.width : img.naturalWidth;
    const h = frame && frame.height > 0 ? frame.height : img.naturalHeight;
    const svg = el(SVG + "svg", { viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: "none", role: "img",
                                  "aria-label": `OCR boxes of page ${page + 1}` });
    let lines = 0;
    doc.lines.forEach((line, i) => {
      if ((line.page || 0) !== page || !Array.isArray(line.box) || line.box.length !== 4) return;
      const [x0, y0, x1, y1] = line.box;
      const low = line.confidence < doc.low_confidence;
      const rect = el(SVG + "rect", { x: x0, y: y0, width: Math.max(1, x1 - x0), height: Math.max(1, y1 - y0),
                                      class: "line" + (low ? " low" : ""), dataset: { line: String(i) } },
                      el(SVG + "title", {}, `line ${i}: ${line.text} (${pct(line.confidence)})`));
      svg.appendChild(rect);
      lines += 1;
    });
    // one highlight per line read, labelled with every field read there ("total, currency")
    const spots = new Map();
    for (const f of doc.field_evidence) {
      for (const b of f.boxes) {
        if (b.page !== page || b.box.length !== 4) continue;
        const key = b.box.join(",");
        if (!spots.has(key)) spots.set(key, { box: b.box, fields: [] });
        spots.get(key).fields.push(f);
      }
    }
    for (const { box: [x0, y0, x1, y1], fields: fs } of spots.values()) {
      const pad = 4;
      const low = fs.some((f) => f.low);
      const names = fs.map((f) => f.name);
      const rect = el(SVG + "rect", { x: x0 - pad, y: y0 - pad, width: x1 - x0 + 2 * pad, height: y1 - y0 + 2 * pad,
                                      class: "field" + (low ? " low" : ""), dataset: { field: names.join(" ") } },
                      el(SVG + "title", {}, fs.map((f) => `${f.name}: ${fmtField(f.name, f.value, doc.fields.currency)} (${pct(f.confidence)})`).join("\n")));
      svg.appendChild(rect);
      const above = y0 - pad - 5 > 14;
      svg.appendChild(el(SVG + "text", { x: x1 + pad, y: above ? y0 - pad - 5 : y1 + pad + 15, "text-anchor": "end",
                                         class: "field-label" + (low ? " low" : ""), dataset: { field: names.join(" ") } },
                         names.join(", ") + (low ? " (low)" : "")));
    }
    const fields = spots.size;
    // line items: outlined only while their row is hovered
    doc.line_items.forEach((it, i) => {
      if ((it.page || 0) !== page || !Array.isArray(it.box) || it.box.length !== 4) return;
      const [x0, y0, x1, y1] = it.box;
      svg.appendChild(el(SVG + "rect", { x: x0 - 2, y: y0 - 2, width: x1 - x0 + 4, height: y1 - y0 + 4, class: "item",
                                         dataset: { item: String(i) } }));
    });
    figure.querySelector(".frame").appendChild(svg);
    Object.assign(figure.dataset, { boxes: String(lines), fieldBoxes: String(fields), width: String(w), height: String(h) });
    return [lines, fields];
  }

  function renderPages() {
    const box = $("pages");
    box.replaceChildren();
    const loaded = doc.page_images.map((src, page) => new Promise((resolve) => {
      const img = el("img", { alt: `page ${page + 1} of ${doc.document_id}` });
      const figure = el("figure", { class: "page", dataset: { page: String(page) } },
        el("figcaption", {}, `page ${page + 1} of ${doc.page_images.length}`),
        el("div", { class: "frame" }, img));
      box.appendChild(figure);
      img.addEventListener("load", () => resolve(drawBoxes(figure, img, page)));
      img.addEventListener("error", () => {
        img.remove();
        figure.querySelector(".frame").appendChild(el("div", { class: "unavailable" },
          "The page image is not available (the original object is not stored where the API may read it, "
          + "or it is not an image/PDF). Line boxes are listed on the right."));
        figure.dataset.boxes = "0";
        resolve([0, 0]);
      });
      img.src = src;
    }));
    return Promise.all(loaded);
  }

  // ---------------------------------------------------------------- facts

  function renderSummary() {
    const rows = [
      ["business", doc.business_id],
      ["type", el("span", {}, doc.doc_type, el("span", { class: "badge" + (doc.type_confidence < doc.low_confidence ? " low" : "") },
                                                 `${pct(doc.type_confidence)} sure`))],
      ["engine", doc.engine],
      ["event time", `${O.fmtTime(Date.parse(doc.event_time), tz, true)} ${O.tzName(tz)}`],
      ["processed", `${O.fmtTime(Date.parse(doc.processed_at), tz, true)} ${O.tzName(tz)}`],
      ["source", `${doc.source} · ${doc.pages} page${doc.pages === 1 ? "" : "s"}`],
      ["score", el("span", {}, confidence(doc.score, doc.score < doc.low_confidence), " document score")],
      ["OCR score", confidence(doc.ocr_score, doc.ocr_score < doc.low_confidence)],
      ["arrival", doc.is_late ? el("span", { class: "badge late" }, "late: after its window closed, not in the aggregates")
        : doc.windows.some((w) => w.counted_as.startsWith("late update")) ? el("span", { class: "badge late" }, "late update: counted")
        : "on time"],
      ["original", el("a", { href: doc.image_url, target: "_blank", rel: "noopener noreferrer" }, doc.uri)],
      ["document id", doc.document_id],
    ];
    $("summary-list").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  }

  function renderFields() {
    const tbody = $("fields").querySelector("tbody");
    tbody.replaceChildren(...doc.field_evidence.map((f) => {
      const where = f.located === "none" ? (f.value === null ? "" : "not found in the lines")
        : f.located === "derived" ? "derived from other fields"
        : f.located === "extraction" ? (f.raw ? `“${f.raw.replace(/\n/g, " / ")}”` : "") + ` page ${f.boxes[0].page + 1}`
        : `line ${f.lines.join(" + ")} (matched)` + (doc.page_images.length > 1 && f.boxes.length ? `, page ${f.boxes[0].page + 1}` : "");
      const tr = el("tr", { class: f.low ? "low" : null, dataset: { field: f.name } },
        el("td", {}, f.name), el("td", {}, fmtField(f.name, f.value, doc.fields.currency)),
        el("td", {}, f.value === null ? "–" : confidence(f.confidence, f.low)), el("td", {}, where));
      return hoverable(tr, `rect.field[data-field~="${f.name}"]`);
    }));
    const items = $("items").querySelector("tbody");
    items.replaceChildren(...(doc.line_items.length ? doc.line_items.map((it, i) => {
      const low = it.confidence < doc.low_confidence;
      const tr = el("tr", { class: low ? "low" : null, title: it.raw_text || null },
        el("td", {}, it.description), el("td", {}, O.fmtNumber(it.quantity)),
        el("td", {}, it.unit_price === null ? "–" : it.unit_price.toFixed(2)), el("td", {}, it.amount === null ? "–" : it.amount.toFixed(2)),
        el("td", {}, confidence(it.confidence, low)));
      return hoverable(tr, `rect.item[data-item="${i}"]`);
    }) : [el("tr", {}, el("td", { colspan: 5, class: "muted" }, "no line items read"))]));
  }

  function renderTimings() {
    const entries = Object.entries(doc.timings_s);
    const max = Math.max(...entries.map(([, v]) => v), 1e-6);
    $("timings").replaceChildren(...entries.map(([k, v]) => {
      const bar = el("div", { class: "bar" });
      bar.style.width = Math.max(1, (v / max) * 100) + "%";
      return el("div", { class: "timing" }, el("span", {}, k), el("div", {}, bar), el("span", {}, `${(v * 1000).toFixed(1)} ms`));
    }));
  }

  function dashboardLink(w) {
    const day = 86400000;
    const from = Math.floor(w.start_ms / day) * day - (w.granularity === "hour" ? day : 0);
    const q = new URLSearchParams([["business_id", doc.business_id], ["start", String(from)], ["end", String(from + (w.granularity === "hour" ? 3 : 1) * day)],
                                   ["granularity", w.granularity], ["tz", tz], ["window", String(w.start_ms)],
                                   ["window_business", doc.business_id]]);
    return "dashboard?" + q.toString();
  }

  function renderWindows() {
    const tbody = $("windows").querySelector("tbody");
    tbody.replaceChildren(...doc.windows.map((w) => el("tr", { class: w.counted_as.startsWith("late") ? "late" : null },
      el("td", {}, el("a", { href: dashboardLink(w) }, `${w.granularity} ${O.fmtWindow(w.start_ms, w.end_ms, tz)}`)),
      el("td", {}, w.counted_as),
      el("td", {}, w.stored ? `${w.is_final ? "final" : "current (open)"} · ${w.document_count} documents · ${w.late_events} late`
                            : "no row stored"))));
  }

  function renderLines() {
    const list = $("lines");
    list.replaceChildren(...doc.lines.map((line, i) => {
      const low = line.confidence < doc.low_confidence;
      const li = el("li", { class: low ? "low" : null, dataset: { line: String(i) } }, line.text,
                    el("span", { class: "muted" }, `  ${pct(line.confidence)}`), low ? el("span", { class: "badge low" }, "low") : null);
      return hoverable(li, `rect.line[data-line="${i}"]`);
    }));
    const lowCount = doc.lines.filter((l) => l.confidence < doc.low_confidence).length;
    $("lines-sub").textContent = `${doc.lines.length} lines, ${lowCount} below ${pct(doc.low_confidence)}`;
    $("line-count").textContent = `(${doc.lines.length})`;
    $("text").textContent = doc.text;
  }

  async function load() {
    const id = url.get("id");
    if (!id) { O.setStatus("no document id in the URL (document?id=...)", true); body.dataset.state = "error"; return; }
    body.dataset.state = "loading";
    try {
      doc = await O.api(`api/documents/${encodeURIComponent(id)}`);
    } catch (e) {
      body.dataset.state = "error";
      O.setStatus(e.status === 404 ? "no such document (or not readable with this sign-in)" : e.message, true);
      return;
    }
    document.title = `ocrstream — ${doc.doc_type} ${doc.document_id}`;
    $("title").textContent = `${doc.business_id} · ${doc.doc_type} · ${doc.document_id}`;
    $("back").href = `dashboard?business_id=${encodeURIComponent(doc.business_id)}&tz=${tz}`;
    renderSummary();
    renderFields();
    renderTimings();
    renderWindows();
    renderLines();
    body.dataset.lines = String(doc.lines.length);
    body.dataset.linesWithBoxes = String(doc.lines.filter((l) => Array.isArray(l.box) && l.box.length === 4).length);
    const drawn = await renderPages();
    body.dataset.boxesDrawn = String(drawn.reduce((n, [l]) => n + l, 0));
    body.dataset.fieldBoxes = String(drawn.reduce((n, [, f]) => n + f, 0));
    body.dataset.state = "ready";
    O.setStatus(`${doc.lines.length} OCR lines, ${body.dataset.boxesDrawn} boxes drawn`);
  }

  async function init() {
    await O.consumeHashToken().catch((e) => O.setStatus("sign-in: " + e.message, true));
    await O.setupSignIn(load).catch(() => {});
    $("show-lines").addEventListener("change", (e) => $("pages").classList.toggle("hide-lines", !e.target.checked));
    $("show-fields").addEventListener("change", (e) => $("pages").classList.toggle("hide-fields", !e.target.checked));
    await load();
  }

  init().catch((e) => { O.setStatus(String(e), true); body.dataset.state = "error"; });
})();
