// One session, start to finish: setup, subjects, attendance and ballots, ballot entry
// (keyboard only, in ballot.js), the live result, seal, delivery. Forms draw once; the
// result, the summary, the entry count and the recent ballots redraw on every poll.
"use strict";
const ID = document.getElementById("session").dataset.id;
const API = "/api/s/" + encodeURIComponent(ID);
let S = null;          // the last answer of GET API
let drawn = false;     // forms drawn once
const mine = [];       // ballots entered on this page, newest last: {id, marks, at}
const $ = id => document.getElementById(id);
const num = v => (v === "" || v === null || v === undefined) ? null : Number(v);
const TABS = [["setup", "Thông tin"], ["subjects", "Người được lấy phiếu"], ["counts", "Có mặt & số phiếu"],
  ["ballots", "Nhập phiếu"], ["result", "Kết quả"], ["seal", "Niêm phong & gửi"]];

function show(tab) {
  for (const [t] of TABS) { $("tab-" + t).hidden = t !== tab; }
  for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("on", a.dataset.tab === tab);
  if (tab === "ballots") { const f = document.querySelector(".mark"); if (f) f.focus(); }
}

const put = tn.put;
// Draws a form afresh even when unchanged: its listeners are added again after.
const fresh = (el, html) => tn.put(el, html, true);

function msg(where, text, cls) {
  const e = document.querySelector(`#${where} .msg`);
  if (e) { e.textContent = text; e.className = "msg " + (cls || ""); }
}

async function act(where, url, body, ok) {
  try {
    const r = await change(url, body);
    msg(where, ok(r), "ok");
    await load();
    return r;
  } catch (e) { msg(where, e.message, "error"); return null; }
}

// A change to a session whose sealed minutes stand as sealed: the server refuses it
// (409, `confirm_unseal`) until the clerk, asked here in the page, says to go on; then
// it goes again with `confirm_unseal`. "Thôi" stores nothing and says so.
async function change(url, body) {
  try { return await tn.post(url, body); }
  catch (e) {
    if (!(e.answer && e.answer.confirm_unseal)) throw e;
    if (!await askUnseal(e.message)) {
      throw Object.assign(new Error("Chưa ghi gì: biên bản đã niêm phong được giữ nguyên."), {status: 409, fields: {}});
    }
    return await tn.post(url, {...body, confirm_unseal: true});
  }
}

let asking = null; // the question on screen, answered "no" if another replaces it
function askUnseal(text) {
  if (asking) asking(false);
  return new Promise(done => {
    const el = $("unseal-confirm");
    fresh(el, tn.html`<p class=warn><b>${text}</b><br><button type=button id=unseal-yes>Vẫn ghi thay đổi, sẽ niêm phong lại</button> <button type=button class=secondary id=unseal-no>Thôi, giữ biên bản đã niêm phong</button></p>`);
    el.hidden = false;
    const end = ok => { asking = null; el.hidden = true; fresh(el, tn.html``); done(ok); };
    asking = end;
    $("unseal-yes").addEventListener("click", () => end(true));
    $("unseal-no").addEventListener("click", () => end(false));
    el.scrollIntoView({block: "nearest"});
    $("unseal-no").focus();
  });
}

function drawSetup() {
  const m = S.meta;
  // The opening day matters to a council's calendar (NQ 96 counts from it); a Party
  // body's steps count from the poll day, so its sessions do not ask for one.
  const council = m.body_kind !== "party_committee";
  fresh($("tab-setup"), tn.html`<h2>Thông tin phiên</h2>
<table><tr><th>Cơ quan</th><td>${m.body}</td></tr><tr><th>Ngày</th><td>${tn.date(m.date)}</td></tr>
${council ? tn.html`<tr><th>Khai mạc kỳ họp</th><td id=opening-day>${m.opening_date ? tn.date(m.opening_date) : tn.html`${tn.date(m.date)} <span class=muted>(trùng ngày bỏ phiếu)</span>`}</td></tr>` : ""}
<tr><th>Quy định</th><td>${m.profile}</td></tr><tr><th>Hình thức</th><td>${m.procedure_title}</td></tr>
<tr><th>Cách nhập</th><td>${m.mode === "entries" ? "Từng phiếu" : "Tổng hợp từ giấy"}</td></tr></table>
<h2>Ban kiểm phiếu</h2><form id=board>
<div class=row><label>Tên kỳ họp / hội nghị <input name=title value="${m.title || ""}"></label>
<label>Nơi kiểm phiếu <input name=place value="${m.place || ""}"></label></div>
<div class=row><label>Cơ quan giao nhiệm vụ (“do … giao”) <input name=assigned_by value="${m.assigned_by || ""}" placeholder="Ban Thường vụ Huyện ủy"></label>
<label>Chức danh được lấy phiếu (“đối với …”) <input name=polled_posts value="${m.polled_posts || ""}" placeholder="các chức danh do HĐND bầu"></label></div>
${council ? tn.html`<div class=row><label>Ngày khai mạc kỳ họp (trống: trùng ngày bỏ phiếu) <input name=opening_date type=date value="${m.opening_date || ""}"></label></div>` : ""}
<div class=row><label>Trưởng ban <input name=chair value="${m.chair || ""}"></label>
<label>Bắt đầu (GIỜ:PHÚT) <input name=from value="${m.count_from || ""}" placeholder="14:05"></label>
<label>Kết thúc <input name=to value="${m.count_to || ""}" placeholder="15:10"></label></div>
<label>Thành viên ban kiểm phiếu (mỗi người một dòng) <textarea name=members>${(m.board || []).join("\n")}</textarea></label>
<button id=board-go>Ghi</button> <span class=msg></span></form>
<h2>Làm việc trên nhiều máy</h2>
<p>Mỗi máy nhập phần của mình; gộp bằng tệp: <a href="/s/${encodeURIComponent(ID)}/doc" id=doc-download>tải tệp phiên này</a>, mang sang máy kia và nhập ở trang “Các phiên”. Phiếu nhập ở các máy được cộng lại; một số bị nhập khác nhau ở hai máy sẽ được báo để nhập lại.</p>
<h2>Các hạn theo quy định</h2><ul id=deadlines>${S.deadlines.length ? S.deadlines.map(d => tn.html`<li>${tn.date(d.due)} — ${d.what}</li>`) : tn.html`<li class=muted>Tài liệu gốc không nêu thời hạn nào cho hình thức này theo quy định của phiên.</li>`}</ul>`);
  const f = $("board");
  // Drawn again once saved: the opening day moves the deadlines listed below the form.
  f.addEventListener("submit", async () => {
    const r = await act("tab-setup", API + "/board", Object.fromEntries(new FormData(f).entries()), () => "Đã ghi ban kiểm phiếu");
    if (r) { drawSetup(); msg("tab-setup", "Đã ghi ban kiểm phiếu", "ok"); }
  });
}

// The list of people: each row edited or removed in place (with a confirmation in the
// page), one added, or a whole list imported. Nothing here replaces a person silently:
// the server refuses a taken row id and says who is on it.
function drawSubjects() {
  const reasons = sel => tn.html`<option value="">Được lấy phiếu</option>${S.exclusions.map(e => tn.html`<option value="${e.key}"${e.key === sel ? tn.html` selected` : ""}>${e.title}</option>`)}`;
  const rows = S.subjects.map((x, i) => tn.html`<tr data-subject="${x.id}"><td class=num>${i + 1}</td><td>${x.id}</td><td>${x.name}</td><td>${x.position}</td><td>${x.unit}</td><td>${x.person_id}</td><td>${x.excluded || ""}</td><td class=noprint><button type=button class="secondary subject-edit" data-id="${x.id}">Sửa</button> <button type=button class="secondary subject-remove" data-id="${x.id}">Xóa</button></td></tr>`);
  fresh($("tab-subjects"), tn.html`<h2>Danh sách người được lấy phiếu (${S.subjects.length})</h2>
<table id=subjects-table><tr><th>#</th><th>Mã dòng</th><th>Họ tên</th><th>Chức vụ</th><th>Đơn vị công tác</th><th>Mã người</th><th>Không lấy phiếu vì</th><th class=noprint></th></tr>${rows.length ? rows : tn.html`<tr><td colspan=8 class=muted>Chưa có ai.</td></tr>`}</table>
<div id=subject-panel></div><span id=subject-msg class=said></span>
<h2>Nhập danh sách (CSV)</h2><form id=csv>
<p class=muted id=csv-help>Dòng đầu là tiêu đề cột, chữ hoa hay thường, có dấu hay không dấu đều được; ngăn cách bằng dấu phẩy hoặc chấm phẩy. Các cột: ${S.csv_help.headers}. STT 1 thành mã dòng s01. Lý do không lấy phiếu: ${S.csv_help.reasons}. Dán nội dung hoặc chọn tệp.</p>
<textarea name=csv id=csv-text></textarea><input type=file id=csv-file accept=".csv,text/csv">
<label class=check><input type=checkbox id=csv-replace> Thay các dòng trùng mã với người đã có (người đang ở dòng đó bị thay)</label>
<button id=csv-go>Nhập danh sách</button> <span class=msg></span></form>
<h2>Thêm một người</h2><form id=one><div class=row>
<label>Mã dòng <input name=id id=one-id required placeholder="s07" aria-describedby=one-id-error><span class=field-error id=one-id-error></span></label><label>Mã người <input name=person required></label>
<label>Họ tên <input name=name required></label><label>Chức vụ <input name=position></label><label>Đơn vị công tác <input name=unit></label>
<label>Không lấy phiếu vì <select name=excluded>${reasons("")}</select></label></div>
<button id=one-go>Thêm</button> <span id=one-msg class=said></span></form>`);
  // Messages of this tab that are not the CSV form's (`.msg`, which `act` writes).
  const say = (id, text, cls) => { tn.say(id, text, "said " + (cls || "")); };
  // The message goes on the redrawn tab, so it is seen only once the list shows the change.
  const done = async text => { await load(); drawSubjects(); drawBallots(); say("subject-msg", text, "ok"); };
  $("csv-file").addEventListener("change", async e => { const f = e.target.files[0]; if (f) $("csv-text").value = await f.text(); });
  $("csv").addEventListener("submit", async () => {
    try {
      const r = await change(API + "/subjects", {csv: $("csv-text").value, replace: $("csv-replace").checked});
      await load(); drawSubjects(); drawBallots();
      msg("tab-subjects", `Đã nhập ${r.imported} người` + (r.replaced.length ? `; thay dòng ${r.replaced.join(", ")}` : "") + (r.unchanged ? `; ${r.unchanged} dòng đã có, giữ nguyên` : ""), "ok");
    } catch (e) { msg("tab-subjects", e.message, "error"); }
  });
  const one = $("one");
  one.addEventListener("submit", async () => {
    $("one-id-error").textContent = "";
    try {
      const r = await change(API + "/subjects", Object.fromEntries(new FormData(one).entries()));
      await done("Đã thêm " + r.id);
    } catch (e) {
      $("one-id-error").textContent = (e.fields || {})["add/id"] || "";
      say("one-msg", e.message, "error");
    }
  });
  const panel = $("subject-panel");
  const byId = id => S.subjects.find(x => x.id === id);
  for (const b of document.querySelectorAll(".subject-edit")) b.addEventListener("click", () => {
    const x = byId(b.dataset.id);
    if (!x) return;
    fresh(panel, tn.html`<form id=edit class=card><h2>Sửa dòng ${x.id}</h2><div class=row>
<label>Mã người <input name=person id=edit-person value="${x.person_id}" required></label>
<label>Họ tên <input name=name id=edit-name value="${x.name}" required></label>
<label>Chức vụ <input name=position id=edit-position value="${x.position}"></label>
<label>Đơn vị công tác <input name=unit id=edit-unit value="${x.unit}"></label>
<label>Không lấy phiếu vì <select name=excluded id=edit-excluded>${reasons(x.excluded_key)}</select></label></div>
${x.marks || x.tally ? tn.html`<p class=muted>Các ý kiến đã ghi cho dòng này (${x.marks} phiếu${x.tally ? ", kết quả tổng hợp" : ""}) vẫn thuộc dòng này sau khi sửa.</p>` : ""}
<button id=edit-go>Ghi</button> <button type=button class=secondary id=edit-cancel>Thôi</button> <span id=edit-msg class=said></span></form>`);
    $("edit-cancel").addEventListener("click", () => { fresh(panel, tn.html``); });
    $("edit").addEventListener("submit", async () => {
      try {
        const r = await change(API + "/subjects/edit", {id: x.id, ...Object.fromEntries(new FormData($("edit")).entries())});
        await done(r.changed ? `Đã sửa dòng ${r.id}` : `Dòng ${r.id} không thay đổi`);
      } catch (e) { say("edit-msg", e.message, "error"); }
    });
    $("edit-name").focus();
  });
  for (const b of document.querySelectorAll(".subject-remove")) b.addEventListener("click", () => {
    const x = byId(b.dataset.id);
    if (!x) return;
    const marked = x.marks > 0 || x.tally;
    const what = [x.marks ? `${x.marks} phiếu có ý kiến cho người này` : "", x.tally ? "kết quả tổng hợp" : ""].filter(Boolean).join(" và ");
    fresh(panel, tn.html`<p class=warn id=remove-confirm>Xóa <b>${x.name}</b> (dòng ${x.id}) khỏi danh sách?
${marked ? tn.html`<br><b>Đã có ${what}.</b> Xóa người này sẽ xóa luôn các ý kiến đó (các phiếu vẫn giữ).` : ""}
<br><button type=button id=remove-yes>${marked ? "Xóa cả ý kiến đã ghi" : "Xóa"}</button> <button type=button class=secondary id=remove-no>Thôi</button> <span id=remove-msg class=said></span></p>`);
    $("remove-no").addEventListener("click", () => { fresh(panel, tn.html``); });
    $("remove-yes").addEventListener("click", async () => {
      try {
        const r = await change(API + "/subjects/remove", {id: x.id, drop_marks: !!marked});
        await done(`Đã xóa ${r.name} (dòng ${r.id})` + (r.marks || r.tally ? " cùng các ý kiến đã ghi" : ""));
      } catch (e) { say("remove-msg", e.message, "error"); }
    });
  });
}

// The session header's own action: deleting a session never sealed, after a
// confirmation in the page. A sealed session has no such button: its minutes stay.
let deleting = false;
function drawHeader() {
  const el = $("session-actions");
  if (S.seals.length) { put(el, tn.html``); return; }
  const changed = put(el, deleting
    ? tn.html`<p class=warn id=delete-confirm>Xóa phiên <b>${ID}</b> (${S.subjects.length} người, ${S.entries.length} phiếu đã nhập)? Phiên chưa niêm phong; bản cuối được giữ trong thư mục deleted/ của máy này và chỉ khôi phục được khi gộp tệp đó với lựa chọn khôi phục.
<br><button type=button id=delete-yes>Xóa hẳn phiên này</button> <button type=button class=secondary id=delete-no>Thôi</button> <span id=delete-msg class=said></span></p>`
    : tn.html`<button type=button class=secondary id=delete-session>Xóa phiên này</button>`);
  if (!changed) return;
  if (!deleting) { $("delete-session").addEventListener("click", () => { deleting = true; drawHeader(); }); return; }
  $("delete-no").addEventListener("click", () => { deleting = false; drawHeader(); });
  $("delete-yes").addEventListener("click", async () => {
    try {
      await tn.post(API + "/delete", {confirm: ID});
      location.href = "/";
    } catch (e) { tn.say("delete-msg", e.message, "said error"); }
  });
}

const COUNT_FIELDS = [["attendance", "total", "Tổng số đại biểu / thành viên được triệu tập"], ["attendance", "present", "Có mặt"],
  ["attendance", "absent_from_start", "Vắng từ đầu đến khi bỏ phiếu"], ["attendance", "present_at_vote", "Có mặt khi bỏ phiếu"],
  ["ballots", "issued", "Số phiếu phát ra"], ["ballots", "collected", "Số phiếu thu về"], ["ballots", "wholly_invalid", "Số phiếu không hợp lệ hoàn toàn"]];

// A count as typed: null when empty, a number when a whole number, else the reason.
// The fields are text, not number inputs: a number input in an en-US browser drops the
// comma of "1,5" and hands the page 15, so only the page's own check sees what was typed.
function countOf(input) {
  const v = input.value.trim();
  if (v === "") return {value: null};
  if (!/^[0-9]+$/.test(v)) return {bad: `Chỉ nhập số nguyên không âm (không có dấu trừ, dấu phẩy, dấu chấm, chữ), ví dụ 48; ô này đang là «${v}»`};
  if (v.length > 9) return {bad: "Số quá lớn"};
  return {value: Number(v)};
}

// Shows each reason under its field (`count/NAME`); clears the others.
function countErrors(fields) {
  for (const [, k] of COUNT_FIELDS) {
    const input = $("count-" + k), out = $("count-error-" + k);
    const text = fields["count/" + k] || "";
    input.classList.toggle("invalid", !!text);
    input.setAttribute("aria-invalid", text ? "true" : "false");
    out.textContent = text;
  }
}

function drawCounts() {
  fresh($("tab-counts"), tn.html`<h2>Có mặt và số phiếu</h2><form id=counts novalidate><div class=grid>${
    COUNT_FIELDS.map(([g, k, l]) => tn.html`<label>${l} <input type=text inputmode=numeric autocomplete=off name=${k} id=count-${k} value="${S[g][k] ?? ""}" aria-describedby=count-error-${k}><span class=field-error id=count-error-${k}></span></label>`)
    }</div><button id=counts-go>Ghi số liệu</button> <span class=msg></span></form><div id=quorum></div>`);
  const f = $("counts");
  // What the form holds: the body to send, or the typing slips found before sending.
  const read = () => {
    const body = {}, bad = {};
    for (const [g, k] of COUNT_FIELDS) {
      const c = countOf(f[k]);
      if (c.bad) bad["count/" + k] = c.bad;
      // Emptying a saved count cannot unsay it: say so instead of "saved".
      else if (c.value === null && S[g][k] !== null && S[g][k] !== undefined) bad["count/" + k] = `Không xóa được số đã ghi (${S[g][k]}); hãy nhập số đúng`;
      else body[k] = c.value;
    }
    return {body, bad};
  };
  let timer = null, asked = 0;
  const check = async () => {
    const {body, bad} = read();
    const n = ++asked;
    let fields = {...bad};
    try { await tn.post(API + "/counts", {...body, check: true}); }
    catch (e) { fields = {...(e.fields || {}), ...bad}; }
    if (n === asked) countErrors(fields);
  };
  f.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(check, 250); });
  f.addEventListener("submit", async () => {
    clearTimeout(timer);
    const {body, bad} = read();
    if (Object.keys(bad).length) { countErrors(bad); msg("tab-counts", "Chưa ghi: sửa các ô được đánh dấu đỏ.", "error"); return; }
    try {
      const r = await change(API + "/counts", body);
      countErrors({});
      msg("tab-counts", r.quorum_met ? "Đã ghi. Đủ số người có mặt theo quy định." : "Đã ghi. CHƯA đủ số người có mặt theo quy định.", "ok");
      await load();
    } catch (e) {
      countErrors(e.fields || {});
      msg("tab-counts", e.message, "error");
    }
  });
}

function drawResult() {
  const r = S.result;
  const pct = (x, k) => tn.html`${x.counts[k]} <span class=muted>(${tn.pct(x.percent[k])})</span>`;
  const conflicts = S.conflicts.length ? tn.html`<p class=error id=conflicts>Có ${S.conflicts.length} số bị nhập khác nhau trên hai máy; nhập lại để chọn giá trị đúng:<br>${tn.join(S.conflicts.map(c => `${c.label || c.field}: ${c.values.join(" / ")}`), tn.html`<br>`)}</p>` : "";
  const problems = S.problems.length ? tn.html`<h2>Cần xử lý trước khi niêm phong (${S.problems.length})</h2><ul class=problems id=problems>${S.problems.map(p => tn.html`<li>${p}</li>`)}</ul>` : S.board_missing.length ? tn.html`<p class=warn id=problems>Số liệu khớp. Trước khi niêm phong còn ghi ban kiểm phiếu (thiếu ${S.board_missing.join(", ")}) ở thẻ “Thông tin”.</p>` : tn.html`<p class=ok id=problems>Số liệu khớp, đủ điều kiện niêm phong.</p>`;
  put($("tab-result"), tn.html`<h2>Kết quả <small class=muted>trên ${r.collected} phiếu thu về</small></h2>
<p>Có mặt khi bỏ phiếu ${r.present_at_vote}/${r.total} — <b class="${r.quorum_met ? "ok" : "bad"}">${r.quorum_met ? "đủ" : "chưa đủ"} số người theo quy định</b></p>${conflicts}
<table id=result-table><tr><th>Họ tên</th><th>Chức vụ</th>${S.levels.map(l => tn.html`<th class=num>${l.title}</th>`)}<th class=num>Không hợp lệ</th><th>Cảnh báo</th></tr>${
    r.subjects.map(x => tn.html`<tr class="${x.flag !== "none" ? "flag" : ""}" data-subject="${x.id}"><td>${x.name}</td><td>${x.position}</td>${S.levels.map(l => tn.html`<td class=num>${pct(x, l.key)}</td>`)}<td class=num>${x.invalid}</td><td>${x.flag !== "none" ? tn.html`<b class=bad>${S.flag_titles[x.id]}</b>` : ""}</td></tr>`)
    }</table>${problems}<p class=noprint><a href="/s/${encodeURIComponent(ID)}/minutes" target=_blank id=minutes-link>Biên bản kiểm phiếu (in)</a> · <a href="/s/${encodeURIComponent(ID)}/result.csv" id=csv-link>Tải CSV</a> · <a href="/s/${encodeURIComponent(ID)}/result.xlsx" id=xlsx-link>Tải Excel (XLSX)</a></p>`);
}

async function drawSeal() {
  const seals = S.seals;
  const cur = seals.find(s => s.current);
  let st = {deliveries: []}, stErr = "";
  // A failed read is said as such: "no hub" for a read error once hid a stalled server.
  try { st = await tn.get("/api/status"); } catch (e) { stErr = e.message || String(e); }
  const mine = (st.deliveries || []).filter(d => d.session === ID);
  const changed = put($("tab-seal"), tn.html`<h2>Niêm phong biên bản kiểm phiếu</h2>
${cur ? tn.html`<p class=ok id=seal-state>Đã niêm phong lần ${cur.seq}; biên bản không thay đổi từ đó.</p>` : seals.length ? tn.html`<p class=warn id=seal-state>Đã có thay đổi sau lần niêm phong ${seals[seals.length - 1].seq}: cần niêm phong lại.</p>` : tn.html`<p class=muted id=seal-state>Chưa niêm phong.</p>`}
<p>Niêm phong là chữ ký số của đơn vị trên toàn bộ lịch sử phiên và kết quả tính được; sau đó biên bản được gửi lên máy chủ khi có mạng.</p>
<button id=seal-go ${S.sealable && !S.board_missing.length && !cur ? "" : "disabled"}>Niêm phong</button> <span class=msg></span>
${S.board_missing.length && !cur ? tn.html`<p class=warn id=board-missing>Chưa ghi đủ ban kiểm phiếu: còn thiếu ${S.board_missing.join(", ")}. Ghi ở mục “Ban kiểm phiếu”, thẻ “Thông tin”.</p>` : ""}
${!S.sealable ? tn.html`<p class=muted>Chưa niêm phong được: xem các việc cần xử lý ở thẻ “Kết quả”.</p>` : ""}
${seals.length ? tn.html`<table><tr><th>Lần</th><th>Lúc</th><th>Mã niêm phong</th></tr>${seals.map(s => tn.html`<tr><td>${s.seq}</td><td>${tn.when(s.sealed_at)}</td><td class=muted>${s.seal_id.slice(0, 32)}…</td></tr>`)}</table>` : ""}
<h2>Gửi lên máy chủ</h2>${stErr ? tn.html`<p class=error id=delivery-error>Không đọc được tình trạng gửi lên máy chủ: ${stErr}</p>` : st.hub ? (mine.length ? tn.html`<table id=delivery><tr><th>Lần</th><th>Trạng thái</th><th>Chi tiết</th></tr>${mine.map(d => tn.html`<tr data-state="${d.state}"><td>${d.seq}</td><td><b>${d.state_vi}</b></td><td>${d.state === "received" ? "biên nhận #" + d.log_index + (d.received_at ? " lúc " + tn.when(d.received_at) : "") : d.detail_vi || d.reject_detail || d.last_error || ""}</td></tr>`)}</table>` : tn.html`<p class=muted>Chưa có gì để gửi.</p>`) : tn.html`<p class=muted>Chưa đặt máy chủ.</p>`}
<p><a href="/s/${encodeURIComponent(ID)}/minutes" target=_blank>Biên bản kiểm phiếu (in)</a></p>`);
  if (!changed) return;
  $("seal-go").addEventListener("click", async () => {
    try {
      const r = await tn.post(API + "/seal", {});
      if (r.state === "refused") { msg("tab-seal", "Không niêm phong được: " + r.problems.join("; "), "error"); return; }
      await load();
      msg("tab-seal", `Đã niêm phong lần ${r.seq}. Mã: ${r.seal_id.slice(0, 16)}…`, "ok");
    } catch (e) { msg("tab-seal", e.message, "error"); }
  });
}

async function load() {
  const saves = E.saves;
  S = await tn.get(API);
  const m = S.meta;
  $("heading").firstChild.textContent = `${m.body} — ${m.title || m.session} `;
  $("summary").textContent = `${tn.date(m.date)} · ${m.procedure_title} · ${S.subjects.length} người · ${S.entries.length} phiếu đã nhập · ${S.seals.some(s => s.current) ? "đã niêm phong" : "chưa niêm phong"}`;
  drawHeader();
  if (!drawn) {
    drawn = true;
    fresh($("tabs"), tn.html`${TABS.map(([t, l]) => tn.html`<a href="#${t}" data-tab="${t}" id=tab-link-${t}>${t === "ballots" && m.mode === "tallies" ? "Nhập tổng hợp" : l}</a>`)}`);
    drawSetup(); drawSubjects(); drawCounts(); drawBallots();
    const want = location.hash.slice(1);
    show(TABS.some(([t]) => t === want) ? want : (S.subjects.length ? "ballots" : "subjects"));
  } else {
    entryLoaded(saves);
  }
  drawResult();
  await drawSeal();
}

window.addEventListener("hashchange", () => show(location.hash.slice(1) || "ballots"));
tn.poll(load, 4000);
