// 医疗救助政策推理器 · 工作台 — plain ES module, no build step, no network but this server.
//
// Every piece of text that comes from the server or the user is inserted as a text node
// (h() below, textContent, option.text): never as HTML.

const TOKEN_KEY = "reasoner.desk.token";
const LINE_HEIGHT = 20; // px: the rules editor's rows (gutter, backdrop, textarea and notes share it)

// ------------------------------------------------------------------ small DOM helpers
const $ = (sel, root = document) => root.querySelector(sel);

/** An element with attributes and children; strings become text nodes (never parsed as HTML). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

function fen(value) {
  if (value === null || value === undefined) return "—";
  const n = Number(value);
  const sign = n < 0 ? "−" : "";
  const abs = Math.abs(Math.round(n));
  const yuan = Math.trunc(abs / 100).toLocaleString("en-US");
  return `${sign}${yuan}.${String(abs % 100).padStart(2, "0")}元`;
}

function message(text, kind = "info") {
  const box = $("#message");
  fill(box, text);
  box.className = `message ${kind}`;
  box.hidden = false;
  clearTimeout(message.timer);
  message.timer = setTimeout(() => { box.hidden = true; }, kind === "error" ? 8000 : 4000);
}

// ------------------------------------------------------------------ the API
class ApiFailure extends Error {
  constructor(status, body) {
    super(typeof body === "object" && body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.body = typeof body === "object" && body ? body : { code: `E_HTTP_${status}`, message: String(body || "") };
  }
}

/** The saved API token as a request header (every call to this server carries it). */
function authHeaders(headers = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { ...headers, authorization: `Bearer ${token}` } : headers;
}

async function api(method, path, body) {
  const headers = authHeaders({ accept: "application/json" });
  if (body !== undefined) headers["content-type"] = "application/json";
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiFailure(0, { code: "E_NETWORK", message: `无法连接服务：${err.message}` });
  }
  const type = res.headers.get("content-type") || "";
  const data = type.includes("json") ? await res.json() : await res.text();
  if (!res.ok) throw new ApiFailure(res.status, data);
  return data;
}

/** An error box: code, Chinese message, field or line/column, and every listed error. */
function errorBox(err) {
  if (!(err instanceof ApiFailure)) {
    return h("div", { class: "error" }, h("strong", {}, "出错："), err && err.message ? err.message : String(err));
  }
  const b = err.body;
  const where = b.field ? `字段「${b.field}」` : b.line ? `第 ${b.line} 行第 ${b.column ?? "?"} 列` : null;
  const hint = err.status === 401 ? "请在页面顶部填写 API 令牌并保存。" : null;
  const more = (b.errors || []).length > 1
    ? h("ul", {}, b.errors.map((e) => h("li", {}, [e.field ? `${e.field}：` : "", e.line ? `${e.line}:${e.column} ` : "", e.message])))
    : null;
  return h("div", { class: "error", role: "alert" },
    h("strong", {}, `${b.code || "错误"}`), " ", b.message || "", where ? h("span", { class: "muted" }, `（${where}）`) : null,
    hint ? h("div", {}, hint) : null, more);
}

async function busy(stateEl, text, fn) {
  const buttons = [...document.querySelectorAll("button.primary")];
  if (stateEl) fill(stateEl, h("span", { class: "spinner" }), text);
  buttons.forEach((b) => { b.disabled = true; });
  try {
    return await fn();
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
    if (stateEl) fill(stateEl);
  }
}

// ------------------------------------------------------------------ shared state
const state = {
  record: null,       // the person record being worked on (the engine's own shape)
  explanation: null,  // the last explanation shown (decision + tree)
  whyNotFor: null,    // the record the why-not answers on screen are about (JSON)
  policies: [],       // GET /api/policies
  details: new Map(), // policy name → GET /api/policies/{name}
  examples: [],       // GET /api/examples: [{file, records}]
};

async function policyDetail(name) {
  if (!state.details.has(name)) state.details.set(name, await api("GET", `/api/policies/${encodeURIComponent(name)}`));
  return state.details.get(name);
}

/** The policy a record falls under, guessed from its region and date (the server decides; this only fills lists). */
function policyFor(record) {
  if (!record) return null;
  if (state.explanation && state.explanation.person && state.explanation.person.id === record["编号"]
      && state.explanation.person.region === record["地区"]) return state.explanation.policy.name;
  const date = String(record["日期"] || "");
  const here = state.policies.filter((p) => p.region === record["地区"]);
  const inForce = here.filter((p) => (!p.start || p.start <= date) && (!p.end || date <= p.end));
  return (inForce[0] || here[0] || {}).name || null;
}

// ------------------------------------------------------------------ tabs
function showTab(name) {
  const known = ["decide", "whynot", "draft", "policies", "audit"];
  if (!known.includes(name)) name = "decide";
  for (const t of known) {
    $(`#tab-${t}`).hidden = t !== name;
    const link = $(`nav a[data-tab="${t}"]`);
    link.classList.toggle("active", t === name);
    link.setAttribute("aria-selected", String(t === name));
  }
  if (name === "whynot") enterWhyNot();
  if (name === "policies" && !$("#policy-list").children.length) renderPolicyList();
}

function go(name) {
  if (location.hash !== `#${name}`) location.hash = name;
  else showTab(name);
}

// ------------------------------------------------------------------ token and health
function initToken() {
  const input = $("#token");
  input.value = sessionStorage.getItem(TOKEN_KEY) || "";
  const show = () => fill($("#token-state"), sessionStorage.getItem(TOKEN_KEY) ? "已保存（本标签页）" : "未设置");
  $("#token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = input.value.trim();
    if (v) sessionStorage.setItem(TOKEN_KEY, v); else sessionStorage.removeItem(TOKEN_KEY);
    show();
  });
  show();
}

async function initHealth() {
  try {
    const hz = await api("GET", "/api/health");
    fill($("#health"), `版本 ${hz.version} · 已加载 ${hz.policies} 个政策 · 记入台账：${hz.recording ? "开（决定需令牌）" : "关"}`);
  } catch (err) {
    fill($("#health"), "服务不可用");
  }
  try {
    state.policies = await api("GET", "/api/policies");
  } catch (err) {
    state.policies = [];
    message(`无法读取政策列表：${err.message}`, "error");
  }
  try { // the bundled example records (examples/*.yaml), served by GET /api/examples
    state.examples = await api("GET", "/api/examples");
  } catch (err) {
    state.examples = [];
  }
  fill($("#example-pick"), state.examples.map((file, f) => h("optgroup", { label: file.file },
    file.records.map((rec, r) => h("option", { value: `${f}:${r}` }, rec["编号"] || `${file.file} 第 ${r + 1} 条`)))));
  const regions = [...new Set(state.policies.map((p) => p.region).filter(Boolean))];
  fill($("#regions"), regions.map((r) => h("option", { value: r })));
  fill($("#draft-source"), state.policies.map((p) => h("option", { value: p.name }, `${p.name}（${p.file}）`)));
  append($("#draft-parent"), state.policies.map((p) => h("option", { value: p.name }, p.name)));
}

// ------------------------------------------------------------------ 决定: the record form
function rowInputs(tbody, fields, values = {}) {
  const tr = h("tr", {},
    fields.map((f) => h("td", {}, h("input", { type: f.type || "text", "data-field": f.name, value: values[f.name] ?? "",
      placeholder: f.placeholder || "", "aria-label": f.name }))),
    h("td", {}, h("button", { type: "button", class: "small remove", title: "删除此行", onclick: () => { tr.remove(); formChanged(); } }, "删除")));
  tbody.append(tr);
  return tr;
}

const IDENTITY_FIELDS = [{ name: "名称", placeholder: "如 最低生活保障对象" }, { name: "认定部门", placeholder: "如 民政" },
  { name: "认定日期", type: "date" }, { name: "终止日期", type: "date" }];
const PAIR_FIELDS = [{ name: "名称" }, { name: "值" }];

function scalar(text) {
  const t = String(text).trim();
  return /^-?\d+$/.test(t) && t.length < 15 ? Number(t) : t; // decimals stay text: the engine reads them exactly
}

function renderForm(record) {
  $("#f-id").value = record["编号"] ?? "";
  $("#f-region").value = record["地区"] ?? "";
  $("#f-date").value = record["日期"] ?? "";
  const ids = $("#identity-rows tbody");
  ids.replaceChildren();
  for (const i of record["身份"] || []) rowInputs(ids, IDENTITY_FIELDS, i);
  for (const [sel, key] of [["#fact-rows tbody", "事实"], ["#param-rows tbody", "假设参数"]]) {
    const body = $(sel);
    body.replaceChildren();
    for (const [k, v] of Object.entries(record[key] || {})) rowInputs(body, PAIR_FIELDS, { "名称": k, "值": v === true ? "是" : v === false ? "否" : v });
  }
}

function readForm() {
  const rec = { ...(state.record || {}) };
  const id = $("#f-id").value.trim();
  if (id) rec["编号"] = id; else delete rec["编号"];
  rec["地区"] = $("#f-region").value.trim();
  rec["日期"] = $("#f-date").value;
  rec["身份"] = [...$("#identity-rows tbody").rows].map((tr) => {
    const o = {};
    for (const input of tr.querySelectorAll("input")) if (input.value.trim()) o[input.dataset.field] = input.value.trim();
    return o;
  }).filter((o) => Object.keys(o).length);
  for (const [sel, key] of [["#fact-rows tbody", "事实"], ["#param-rows tbody", "假设参数"]]) {
    const o = {};
    for (const tr of $(sel).rows) {
      const [name, value] = [...tr.querySelectorAll("input")].map((i) => i.value.trim());
      if (name) o[name] = scalar(value);
    }
    if (Object.keys(o).length) rec[key] = o; else delete rec[key];
  }
  return rec;
}

function writeRaw() {
  $("#raw").value = JSON.stringify(state.record, null, 2);
  fill($("#raw-state"));
}

function formChanged() {
  state.record = readForm();
  writeRaw();
}

function setRecord(record, { raw = true } = {}) {
  state.record = JSON.parse(JSON.stringify(record));
  renderForm(state.record);
  if (raw) writeRaw();
}

function pickFrom(list) {
  const pick = $("#upload-pick");
  fill(pick, list.map((r, i) => h("option", { value: i }, `${i + 1}. ${r && r["编号"] ? r["编号"] : "（无编号）"}`)));
  pick.hidden = list.length < 2;
  pick.onchange = () => setRecord(list[Number(pick.value)]);
  setRecord(list[0]);
}

function initRecordForm() {
  $("#example-load").addEventListener("click", () => {
    const [f, r] = $("#example-pick").value.split(":").map(Number);
    const file = state.examples[f];
    if (!file) return;
    setRecord(file.records[r]);
    $("#upload-pick").hidden = true;
  });
  $("#add-identity").addEventListener("click", () => rowInputs($("#identity-rows tbody"), IDENTITY_FIELDS).querySelector("input").focus());
  $("#add-fact").addEventListener("click", () => rowInputs($("#fact-rows tbody"), PAIR_FIELDS).querySelector("input").focus());
  $("#add-param").addEventListener("click", () => rowInputs($("#param-rows tbody"), PAIR_FIELDS).querySelector("input").focus());
  $("#record-form").addEventListener("input", formChanged);
  $("#raw").addEventListener("input", () => {
    try {
      const parsed = JSON.parse($("#raw").value);
      if (Array.isArray(parsed)) { pickFrom(parsed); return; }
      if (!parsed || typeof parsed !== "object") throw new Error("应为一个对象（一条个人记录）");
      setRecord(parsed, { raw: false });
      fill($("#raw-state"), "JSON 有效");
      $("#raw-state").className = "muted";
    } catch (err) {
      fill($("#raw-state"), `JSON 无效：${err.message}`);
      $("#raw-state").className = "bad";
    }
  });
  $("#upload").addEventListener("change", async (ev) => {
    const file = ev.target.files[0];
    if (!file) return;
    try {
      const parsed = JSON.parse(await file.text());
      const list = Array.isArray(parsed) ? parsed : [parsed];
      if (!list.length) throw new Error("文件中没有记录");
      pickFrom(list);
      $("#raw-box").open = true;
      message(`已读入 ${file.name}：${list.length} 条记录`);
    } catch (err) {
      message(`无法读取 ${file.name}：${err.message}（只接受 JSON）`, "error");
    }
  });
  $("#decide").addEventListener("click", decideCurrent);
  $("#settle").addEventListener("click", settleCurrent);
  $("#to-whynot").addEventListener("click", () => go("whynot"));
  $("#open-form").addEventListener("submit", (ev) => { ev.preventDefault(); openRecorded($("#decision-id").value.trim()); });
  setRecord({ "地区": "", "日期": new Date().toISOString().slice(0, 10), "身份": [] });
}

async function decideCurrent() {
  const view = $("#decision-view");
  if (!state.record) return;
  await busy($("#decide-state"), "决定中…", async () => {
    try {
      const ex = await api("POST", "/api/explain?format=json", state.record);
      state.explanation = ex;
      renderDecision(view, ex, { decisionId: ex.decision_id });
    } catch (err) {
      fill(view, errorBox(err));
    }
  });
}

/** Whether the record has claims; if not, says so in the view (settling and why-not-more work claim by claim). */
function hasClaims(view) {
  if (!state.record) return false;
  if ((state.record["就医"] || []).length) return true;
  fill(view, h("p", { class: "notice warn" }, "当前记录没有就医记录：在「决定」的记录 JSON 中加入「就医」，或载入含就医的示例。"));
  return false;
}

async function settleCurrent() {
  const view = $("#decision-view");
  if (!hasClaims(view)) return;
  await busy($("#decide-state"), "结算中…", async () => {
    try {
      const years = await api("POST", "/api/settle", state.record);
      fill(view, years.length ? years.map(settlementYear) : h("p", { class: "muted" }, "没有可结算的年度。"));
    } catch (err) {
      fill(view, errorBox(err));
    }
  });
}

/** One settled year: a row per claim (each layer's amount), and under it every step of the arithmetic with its clause. */
function settlementYear(s) {
  const person = s.person || {};
  return h("section", { class: "settlement" },
    h("div", { class: "decision-head" },
      h("h2", {}, `${person.id || "（无编号）"} · ${s.year} 年`),
      badge(`医疗救助合计 ${fen(s.total_assistance_fen)}`, "status ok"),
      h("div", { class: "muted" }, person.region || ""),
      s.decision_id ? h("div", { class: "ledger" }, "台账编号 ", h("code", {}, s.decision_id)) : null),
    h("table", { class: "items settle" },
      h("thead", {}, h("tr", {}, ["就医", "日期", "类别", "政策范围内费用", "基本医保", "大病保险", "自付", "医疗救助", "结果"].map((t) => h("th", {}, t)))),
      h("tbody", {}, (s.claims || []).map((c) => h("tr", {},
        h("td", {}, c.id), h("td", {}, c.date), h("td", {}, c.kind),
        [c.scope_cost_fen, c.basic_paid_fen, c.catastrophic_fen, c.self_pay_fen, c.assistance_fen].map((v) => h("td", { class: "num" }, fen(v))),
        h("td", {}, c.status))))),
    (s.claims || []).map((c) => h("details", { class: "claim-steps" },
      h("summary", {}, `就医 ${c.id}（${c.date}，${c.kind}）：${c.status}，医疗救助 ${fen(c.assistance_fen)}`),
      c.catastrophic_text ? h("p", {}, c.catastrophic_text) : null,
      (c.payments || []).map((p) => h("div", { class: "payment" }, h("p", {}, p.text),
        distinctClauses(p.clauses).map((cl) => h("details", { class: "item-clause" }, h("summary", {}, `${cl.document} ${cl.article}`), clauseBlock(cl))))),
      listBlock("未予（全部）救助的原因", c.reasons, "warn"),
      listBlock("缺少", c.missing, "bad"))),
    s.rounding ? h("p", { class: "muted" }, `金额规则：${s.rounding}`) : null);
}

/** Clauses once each (a payment's deductible, rate and cap often rest on one clause). */
function distinctClauses(clauses) {
  const seen = new Set();
  return (clauses || []).filter((c) => {
    const key = `${c.file}:${c.line}`;
    return seen.has(key) ? false : (seen.add(key), true);
  });
}

async function openRecorded(id) {
  const view = $("#decision-view");
  if (!id) return;
  await busy($("#decide-state"), "读取台账…", async () => {
    try {
      const got = await api("GET", `/api/decisions/${encodeURIComponent(id)}`);
      if (got.entry && got.entry.input) setRecord(got.entry.input);
      if (got.why && got.why.roots && got.why.decision) {
        state.explanation = got.why;
        renderDecision(view, got.why, { decisionId: got.entry.decision_id, entry: got.entry });
      } else {
        fill(view, h("h2", {}, `台账条目 ${got.entry ? got.entry.decision_id : id}`), h("pre", { class: "text" }, got.text || ""));
      }
    } catch (err) {
      fill(view, errorBox(err));
    }
  });
}

// ------------------------------------------------------------------ 决定: the decision and its tree
const STATUS_CLASS = { "符合救助条件": "ok", "不符合救助条件": "no", "无法决定": "unknown" };

function badge(text, cls = "") {
  return h("span", { class: `badge ${cls}` }, text);
}

function clauseBlock(c) {
  return h("div", { class: "clause" },
    h("div", { class: "cite" }, `〔${c.document || ""} ${c.article || ""}〕`,
      c.file ? h("span", { class: "muted" }, ` ${c.file}${c.line ? `:${c.line}` : ""}`) : null),
    h("blockquote", {}, c.quote || ""),
    (c.interpretations || []).length
      ? h("ul", { class: "interp" }, c.interpretations.map((i) => h("li", {}, h("strong", {}, `解释「${i.key}」`), "：", i.text)))
      : null);
}

function renderDecision(view, ex, { decisionId, entry } = {}) {
  const d = ex.decision || {};
  const person = ex.person || {};
  const policy = ex.policy || {};
  const items = d.items || [];
  fill(view,
    h("div", { class: "decision-head" },
      h("h2", {}, person.id || "（无编号）"),
      badge(d.status || "—", `status ${STATUS_CLASS[d.status] || ""}`),
      h("div", { class: "muted" }, `${person.region || ""} · ${person.date || ""} · ${policy.name || ""}${policy.document ? `（${policy.document}）` : ""}`),
      decisionId ? h("div", { class: "ledger" }, "台账编号 ", h("code", { id: "decision-id-shown" }, decisionId),
        entry ? h("span", { class: "muted" }, ` 记录于 ${entry.recorded_at}`) : null) : null),
    h("p", { class: "selection" }, policy.selection || ""),
    h("div", { class: "categories" }, "所属类别：",
      (d.categories || []).length ? d.categories.map((c) => badge(c, "cat")) : h("span", { class: "muted" }, "无"),
      (d.groups || []).length ? [" 分组：", d.groups.map((g) => badge(g, "group"))] : null),
    listBlock("缺少的事实或参数", d.missing, "bad"),
    listBlock("未能决定", (d.undetermined || []).map((u) => (typeof u === "string" ? u : JSON.stringify(u))), "bad"),
    listBlock("提示", d.warnings, "warn"),
    itemsTable(items),
    ex.rounding ? h("p", { class: "muted" }, `金额规则：${ex.rounding}`) : null,
    treeSection(ex.roots || [], ex.nodes || []));
}

function listBlock(title, list, cls) {
  if (!list || !list.length) return null;
  return h("div", { class: `notice ${cls}` }, h("strong", {}, title), h("ul", {}, list.map((m) => h("li", {}, typeof m === "string" ? m : JSON.stringify(m)))));
}

function itemsTable(items) {
  if (!items.length) return h("p", { class: "muted" }, "没有待遇项目。");
  return h("table", { class: "items" },
    h("thead", {}, h("tr", {}, ["项目", "范围", "值", "依类别", "条款"].map((t) => h("th", {}, t)))),
    h("tbody", {}, items.map((it) => h("tr", { class: it.status === "已决定" ? "" : "pending" },
      h("td", {}, it.item),
      h("td", {}, it.scope || "—"),
      h("td", {}, h("div", { class: "value" }, it.value ?? it.status),
        (it.missing || []).length ? h("div", { class: "bad" }, `缺少：${it.missing.join("、")}`) : null,
        (it.lost || []).length ? h("div", { class: "muted lost" }, "未采用：", it.lost.map((l) => `${l.category} ${l.value}`).join("；")) : null),
      h("td", {}, it.category || "—"),
      h("td", {}, it.clause
        ? h("details", { class: "item-clause" }, h("summary", {}, `${it.clause.document || ""} ${it.clause.article || ""}`), clauseBlock(it.clause))
        : "—")))));
}

const KIND_CLASS = { "结论": "k-concl", "输入事实": "k-input", "数值": "k-num", "比较": "k-cmp", "政策选择": "k-policy" };

function treeSection(roots, nodes) {
  const tree = h("ul", { class: "tree" });
  renderTree(tree, roots, nodes);
  return h("section", { class: "justification" },
    h("div", { class: "tree-head" }, h("h3", {}, "依据"),
      h("button", { type: "button", class: "small", onclick: () => expandAll(tree) }, "全部展开"),
      h("button", { type: "button", class: "small", onclick: () => tree.querySelectorAll("details.node[open]").forEach((d) => { d.open = false; }) }, "全部折叠")),
    tree);
}

/** The justification as nested <details>: each node's clauses, then its premises (rendered when opened). */
function renderTree(ul, roots, nodes) {
  const byKey = new Map(nodes.map((n) => [n.key, n]));
  ul.replaceChildren(...roots.map((k) => treeNode(byKey, k, [])));
}

function treeNode(byKey, key, path) {
  const n = byKey.get(key);
  if (!n) return h("li", { class: "missing" }, key);
  const label = [badge(n.kind, `kind ${KIND_CLASS[n.kind] || ""}`), h("span", { class: "step" }, n.text),
    (n.clauses || []).length ? h("span", { class: "cites muted" }, n.clauses.map((c) => `〔${c.document} ${c.article}〕`).join("")) : null];
  if (!(n.clauses || []).length && !(n.premises || []).length) return h("li", { class: "leaf" }, h("div", { class: "leafline" }, label));
  const det = h("details", { class: "node", dataset: { key } }, h("summary", {}, label));
  let done = false;
  det.fillIn = () => {
    if (done) return;
    done = true;
    for (const c of n.clauses || []) det.append(clauseBlock(c));
    const premises = (n.premises || []);
    if (premises.length) {
      det.append(h("ul", {}, premises.map((p) => (path.includes(p) ? h("li", { class: "muted" }, "（同上，循环）") : treeNode(byKey, p, [...path, key])))));
    }
  };
  det.addEventListener("toggle", () => { if (det.open) det.fillIn(); });
  return h("li", {}, det);
}

function expandAll(root) {
  for (let guard = 0; guard < 200; guard++) {
    const closed = [...root.querySelectorAll("details.node:not([open])")];
    if (!closed.length) return;
    for (const d of closed) { d.fillIn(); d.open = true; }
  }
}

// ------------------------------------------------------------------ 为何不
async function enterWhyNot() {
  const rec = state.record;
  const label = $("#whynot-record");
  if (!rec || !rec["地区"]) {
    fill(label, "先在「决定」中填写或载入一条个人记录。");
    fill($("#whynot-category"));
    return;
  }
  const asked = JSON.stringify(rec);
  if (state.whyNotFor !== asked) { // answers about another record are stale
    state.whyNotFor = asked;
    fill($("#whynot-view"));
    fill($("#whynotmore-view"));
  }
  fill(label, "当前记录：", h("strong", {}, rec["编号"] || "（无编号）"), `（${rec["地区"]}，${rec["日期"]}；就医 ${(rec["就医"] || []).length} 笔）`);
  const name = policyFor(rec);
  const member = state.explanation && state.explanation.person && state.explanation.person.id === rec["编号"]
    ? state.explanation.decision.categories || [] : [];
  let categories = [];
  try {
    if (name) categories = (await policyDetail(name)).categories || [];
  } catch (err) {
    categories = [];
  }
  for (const c of member) if (!categories.includes(c)) categories.push(c);
  const select = $("#whynot-category");
  const keep = select.value;
  fill(select, categories.map((c) => h("option", { value: c }, member.includes(c) ? `${c}（已属于）` : c)));
  const first = categories.find((c) => !member.includes(c));
  select.value = categories.includes(keep) ? keep : first || categories[0] || "";
}

async function whyNot(ev) {
  ev.preventDefault();
  const view = $("#whynot-view");
  const category = $("#whynot-category").value;
  if (!state.record || !category) return;
  await busy(null, "", async () => {
    try {
      const r = await api("POST", "/api/why-not", { "记录": state.record, "类别": category });
      fill(view, h("p", {}, r.member ? badge(`已属于「${r.category}」`, "status ok") : badge(`不属于「${r.category}」`, "status no")),
        h("pre", { class: "text whynot" }, r.text));
    } catch (err) {
      fill(view, errorBox(err));
    }
  });
}

async function whyNotMore() {
  const view = $("#whynotmore-view");
  if (!hasClaims(view)) return;
  await busy(null, "", async () => {
    try {
      const years = await api("POST", "/api/why-not-more", state.record);
      fill(view, years.length ? years.map(whyNotMoreYear) : h("p", { class: "muted" }, "没有可结算的年度。"));
    } catch (err) {
      fill(view, errorBox(err));
    }
  });
}

function whyNotMoreYear(w) {
  const alts = w.alternatives || [];
  return h("section", { class: "wnm" },
    h("h3", {}, `${w.year} 年 · 已付 ${fen(w.paid_fen)}`),
    h("h4", {}, "限制因素"),
    (w.limits || []).length
      ? h("table", { class: "limits" },
        h("thead", {}, h("tr", {}, ["就医", "限制", "金额", "说明"].map((t) => h("th", {}, t)))),
        h("tbody", {}, w.limits.map((l) => h("tr", {},
          h("td", {}, l.claim || "—"), h("td", {}, l.kind), h("td", { class: "num" }, fen(l.amount_fen)),
          h("td", {}, l.text, (l.clauses || []).map((c) => h("details", { class: "item-clause" }, h("summary", {}, `${c.document} ${c.article}`), clauseBlock(c))))))))
      : h("p", { class: "muted" }, "没有限制因素。"),
    h("h4", {}, "可多付的类别"),
    alts.length
      ? h("ul", { class: "alts" }, alts.map((a) => {
        const tree = h("ul", { class: "tree" });
        if (a.why_not) renderTree(tree, a.why_not.roots || [], a.why_not.nodes || []);
        return h("li", {},
          h("div", {}, badge(a.category, "cat"), ` 可得 ${fen(a.total_fen)}，多 ${fen(a.gain_fen)}`, a.next_better ? badge("最接近", "warn") : null),
          (a.better_items || []).length ? h("div", { class: "muted" }, (a.better_items || []).map((b) => (typeof b === "string" ? b : JSON.stringify(b))).join("；")) : null,
          h("details", {}, h("summary", {}, "为何不属于"), tree));
      }))
      : h("p", { class: "muted" }, "没有能多付的类别。"),
    w.text ? h("details", {}, h("summary", {}, "全文"), h("pre", { class: "text" }, w.text)) : null);
}

function initWhyNot() {
  $("#whynot-form").addEventListener("submit", whyNot);
  $("#whynotmore").addEventListener("click", whyNotMore);
}

// ------------------------------------------------------------------ 起草: the rules editor
const SEVERITY = { "错误": "err", "警告": "warn", "提示": "note" };
const RANK = { err: 3, warn: 2, note: 1 };
const draft = { marks: new Map(), stale: false };

function lineCount() {
  return $("#rules").value.split("\n").length;
}

function layoutEditor() {
  const n = lineCount();
  const area = $("#rules");
  area.style.height = `${n * LINE_HEIGHT + 24}px`; // + room for the horizontal scrollbar
  const rows = (cls, content) => Array.from({ length: n }, (_, i) => {
    const marks = draft.marks.get(i + 1) || [];
    const worst = marks.reduce((w, m) => (RANK[m.cls] > RANK[w] ? m.cls : w), marks.length ? "note" : "");
    return h("div", { class: `${cls} ${worst}${marks.length && draft.stale ? " stale" : ""}`, dataset: { line: i + 1 } }, content(i + 1, marks));
  });
  fill($("#gutter"), rows("ln", (i) => String(i)));
  fill($("#backdrop"), rows("bl", () => ""));
  fill($("#notes"), rows("note-line", (i, marks) => {
    if (!marks.length) return "";
    const sorted = [...marks].sort((a, b) => RANK[b.cls] - RANK[a.cls]);
    const first = sorted[0];
    return h("a", { href: `#lint-${first.id}`, title: sorted.map((m) => `${m.code} ${m.text}`).join("\n"),
      onclick: (e) => { e.preventDefault(); revealFinding(first.id); } },
    `${first.code} ${first.text}`, sorted.length > 1 ? h("span", { class: "more" }, `（另 ${sorted.length - 1} 条）`) : null);
  }));
}

function revealFinding(id) {
  const el = document.getElementById(`lint-${id}`);
  if (!el) return;
  const group = el.closest("details");
  if (group) group.open = true;
  el.scrollIntoView({ block: "center" });
}

function goToLine(line) {
  const area = $("#rules");
  const lines = area.value.split("\n");
  const start = lines.slice(0, line - 1).reduce((s, l) => s + l.length + 1, 0);
  area.focus({ preventScroll: true });
  area.setSelectionRange(start, start + (lines[line - 1] || "").length);
  const wrap = $("#editor-wrap");
  wrap.scrollTop = Math.max(0, (line - 1) * LINE_HEIGHT - wrap.clientHeight / 3);
  wrap.scrollIntoView({ block: "nearest" });
}

function lineLink(line, column) {
  return h("a", { href: "#", class: "lineref", onclick: (e) => { e.preventDefault(); goToLine(line); } },
    `第 ${line} 行${column ? `第 ${column} 列` : ""}`);
}

async function loadDraft() {
  const name = $("#draft-source").value;
  if (!name) return;
  try {
    const r = await api("GET", `/api/policies/${encodeURIComponent(name)}/rules`);
    $("#rules").value = r.text;
    $("#draft-name").value = r.file;
    draft.marks = new Map();
    fill($("#lint-view"));
    layoutEditor();
    message(`已载入 ${r.file}`);
  } catch (err) {
    fill($("#lint-view"), errorBox(err));
  }
}

function basename(p) {
  return String(p || "").split(/[\\/]/).pop();
}

async function lintDraft() {
  const view = $("#lint-view");
  const body = { "规则文本": $("#rules").value, "文件名": $("#draft-name").value.trim() || "草稿.rules" };
  if ($("#draft-parent").value) body["上位"] = $("#draft-parent").value;
  await busy($("#lint-state"), "检查中（引擎逐一搜索身份与阈值，可能需要数秒）…", async () => {
    try {
      const r = await api("POST", "/api/lint", body);
      showLint(r, basename(body["文件名"]));
    } catch (err) {
      draft.marks = new Map();
      if (err instanceof ApiFailure && err.body.line) {
        draft.marks.set(err.body.line, [{ id: "e0", cls: "err", code: err.body.code, text: err.body.message }]);
      }
      layoutEditor();
      fill(view, errorBox(err));
    }
  });
}

function showLint(r, file) {
  const marks = new Map();
  const mark = (line, m) => { if (!line) return; if (!marks.has(line)) marks.set(line, []); marks.get(line).push(m); };
  const diags = r.diagnostics || [];
  const findings = r.findings || [];
  diags.forEach((d, i) => mark(d.line, { id: `d${i}`, cls: SEVERITY[d.severity] || "err", code: d.code, text: d.message }));
  findings.forEach((f, i) => {
    const lines = new Set((f.clauses || []).filter((c) => basename(c.file) === file).map((c) => c.line));
    for (const line of lines) mark(line, { id: `f${i}`, cls: SEVERITY[f.severity] || "note", code: f.code, text: f.message });
  });
  draft.marks = marks;
  draft.stale = false;
  layoutEditor();
  const count = (list, sev) => list.filter((x) => x.severity === sev).length;
  const all = [...diags, ...findings];
  const interpretations = findings.filter((f) => f.code === "L601");
  fill($("#lint-view"),
    h("p", { class: "lint-summary" }, r.policy ? `政策「${r.policy}」：` : "",
      `错误 ${count(all, "错误")} · 警告 ${count(all, "警告")} · 提示 ${count(all, "提示")}`),
    diags.length ? h("section", {}, h("h3", {}, "诊断"),
      h("ul", { class: "findings" }, diags.map((d, i) => h("li", { id: `lint-d${i}`, class: `finding ${SEVERITY[d.severity] || "err"}` },
        badge(d.severity, SEVERITY[d.severity] || "err"), " ", h("code", {}, d.code), " ", d.line ? lineLink(d.line, d.column) : null, " ", d.message)))) : null,
    findings.length ? h("section", {}, h("h3", {}, "起草检查"),
      h("ul", { class: "findings" }, findings.map((f, i) => (f.code === "L601" ? null : findingItem(f, i, file))))) : null,
    interpretations.length ? h("details", { class: "interpretations" },
      h("summary", {}, `本文件采用的解释（L601，${interpretations.length} 条，供逐条复核）`),
      h("ul", { class: "findings" }, findings.map((f, i) => (f.code === "L601" ? findingItem(f, i, file) : null)))) : null,
    !all.length ? h("p", { class: "notice ok" }, "没有发现问题。") : null);
}

function findingItem(f, i, file) {
  return h("li", { id: `lint-f${i}`, class: `finding ${SEVERITY[f.severity] || "note"}` },
    h("div", {}, badge(f.severity, SEVERITY[f.severity] || "note"), " ", h("code", {}, f.code),
      f.classification ? badge(f.classification, "group") : null, " ", f.message),
    h("ul", { class: "finding-clauses" }, (f.clauses || []).map((c) => h("li", {},
      basename(c.file) === file ? lineLink(c.line) : h("span", { class: "muted" }, `${c.file}:${c.line}`),
      ` 〔${c.document} ${c.article}〕`, h("q", {}, c.quote)))),
    f.witness ? h("div", { class: "witness" },
      h("button", { type: "button", class: "small", "data-witness": i, onclick: () => openWitness(f.witness) }, "在决定视图中打开证例"),
      h("span", { class: "muted" }, ` ${f.witness["编号"] || ""}（按服务已加载的规则决定）`)) : null,
    f.bill ? h("details", {}, h("summary", {}, "金额影响"), h("pre", { class: "text" }, JSON.stringify(f.bill, null, 2))) : null);
}

function openWitness(witness) {
  setRecord(witness);
  $("#upload-pick").hidden = true;
  go("decide");
  decideCurrent();
}

function initDraft() {
  const area = $("#rules");
  area.addEventListener("input", () => {
    if (draft.marks.size) draft.stale = true;
    layoutEditor();
  });
  area.addEventListener("keydown", (e) => { // a tab key indents instead of leaving the editor
    if (e.key === "Tab" && !e.shiftKey) { e.preventDefault(); document.execCommand("insertText", false, "  "); }
  });
  $("#draft-load").addEventListener("click", loadDraft);
  $("#lint").addEventListener("click", lintDraft);
  layoutEditor();
}

// ------------------------------------------------------------------ 政策: clauses beside the document
const browser = { segments: new Map(), active: null };

function renderPolicyList() {
  fill($("#policy-list"), state.policies.map((p) => h("li", {},
    h("button", { type: "button", class: "policy", dataset: { name: p.name }, onclick: () => openPolicy(p.name) },
      h("strong", {}, p.name),
      h("span", { class: "muted" }, [p.region, p.document, `${p.start || "?"} 至 ${p.end || "（未定）"}`].filter(Boolean).join(" · ")),
      p.parent ? h("span", { class: "muted" }, `上位：${p.parent}`) : null))));
}

async function openPolicy(name) {
  document.querySelectorAll("#policy-list button.policy").forEach((b) => b.classList.toggle("active", b.dataset.name === name));
  fill($("#clause-list"));
  fill($("#doc-text"), h("p", { class: "muted" }, "读取中…"));
  try {
    const [detail, doc] = await Promise.all([policyDetail(name),
      api("GET", `/api/policies/${encodeURIComponent(name)}/document`).catch((err) => ({ error: err }))]);
    fill($("#clauses-title"), `条款 · ${detail.name}`);
    fill($("#policy-meta"), h("p", { class: "muted" }, [detail.document, detail.region, `规则文件 ${detail.file}`].filter(Boolean).join(" · ")));
    renderDocument(doc);
    const located = new Map((doc.clauses || []).map((c) => [c.id, c.span]));
    fill($("#clause-list"), detail.clauses.map((c) => h("li", {
      class: `clause-item${doc.error || located.get(c.id) ? "" : " unlocated"}`, dataset: { id: c.id }, tabindex: 0,
      onclick: () => activateClause(c.id, true), onkeydown: (e) => { if (e.key === "Enter") activateClause(c.id, true); } },
    h("div", { class: "cite" }, h("strong", {}, c.article), h("span", { class: "muted" }, ` 规则第 ${c.line} 行`),
      !doc.error && !located.get(c.id) ? h("span", { class: "bad" }, " 原文中未定位") : null),
    h("div", { class: "quote" }, c.quote),
    (c.interpretations || []).length ? h("ul", { class: "interp" }, c.interpretations.map((i) => h("li", {}, h("strong", {}, `解释「${i.key}」`), "：", i.text))) : null)));
    renderParameters(detail.parameters || []);
  } catch (err) {
    fill($("#doc-text"), errorBox(err));
  }
}

/** The document as text segments: each carries the ids of the clauses whose span covers it. */
function renderDocument(doc) {
  browser.segments = new Map();
  browser.active = null;
  const box = $("#doc-text");
  if (doc.error) { fill(box, errorBox(doc.error)); fill($("#doc-title"), "原文"); return; }
  fill($("#doc-title"), `原文 · ${doc.file}`);
  const text = doc.text;
  const spans = (doc.clauses || []).filter((c) => c.span);
  const cuts = new Set([0, text.length]);
  for (const c of spans) { cuts.add(c.span[0]); cuts.add(c.span[1]); }
  const points = [...cuts].sort((a, b) => a - b);
  const parts = [];
  for (let k = 0; k + 1 < points.length; k++) {
    const [a, b] = [points[k], points[k + 1]];
    const ids = spans.filter((c) => c.span[0] <= a && b <= c.span[1]).map((c) => c.id);
    if (!ids.length) { parts.push(text.slice(a, b)); continue; }
    const seg = h("span", { class: "seg", dataset: { ids: ids.join(" ") }, onclick: () => activateClause(ids[0], false) }, text.slice(a, b));
    for (const id of ids) { if (!browser.segments.has(id)) browser.segments.set(id, []); browser.segments.get(id).push(seg); }
    parts.push(seg);
  }
  fill(box, parts);
  box.scrollTop = 0;
}

function activateClause(id, scrollDocument) {
  document.querySelectorAll("#doc-text .seg.active, #clause-list .active").forEach((el) => el.classList.remove("active"));
  const segs = browser.segments.get(id) || [];
  segs.forEach((s) => s.classList.add("active"));
  const item = document.querySelector(`#clause-list li[data-id="${CSS.escape(id)}"]`);
  if (item) item.classList.add("active");
  browser.active = id;
  if (scrollDocument && segs.length) scrollWithin($("#doc-text"), segs[0]);
  if (!scrollDocument && item) scrollWithin($("#clause-list"), item);
}

/** Scroll a box (position: relative) so that el sits at its middle, without moving the page. */
function scrollWithin(box, el) {
  box.scrollTop = Math.max(0, el.offsetTop - (box.clientHeight - el.offsetHeight) / 2);
}

function renderParameters(params) {
  fill($("#param-table"), params.length
    ? h("table", { class: "items" }, h("thead", {}, h("tr", {}, ["名称", "地区", "年度", "值", "来源"].map((t) => h("th", {}, t)))),
      h("tbody", {}, params.map((p) => h("tr", {}, h("td", {}, p["名称"]), h("td", {}, p["地区"]), h("td", {}, p["年度"]),
        h("td", { class: "num" }, p["值（分）"] === null || p["值（分）"] === undefined ? "（未知）" : fen(p["值（分）"])), h("td", {}, p["来源"] ?? "")))))
    : h("p", { class: "muted" }, "没有参数值。"));
}

// ------------------------------------------------------------------ 审核: a payments file as a job
async function startAudit(ev) {
  ev.preventDefault();
  const view = $("#audit-view");
  const payments = $("#audit-payments").files[0];
  if (!payments) return;
  const form = new FormData();
  form.append("file", payments);
  if ($("#audit-persons").files[0]) form.append("persons", $("#audit-persons").files[0]);
  const params = Object.fromEntries($("#audit-params").value.split(/[；;]/).map((kv) => kv.split("=").map((x) => x.trim()))
    .filter(([k, v]) => k && v !== undefined && v !== ""));
  if (Object.keys(params).length) form.append("params", JSON.stringify(params));
  await busy($("#audit-state"), "上传中…", async () => {
    try {
      let job = await upload("/api/audit", form);
      while (job.status === "排队" || job.status === "运行中") {
        fill($("#audit-state"), h("span", { class: "spinner" }), `${job.status}：已处理 ${job.rows} 行`);
        await new Promise((r) => setTimeout(r, 500));
        job = await api("GET", `/api/jobs/${encodeURIComponent(job.id)}`);
      }
      fill(view, job.status === "完成" ? auditSummary(job) : h("div", { class: "error", role: "alert" }, `审核失败：${job.message || ""}`));
    } catch (err) {
      fill(view, errorBox(err));
    }
  });
}

/** A multipart POST with the token (api() sends JSON). */
async function upload(path, form) {
  const res = await fetch(path, { method: "POST", headers: authHeaders({ accept: "application/json" }), body: form });
  const data = await res.json();
  if (!res.ok) throw new ApiFailure(res.status, data);
  return data;
}

function auditSummary(job) {
  const s = job.summary || {};
  const tallies = (obj) => Object.entries(obj || {}).filter(([, t]) => t.count);
  const table = (head, rows) => h("table", { class: "items audit" },
    h("thead", {}, h("tr", {}, [head, "行数", "涉及金额"].map((t) => h("th", {}, t)))),
    h("tbody", {}, rows.map(([k, t]) => h("tr", {}, h("td", {}, k), h("td", { class: "num" }, String(t.count)), h("td", { class: "num" }, fen(t.at_stake_fen))))));
  return h("section", { class: "audit-result" },
    h("p", {}, `共 ${s.rows} 行；实付合计 ${fen(s.paid_fen)}，应付合计 ${fen(s.due_fen)}，涉及金额合计 ${fen(s.at_stake_fen)}`),
    h("h3", {}, "按结论"), table("结论", tallies(s.by_finding)),
    tallies(s.by_category).length ? [h("h3", {}, "按支付所依类别（有问题的行）"), table("类别", tallies(s.by_category))] : null,
    (s.unused_columns || []).length ? h("p", { class: "muted" }, `未使用的列：${s.unused_columns.join("、")}`) : null,
    h("div", { class: "row" }, [["csv", "逐行结论 CSV"], ["html", "审核报告 HTML"], ["json", "JSON"]].map(([fmt, label]) =>
      h("button", { type: "button", onclick: () => download(`${job.result}?format=${fmt}`, `审核结果-${job.id.slice(0, 8)}.${fmt}`) }, label))));
}

/** A result file fetched with the token and handed to the browser as a download. */
async function download(path, name) {
  const res = await fetch(path, { headers: authHeaders() });
  if (!res.ok) { message(`下载失败：HTTP ${res.status}`, "error"); return; }
  const link = h("a", { href: URL.createObjectURL(await res.blob()), download: name });
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

// ------------------------------------------------------------------ start
async function start() {
  initToken();
  initRecordForm();
  initWhyNot();
  initDraft();
  $("#audit-form").addEventListener("submit", startAudit);
  window.addEventListener("hashchange", () => showTab(location.hash.slice(1)));
  await initHealth();
  showTab(location.hash.slice(1));
  document.body.dataset.ready = "1";
}

start();
