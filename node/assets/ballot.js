// Ballots at the keyboard (entries mode) and totals from paper (tallies mode). Loaded
// before session.js (/assets/ballot.js); uses its globals (S, API, $, msg, act, load) at run time.
//
// Keys: one window-level keydown handler turns each key into a token and appends it to
// E.queue; one loop (drain) takes tokens out in order. A finished ballot is saved from
// inside that loop, so while the save is in flight the loop waits and later keys stay
// queued: they land in the next ballot's rows, in order, at any typing speed. Focus does
// not matter and never moves to a button. A key the page cannot place (a mark past the
// last row, a key that is no mark, anything but Enter/Esc under the blank-rows question)
// stops the entry: that key and every key after it are set aside and shown, never
// guessed into a row, until Esc.
"use strict";

const E = {
  rows: [],        // subjects on the ballot, in ballot order
  keys: {},        // typed key → mark
  typed: [],       // per row: the key typed, "" = blank
  pos: 0,          // the row the next key goes to; rows.length = after the last row
  asking: false,   // the blank-rows question is on screen
  stopped: "",     // why entry stopped ("" = running)
  dropped: [],     // tokens set aside since it stopped
  saving: false,   // a ballot is in flight
  queue: [],       // tokens not yet taken, oldest first
  busy: false,     // drain() is running
  count: null,     // ballots entered (all laptops merged), the freshest known
  saves: 0,        // saves finished on this page
};

// The keys a clerk types, per level, in ballot order; 0 (or x) = invalid for this person.
function keymap() {
  const m = {};
  S.levels.forEach((l, i) => { m[String(i + 1)] = l.key; });
  m["0"] = "invalid"; m["x"] = "invalid";
  return m;
}
const TITLE = k => k === "invalid" ? "Không hợp lệ" : (S.levels.find(l => l.key === k) || {}).title || k;

// A fresh id per ballot: a save retried after a lost answer carries it again, and the
// server answers "already stored" instead of storing the ballot twice.
const newId = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), b => b.toString(16).padStart(2, "0")).join("");

// Ballots to enter: collected − wholly invalid (null until the counts are typed).
function need() {
  const b = S.ballots || {};
  return b.collected === null || b.collected === undefined ? null : Math.max(0, b.collected - (b.wholly_invalid || 0));
}

function drawBallots() {
  const t = $("tab-ballots");
  const polled = S.subjects.filter(x => !x.excluded);
  if (S.meta.mode === "tallies") { drawTallies(t, polled); return; }
  E.rows = polled.map(x => ({id: x.id, name: x.name}));
  E.keys = keymap();
  clearBallot();
  const legend = tn.join(Object.entries(E.keys).filter(([k]) => k !== "x").map(([k, v]) => tn.html`<span class=kbd>${k}</span> ${TITLE(v)}`), " · ");
  fresh(t, tn.html`<h2>Nhập phiếu <small class=muted>mỗi phiếu hợp lệ một lần; phiếu không hợp lệ hoàn toàn ghi ở “Có mặt & số phiếu”</small></h2>
<p class=muted>Gõ một phím cho mỗi người: ${legend}; <span class=kbd>Space</span> (phím cách) để trống. <span class=kbd>Enter</span> ghi phiếu, <span class=kbd>Esc</span> xóa phiếu đang nhập, <span class=kbd>Backspace</span> lùi lại, <span class=kbd>↑</span> <span class=kbd>↓</span> chọn dòng. Cứ gõ tiếp: phím gõ trong lúc đang ghi được giữ lại cho phiếu sau.</p>
<p id=progress></p>
<form id=ballot><table class=ballot><tr><th>#</th><th>Họ tên</th><th>Chức vụ</th><th>Phím</th><th>Mức</th></tr>${
    polled.map((x, i) => tn.html`<tr data-row=${i}><td class=num>${i + 1}</td><td>${x.name}</td><td>${x.position}</td><td><input class=mark data-subject="${x.id}" readonly autocomplete=off aria-label="${x.name}"></td><td class=chosen></td></tr>`)
    }</table>
<div id=ballot-ask class=ask role=alert hidden></div>
<p id=ballot-stop class=error role=alert hidden></p>
<p><button type=button id=ballot-go tabindex=-1>Ghi phiếu (Enter)</button> <span id=ballot-state class=muted></span> <span class=msg id=ballot-msg></span></p></form>
<h2>Phiếu vừa nhập ở trang này <small class=muted>để sửa: xóa rồi nhập lại</small></h2><div id=recent></div>`);
  // The mouse feeds the same queue as the keys, and never takes the focus.
  for (const b of t.querySelectorAll("button")) b.addEventListener("mousedown", e => e.preventDefault());
  $("ballot-go").addEventListener("click", () => feed("Enter"));
  t.querySelectorAll("input.mark").forEach((inp, i) => inp.addEventListener("mousedown", () => feed({row: i})));
  drawEntry();
  drawRecent();
}

function clearBallot() {
  E.typed = E.rows.map(() => "");
  E.pos = 0;
  E.asking = false;
}

const blanks = () => E.rows.filter((_, i) => !E.typed[i]);
const keyName = k => k === "Space" ? "Space" : k === "Escape" ? "Esc" : k.startsWith("Arrow") ? (k === "ArrowUp" ? "↑" : "↓") : k;

// One keydown: a token, or null for a key the page leaves to the browser.
function token(e) {
  if (e.ctrlKey || e.altKey || e.metaKey) return null;
  if (e.isComposing || e.key === "Process" || e.keyCode === 229) return "Process";
  switch (e.key) {
    case "Enter": case "Escape": case "Backspace": case "ArrowUp": case "ArrowDown": return e.key;
    case "Tab": return e.shiftKey ? "ArrowUp" : "ArrowDown";
    case " ": case "Spacebar": return "Space";
  }
  return e.key.length === 1 ? e.key.toLowerCase() : null;
}

const entryActive = () => S && S.meta.mode === "entries" && E.rows.length > 0 && !$("tab-ballots").hidden;

window.addEventListener("keydown", e => {
  if (!entryActive()) return;
  const k = token(e);
  if (k === null) return;
  e.preventDefault();
  e.stopPropagation();
  feed(k);
}, true);
// Space and Enter act on keyup too (a button's click): the keydown was ours.
window.addEventListener("keyup", e => { if (entryActive() && (e.key === " " || e.key === "Enter")) e.preventDefault(); }, true);

function feed(k) {
  E.queue.push(k);
  if (E.busy) drawState(); else drain();
}

async function drain() {
  if (E.busy) return;
  E.busy = true;
  try {
    let saved = false;
    for (;;) {
      while (E.queue.length) {
        const b = step(E.queue.shift());
        if (b) { drawEntry(); await save(b); saved = true; }
      }
      if (!saved) break;
      // Typing paused: the whole page (summary, result, seal tab) catches up before the
      // count shows the last ballot, as after any other save. While typing ahead, the
      // poll does.
      saved = false;
      await load().catch(() => {});
    }
  } catch (e) {
    stop(null, "lỗi của trang: " + (e.message || e));
  } finally {
    E.busy = false;
    drawEntry();
  }
}

// Applies one token to the ballot on screen; returns a ballot to save, or null.
function step(k) {
  const n = E.rows.length;
  if (E.stopped) {
    if (typeof k === "object") return null;
    if (k === "Escape") {
      E.stopped = ""; E.dropped = [];
      say("Nhập tiếp. Phiếu trên màn hình vẫn giữ nguyên: so với phiếu giấy rồi nhấn Enter để ghi, hoặc Esc để xóa.", "");
    } else {
      E.dropped.push(k);
    }
    return null;
  }
  if (typeof k === "object") { E.asking = false; E.pos = k.row; return null; }
  if (E.asking) {
    if (k === "Enter") { E.asking = false; return take(); }
    E.asking = false;
    if (k === "Escape") {
      E.pos = E.typed.findIndex(x => !x);
      say("Chưa ghi. Gõ các dòng còn trống rồi nhấn Enter.", "");
      return null;
    }
    return stop(k, `đang hỏi về dòng để trống thì gõ «${keyName(k)}» (chỉ Enter hoặc Esc trả lời câu hỏi)`);
  }
  switch (k) {
    case "Enter": {
      const blank = blanks();
      if (blank.length === n) {
        clearBallot(); // nothing typed is lost: back to the first row
        say("Phiếu trống: chưa gõ dòng nào nên không ghi. Nếu phiếu giấy không đánh dấu ai, gõ 0 cho từng người.", "error");
        return null;
      }
      if (blank.length) { E.asking = true; say("", ""); return null; }
      return take();
    }
    case "Escape": clearBallot(); say("Đã xóa phiếu đang nhập.", ""); return null;
    case "Backspace":
      if (E.pos < n && E.typed[E.pos]) E.typed[E.pos] = "";
      else if (E.pos > 0) { E.pos--; E.typed[E.pos] = ""; }
      return null;
    case "ArrowUp": E.pos = Math.max(0, E.pos - 1); return null;
    case "ArrowDown": E.pos = Math.min(n, E.pos + 1); return null;
    case "Process":
      return stop(k, "bộ gõ tiếng Việt (Unikey, Telex, VNI…) đang bật; chuyển sang gõ tiếng Anh khi nhập phiếu");
  }
  if (k !== "Space" && !(k in E.keys)) {
    return stop(k, `phím «${k}» không dùng để nhập phiếu (dùng ${Object.keys(E.keys).join(", ")}, Space để trống)`);
  }
  if (E.pos >= n) return stop(k, `phiếu có ${n} dòng, phím «${keyName(k)}» thừa (quên Enter?)`);
  E.typed[E.pos] = k === "Space" ? "" : k;
  E.pos++;
  return null;
}

function take() {
  const marks = {};
  E.rows.forEach((r, i) => { if (E.typed[i]) marks[r.id] = E.keys[E.typed[i]]; });
  return {id: newId(), marks};
}

// Stops entry: `k` (if any) and every later token are set aside until Esc.
function stop(k, why) {
  E.stopped = why;
  E.dropped = k === null ? [] : [k];
  E.asking = false;
  say("", "");
  return null;
}

function say(text, cls) { msg("tab-ballots", text, cls); }

// Saves one ballot; returns when it is stored or refused. No answer, or a server that
// cannot reach its store for now: the same ballot (same id) again, until it lands.
async function save(b) {
  E.saving = true;
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await change(API + "/entries", {id: b.id, marks: b.marks});
      E.saving = false;
      E.saves++;
      E.count = r.count;
      mine.push({id: r.id, marks: b.marks, at: E.saves});
      clearBallot();
      const y = need();
      const over = y !== null && r.count > y;
      say(`Đã ghi phiếu thứ ${r.count}` + (r.already ? " (lần gửi trước đã tới nơi)" : "") +
        (over ? ` — NHIỀU HƠN ${y} phiếu cần nhập` : ""), over ? "error" : "ok");
      drawRecent();
      return;
    } catch (e) {
      if (e.status && e.status < 500) {
        E.saving = false;
        stop(null, "phiếu trên màn hình CHƯA được ghi: " + e.message);
        return;
      }
      const wait = Math.min(500 * 2 ** (attempt - 1), 5000);
      say(`Chưa ghi được phiếu (${e.message || "mất kết nối"}); thử lại lần ${attempt + 1} sau ${wait / 1000} giây. Các phím gõ tiếp được giữ lại theo thứ tự.`, "error");
      drawState();
      await new Promise(ok => setTimeout(ok, wait));
    }
  }
}

// The ballot on screen from E.
function drawEntry() {
  const form = $("ballot");
  if (!form) return;
  const n = E.rows.length;
  form.querySelectorAll("table.ballot tr[data-row]").forEach(tr => {
    const i = Number(tr.dataset.row);
    const k = E.typed[i];
    tr.querySelector("input.mark").value = k;
    tr.querySelector(".chosen").textContent = k ? TITLE(E.keys[k]) : "";
    tr.classList.toggle("cur", i === E.pos && !E.saving);
    tr.classList.toggle("blank", E.asking && !k);
  });
  form.classList.toggle("saving", E.saving);
  const ask = $("ballot-ask");
  ask.hidden = !E.asking;
  if (E.asking) {
    const b = blanks();
    fresh(ask, tn.html`<b>Phiếu này để trống ${b.length}/${n} dòng:</b> ${b.map(r => r.name).join(", ")}.
Dòng để trống là phiếu <b>không hợp lệ</b> đối với người đó.<br>
<span class=kbd>Enter</span> ghi phiếu như vậy · <span class=kbd>Esc</span> quay lại gõ tiếp
<button type=button class=secondary id=ask-yes tabindex=-1>Ghi như vậy</button> <button type=button class=secondary id=ask-no tabindex=-1>Quay lại</button>`);
    for (const [id, k] of [["ask-yes", "Enter"], ["ask-no", "Escape"]]) {
      $(id).addEventListener("mousedown", e => e.preventDefault());
      $(id).addEventListener("click", () => feed(k));
    }
  }
  const st = $("ballot-stop");
  st.hidden = !E.stopped;
  if (E.stopped) {
    const shown = E.dropped.slice(0, 40).map(keyName).join(" ") + (E.dropped.length > 40 ? " …" : "");
    fresh(st, tn.html`<b>Dừng nhập:</b> ${E.stopped}.<br>Phiếu trên màn hình chưa ghi.${
      E.dropped.length ? tn.html` ${E.dropped.length} phím gõ từ lúc đó chưa dùng, đã bỏ: <span class=kbd>${shown}</span>.` : ""
    }<br>So phiếu trên màn hình với phiếu giấy, rồi nhấn <span class=kbd>Esc</span> để nhập tiếp.`);
  }
  drawState();
}

// "Saving", the keys held meanwhile, and the count against the ballots to enter.
function drawState() {
  const s = $("ballot-state");
  if (!s) return;
  const held = E.queue.length;
  s.textContent = E.saving ? `Đang ghi phiếu…${held ? ` (giữ ${held} phím gõ trước cho phiếu sau)` : ""}` : "";
  drawProgress();
}

function drawProgress() {
  const p = $("progress");
  if (!p) return;
  const x = E.count ?? S.entries.length, y = need();
  if (y === null) {
    p.className = "warn";
    put(p, tn.html`Đã nhập <b id=entry-count>${x}</b> phiếu (mọi máy đã gộp). Chưa biết cần bao nhiêu: ghi số phiếu thu về ở thẻ “Có mặt & số phiếu”.`);
    return;
  }
  const b = S.ballots;
  const how = `thu về ${b.collected} − không hợp lệ hoàn toàn ${b.wholly_invalid || 0}`;
  p.className = x > y ? "error" : x === y ? "ok" : "";
  put(p, tn.html`Đã nhập <b id=entry-count>${x}</b> / cần <b id=entry-need>${y}</b> phiếu <small class=muted>(mọi máy đã gộp; cần = ${how})</small>${
    x > y ? tn.html`<br><b>Nhập thừa ${x - y} phiếu:</b> có phiếu bị nhập hai lần, hoặc số phiếu thu về / không hợp lệ hoàn toàn chưa đúng. Xem lại “Phiếu vừa nhập” hoặc thẻ “Có mặt & số phiếu”.` : x === y ? " — đã đủ." : ""}`);
}

// After each poll: the count, unless a save finished while the poll was on its way (the
// save's count is newer); ballots of this page that are gone (removed on another laptop).
function entryLoaded(savesBefore) {
  if (savesBefore === E.saves) E.count = S.entries.length;
  const have = new Set(S.entries.map(e => e.id));
  for (let i = mine.length - 1; i >= 0; i--) if (mine[i].at <= savesBefore && !have.has(mine[i].id)) mine.splice(i, 1);
  drawState();
  drawRecent();
}

function drawRecent() {
  const r = $("recent");
  if (!r) return;
  const names = Object.fromEntries(S.subjects.map(x => [x.id, x.name]));
  const last = mine.slice(-10).reverse();
  const changed = put(r, last.length ? tn.html`<table id=recent-table><tr><th>Mã phiếu</th><th>Nội dung</th><th></th></tr>${last.map(e => tn.html`<tr><td class=muted>${e.id.slice(0, 8)}</td><td>${E.rows.map(x => `${names[x.id] || x.id}: ${e.marks[x.id] ? TITLE(e.marks[x.id]) : "để trống"}`).join("; ")}</td><td><button type=button class="secondary remove" data-id="${e.id}" tabindex=-1>Xóa</button></td></tr>`)}</table>` : tn.html`<p class=muted>Chưa có.</p>`);
  if (!changed) return;
  for (const b of r.querySelectorAll(".remove")) {
    b.addEventListener("mousedown", e => e.preventDefault());
    b.addEventListener("click", async () => {
      if (!confirm("Xóa phiếu này?")) return;
      if (await act("tab-ballots", API + "/entries/remove", {id: b.dataset.id}, () => "Đã xóa phiếu")) {
        const i = mine.findIndex(e => e.id === b.dataset.id);
        if (i >= 0) mine.splice(i, 1);
        drawRecent();
      }
    });
  }
}

// Totals from paper: Enter in a row saves that row; a typed value not yet saved looks
// different from a saved one until it is.
function drawTallies(t, polled) {
  const v = x => x === null || x === undefined ? "" : String(x);
  fresh(t, tn.html`<h2>Nhập kết quả tổng hợp từ biên bản giấy</h2>
<p class=muted>Gõ số của một người rồi nhấn <span class=kbd>Enter</span> (hoặc “Ghi”) để ghi dòng đó. Ô <span class=unsaved>nền vàng, chữ nghiêng</span> là số đã gõ nhưng <b>chưa ghi</b>.</p>
<table id=tally-table><tr><th>Họ tên</th>${S.levels.map(l => tn.html`<th>${l.title}</th>`)}<th>Không hợp lệ</th><th></th><th>Trạng thái</th></tr>${
    polled.map(x => tn.html`<tr data-subject="${x.id}"><td>${x.name}</td>${S.levels.map((l, i) => tn.html`<td><input type=text inputmode=numeric autocomplete=off data-level="${l.key}" data-saved="${x.tally ? v(x.tally.levels[i]) : ""}" value="${x.tally ? v(x.tally.levels[i]) : ""}"></td>`)}<td><input type=text inputmode=numeric autocomplete=off data-level=invalid data-saved="${x.tally ? v(x.tally.invalid) : ""}" value="${x.tally ? v(x.tally.invalid) : ""}"></td><td><button type=button class=tally-go>Ghi</button></td><td><span class=tally-state></span><span class=field-error></span></td></tr>`)
    }</table><span class=msg></span>`);
  const mark = tr => {
    let dirty = false;
    for (const i of tr.querySelectorAll("input")) {
      const d = i.value !== i.dataset.saved;
      i.classList.toggle("unsaved", d);
      dirty = dirty || d;
    }
    tr.classList.toggle("unsaved", dirty);
    const st = tr.querySelector(".tally-state");
    if (dirty) { st.className = "tally-state warn"; st.textContent = "Chưa ghi — nhấn Enter"; }
    else if (tr.dataset.saved) { st.className = "tally-state ok"; st.textContent = "Đã ghi"; }
    else st.textContent = "";
  };
  const saveRow = async tr => {
    const body = {subject: tr.dataset.subject};
    const inputs = [...tr.querySelectorAll("input")];
    const st = tr.querySelector(".tally-state"), err = tr.querySelector(".field-error");
    const unsaved = why => { mark(tr); st.className = "tally-state error"; st.textContent = why; };
    for (const i of inputs) {
      const c = countOf(i);
      if (c.bad) { err.textContent = c.bad; i.classList.add("invalid"); unsaved("Chưa ghi"); return; }
      body[i.dataset.level] = c.value;
    }
    body.invalid = body.invalid ?? 0;
    const sent = inputs.map(i => i.value);
    st.className = "tally-state muted"; st.textContent = "Đang ghi…";
    try {
      await change(API + "/tally", body);
      err.textContent = "";
      for (const i of inputs) i.classList.remove("invalid");
      // What was sent is saved; a value typed while it was on its way is still not.
      inputs.forEach((i, n) => { i.dataset.saved = i.dataset.level === "invalid" && sent[n] === "" ? "0" : sent[n]; });
      inputs.forEach(i => { if (i.dataset.level === "invalid" && i.value === "") i.value = "0"; });
      tr.dataset.saved = "1";
      mark(tr);
      msg("tab-ballots", "Đã ghi kết quả của " + tr.cells[0].textContent, "ok");
      await load();
    } catch (e) {
      err.textContent = (e.fields || {})["subject/" + tr.dataset.subject] || e.message;
      for (const i of inputs) i.classList.add("invalid");
      msg("tab-ballots", e.message, "error");
      unsaved("Chưa ghi");
    }
  };
  for (const tr of t.querySelectorAll("#tally-table tr[data-subject]")) {
    if (tr.querySelector("input").dataset.saved !== "") tr.dataset.saved = "1";
    for (const i of tr.querySelectorAll("input")) {
      i.addEventListener("input", () => mark(tr));
      i.addEventListener("keydown", e => { if (e.key === "Enter") { e.preventDefault(); saveRow(tr); } });
    }
    tr.querySelector(".tally-go").addEventListener("click", () => saveRow(tr));
    mark(tr);
  }
}
