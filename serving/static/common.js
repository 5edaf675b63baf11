/* Shared by the dashboard and the document view: API calls, sign-in, time zones, colours, DOM.
 *
 * Security: the pages run under a CSP without inline script (serving/security.py).
 * Everything that comes from the API (OCR text, field values, ids) is put into the page
 * with textContent / setAttribute through el(), never as HTML. The API token is never
 * stored by script: signIn() trades it for an HttpOnly session cookie (POST api/session),
 * and a token passed as "#token=..." in the URL is consumed the same way and removed
 * from the address bar.
 */
(function () {
  "use strict";

  const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777",
                   "#4b5563", "#65a30d", "#7c3aed", "#0d9488"];
  const TOTAL_COLOUR = "#111827";
  const MINUTE_MS = 60000;
  const HOUR_MS = 3600000;

  /** GET/POST/DELETE a same-origin API path; JSON back; Error with the API's message otherwise. */
  async function api(path, options) {
    const opts = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
    if (opts.json !== undefined) {
      opts.method = opts.method || "POST";
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(opts.json);
      delete opts.json;
    }
    const resp = await fetch(path, opts);
    if (!resp.ok) {
      let msg = resp.status + " " + resp.statusText;
      try {
        const j = await resp.json();
        msg += ": " + (typeof j.detail === "string" ? j.detail : j.detail.map((d) => d.msg).join("; "));
      } catch (e) { /* not JSON */ }
      const err = new Error(msg);
      err.status = resp.status;
      throw err;
    }
    return resp.json();
  }

  async function session() { return api("api/session"); }
  async function signIn(token) { return api("api/session", { json: { token } }); }
  async function signOut() { return api("api/session", { method: "DELETE" }); }

  /** A "#token=..." in the URL: sign in with it, then drop it from the address bar and history. */
  async function consumeHashToken() {
    const hash = new URLSearchParams(location.hash.slice(1));
    const token = hash.get("token");
    if (!token) return false;
    hash.delete("token");
    const rest = hash.toString();
    history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
    try { localStorage.removeItem("ocrstream.token"); } catch (e) { /* storage disabled */ }
    await signIn(token);
    return true;
  }

  // ---------------------------------------------------------------- time zones

  const LOCAL_TZ = Intl.DateTimeFormat().resolvedOptions().timeZone || "local";

  function tzName(tz) { return tz === "local" ? LOCAL_TZ : "UTC"; }

  function pad(n) { return String(n).padStart(2, "0"); }

  /** Parts of an epoch-ms instant in UTC or the browser's zone. */
  function parts(ms, tz) {
    const d = new Date(ms);
    return tz === "local"
      ? { y: d.getFullYear(), mo: d.getMonth() + 1, d: d.getDate(), h: d.getHours(), mi: d.getMinutes(), s: d.getSeconds() }
      : { y: d.getUTCFullYear(), mo: d.getUTCMonth() + 1, d: d.getUTCDate(), h: d.getUTCHours(), mi: d.getUTCMinutes(), s: d.getUTCSeconds() };
  }

  /** "2024-05-01T10:00" for a datetime-local input showing ``ms`` in ``tz``. */
  function toInput(ms, tz) {
    const p = parts(ms, tz);
    return `${p.y}-${pad(p.mo)}-${pad(p.d)}T${pad(p.h)}:${pad(p.mi)}`;
  }

  /** Epoch ms of a datetime-local input value read in ``tz`` (NaN when empty/invalid). */
  function fromInput(value, tz) {
    if (!value) return NaN;
    const v = value.length === 16 ? value + ":00" : value;
    return tz === "local" ? new Date(v).getTime() : Date.parse(v + "Z");
  }

  /** "2024-05-01 10:00" (or with seconds) in ``tz``. */
  function fmtTime(ms, tz, seconds) {
    const p = parts(ms, tz);
    return `${p.y}-${pad(p.mo)}-${pad(p.d)} ${pad(p.h)}:${pad(p.mi)}` + (seconds ? `:${pad(p.s)}` : "");
  }

  /** A window "[start, end)" in ``tz``: "2024-05-01 10:00 – 10:01 UTC". */
  function fmtWindow(startMs, endMs, tz) {
    const a = fmtTime(startMs, tz), b = fmtTime(endMs, tz);
    const sameDay = a.slice(0, 10) === b.slice(0, 10);
    return `${a} – ${sameDay ? b.slice(11) : b} ${tzName(tz)}`;
  }

  /** Midnight (epoch ms) of the day holding ``ms`` in ``tz``, plus ``days``. */
  function startOfDay(ms, tz, days) {
    const d = new Date(ms);
    if (tz === "local") {
      d.setHours(0, 0, 0, 0);
      d.setDate(d.getDate() + (days || 0));
      return d.getTime();
    }
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + (days || 0));
  }

  // ---------------------------------------------------------------- colours, formatting, DOM

  /** One colour per business, fixed by its position in the list of all businesses. */
  function colourOf(business, allBusinesses) {
    const i = allBusinesses.indexOf(business);
    if (i >= 0) return PALETTE[i % PALETTE.length];
    let h = 0;
    for (const c of business) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    return PALETTE[h % PALETTE.length];
  }

  function fmtNumber(v, digits) {
    if (v === null || v === undefined || Number.isNaN(v)) return "–";
    if (typeof v !== "number") return String(v);
    if (digits !== undefined) return v.toFixed(digits);
    if (Number.isInteger(v)) return v.toLocaleString("en-US");
    return Math.abs(v) >= 100 ? v.toLocaleString("en-US", { maximumFractionDigits: 2 }) : v.toFixed(3);
  }

  /** Build an element: el("td", {class: "x", title: "..."}, "text", childNode, ...). Text is text. */
  function el(tag, attrs, ...children) {
    const node = tag.startsWith("svg:")
      ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
      : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "dataset") Object.assign(node.dataset, v);
      else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      node.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function swatch(colour) {
    const s = el("span", { class: "swatch" });
    s.style.background = colour;   // CSSOM, allowed under the CSP (no style attribute in markup)
    return s;
  }

  function setStatus(text, isError) {
    const node = document.getElementById("status");
    if (!node) return;
    node.textContent = text;
    node.classList.toggle("error", !!isError);
  }

  /** Show the sign-in box when the API needs a token and this browser has no session. */
  async function setupSignIn(onChange) {
    const box = document.getElementById("signin");
    const who = el("span", { id: "signin-who", class: "sub" });
    const input = el("input", { type: "password", id: "token", placeholder: "API token", "aria-label": "API token" });
    const form = el("form", { id: "signin-form", autocomplete: "off" }, input, el("button", { type: "submit" }, "Sign in"));
    const out = el("button", { type: "button", id: "signout", class: "quiet", hidden: true }, "Sign out");
    box.replaceChildren(who, form, out);
    async function refresh() {
      const s = await session();
      box.hidden = !s.auth_required;
      form.hidden = s.authenticated;
      out.hidden = !s.authenticated;
      who.textContent = s.authenticated ? `signed in: ${s.businesses.join(", ")}` : "sign in to see data";
      return s;
    }
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await signIn(input.value);
        input.value = "";            // the token lives nowhere but the HttpOnly cookie now
        await refresh();
        onChange();
      } catch (e) { setStatus("sign-in: " + e.message, true); }
    });
    out.addEventListener("click", async () => { await signOut(); await refresh(); onChange(); });
    return refresh();
  }

  window.ocrstream = {
    PALETTE, TOTAL_COLOUR, MINUTE_MS, HOUR_MS, LOCAL_TZ,
    api, session, signIn, signOut, consumeHashToken, setupSignIn, setStatus,
    tzName, toInput, fromInput, fmtTime, fmtWindow, startOfDay, colourOf, fmtNumber, el, swatch,
  };
})();
