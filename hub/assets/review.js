// The reviewer's search: a person's results in every place, side by side. Read-only.
"use strict";
const LEVEL_VI = {high: "Tín nhiệm cao", confidence: "Tín nhiệm", low: "Tín nhiệm thấp", no_confidence: "Không tín nhiệm"};

function person(p) {
  const rs = p.results;
  const levels = [...new Set(rs.flatMap(r => Object.keys(r.counts)))];
  const head = `<tr><th></th>${rs.map(r => `<th>${tn.esc(r.body)}<div class=muted>${tn.date(r.date)} · ${tn.esc(r.profile)}</div></th>`).join("")}</tr>`;
  const row = (label, f) => `<tr><th>${label}</th>${rs.map(r => `<td class=num>${f(r)}</td>`).join("")}</tr>`;
  const body = [
    row("Chức vụ", r => tn.esc(r.position)),
    row("Phiếu thu về / hợp lệ", r => `${r.collected} / ${r.valid}`),
    ...levels.map(l => row(LEVEL_VI[l] || l, r => r.counts[l] === undefined ? "" : `${r.counts[l]} <span class=muted>(${tn.pct(r.percent[l])})</span>`)),
    row("Cảnh báo", r => r.flag === "none" ? "" : `<b class=bad>${tn.esc(r.flag_title)}</b>`),
    row("Hệ quả theo quy định", r => r.consequence ? `${tn.esc(r.consequence.what)}<div class=muted>${tn.esc(r.consequence.who)} · ${tn.esc(r.consequence.source)}</div>` : ""),
  ].join("");
  const problems = p.problems.length ? `<p class=warn>${p.problems.map(tn.esc).join("<br>")}</p>` : "";
  return `<section class="card person" data-person="${tn.esc(p.person_id)}"><h2>${tn.esc(p.name)} <span class=muted>mã ${tn.esc(p.person_id)} · ${p.places} nơi</span></h2>${problems}<table>${head}${body}</table></section>`;
}

async function search() {
  const q = document.getElementById("q").value.trim();
  const url = new URL(location.href);
  url.searchParams.set("q", q);
  history.replaceState(null, "", url);
  if (!q) { document.getElementById("people").innerHTML = ""; tn.say("count", ""); return; }
  const r = await tn.get("/api/person?q=" + encodeURIComponent(q));
  tn.say("count", r.people.length ? `${r.people.length} người khớp với «${q}»` : `Không tìm thấy ai khớp với «${q}».`);
  document.getElementById("people").innerHTML = r.people.map(person).join("");
}

document.addEventListener("DOMContentLoaded", () => {
  const q = document.getElementById("q");
  q.value = new URL(location.href).searchParams.get("q") || "";
  let t;
  q.addEventListener("input", () => { clearTimeout(t); t = setTimeout(() => search().catch(e => tn.say("count", e.message, "error")), 250); });
  document.getElementById("search").addEventListener("submit", () => search().catch(e => tn.say("count", e.message, "error")));
  if (q.value) search();
});
