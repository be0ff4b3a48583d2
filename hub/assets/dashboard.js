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
    return "<ul>" + list.map(u => {
      const st = u.reported
        ? `<span class="pill ok">đã nhận ${u.sessions} phiên</span> <span class=muted>${tn.when(u.last_received_at)}</span>`
        : u.paper_only
        ? `<span class="pill warn">bản giấy (QR), chờ bản điện tử</span>`
        : `<span class="pill bad">chưa nhận</span>`;
      return `<li data-unit="${tn.esc(u.unit)}" data-reported="${u.reported}">${tn.esc(u.name || u.unit)} <span class=muted>(${tn.esc(u.unit)})</span> ${st}${draw(u.unit)}</li>`;
    }).join("") + "</ul>";
  };
  return draw("") || "<p class=muted>Chưa đăng ký đơn vị nào (tinnhiem-hub registry add).</p>";
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
  tn.view.due = periods.length ? periods.map(p =>
    `<div class=due data-state="${tn.esc(p.state)}">Năm ${p.period}: hạn ${tn.date(p.report_due)} — <b class="${p.state === "overdue" || p.state === "late" ? "bad" : p.state === "met" ? "ok" : "warn"}">${DUE_VI[p.state] || tn.esc(p.state)}</b>` +
    ((p.late || []).length ? `<div class=late>Báo cáo trễ: ${p.late.map(m => tn.esc(m.name || m.unit) + " (" + tn.date(m.reported_on) + ")").join(", ")}</div>` : "") +
    (p.missing.length ? `<div class=muted>Còn thiếu: ${p.missing.map(m => tn.esc(m.name || m.unit)).join(", ")}</div>` : "") + "</div>").join("")
    : "<span class=muted>Chưa có</span>";
  const loss = d.log_loss;
  document.getElementById("loss-card").hidden = !loss;
  if (loss) {
    const left = (loss.missing || []).length;
    tn.view.loss = (loss.events || []).map(e => `<p class=bad>Lúc ${tn.when(e.detected_at)}: kho còn ${e.store_size} trong ${e.log_size} mục đã ký vào nhật ký; ${e.missing} biên bản không còn trong kho.</p>`).join("") +
      (left ? `<p id=loss-missing>Còn thiếu <b>${left}</b> biên bản (số thứ tự ${(loss.missing || []).slice(0, 20).map(i => "#" + i).join(", ")}${left > 20 ? ", …" : ""}). Các đơn vị giữ biên nhận sẽ tự gửi lại khi kết nối; số thứ tự cũ được giữ nguyên.</p>`
        : `<p id=loss-missing class=ok>Đã nhận lại đủ (${loss.recovered} biên bản gửi lại, đúng số thứ tự cũ). Hãy tìm nguyên nhân (ổ đĩa, bản sao lưu cũ).</p>`);
  }
  const log = d.log || {};
  tn.view.log = `<div class=stat>${log.size ?? 0} mục</div><div class=muted title="${tn.esc(log.root)}">gốc ${tn.esc(String(log.root || "").slice(0, 16))}…</div>`;
  tn.view.units = unitTree(d.units || [], d.hub);
  const fl = d.flagged || [];
  tn.view.flagged = fl.length ? `<table id=flagged-table><tr><th>Họ tên</th><th>Chức vụ</th><th>Đơn vị</th><th>Cảnh báo</th><th>Hệ quả theo quy định</th></tr>` +
    fl.map(x => `<tr class=flag><td>${tn.esc(x.name)}</td><td>${tn.esc(x.position)}</td><td>${tn.esc(x.body)}</td><td>${tn.esc(x.flag_title)}</td><td>${x.consequence ? tn.esc(x.consequence.what) + " <span class=muted>(" + tn.esc(x.consequence.source) + ")</span>" : ""}</td></tr>`).join("") + "</table>"
    : "<p class=muted>Không có.</p>";
  const ss = d.sessions || [];
  tn.view.sessions = ss.length ? `<table id=sessions-table><tr><th>Đơn vị</th><th>Phiên</th><th>Ngày</th><th class=num>Số người</th><th class=num>Vượt ngưỡng</th><th>Nhận lúc</th><th></th></tr>` +
    ss.map(s => `<tr><td>${tn.esc(s.body)}</td><td>${tn.esc(s.session)} <span class=muted>lần ${s.seq}</span></td><td>${tn.date(s.date)}</td><td class=num>${s.subjects}</td><td class=num>${s.flagged}</td><td>${tn.when(s.received_at)}</td><td><a href="/minutes/${encodeURIComponent(s.unit)}/${encodeURIComponent(s.session)}" target=_blank>Biên bản</a></td></tr>`).join("") + "</table>"
    : "<p class=muted>Chưa nhận biên bản nào.</p>";
  const ds = d.destinations || [];
  tn.view.destinations = ds.length ? `<table><tr><th>Nơi nhận</th><th>Địa chỉ</th><th class=num>Đã nhận</th><th class=num>Đã gửi</th><th class=num>Chờ</th><th class=num>Bị từ chối</th><th>Lỗi gần nhất</th></tr>` +
    ds.map(x => `<tr><td>${tn.esc(x.name || x.unit)}</td><td>${tn.esc(x.addr)}</td><td class=num>${x.received}</td><td class=num>${x.sent}</td><td class=num>${x.pending}</td><td class=num>${x.rejected}</td><td>${tn.esc((x.open.find(o => o.last_error) || {}).last_error || "")}</td></tr>`).join("") + "</table>"
    : "<p class=muted>Không chuyển lên cấp nào (tinnhiem-hub destination add).</p>";
  const rk = d.refused_keys || [];
  tn.view.refused = rk.length ? "<table id=refused-keys><tr><th>Đơn vị tự xưng</th><th>Dấu vân tay khóa</th><th>Địa chỉ</th><th>Lần đầu</th><th>Lần cuối</th><th class=num>Số lần</th><th>Lệnh đăng ký</th></tr>" +
    rk.map(k => `<tr data-fingerprint="${tn.esc(k.fingerprint)}"><td>${tn.esc(k.claimed_unit || "(không ghi)")}</td><td><code>${tn.esc(k.fingerprint)}</code></td><td>${tn.esc(k.address)}</td><td>${tn.when(k.first_at)}</td><td>${tn.when(k.last_at)}</td><td class=num>${k.count}</td><td>${k.warning ? `<b class=bad>${tn.esc(k.warning)}</b> (khóa đã đăng ký: ${tn.esc((k.unit_has_key || []).join(", "))}) ` : ""}${k.enrol ? `<code class=cmd>${tn.esc(k.enrol)}</code>` : "khóa đã thu hồi: đơn vị cần tạo khóa mới (tinnhiem-node key rotate)"}</td></tr>`).join("") + "</table>"
    : "<p class=muted>Không có.</p>";
  if (d.refused_keys_more > 0) tn.view.refused += `<p class=muted>… và ${d.refused_keys_more} khóa lạ khác không còn được hiển thị (chỉ giữ 64 khóa gần nhất).</p>`;
  const rj = d.recent_rejections || [];
  tn.view.rejections = rj.length ? "<ul>" + rj.map(r => `<li>${tn.esc(r.unit || "")} ${tn.esc(r.session || "")}: <b>${tn.esc(r.reason || "")}</b> ${tn.esc(r.detail || "")} — ${r.count || 1} lần${r.count > 1 ? `, từ ${tn.when(r.first)} đến ${tn.when(r.last)}` : ""}</li>`).join("") + "</ul>" : "<p class=muted>Không có.</p>";
}
tn.poll(refresh, 2000);
