// The provincial dashboard: polls /api/dashboard and redraws. Units arrive as nodes sync.
"use strict";
const STATE_VI = {pending: "chờ gửi", sent: "đã gửi, chờ biên nhận", received: "đã nhận (có biên nhận)", rejected: "bị từ chối"};
// "đủ" only when every expected unit reported on time (state met).
const DUE_VI = {met: "đủ, đúng hạn", late: "có đơn vị báo cáo trễ", due: "còn hạn", overdue: "quá hạn", no_units: "chưa đăng ký đơn vị nào"};

function unitTree(units, hub) {
  // Group by parent; the roots are the units whose parent is not itself listed.
  const ids = new Set(units.map(u => u.unit));
  const kids = {};
  for (const u of units) {
    const p = ids.has(u.parent) ? u.parent : "";
    (kids[p] = kids[p] || []).push(u);
  }
  const draw = p => {
    const list = (kids[p] || []).sort((a, b) => a.unit.localeCompare(b.unit));
    if (!list.length) return "";
    return tn.html`<ul>${list.map(u => {
      const st = u.reported
        ? tn.html`<span class="pill ok">đã nhận ${u.sessions} phiên</span> <span class=muted>${tn.when(u.last_received_at)}</span>`
        : u.paper_only
        ? tn.html`<span class="pill warn">bản giấy (QR), chờ bản điện tử</span>`
        : tn.html`<span class="pill bad">chưa nhận</span>`;
      return tn.html`<li data-unit="${u.unit}" data-reported="${u.reported}">${u.name || u.unit} <span class=muted>(${u.unit})</span> ${st}${draw(u.unit)}</li>`;
    })}</ul>`;
  };
  return draw("") || tn.html`<p class=muted>Chưa đăng ký đơn vị nào (tinnhiem-hub registry add).</p>`;
}

async function refresh() {
  const d = await tn.get("/api/dashboard");
  // The store down (a full or failing disk): say so, keep the rest as last shown.
  const st = d.store || {available: true};
  const down = document.getElementById("store-down");
  down.hidden = st.available && !st.failing;
  if (st.available && st.failing) {
    down.textContent = `Kho dữ liệu đang trục trặc: lần ghi lỗi gần nhất lúc ${st.last_failure_vi || "?"} (${st.failures} lần lỗi): ${st.last_cause || ""}. Kho tự mở lại sau mỗi lần lỗi nhưng đĩa có thể vẫn đầy; hãy kiểm tra chỗ trống trên đĩa.`;
  }
  if (!st.available) {
    down.textContent = `Kho dữ liệu tạm thời không dùng được từ ${st.since_vi || "?"}: ${st.cause || ""}. Máy chủ đang tự mở lại kho; các đơn vị gửi lúc này được báo thử lại sau. Số liệu dưới đây là lần đọc trước.`;
    return;
  }
  document.getElementById("reported").textContent = `${d.units_reported} / ${d.units_expected}`;
  document.getElementById("seals").textContent = `${d.seals_accepted} / ${d.seals_rejected}`;
  const periods = d.deadlines || [];
  tn.view.due = periods.length ? tn.html`${periods.map(p =>
    tn.html`<div class=due data-state="${p.state}">Năm ${p.period}: hạn ${tn.date(p.report_due)} — <b class="${p.state === "overdue" || p.state === "late" ? "bad" : p.state === "met" ? "ok" : "warn"}">${DUE_VI[p.state] || p.state}</b>${
    (p.late || []).length ? tn.html`<div class=late>Báo cáo trễ: ${p.late.map(m => (m.name || m.unit) + " (" + tn.date(m.reported_on) + ")").join(", ")}</div>` : ""}${
    p.missing.length ? tn.html`<div class=muted>Còn thiếu: ${p.missing.map(m => m.name || m.unit).join(", ")}</div>` : ""}</div>`)}`
    : tn.html`<span class=muted>Chưa có</span>`;
  const loss = d.log_loss;
  document.getElementById("loss-card").hidden = !loss;
  if (loss) {
    const left = (loss.missing || []).length;
    tn.view.loss = tn.html`${(loss.events || []).map(e => tn.html`<p class=bad>Lúc ${tn.when(e.detected_at)}: kho còn ${e.store_size} trong ${e.log_size} mục đã ký vào nhật ký; ${e.missing} biên bản không còn trong kho.</p>`)}${
      left ? tn.html`<p id=loss-missing>Còn thiếu <b>${left}</b> biên bản (số thứ tự ${(loss.missing || []).slice(0, 20).map(i => "#" + i).join(", ")}${left > 20 ? ", …" : ""}). Các đơn vị giữ biên nhận sẽ tự gửi lại khi kết nối; số thứ tự cũ được giữ nguyên.</p>`
        : tn.html`<p id=loss-missing class=ok>Đã nhận lại đủ (${loss.recovered} biên bản gửi lại, đúng số thứ tự cũ). Hãy tìm nguyên nhân (ổ đĩa, bản sao lưu cũ).</p>`}`;
  }
  const log = d.log || {};
  tn.view.log = tn.html`<div class=stat>${log.size ?? 0} mục</div><div class=muted title="${log.root}">gốc ${String(log.root || "").slice(0, 16)}…</div>`;
  tn.view.units = unitTree(d.units || [], d.hub);
  const fl = d.flagged || [];
  tn.view.flagged = fl.length ? tn.html`<table id=flagged-table><tr><th>Họ tên</th><th>Chức vụ</th><th>Đơn vị</th><th>Cảnh báo</th><th>Hệ quả theo quy định</th></tr>${
    fl.map(x => tn.html`<tr class=flag><td>${x.name}</td><td>${x.position}</td><td>${x.body}</td><td>${x.flag_title}</td><td>${x.consequence ? tn.html`${x.consequence.what} <span class=muted>(${x.consequence.source})</span>` : ""}</td></tr>`)}</table>`
    : tn.html`<p class=muted>Không có.</p>`;
  const ss = d.sessions || [];
  tn.view.sessions = ss.length ? tn.html`<table id=sessions-table><tr><th>Đơn vị</th><th>Phiên</th><th>Ngày</th><th class=num>Số người</th><th class=num>Vượt ngưỡng</th><th>Nhận lúc</th><th></th></tr>${
    ss.map(s => tn.html`<tr><td>${s.body}</td><td>${s.session} <span class=muted>lần ${s.seq}</span></td><td>${tn.date(s.date)}</td><td class=num>${s.subjects}</td><td class=num>${s.flagged}</td><td>${tn.when(s.received_at)}</td><td><a href="/minutes/${encodeURIComponent(s.unit)}/${encodeURIComponent(s.session)}" target=_blank>Biên bản</a></td></tr>`)}</table>`
    : tn.html`<p class=muted>Chưa nhận biên bản nào.</p>`;
  const ds = d.destinations || [];
  tn.view.destinations = ds.length ? tn.html`<table><tr><th>Nơi nhận</th><th>Địa chỉ</th><th class=num>Đã nhận</th><th class=num>Đã gửi</th><th class=num>Chờ</th><th class=num>Bị từ chối</th><th>Lỗi gần nhất</th></tr>${
    ds.map(x => tn.html`<tr><td>${x.name || x.unit}</td><td>${x.addr}</td><td class=num>${x.received}</td><td class=num>${x.sent}</td><td class=num>${x.pending}</td><td class=num>${x.rejected}</td><td>${(x.open.find(o => o.last_error) || {}).last_error || ""}</td></tr>`)}</table>`
    : tn.html`<p class=muted>Không chuyển lên cấp nào (tinnhiem-hub destination add).</p>`;
  const rk = d.refused_keys || [];
  const more = d.refused_keys_more > 0 ? tn.html`<p class=muted>… và ${d.refused_keys_more} khóa lạ khác không còn được hiển thị (chỉ giữ 64 khóa gần nhất).</p>` : "";
  tn.view.refused = tn.html`${rk.length ? tn.html`<table id=refused-keys><tr><th>Đơn vị tự xưng</th><th>Dấu vân tay khóa</th><th>Địa chỉ</th><th>Lần đầu</th><th>Lần cuối</th><th class=num>Số lần</th><th>Lệnh đăng ký</th></tr>${
    rk.map(k => tn.html`<tr data-fingerprint="${k.fingerprint}"><td>${k.claimed_unit || "(không ghi)"}</td><td><code>${k.fingerprint}</code></td><td>${k.address}</td><td>${tn.when(k.first_at)}</td><td>${tn.when(k.last_at)}</td><td class=num>${k.count}</td><td>${k.warning ? tn.html`<b class=bad>${k.warning}</b> (khóa đã đăng ký: ${(k.unit_has_key || []).join(", ")}) ` : ""}${k.enrol ? tn.html`<code class=cmd>${k.enrol}</code>` : "khóa đã thu hồi: đơn vị cần tạo khóa mới (tinnhiem-node key rotate)"}</td></tr>`)}</table>`
    : tn.html`<p class=muted>Không có.</p>`}${more}`;
  const rj = d.recent_rejections || [];
  tn.view.rejections = rj.length ? tn.html`<ul>${rj.map(r => tn.html`<li>${r.unit || ""} ${r.session || ""}: <b>${r.reason || ""}</b> ${r.detail || ""} — ${r.count || 1} lần${r.count > 1 ? `, từ ${tn.when(r.first)} đến ${tn.when(r.last)}` : ""}</li>`)}</ul>` : tn.html`<p class=muted>Không có.</p>`;
}
tn.poll(refresh, 2000);
