// tinnhiem: what every page script uses. No framework, no network beyond this server.
"use strict";
// HTML by construction: markup is written only as tn.html`...`, which escapes every
// interpolated value unless it is itself tn.html (or an array of them), and only
// tn.put / tn.view write it into the page. Escaping is no longer something a page
// must remember; there is no public escape function left to forget.
const Html = (() => {
  const esc = s => String(s).replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
  class Html { constructor(s) { this.s = s; } toString() { return this.s; } }
  const part = v => v instanceof Html ? v.s : Array.isArray(v) ? v.map(part).join("") : v === null || v === undefined ? "" : esc(v);
  Html.tag = (strings, ...values) => new Html(strings.reduce((a, s, i) => a + part(values[i - 1]) + s));
  Html.join = (list, sep) => new Html(list.map(part).join(part(sep)));
  return Html;
})();

const tn = {
  // The session's anti-forgery token, from the <meta> of a signed-in page (it comes
  // before this script). The server refuses any POST without it.
  csrf: (document.querySelector('meta[name="csrf"]') || {}).content || "",
  html: Html.tag,
  // Like list.join(sep) for markup: each item and the separator escaped unless tn.html.
  join: Html.join,
  // Replaces an element's content only when it changed (a poll must not swap a button
  // from under a clerk's click), or always with `always` (a form drawn afresh, whose
  // listeners are added again). Anything but tn.html is refused, so a string built by
  // hand cannot reach innerHTML. Returns whether it replaced the content.
  put(el, html, always) {
    if (!(html instanceof Html)) throw new TypeError("tn.put: not tn.html");
    if (!el || (!always && el._html === html.s)) return false;
    el._html = html.s;
    el.innerHTML = html.s;
    return true;
  },
  async get(url) {
    const r = await fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}});
    if (r.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); throw new Error("401"); }
    const j = await r.json();
    if (!r.ok) throw new Error(j.error || ("HTTP " + r.status));
    return j;
  },
  async post(url, body) {
    const r = await fetch(url, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": tn.csrf},
      body: JSON.stringify(body ?? {})});
    if (r.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); throw new Error("401"); }
    const j = await r.json().catch(() => ({}));
    // The status rides on the error: a page that retries must tell "the server said
    // no" (4xx, will say no again) from "no answer" (no status) or a server fault (5xx).
    const fail = text => Object.assign(new Error(text), {status: r.status});
    if (r.status === 422 || r.status === 400 && !j.error) {
      throw fail("Dữ liệu không hợp lệ: số phải là số nguyên không âm, ô bắt buộc không được để trống.");
    }
    // Each reason at the field where it is fixed, when the server names fields.
    if (!r.ok) throw Object.assign(fail(j.error || ("HTTP " + r.status)), {fields: j.fields || {}, answer: j});
    return j;
  },
  // POSTs raw bytes (a file the clerk chose); the answer's JSON, or an error with its message.
  async send(url, bytes) {
    const r = await fetch(url, {method: "POST", credentials: "same-origin",
      headers: {"Accept": "application/json", "X-CSRF-Token": tn.csrf}, body: bytes});
    if (r.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); throw new Error("401"); }
    const j = await r.json().catch(() => ({error: "HTTP " + r.status}));
    if (!r.ok) throw new Error(j.error || ("HTTP " + r.status));
    return j;
  },
  // Calls f now and every `ms`, showing the time of the last refresh in #live.
  poll(f, ms) {
    const tick = async () => {
      try {
        await f();
        const l = document.getElementById("live");
        if (l) l.textContent = "Cập nhật lúc " + new Date().toLocaleTimeString("vi-VN", {timeZone: "Asia/Ho_Chi_Minh"});
      } catch (e) {
        const l = document.getElementById("live");
        if (l) l.textContent = "Không cập nhật được: " + e.message;
      }
    };
    tick();
    return setInterval(tick, ms);
  },
  // Percentages arrive as "81.63"; Vietnamese writes 81,63%.
  pct(p) { return String(p ?? "").replace(".", ",") + "%"; },
  // "2023-12-08" as "08/12/2023".
  date(iso) { const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || ""); return m ? `${m[3]}/${m[2]}/${m[1]}` : String(iso ?? ""); },
  // Vietnam's time whatever the computer's zone is set to, as on paper and the CLI.
  when(t) { return t ? new Date(t * 1000).toLocaleString("vi-VN", {timeZone: "Asia/Ho_Chi_Minh"}) : ""; },
  // `tn.view.ID = tn.html`...`` is tn.put on element ID.
  view: new Proxy({}, {
    set(_, id, html) { tn.put(document.getElementById(id), html); return true; },
  }),
  say(id, text, cls) {
    const e = document.getElementById(id);
    if (e) { e.textContent = text; e.className = cls || ""; }
  },
};

// A form without an action is the page script's to handle (it listens for "submit" or
// for clicks): the browser never submits it. The policy allows no inline onsubmit.
document.addEventListener("submit", e => {
  if (!e.target.hasAttribute("action")) e.preventDefault();
});
