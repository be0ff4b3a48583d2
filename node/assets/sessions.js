// The clerk's list of sessions: create, import or merge a file, see delivery to the hub.
"use strict";
async function refresh() {
  const list = await tn.get("/api/sessions");
  tn.view.sessions = list.length ? tn.html`<tr><th>Phiên</th><th>Cơ quan</th><th>Ngày</th><th>Hình thức</th><th class=num>Người</th><th class=num>Phiếu đã nhập</th><th>Niêm phong</th></tr>${
    list.map(s => tn.html`<tr data-session="${s.id}"><td><a href="/s/${encodeURIComponent(s.id)}">${s.id}</a></td><td>${s.body}${s.title ? tn.html`<div class=muted>${s.title}</div>` : ""}</td><td>${tn.date(s.date)}</td><td>${s.procedure} <span class=muted>${s.profile}</span></td><td class=num>${s.subjects}</td><td class=num>${s.entries}</td><td>${s.sealed ? tn.html`<span class="pill ok">lần ${s.sealed}</span>` : tn.html`<span class=muted>chưa</span>`}</td></tr>`)}`
    : tn.html`<tr><td class=muted>Chưa có phiên nào. Tạo phiên mới hoặc nhập từ tệp ở dưới.</td></tr>`;
  const st = await tn.get("/api/status");
  if (!st.hub) { tn.view.sync = tn.html`<p class=muted>Chưa đặt máy chủ (tinnhiem-node hub set --addr HOST:PORT --key KHÓA).</p>`; return; }
  const alarm = st.log && st.log.alarm ? tn.html`<p class=error>CẢNH BÁO: máy chủ đã ký hai trạng thái nhật ký không thể cùng đúng: ${st.log.alarm.detail}</p>` : "";
  const retry = st.retry ? tn.html`<p class=warn id=refused>Máy chủ đã từ chối ${st.retry.failures} lần liên tiếp: ${st.retry.reason_vi}. Tự thử lại sau ${tn.when(st.retry.next_attempt_at)}.</p>` : "";
  tn.view.sync = tn.html`${alarm}${retry}<p class=muted>Máy chủ ${st.hub}</p>${st.deliveries.length ? tn.html`<table id=deliveries><tr><th>Phiên</th><th>Lần</th><th>Trạng thái</th><th>Chi tiết</th></tr>${
    st.deliveries.map(x => tn.html`<tr data-session="${x.session}" data-state="${x.state}"><td>${x.session}</td><td>${x.seq}</td><td><b class="${x.state === "received" ? "ok" : x.state === "rejected" ? "bad" : "warn"}">${x.state_vi}</b></td><td>${x.state === "received" ? "biên nhận #" + x.log_index + " lúc " + tn.when(x.received_at) : x.detail_vi || x.last_error || ""}</td></tr>`)}</table>`
    : tn.html`<p class=muted>Chưa có biên bản nào được niêm phong.</p>`}`;
}

document.addEventListener("DOMContentLoaded", () => {
  const f = document.getElementById("create");
  // Today in Vietnam (UTC+7), not in UTC: before 07:00 that is still yesterday in UTC.
  f.date.value = new Date(Date.now() + 7 * 3600e3).toISOString().slice(0, 10);
  f.addEventListener("submit", async () => {
    const body = Object.fromEntries(new FormData(f).entries());
    try {
      const r = await tn.post("/api/sessions", body);
      location.href = "/s/" + encodeURIComponent(r.id) + "#subjects";
    } catch (e) { tn.say("create-msg", e.message, "error"); }
  });
  document.getElementById("file-go").addEventListener("click", async () => {
    const file = document.getElementById("file").files[0];
    if (!file) { tn.say("file-msg", "Chưa chọn tệp", "error"); return; }
    try {
      const restore = document.getElementById("file-restore").checked;
      const url = file.name.endsWith(".json") ? "/api/import" : "/api/merge" + (restore ? "?restore=true" : "");
      const r = await tn.send(url, await file.arrayBuffer());
      tn.say("file-msg", "Đã nhập phiên " + r.id, "ok");
      refresh();
    } catch (e) { tn.say("file-msg", e.message, "error"); }
  });
  tn.poll(refresh, 3000);
});
