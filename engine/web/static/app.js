// pdgstore's web view: the graph's nodes with per-state counts, every work item as a cell on a
// canvas (no DOM node per item), live from pdg serve's data layer over the same port's WebSocket.
// Plain JavaScript, no build step, no third-party code.
"use strict";
(() => {
  const STATE_COLORS = {
    uncooked: "#6b7280", waiting: "#c9a227", scheduled: "#8e7cc3", cooking: "#29b6f6",
    cooked_success: "#43a047", cooked_cache: "#2e9d8f", cooked_fail: "#e53935",
    cooked_cancel: "#8d6e63", dirty: "#f57c00",
  };
  const NO_VALUE = "#343944";           // perf colouring: an item with no cook time / no outputs
  const DONE = new Set(["cooked_success", "cooked_cache"]);
  const CELL = 10, GAP = 1;             // the item panel's cells
  const MINI_W = 240, MINI_H = 48;      // a node box's overview of its items
  const BOX_W = 260, BOX_H = 112, COL_W = 320;
  const RAMP = 64;
  const $ = (id) => document.getElementById(id);

  const view = {
    states: [], colors: [], nodes: new Map(), order: [], edges: {}, seq: 0, at: null, mode: "state",
    selected: null, cfg: { actions: false }, cooks: [], pathSeq: new Map(), ws: null, backoff: 200,
    ready: false, paintedAt: 0, recolors: 0, lastRecolorAt: 0, loading: null, connected: false,
    token: new URLSearchParams(location.hash.slice(1)).get("token"),
  };
  window.pdgView = view;

  // -- answers -------------------------------------------------------------------------------------
  async function api(name, params, method) {
    const query = new URLSearchParams(params || {}).toString();
    const headers = view.token ? { Authorization: `Bearer ${view.token}` } : {};
    const response = await fetch(`/api/${name}?${query}`, { headers, method: method || "GET" });
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || response.statusText);
    return data;
  }
  function say(text) { $("message").textContent = text || ""; }
  const keyOf = (graph, node) => `${graph}/${node}`;
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

  // -- colours -------------------------------------------------------------------------------------
  function rampColor(f) {               // blue -> green -> orange; red rises with f (tests read it)
    const r = Math.round(30 + 225 * f), g = Math.round(70 + 150 * Math.sin(Math.PI * f * 0.9)),
      b = Math.round(220 - 200 * f);
    return `rgb(${r},${g},${b})`;
  }
  const RAMP_COLORS = Array.from({ length: RAMP }, (_, i) => rampColor(i / (RAMP - 1)));

  function range(node) {               // [min, max] of the perf value over a node's items
    const values = view.mode === "time" ? node.times : node.sizes;
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < node.count; i++) {
      const v = values[i];
      if (v > 0) { if (v < lo) lo = v; if (v > hi) hi = v; }
    }
    return lo === Infinity ? null : [lo, hi];
  }
  function globalRange() {
    let lo = Infinity, hi = -Infinity;
    for (const node of view.nodes.values()) {
      const r = node.count ? range(node) : null;
      if (r) { lo = Math.min(lo, r[0]); hi = Math.max(hi, r[1]); }
    }
    return lo === Infinity ? null : [lo, hi];
  }
  function colorFn() {                 // item index -> fill colour, for the current mode
    if (view.mode === "state") return (node, i) => view.colors[node.states[i]];
    const r = view.range;
    const field = view.mode === "time" ? "times" : "sizes";
    return (node, i) => {
      const v = node[field][i];
      if (!(v > 0) || !r) return NO_VALUE;
      const f = r[1] > r[0] ? (v - r[0]) / (r[1] - r[0]) : 1;
      return RAMP_COLORS[Math.max(0, Math.min(RAMP - 1, Math.round(f * (RAMP - 1))))];
    };
  }
  function fmt(v) {
    if (view.mode === "size") {
      const units = ["B", "KiB", "MiB", "GiB"]; let u = 0;
      while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
      return `${v.toFixed(u ? 1 : 0)} ${units[u]}`;
    }
    return v >= 1 ? `${v.toFixed(2)} s` : `${(v * 1000).toFixed(1)} ms`;
  }
  function drawLegend() {
    const legend = $("legend");
    if (view.mode === "state") {
      legend.innerHTML = view.states.map((s, i) =>
        `<span><span class="sw" style="background:${view.colors[i]}"></span>${s}</span>`).join("");
      return;
    }
    const r = view.range;
    const stops = RAMP_COLORS.filter((_, i) => i % 8 === 0 || i === RAMP - 1).join(",");
    legend.innerHTML = r
      ? `<span id="legend-min">min ${fmt(r[0])}</span><span class="ramp" style="background:linear-gradient(90deg,${stops})"></span>` +
        `<span id="legend-max">max ${fmt(r[1])}</span><span><span class="sw" style="background:${NO_VALUE}"></span>none</span>`
      : `<span>no ${view.mode === "time" ? "cook times" : "output sizes"} yet</span>`;
  }

  // -- the graph -----------------------------------------------------------------------------------
  async function loadGraph(before) {       // before: a promise to settle first (the page's config)
    const params = view.at ? { at: view.at } : {};
    const [data] = await Promise.all([api("graph", params), before]);
    view.states = data.states;
    view.colors = data.states.map((s) => STATE_COLORS[s] || "#999");
    view.edges = data.edges;
    const old = view.nodes;
    view.nodes = new Map();
    view.order = [];
    for (const row of data.nodes) {
      const key = keyOf(row.graph, row.node);
      const node = old.get(key) || { key, graph: row.graph, node: row.node, count: 0, ids: [], names: [],
        index: new Map(), states: new Uint8Array(0), times: new Float64Array(0), sizes: new Float64Array(0) };
      node.total = row.total;
      node.counts = row.states;
      view.nodes.set(key, node);
      view.order.push(key);
    }
    view.runningCook = data.running_cook;
    say("");
    renderGraphs();
    await Promise.all(view.order.map((key) => loadItems(view.nodes.get(key))));
    if (!view.at) view.seq = Math.max(view.seq, data.seq);
    else view.seq = Math.max(view.seq, view.liveSeq || 0);
    $("seq").textContent = `seq ${view.at ? data.seq : view.seq}`;
    redrawAll();
    if (!view.paintedAt) view.paintedAt = performance.now();
    view.ready = true;
  }

  async function loadItems(node) {
    const params = { graph: node.graph, node: node.node };
    if (view.at) params.at = view.at;
    const d = await api("items", params);
    node.count = d.ids.length;
    node.ids = d.ids; node.names = d.names;
    node.index = new Map(d.ids.map((id, i) => [id, i]));
    node.states = Uint8Array.from(d.states);
    node.times = Float64Array.from(d.times);
    node.sizes = Float64Array.from(d.sizes);
  }

  function depths(graph, names) {
    const inputs = view.edges[graph] || {};
    const depth = new Map();
    const visit = (name, seen) => {
      if (depth.has(name)) return depth.get(name);
      if (seen.has(name)) return 0;
      seen.add(name);
      const ups = (inputs[name] || []).filter((n) => names.includes(n));
      const d = ups.length ? 1 + Math.max(...ups.map((u) => visit(u, seen))) : 0;
      depth.set(name, d);
      return d;
    };
    names.forEach((n) => visit(n, new Set()));
    return depth;
  }

  function renderGraphs() {
    const root = $("graphs");
    root.innerHTML = "";
    const graphs = [...new Set(view.order.map((k) => view.nodes.get(k).graph))];
    if (!graphs.length) root.innerHTML = "<p>no work items in this store yet</p>";
    for (const graph of graphs) {
      const names = view.order.map((k) => view.nodes.get(k)).filter((n) => n.graph === graph).map((n) => n.node);
      const depth = depths(graph, names);
      const rows = new Map();
      const pos = new Map();
      for (const name of names) {
        const d = depth.get(name) || 0;
        const r = rows.get(d) || 0;
        rows.set(d, r + 1);
        pos.set(name, [d * COL_W, r * (BOX_H + 16)]);
      }
      const section = document.createElement("section");
      section.className = "graph";
      section.dataset.graph = graph;
      section.innerHTML = `<h2>${esc(graph)}<span class="status"></span></h2>`;
      const area = document.createElement("div");
      area.className = "graph-area";
      const width = (Math.max(0, ...depth.values()) + 1) * COL_W;
      const height = Math.max(...rows.values(), 1) * (BOX_H + 16);
      area.style.width = `${width}px`; area.style.height = `${height}px`;
      const paths = [];
      for (const name of names) {
        for (const up of (view.edges[graph] || {})[name] || []) {
          if (!pos.has(up)) continue;
          const [x1, y1] = pos.get(up), [x2, y2] = pos.get(name);
          const ax = x1 + BOX_W, ay = y1 + 40, bx = x2, by = y2 + 40, m = (ax + bx) / 2;
          paths.push(`<path data-from="${esc(up)}" data-to="${esc(name)}" d="M${ax},${ay} C${m},${ay} ${m},${by} ${bx},${by}"/>`);
        }
      }
      area.innerHTML = `<svg width="${width}" height="${height}">${paths.join("")}</svg>`;
      for (const name of names) {
        const node = view.nodes.get(keyOf(graph, name));
        const box = document.createElement("div");
        box.className = "node";
        box.dataset.key = node.key;
        box.dataset.node = name;
        const [x, y] = pos.get(name);
        box.style.left = `${x}px`; box.style.top = `${y}px`;
        box.innerHTML = `<span class="total"></span><div class="name">${esc(name)}</div><div class="counts"></div>` +
          `<div class="bar"></div><canvas width="${MINI_W}" height="${MINI_H}"></canvas>` +
          (view.cfg.actions && view.token && !view.at
            ? `<div class="node-actions"><button data-act="cook">cook</button> <button data-act="dirty">dirty</button></div>` : "");
        box.addEventListener("click", (ev) => {
          const act = ev.target.dataset && ev.target.dataset.act;
          if (act) { ev.stopPropagation(); nodeAction(node, act); return; }
          select(node.key);
        });
        node.box = box;
        node.mini = box.querySelector("canvas");
        hoverable(node.mini, (x, y) => miniIndex(node, x, y), () => node);
        area.appendChild(box);
        renderCounts(node);
      }
      section.appendChild(area);
      root.appendChild(section);
    }
    if (view.selected && view.nodes.has(view.selected)) select(view.selected);
    else $("items-panel").hidden = true;
  }

  function renderCounts(node) {
    if (!node.box) return;
    const counts = node.counts || {};
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    node.box.querySelector(".total").textContent = `${total} items`;
    node.box.dataset.total = total;
    node.box.querySelector(".counts").innerHTML = view.states.filter((s) => counts[s]).map((s) =>
      `<span class="count" data-state="${s}"><i style="background:${STATE_COLORS[s]}"></i>${s} <b>${counts[s]}</b></span>`).join("");
    node.box.querySelector(".bar").innerHTML = total ? view.states.filter((s) => counts[s]).map((s) =>
      `<span style="width:${(100 * counts[s]) / total}%;background:${STATE_COLORS[s]}" title="${s}"></span>`).join("") : "";
    const done = [...DONE].reduce((a, s) => a + (counts[s] || 0), 0);
    node.box.dataset.done = done;
  }

  function countsFromCells(node) {
    const counts = {};
    for (let i = 0; i < node.count; i++) {
      const s = view.states[node.states[i]];
      counts[s] = (counts[s] || 0) + 1;
    }
    return counts;
  }

  // -- cells ---------------------------------------------------------------------------------------
  function miniLayout(node) {
    const n = Math.max(node.count, 1);
    const s = Math.max(1, Math.min(8, Math.floor(Math.sqrt((MINI_W * MINI_H) / n))));
    const cols = Math.floor(MINI_W / s);
    const per = Math.max(1, Math.ceil(n / (cols * Math.floor(MINI_H / s))));   // items per cell
    return { s, cols, per };
  }
  function miniIndex(node, x, y) {
    const { s, cols, per } = miniLayout(node);
    const i = (Math.floor(y / s) * cols + Math.floor(x / s)) * per;
    return x < cols * s && i < node.count ? i : -1;
  }
  const RANK = ["cooked_fail", "cooking", "scheduled", "waiting", "dirty", "uncooked", "cooked_cancel", "cooked_cache", "cooked_success"];
  function drawMini(node, color) {
    const ctx = node.mini && node.mini.getContext("2d");
    if (!ctx) return;
    const { s, cols, per } = miniLayout(node);
    const height = Math.max(s, Math.min(MINI_H, Math.ceil(Math.ceil(node.count / per) / cols) * s));
    if (node.mini.height !== height) node.mini.height = height;
    ctx.clearRect(0, 0, MINI_W, height);
    const rank = view.states.map((st) => RANK.indexOf(st));
    const field = view.mode === "time" ? node.times : node.sizes;
    const gap = s >= 4 ? 1 : 0;
    let last = null;
    for (let c = 0; c * per < node.count; c++) {
      let i = c * per;
      for (let j = i + 1; j < Math.min(node.count, (c + 1) * per); j++) {   // the cell shows its most telling item
        if (view.mode === "state" ? rank[node.states[j]] < rank[node.states[i]] : field[j] > field[i]) i = j;
      }
      const fill = color(node, i);
      if (fill !== last) { ctx.fillStyle = fill; last = fill; }
      ctx.fillRect((c % cols) * s, Math.floor(c / cols) * s, s - gap, s - gap);
    }
  }

  function select(key) {
    view.selected = key;
    for (const n of view.nodes.values()) if (n.box) n.box.classList.toggle("selected", n.key === key);
    const node = view.nodes.get(key);
    $("items-panel").hidden = false;
    $("items-title").textContent = `${node.graph} / ${node.node}: ${node.count} work items`;
    drawPanel();
  }
  function panelLayout() {
    const scroll = $("items-scroll");
    const width = Math.max(CELL, scroll.clientWidth);
    return { width, cols: Math.max(1, Math.floor(width / CELL)), height: scroll.clientHeight };
  }
  function drawPanel() {
    const node = view.nodes.get(view.selected);
    if (!node) return;
    const canvas = $("items-canvas"), scroll = $("items-scroll");
    const { width, cols, height } = panelLayout();
    const rows = Math.ceil(node.count / cols);
    $("items-spacer").style.height = `${rows * CELL}px`;
    const fit = `${Math.min(360, Math.max(3, rows) * CELL + 2)}px`;
    if (scroll.style.height !== fit) { scroll.style.height = fit; return drawPanel(); }
    if (canvas.width !== width || canvas.height !== height) { canvas.width = width; canvas.height = height; }
    canvas.style.top = `${scroll.scrollTop}px`;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, width, height);
    const color = colorFn();
    const first = Math.floor(scroll.scrollTop / CELL), offset = scroll.scrollTop - first * CELL;
    const last = Math.min(rows, first + Math.ceil(height / CELL) + 1);
    let prev = null;
    for (let r = first; r < last; r++) {
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        if (i >= node.count) break;
        const fill = color(node, i);
        if (fill !== prev) { ctx.fillStyle = fill; prev = fill; }
        ctx.fillRect(c * CELL, (r - first) * CELL - offset, CELL - GAP, CELL - GAP);
      }
    }
  }
  function panelIndex(x, y) {
    const node = view.nodes.get(view.selected);
    const { cols } = panelLayout();
    const scroll = $("items-scroll");
    const c = Math.floor(x / CELL), r = Math.floor((y + scroll.scrollTop) / CELL);
    const i = r * cols + c;
    return node && c < cols && i < node.count ? i : -1;
  }
  // where cell i of the selected node is, in page coordinates (scrolled into view): for tests and links
  view.cellPoint = (i) => {
    const { cols } = panelLayout();
    const scroll = $("items-scroll");
    const row = Math.floor(i / cols);
    if (row * CELL < scroll.scrollTop || (row + 1) * CELL > scroll.scrollTop + scroll.clientHeight) {
      scroll.scrollTop = row * CELL; drawPanel();
    }
    const rect = scroll.getBoundingClientRect();
    return { x: rect.left + scroll.clientLeft + (i % cols) * CELL + (CELL - GAP) / 2,
      y: rect.top + scroll.clientTop + row * CELL - scroll.scrollTop + (CELL - GAP) / 2 };
  };
  view.pixel = (x, y) => {             // the drawn colour of the items canvas at page coordinates
    const canvas = $("items-canvas"), rect = canvas.getBoundingClientRect();
    const d = canvas.getContext("2d").getImageData(Math.floor(x - rect.left), Math.floor(y - rect.top), 1, 1).data;
    return [d[0], d[1], d[2]];
  };

  function redrawAll() {
    if (view.mode !== "state") view.range = globalRange();
    const color = colorFn();
    for (const node of view.nodes.values()) drawMini(node, color);
    drawPanel();
    drawLegend();
  }
  let redrawQueued = false;
  function queueRedraw() {
    if (redrawQueued) return;
    redrawQueued = true;
    requestAnimationFrame(() => {
      redrawQueued = false;
      redrawAll();
      view.recolors++;
      view.lastRecolorAt = performance.now();
      if (view.recolorLog) view.recolorLog.push([view.seq, performance.timeOrigin + view.lastRecolorAt]);
    });
  }

  function hoverable(canvas, indexAt, nodeOf) {
    const tip = $("tooltip");
    canvas.addEventListener("mousemove", (ev) => {
      const rect = canvas.getBoundingClientRect();
      const node = nodeOf(), i = indexAt(ev.clientX - rect.left, ev.clientY - rect.top);
      if (i < 0) { tip.hidden = true; return; }
      const state = view.states[node.states[i]];
      const extra = view.mode === "time" ? ` · ${node.times[i] ? fmt(node.times[i]) : "not cooked"}`
        : view.mode === "size" ? ` · ${node.sizes[i] ? fmt(node.sizes[i]) : "no outputs"}` : "";
      tip.textContent = `${node.names[i]} · ${state}${extra}`;
      tip.hidden = false;
      tip.style.left = `${ev.clientX + 12}px`; tip.style.top = `${ev.clientY + 12}px`;
    });
    canvas.addEventListener("mouseleave", () => { tip.hidden = true; });
    canvas.addEventListener("click", (ev) => {
      const rect = canvas.getBoundingClientRect();
      const node = nodeOf(), i = indexAt(ev.clientX - rect.left, ev.clientY - rect.top);
      if (i >= 0) { ev.stopPropagation(); openDetail(node.ids[i]); }
    });
  }

  // -- one item ------------------------------------------------------------------------------------
  function table(rows, heads) {
    if (!rows.length) return "<p>none</p>";
    return `<table><tr>${heads.map((h) => `<th>${esc(h)}</th>`).join("")}</tr>` +
      rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`).join("") + "</table>";
  }
  async function openDetail(id) {
    const body = $("detail-body");
    $("detail").hidden = false;
    body.innerHTML = "loading…";
    let d;
    try { d = await api("item", view.at ? { id, at: view.at } : { id }); }
    catch (e) { body.textContent = e.message; return; }
    const files = (list, count) => table(list.map((f) => [f.path, f.tag, f.size == null ? "" : f.size]), ["file", "tag", "bytes"]) +
      (count > list.length ? `<p class="more">and ${count - list.length} more (pdg show ${esc(d.name)} --json lists them all)</p>` : "");
    const chain = (d.explain.chain || []).map((s) => `<li>${esc(s.text)}</li>`).join("");
    body.innerHTML =
      `<h2 id="detail-name">${esc(d.name)}</h2>` +
      table([["id", d.item_id], ["node", `${d.graph} / ${d.node}`], ["index", d.index], ["state", d.state],
        ["cook", d.cook_id ?? "outside a cook"], ["cook time", `${d.cook_seconds} s`]].concat(d.error ? [["error", d.error]] : []), ["", ""]) +
      (view.cfg.actions && view.token && !view.at ? `<button id="dirty-item" type="button">dirty this item</button>` : "") +
      `<h3>attributes</h3><div id="detail-attrs">${table(Object.entries(d.attrs).map(([k, v]) => [k, v.type, JSON.stringify(v.values)]), ["name", "type", "values"])}</div>` +
      `<h3>input files</h3>${files(d.inputs, d.counts.inputs)}<h3>output files</h3>${files(d.outputs, d.counts.outputs)}` +
      `<h3>why did this run</h3><ol id="detail-explain">${chain}</ol><pre>${esc(d.explain.text || "")}</pre>` +
      `<h3>state history</h3>${table((d.history || []).map((h) => [h.seq, h.state, h.cook_id ?? "", h.time_ns ? new Date(h.time_ns / 1e6).toLocaleTimeString() : "", h.message || ""]), ["seq", "state", "cook", "time", ""])}` +
      `<h3>job log</h3><pre id="detail-log">${esc(d.log_tail || (d.job ? "(empty)" : "no job log: it ran in the cooking process"))}</pre>`;
    const dirty = $("dirty-item");
    if (dirty) dirty.onclick = () => command("dirty", `pdg/${d.graph}/work_item_${d.item_id}`);
  }
  $("detail-close").onclick = () => { $("detail").hidden = true; };

  // -- live: the data layer over the WebSocket -----------------------------------------------------
  let reqId = 0;
  const pending = new Map();
  function connect() {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/` + (view.token ? `?token=${encodeURIComponent(view.token)}` : "");
    const ws = new WebSocket(url);
    view.ws = ws;
    ws.onopen = () => {
      view.connected = true;
      view.backoff = 200;
      setConn("live");
      send({ op: "hello", batch: true });  // the frames of one step in one message
      subscribe("pdg");
      for (const graph of new Set([...view.nodes.values()].map((n) => n.graph))) subscribeGraph(graph);
      scheduleChanges();                // what happened while we were away, from the last seq shown
    };
    ws.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      if (m.op === "batch") for (const item of m.items) onMessage(item);
      else onMessage(m);
    };
    ws.onclose = () => {
      view.connected = false;
      setConn("reconnecting");
      for (const [, p] of pending) p.reject(new Error("the connection to pdg serve was lost"));
      pending.clear();
      const delay = view.backoff * (0.75 + Math.random() / 2);
      view.backoff = Math.min(5000, view.backoff * 2);
      setTimeout(connect, delay);
    };
  }
  function setConn(state) {
    $("conn").dataset.state = state;
    $("conn").textContent = state;
  }
  function send(data) { if (view.ws && view.ws.readyState === 1) view.ws.send(JSON.stringify(data)); }
  function subscribe(path) {
    const since = view.pathSeq.get(path);
    send(since === undefined ? { op: "subscribe", path } : { op: "subscribe", path, since });
  }
  const subscribed = new Set();
  function subscribeGraph(graph) {
    subscribe(`pdg/${graph}`);
    subscribed.add(`pdg/${graph}`);
    for (const n of view.nodes.values()) {
      if (n.graph !== graph) continue;
      const path = `pdg/${graph}/node_${n.node}`;
      subscribe(path); subscribed.add(path);
    }
  }
  function command(name, path, params) {
    const id = ++reqId;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      send({ op: "command", id, name, path, params: params || null, token: view.token });
    }).then((r) => { say(""); return r; }, (e) => { say(e.message); });
  }

  function onMessage(m) {
    if (m.op === "reply") {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (p) (m.error ? p.reject(new Error(m.error)) : p.resolve(m.result));
      return;
    }
    if (m.op === "error") { say(m.message); return; }
    if (m.op !== "frame") return;
    view.pathSeq.set(m.path, m.seq);
    view.liveSeq = Math.max(view.liveSeq || 0, m.seq);
    if (view.at) return;                // looking at the past: the live store waits
    const parts = m.path.split("/");
    let structural = false;
    for (const msg of m.messages) {
      if (parts.length === 1) {
        const graphs = msg.t === 0 ? msg.props.graph_list : msg.prop === "graph_list" ? msg.values : [];
        for (const g of graphs || []) if (!subscribed.has(`pdg/${g}`)) { subscribeGraph(g); structural = true; }
      } else if (parts.length === 2) {
        const props = msg.t === 0 ? msg.props : { [msg.prop]: msg.values };
        if (props.cook_status) graphStatus(parts[1], props.cook_id, props.cook_status);
        if (props.node_list && msg.t !== 0) structural = true;
        if (props.node_list && msg.t === 0 && props.node_list.some((n) => !view.nodes.has(keyOf(parts[1], n)))) structural = true;
      } else {
        const props = msg.t === 0 ? msg.props : { [msg.prop]: msg.values };
        const node = view.nodes.get(keyOf(parts[1], parts[2].slice("node_".length)));
        if (props.state_counts && node) {
          node.counts = Object.fromEntries(props.state_counts);
          renderCounts(node);
        }
      }
    }
    if (structural) reload();
    else if (m.seq > view.seq) scheduleChanges();
  }
  function graphStatus(graph, cookId, status) {
    const el = document.querySelector(`.graph[data-graph="${CSS.escape(graph)}"] .status`);
    if (el && status && status.length) el.textContent = `cook ${cookId ? cookId[0] : ""}: ${status[0]}`;
    if (status && status[0] !== "running") refreshCooks();
  }

  let changesBusy = false, changesAgain = false;
  async function scheduleChanges() {
    if (changesBusy) { changesAgain = true; return; }
    changesBusy = true;
    try {
      do {
        changesAgain = false;
        if (view.at) break;
        const d = await api("changes", { since: view.seq });
        if (view.at) break;
        if (d.reload || d.removed.length || d.items.some((it) => !view.nodes.has(keyOf(it[1], it[2])))) {
          await reload();
          continue;
        }
        const touched = new Set();
        for (const [id, graph, nodeName, name, code, time, size] of d.items) {
          const node = view.nodes.get(keyOf(graph, nodeName));
          let i = node.index.get(id);
          if (i === undefined) { grow(node, id, name); i = node.count - 1; }
          node.states[i] = code; node.times[i] = time; node.sizes[i] = size;
          touched.add(node);
        }
        for (const node of touched) { node.counts = countsFromCells(node); renderCounts(node); }
        if (d.structural && d.items.length === 0 && d.seq > view.seq) { /* graph or cook events only */ }
        view.seq = Math.max(view.seq, d.seq);
        $("seq").textContent = `seq ${view.seq}`;
        if (touched.size) {
          if (view.selected && touched.has(view.nodes.get(view.selected))) {
            $("items-title").textContent = `${view.nodes.get(view.selected).graph} / ${view.nodes.get(view.selected).node}: ${view.nodes.get(view.selected).count} work items`;
          }
          queueRedraw();
        }
      } while (changesAgain);
    } catch (e) {
      say(e.message);
    } finally {
      changesBusy = false;
    }
  }
  function grow(node, id, name) {
    const n = node.count + 1;
    if (n > node.states.length) {
      const cap = Math.max(16, node.states.length * 2);
      const s = new Uint8Array(cap); s.set(node.states); node.states = s;
      const t = new Float64Array(cap); t.set(node.times); node.times = t;
      const z = new Float64Array(cap); z.set(node.sizes); node.sizes = z;
    }
    node.ids.push(id); node.names.push(name); node.index.set(id, n - 1);
    node.count = n;
  }
  async function reload() {
    if (view.loading) { view.reloadAgain = true; return view.loading; }
    view.loading = (async () => {
      try {
        do { view.reloadAgain = false; await loadGraph(); } while (view.reloadAgain);
        if (!view.at) refreshCooks();
        if (view.connected && !view.at) for (const g of new Set([...view.nodes.values()].map((n) => n.graph))) {
          if (!subscribed.has(`pdg/${g}`)) subscribeGraph(g);
          for (const n of view.nodes.values()) {
            const path = `pdg/${n.graph}/node_${n.node}`;
            if (n.graph === g && !subscribed.has(path)) { subscribe(path); subscribed.add(path); }
          }
        }
      } catch (e) { say(e.message); } finally { view.loading = null; }
    })();
    return view.loading;
  }

  // -- history -------------------------------------------------------------------------------------
  async function refreshCooks() {
    let d;
    try { d = await api("cooks"); } catch (e) { return; }
    view.cooks = d.cooks;
    const picker = $("cook-picker"), slider = $("history-slider");
    const keep = picker.value;
    picker.innerHTML = `<option value="">now (live)</option>` + d.cooks.map((c) =>
      `<option value="cook:${c.cook_id}">cook ${c.cook_id} · ${esc(c.graph)} · ${esc(c.status)} · ${esc(c.started_ns ? new Date(c.started_ns / 1e6).toLocaleString() : "")}</option>`).join("");
    picker.value = keep;
    slider.max = String(d.cooks.length);
    if (!view.at) slider.value = String(d.cooks.length);
    const refs = d.cooks.map((c) => `<option value="cook:${c.cook_id}">cook ${c.cook_id}</option>`).join("");
    const from = $("diff-from").value, to = $("diff-to").value;
    $("diff-from").innerHTML = refs;
    $("diff-to").innerHTML = refs + `<option value="now">now</option>`;
    if (from) $("diff-from").value = from; else if (d.cooks.length) $("diff-from").selectedIndex = Math.max(0, d.cooks.length - 2);
    $("diff-to").value = to || "now";
  }
  async function setAt(ref) {
    view.at = ref || null;
    $("cook-picker").value = ref || "";
    const i = view.cooks.findIndex((c) => `cook:${c.cook_id}` === ref);
    $("history-slider").value = String(i < 0 ? view.cooks.length : i);
    $("at-label").textContent = ref ? `as at ${ref}` : "live";
    view.ready = false;
    await reload();
    if (!view.at) scheduleChanges();
  }
  $("cook-picker").onchange = (ev) => setAt(ev.target.value);
  $("history-slider").oninput = (ev) => {
    const i = Number(ev.target.value);
    setAt(i < view.cooks.length ? `cook:${view.cooks[i].cook_id}` : "");
  };
  $("diff-run").onclick = async () => {
    const panel = $("diff-panel");
    panel.hidden = false;
    panel.textContent = "comparing…";
    try {
      const d = await api("diff", { from: $("diff-from").value, to: $("diff-to").value });
      const c = d.counts;
      panel.innerHTML = `<h2>from seq ${d.from.seq} to seq ${d.to.seq}: ${c.added} added, ${c.removed} removed, ` +
        `${c.rerun} rerun, ${c.updated} updated, ${c.changed} changed otherwise</h2>` +
        table(d.items.map((r) => [r.change, r.name, r.node, `${r.state_before || ""} → ${r.state_after || ""}`, r.why || ""]),
          ["change", "item", "node", "state", "why"]) + (d.more ? `<p>and ${d.more} more (pdg diff lists them all)</p>` : "");
    } catch (e) { panel.textContent = e.message; }
  };

  // -- actions (pdg serve --allow-actions, with the token from the URL) ----------------------------
  async function nodeAction(node, act) {
    try {
      if (act === "cook") {
        say(`starting a cook of ${node.node}…`);
        let d = await api("cook", { graph: node.graph, node: node.node }, "POST");
        while (d.state === "starting") {           // still loading the graph: ask what became of it
          await new Promise((r) => setTimeout(r, 250));
          d = await api("cook", { pid: d.pid });
        }
        view.lastAction = d;
        if (d.state === "refused") throw new Error(d.error);
        say(`cook ${d.cook_id} of ${node.node} ${d.state === "ended" ? "ran" : "started"} (pid ${d.pid})`);
      } else await command("dirty", `pdg/${node.graph}/node_${node.node}`);
    } catch (e) { view.lastAction = { error: e.message }; say(e.message); }
  }
  $("cancel-cook").onclick = () => command("cancel", "pdg");

  Object.assign(view, { select, redrawAll, drawPanel, reload });   // for tests and benchmarks

  // -- start ---------------------------------------------------------------------------------------
  $("color-mode").onchange = (ev) => { view.mode = ev.target.value; redrawAll(); };
  $("items-scroll").addEventListener("scroll", () => requestAnimationFrame(drawPanel), { passive: true });
  window.addEventListener("resize", () => requestAnimationFrame(drawPanel));
  hoverable($("items-canvas"), panelIndex, () => view.nodes.get(view.selected));

  (async () => {
    const config = api("config").then((cfg) => { view.cfg = cfg; }, (e) => say(e.message))
      .then(() => { $("actions-bar").hidden = !(view.cfg.actions && view.token); });
    try { await loadGraph(config); } catch (e) { await config; say(e.message); view.ready = true; }
    refreshCooks();
    connect();
  })();
})();
