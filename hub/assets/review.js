// The reviewer's search: a person's results in every place, side by side. Read-only.
"use strict";
const LEVEL_VI = {high: "Tín nhiệm cao", confidence: "Tín nhiệm", low: "Tín nhiệm thấp", no_confidence: "Không tín nhiệm"};

function person(p) {
  const rs = p.results;
  const levels = [...new Set(rs.flatMap(r => Object.keys(r.counts)))];
  const head = tn.html`<tr><th></th>${rs.map(r => tn.html`<th>${r.body}<div class=muted>${tn.date(r.date)} · ${r.profile}</div></th>`)}</tr>`;
  const row = (label, f) => tn.html`<tr><th>${label}</th>${rs.map(r => tn.html`<td class=num>${f(r)}</td>`)}</tr>`;
  const body = [
    row("Chức vụ", r => r.position),
    row("Phiếu thu về / hợp lệ", r => `${r.collected} / ${r.valid}`),
    ...levels.map(l => row(LEVEL_VI[l] || l, r => r.counts[l] === undefined ? "" : tn.html`${r.counts[l]} <span class=muted>(${tn.pct(r.percent[l])})</span>`)),
    row("Cảnh báo", r => r.flag === "none" ? "" : tn.html`<b class=bad>${r.flag_title}</b>`),
    row("Hệ quả theo quy định", r => r.consequence ? tn.html`${r.consequence.what}<div class=muted>${r.consequence.who} · ${r.consequence.source}</div>` : ""),
  ];
  const problems = p.problems.length ? tn.html`<p class=warn>${tn.join(p.problems, tn.html`<br>`)}</p>` : "";
  return tn.html`<section class="card person" data-person="${p.person_id}"><h2>${p.name} <span class=muted>mã ${p.person_id} · ${p.places} nơi</span></h2>${problems}<table>${head}${body}</table></section>`;
}

async function search() {
  const q = document.getElementById("q").value.trim();
  const url = new URL(location.href);
  url.searchParams.set("q", q);
  history.replaceState(null, "", url);
  if (!q) { tn.view.people = tn.html``; tn.say("count", ""); return; }
  const r = await tn.get("/api/person?q=" + encodeURIComponent(q));
  tn.say("count", r.people.length ? `${r.people.length} người khớp với «${q}»` : `Không tìm thấy ai khớp với «${q}».`);
  tn.view.people = tn.html`${r.people.map(person)}`;
}

document.addEventListener("DOMContentLoaded", () => {
  const q = document.getElementById("q");
  q.value = new URL(location.href).searchParams.get("q") || "";
  let t;
  q.addEventListener("input", () => { clearTimeout(t); t = setTimeout(() => search().catch(e => tn.say("count", e.message, "error")), 250); });
  document.getElementById("search").addEventListener("submit", () => search().catch(e => tn.say("count", e.message, "error")));
  if (q.value) search();
});
