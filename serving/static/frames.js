/* ocrstream dashboard data frames: API series -> what the charts draw (pure functions, no DOM).
 *
 * A series is one business's columnar window rows from GET api/aggregates
 * (window_start/window_end in epoch ms UTC, one array per metric). frame() puts every
 * series on one x axis (the union of window starts, plus a break marker where a business
 * has no window, so lines never interpolate across gaps); metricData()/typeData() read one
 * metric per series on that axis, with the "total" line where a total means something;
 * rowStatus() says whether a window row is current, final or a late update.
 */
(function () {
  "use strict";

  // label, total kind ("sum" | "mean" = document-weighted | null), y axis from 0, per on-time document
  // (no value in a window without counted documents, e.g. one holding only late ones)
  const METRIC_INFO = {
    document_count: ["documents per window", "sum", true, false],
    total_amount: ["total amount", "sum", true, false],
    avg_score: ["average score", "mean", false, true],
    avg_ocr_score: ["average OCR score", "mean", false, true],
    median_score: ["median score", null, false, true],
    median_ocr_score: ["median OCR score", null, false, true],
    ocr_seconds_p50: ["OCR seconds p50", null, true, true],
    ocr_seconds_p95: ["OCR seconds p95", null, true, true],
    late_events: ["late events per window", "sum", true, false],
    too_late_events: ["too-late events per window (in no aggregate)", "sum", true, false],
    type_counts: ["documents by type (selected businesses)", null, true, false],
  };
  const TYPE_COLOURS = { receipt: "#2563eb", invoice: "#16a34a", report: "#9333ea", form: "#ea580c",
                         photo: "#0891b2", blank: "#9ca3af" };

  // ---------------------------------------------------------------- data frames

  /** x = every window start of any series + a marker after each gap; rows[k][j] = index in series k or -1. */
  function frame(series) {
    const xs = new Set();
    for (const s of series) {
      const ws = s.window_start, we = s.window_end;
      for (let i = 0; i < ws.length; i++) {
        xs.add(ws[i]);
        if (i + 1 < ws.length && ws[i + 1] !== we[i]) xs.add(we[i]);   // no window here: break the line
      }
    }
    const x = Array.from(xs).sort((a, b) => a - b);
    const at = new Map(x.map((t, j) => [t, j]));
    const rows = series.map((s) => {
      const r = new Array(x.length).fill(-1);
      s.window_start.forEach((t, i) => { r[at.get(t)] = i; });
      return r;
    });
    return { x, rows, windows: x.filter((t, j) => rows.some((r) => r[j] >= 0)).length };
  }

  function metricData(series, f, metric) {
    const perDocument = METRIC_INFO[metric] ? METRIC_INFO[metric][3] : false;
    const ys = series.map((s, k) => f.rows[k].map((i) => (i < 0 || (perDocument && !s.document_count[i]) ? null : s[metric][i])));
    const kind = METRIC_INFO[metric] ? METRIC_INFO[metric][1] : null;
    let total = null;
    if (kind && series.length > 1) {
      total = f.x.map((_, j) => {
        let sum = 0, weight = 0, any = false;
        series.forEach((s, k) => {
          const i = f.rows[k][j];
          if (i < 0 || s[metric][i] === null || (perDocument && !s.document_count[i])) return;
          any = true;
          if (kind === "sum") sum += s[metric][i];
          else { sum += s[metric][i] * s.document_count[i]; weight += s.document_count[i]; }
        });
        if (!any) return null;
        return kind === "sum" ? sum : (weight > 0 ? sum / weight : null);
      });
    }
    return { ys, total };
  }

  function typeData(series, f) {
    const types = new Set();
    for (const s of series) for (const m of s.type_counts) for (const k of Object.keys(m)) types.add(k);
    const names = Array.from(types).sort();
    const ys = names.map((n) => f.x.map((_, j) => {
      let sum = null;
      series.forEach((s, k) => {
        const i = f.rows[k][j];
        if (i >= 0) sum = (sum || 0) + ((s.type_counts[i] || {})[n] || 0);
      });
      return sum;
    }));
    return { names, ys };
  }

  // ---------------------------------------------------------------- status of a window row

  /** "current (window still open)" | "final" | "final · late update (N late)" [+ " · M too late, not counted"].
   *  Uses the row's ``status`` (current | final | late_update) when the API sends it; otherwise a
   *  final row with late events is a late update (it was re-emitted when they arrived). */
  function rowStatus(s, i) {
    const late = s.late_events ? s.late_events[i] : 0;
    const tooLate = s.too_late_events ? s.too_late_events[i] : 0;
    const status = s.status ? s.status[i] : (!s.is_final[i] ? "current" : late > 0 ? "late_update" : "final");
    let text = status === "current" ? "current (window still open)"
      : status === "late_update" ? `final · late update (${late} late)` : "final";
    if (tooLate > 0) text += ` · ${tooLate} too late, not counted`;
    return text;
  }

  window.ocrstreamFrames = { METRIC_INFO, TYPE_COLOURS, frame, metricData, typeData, rowStatus };
})();
