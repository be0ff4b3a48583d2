// tinnhiem: what every page script uses. No framework, no network beyond this server.
"use strict";
const tn = {
  // The session's anti-forgery token, from the <meta> of a signed-in page (it comes
  // before this script). The server refuses any POST without it.
  csrf: (document.querySelector('meta[name="csrf"]') || {}).content || "",
  esc(s) {
    return String(s ?? "").replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
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
  date(iso) { const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || ""); return m ? `${m[3]}/${m[2]}/${m[1]}` : tn.esc(iso); },
  // Vietnam's time whatever the computer's zone is set to, as on paper and the CLI.
  when(t) { return t ? new Date(t * 1000).toLocaleString("vi-VN", {timeZone: "Asia/Ho_Chi_Minh"}) : ""; },
  // `tn.view.ID = html` replaces the content of element ID only when it changed: pages
  // that poll must not swap a link or a button from under a click.
  view: new Proxy({}, {
    set(_, id, html) {
      const el = document.getElementById(id);
      if (el && el._html !== html) { el._html = html; el.innerHTML = html; }
      return true;
    },
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
