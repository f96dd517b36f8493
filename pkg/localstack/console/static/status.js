// The status page: polls /api/status and draws every service's health and
// metrics, each VPN panel, every stream as NATS reports it, the switches,
// and the kill and start buttons. Metrics a service does not report are shown as "—". Each
// number says whether it is a count since its process started ("since
// start") or a value now.
"use strict";

const pollMs = 2000;
const dash = "—";

function el(tag, cls, text) {
	const e = document.createElement(tag);
	if (cls) e.className = cls;
	if (text !== undefined && text !== null) e.textContent = text;
	return e;
}

function td(content, cls) {
	const c = el("td", cls);
	if (content instanceof Node) c.append(content);
	else c.textContent = content === undefined || content === null ? dash : String(content);
	return c;
}

function pill(kind, text) {
	return el("span", "pill " + kind, text);
}

async function api(method, path, body) {
	const opts = { method, headers: {} };
	if (method !== "GET") {
		// The server takes changes as JSON only (see jsonOnly in web.go).
		opts.headers["Content-Type"] = "application/json";
		opts.body = JSON.stringify(body === undefined ? {} : body);
	}
	const resp = await fetch(path, opts);
	const text = await resp.text();
	const data = text ? JSON.parse(text) : null;
	if (!resp.ok) throw new Error((data && data.error) || resp.status + " " + resp.statusText);
	return data;
}

function seconds(v) {
	if (v === undefined || v === null) return dash;
	if (v < 1) return Math.round(v * 1000) + " ms";
	if (v < 120) return v.toFixed(1) + " s";
	if (v < 7200) return Math.round(v / 60) + " min";
	return Math.round(v / 3600) + " h";
}

function bytes(v) {
	if (v === undefined || v === null) return dash;
	if (v < 1024) return v + " B";
	if (v < 1 << 20) return (v / 1024).toFixed(0) + " KiB";
	return (v / (1 << 20)).toFixed(0) + " MiB";
}

function ago(v) {
	return v === undefined || v === null ? "never" : seconds(v) + " ago";
}

function pairs(obj, skip) {
	if (!obj) return dash;
	const keys = Object.keys(obj).filter((k) => !(skip || []).includes(k)).sort();
	if (keys.length === 0) return dash;
	return keys.map((k) => k + " " + Math.round(obj[k] * 100) / 100).join(", ");
}

function checkCell(c, running) {
	const cell = el("td");
	if (!running) {
		cell.append(pill("off", "down"));
		return cell;
	}
	cell.append(pill(c.ok ? "ok" : "bad", c.ok ? "ok" : "failing"));
	if (!c.ok) cell.append(el("div", "detail", c.detail));
	return cell;
}

function poolCell(pool) {
	if (!pool || pool.acquired_conns === undefined) return td(dash);
	const max = pool.max_conns !== undefined ? " / " + pool.max_conns : "";
	return td(pool.acquired_conns + max + (pool.idle_conns !== undefined ? " (idle " + pool.idle_conns + ")" : ""), "num");
}

function serviceAction(s) {
	const b = el("button", "act");
	if (s.starting) {
		b.textContent = "starting…";
		b.disabled = true;
	} else if (s.running) {
		b.textContent = "Kill";
		b.classList.add("kill");
		b.dataset.kill = s.label;
		b.addEventListener("click", () => act(`/api/services/${s.label}/kill`, b));
	} else {
		b.textContent = "Start";
		b.dataset.start = s.label;
		b.addEventListener("click", () => act(`/api/services/${s.label}/start`, b));
	}
	return b;
}

async function act(path, b) {
	b.disabled = true;
	try {
		await api("POST", path);
	} catch (e) {
		alert(e.message);
	}
	refresh();
}

function drawSwitches(list) {
	const box = document.getElementById("switches");
	box.replaceChildren(...list.map((sw) => {
		const card = el("label", "switch" + (sw.on ? " on" : ""));
		const input = el("input");
		input.type = "checkbox";
		input.checked = sw.on;
		input.dataset.switch = sw.name;
		input.addEventListener("change", async () => {
			try {
				drawSwitches(await api("POST", `/api/switches/${sw.name}`, { on: input.checked }));
			} catch (e) {
				alert(e.message);
			}
			refresh();
		});
		const text = el("div");
		text.append(el("div", "title", sw.title), el("div", "desc", sw.description));
		card.append(input, text);
		return card;
	}));
}

function drawServices(services) {
	const body = document.querySelector("#services tbody");
	body.replaceChildren(...services.map((s) => {
		const tr = el("tr");
		tr.dataset.service = s.label;
		const name = el("td");
		const link = el("a", "", s.label);
		link.href = s.ops_url + "/metrics";
		link.target = "_blank";
		name.append(link);
		if (s.version) name.append(el("div", "detail", s.version));
		if (s.start_error) name.append(el("div", "detail", "start failed: " + s.start_error));
		const proc = el("td");
		proc.append(s.starting ? pill("warn", "starting") : s.running ? pill("ok", "running") : pill("bad", "killed"));
		if (s.running && s.metrics_error) proc.append(el("div", "detail", s.metrics_error));
		const p = s.process || {};
		tr.append(name, proc, checkCell(s.live, s.running), checkCell(s.ready, s.running), poolCell(s.pool),
			td(p.goroutines, "num"), td(p.resident_memory_bytes === undefined ? dash : bytes(p.resident_memory_bytes), "num"));
		const a = el("td");
		a.append(serviceAction(s));
		tr.append(a);
		return tr;
	}));
}

// upCell says whether the services see a panel up, and which see it down.
function upCell(p) {
	const cell = el("td");
	if (p.up === null || p.up === undefined) {
		cell.append(pill("off", "not reported"));
		return cell;
	}
	cell.append(p.up ? pill("ok", "up") : pill("bad", "down"));
	if (!p.up && p.down_in) cell.append(el("div", "detail", "as seen by " + p.down_in.join(", ")));
	return cell;
}

function drawPanels(panels) {
	const rows = (panels || []).map((p) => {
		const tr = el("tr");
		tr.dataset.panel = p.name;
		const latency = p.p50_seconds === null && p.p95_seconds === null ? dash : seconds(p.p50_seconds) + " / " + seconds(p.p95_seconds);
		const drift = pairs(p.drift_repaired_total);
		const driftCell = td(p.unbacked ? drift + " (unbacked now " + p.unbacked + ")" : drift);
		const faults = el("td");
		if (p.faults && p.faults.length) faults.append(...p.faults.map((f) => pill("bad", f)));
		else faults.textContent = p.sandbox ? "nothing" : dash;
		tr.append(td(p.name), td([p.kind, p.location].filter(Boolean).join(" / ") || dash), upCell(p),
			td(pairs(p.calls_total)), td(latency, "num"), td(p.errors_total, "num"),
			td(p.sandbox ? p.keys + " (" + p.working_keys + ")" : dash, "num"), driftCell, faults);
		return tr;
	});
	fill("#panels", rows, 9, "No VPN panel: the workers are off, or no service reports one yet.");
}

function drawWorkers(services) {
	const rows = [];
	for (const s of services) {
		for (const w of s.workers || []) {
			const tr = el("tr");
			tr.dataset.worker = w.worker;
			const age = w.last_success_age_seconds;
			const ageCell = el("td", "num");
			if (age === null) ageCell.append(pill(w.failing ? "bad" : "warn", "never"));
			else if (w.failing) ageCell.append(pill("bad", seconds(age) + " ago"));
			else ageCell.textContent = seconds(age) + " ago";
			const its = el("td");
			its.dataset.iterations = w.worker;
			if (w.failing) its.append(pill("bad", "failing"), " ");
			its.append(pairs(w.iterations_total));
			tr.append(td(w.worker), td(s.label), ageCell, td(seconds(w.mean_duration_seconds), "num"),
				its, td(pairs(w.last_items)), td(pairs(w.items_total)), td(pairs(w.gauges)));
			rows.push(tr);
		}
	}
	fill("#workers", rows, 8, "No service reports worker metrics.");
}

function drawConsumers(services) {
	const rows = [];
	for (const s of services) {
		for (const c of s.consumers || []) {
			const tr = el("tr");
			tr.append(td(c.stream + " / " + c.consumer), td(s.label), td(pairs(c.deliveries_total)),
				td(pairs(c.counters)), td(pairs(c.gauges)), td(seconds(c.mean_handler_seconds), "num"));
			rows.push(tr);
		}
	}
	fill("#consumers", rows, 6, "No service reports consumer metrics.");
}

// readersCell says who reads a consumer: the running services that report
// it, or that none does, in red when messages wait for it.
function readersCell(c, controlled) {
	const cell = el("td");
	if (!controlled) return td(dash);
	const waiting = c.pending + c.ack_pending > 0;
	if (c.readers.length === 0) {
		cell.append(pill(waiting ? "bad" : "off", "no reader running"));
		return cell;
	}
	cell.textContent = c.readers.join(", ");
	if (c.waiting === 0 && c.pending > 0) cell.append(el("div", "detail", "nobody is fetching"));
	return cell;
}

function drawStreams(st) {
	const rows = [];
	const controlled = (st.services || []).length > 0;
	for (const s of st.streams || []) {
		const tr = el("tr", "stream");
		tr.dataset.stream = s.name;
		const name = el("td");
		name.append(el("strong", "", s.name));
		const dead = Object.entries(s.dead_letters || {}).sort();
		if (dead.length) name.append(el("div", "detail", "dead letters from " + dead.map(([k, v]) => k + ": " + v).join(", ")));
		tr.append(name, td(s.messages + " (" + bytes(s.bytes) + ")", "num"), td(""), td(""), td(""),
			td("stored " + ago(s.last_published_age_seconds)), td(""));
		rows.push(tr);
		for (const c of s.consumers || []) {
			const cr = el("tr", "consumer");
			cr.dataset.consumer = s.name + "/" + c.name;
			let label = c.name;
			if (c.partitions) label += ` (${c.partitions} partitions, ${c.behind || 0} behind)`;
			const pending = el("td", "num");
			pending.append(c.pending > 0 && c.readers && c.readers.length === 0 ? pill("bad", String(c.pending)) : String(c.pending));
			cr.append(td(label, "indent"), td(""), pending, td(c.ack_pending, "num"), td(c.redelivered, "num"),
				td("delivered " + ago(c.last_delivered_age_seconds)), readersCell(c, controlled));
			rows.push(cr);
		}
	}
	if (st.streams_error) {
		const tr = el("tr");
		const c = el("td", "detail", "cannot read NATS: " + st.streams_error);
		c.colSpan = 7;
		tr.append(c);
		rows.push(tr);
	}
	fill("#streams", rows, 7, "No streams yet.");
}

function fill(table, rows, cols, emptyText) {
	const body = document.querySelector(table + " tbody");
	if (rows.length === 0) {
		const tr = el("tr");
		const c = el("td", "none", emptyText);
		c.colSpan = cols;
		tr.append(c);
		rows = [tr];
	}
	body.replaceChildren(...rows);
}

function stat(k, v) {
	const s = el("div", "stat");
	s.append(el("div", "v", v === undefined || v === null ? dash : String(v)), el("div", "k", k));
	return s;
}

function drawStats(st) {
	let dead = 0;
	for (const s of st.services) {
		for (const c of s.consumers || []) dead += (c.deliveries_total && c.deliveries_total.dlq) || 0;
	}
	const t = st.telegram;
	const dlq = (st.streams || []).find((s) => s.name === "DLQ");
	document.getElementById("stats").replaceChildren(
		stat("dead letters in the DLQ now", dlq ? dlq.messages : null),
		stat("dead-lettered since the running consumers started", dead),
		stat("Telegram 429s answered since start", t.too_many_requests),
		stat("updates waiting for the gateway now", t.pending),
		stat("webhook deliveries failed since start", t.delivery_failures),
	);
}

// chosenTrace is the trace drawn as a waterfall, kept across refreshes.
let chosenTrace = "";

function millis(ns) {
	const ms = ns / 1e6;
	return ms < 10 ? ms.toFixed(1) + " ms" : Math.round(ms) + " ms";
}

async function drawTraces() {
	const v = await api("GET", "/api/traces");
	if (!v.on) {
		document.getElementById("traces-hint").textContent =
			"Tracing is off: the services export no spans here (make run turns it on).";
	}
	fill("#traces", v.traces.map((tr) => {
		const row = el("tr", (tr.trace_id === chosenTrace ? "chosen " : "") + (tr.error ? "failed" : ""));
		row.dataset.trace = tr.trace_id;
		row.append(td(new Date(tr.start).toLocaleTimeString()), td(tr.service + ": " + tr.root),
			td(tr.services.join(", ")), td(tr.spans), td(millis(tr.duration_ns)));
		row.addEventListener("click", () => { chosenTrace = tr.trace_id; drawWaterfall(); drawTraces(); });
		return row;
	}), 5, v.on ? "no traces yet: send the bot a message" : "tracing is off");
}

// drawWaterfall draws the chosen trace's spans, each under its parent, as
// bars along the trace's time.
async function drawWaterfall() {
	const box = document.getElementById("waterfall");
	let spans;
	try {
		spans = await api("GET", "/api/traces/" + encodeURIComponent(chosenTrace));
	} catch (e) {
		box.hidden = true;
		return;
	}
	const start = Math.min(...spans.map((s) => Date.parse(s.start)));
	const end = Math.max(...spans.map((s) => Date.parse(s.end)));
	const total = Math.max(end - start, 1);
	const byParent = new Map();
	const ids = new Set(spans.map((s) => s.span_id));
	for (const s of spans) {
		const p = s.parent_id && ids.has(s.parent_id) ? s.parent_id : "";
		if (!byParent.has(p)) byParent.set(p, []);
		byParent.get(p).push(s);
	}
	const rows = [];
	const walk = (parent, depth) => {
		for (const s of byParent.get(parent) || []) {
			const row = el("div", "span-row");
			row.dataset.span = s.span_id;
			const name = el("div", "span-name");
			name.style.paddingLeft = depth * 0.9 + "rem";
			name.append(el("span", "svc", s.service + " "), document.createTextNode(s.name));
			name.title = s.name + (s.error ? " — " + s.error : "") + "\n" + Object.entries(s.attributes || {}).map(([k, v]) => k + "=" + v).join("\n");
			const track = el("div", "span-track");
			const left = (Date.parse(s.start) - start) / total * 100;
			const bar = el("div", "span-bar" + (s.error ? " error" : ""));
			bar.style.left = left + "%";
			bar.style.width = Math.max((Date.parse(s.end) - Date.parse(s.start)) / total * 100, 0.3) + "%";
			const time = el("div", "span-time", millis((Date.parse(s.end) - Date.parse(s.start)) * 1e6));
			time.style.left = Math.min(left, 85) + "%";
			track.append(bar, time);
			row.append(name, track);
			rows.push(row);
			walk(s.span_id, depth + 1);
		}
	};
	walk("", 0);
	box.replaceChildren(el("div", "hint", "Trace " + chosenTrace + ": " + spans.length + " spans in " + millis(total * 1e6)), ...rows);
	box.hidden = false;
}

async function refresh() {
	drawTraces().catch(() => {});
	try {
		const st = await api("GET", "/api/status");
		drawServices(st.services);
		drawPanels(st.panels);
		drawStreams(st);
		drawWorkers(st.services);
		drawConsumers(st.services);
		drawStats(st);
		if (!document.activeElement || !document.activeElement.dataset.switch) drawSwitches(st.switches);
		document.getElementById("updated").textContent = "updated " + new Date(st.time).toLocaleTimeString();
	} catch (e) {
		document.getElementById("updated").textContent = "cannot read the status: " + e.message;
	}
}

refresh();
setInterval(refresh, pollMs);
