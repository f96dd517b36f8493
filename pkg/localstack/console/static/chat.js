// The sandbox chat: one fake Telegram user talking to the bot. It polls the
// chat's messages and redraws only those that changed, so an edited message
// changes in place and every other stays as it was, as in Telegram. Text is
// drawn with its formatting (bold, code, links...) from the entities the
// server sends, and a tap on code copies it, as in Telegram.
"use strict";

const pollMs = 700;
const list = document.getElementById("messages");
const userInput = document.getElementById("user-id");
const nameInput = document.getElementById("user-name");
const textInput = document.getElementById("text");
let user = initialUser();
let drawn = new Map(); // message id → {key, el}
let polling = null;

function initialUser() {
	const fromURL = new URLSearchParams(location.search).get("user");
	const id = parseInt(fromURL || localStorage.getItem("sandbox-user") || "42", 10);
	return id > 0 ? id : 42;
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
	if (!resp.ok) {
		throw new Error((data && data.error) || resp.status + " " + resp.statusText);
	}
	return data;
}

function toast(text) {
	const el = document.getElementById("toast");
	el.textContent = text;
	el.classList.add("show");
	clearTimeout(toast.timer);
	toast.timer = setTimeout(() => el.classList.remove("show"), 4000);
}

function el(tag, cls, text) {
	const e = document.createElement(tag);
	if (cls) e.className = cls;
	if (text !== undefined) e.textContent = text;
	return e;
}

function time(iso) {
	const d = new Date(iso);
	return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

// The elements Telegram's entities are drawn as; spoilers, custom emoji and
// the rest show as plain text.
const entityTags = {
	bold: "strong", italic: "em", underline: "u", strikethrough: "s",
	code: "code", pre: "pre", text_link: "a", blockquote: "blockquote",
};

// formatted draws text with its entities (offsets and lengths in UTF-16
// code units, as JavaScript counts) as elements around text nodes: the bot's
// text never becomes markup. Entities nest as the tags they came from did;
// one that crosses another is left out.
function formatted(text, entities) {
	const ents = (entities || []).filter((e) => e.length > 0)
		.sort((a, b) => a.offset - b.offset || b.length - a.length);
	// draw fills parent with text[from, to) and the entities from ents[k] on
	// that lie in it; it returns the index of the first entity past to.
	function draw(parent, from, to, k) {
		let pos = from;
		while (k < ents.length && ents[k].offset < to) {
			const e = ents[k];
			const end = e.offset + e.length;
			if (e.offset < pos || end > to) {
				k++;
				continue;
			}
			if (e.offset > pos) parent.append(text.slice(pos, e.offset));
			const node = entityElement(e);
			k = draw(node, e.offset, end, k + 1);
			parent.append(node);
			pos = end;
		}
		if (pos < to) parent.append(text.slice(pos, to));
		return k;
	}
	const out = el("div", "text");
	draw(out, 0, text.length, 0);
	return out;
}

function entityElement(e) {
	const node = el(entityTags[e.type] || "span");
	if (e.type === "text_link") {
		// The server passes only http and https links.
		node.href = e.url;
		node.target = "_blank";
		node.rel = "noopener noreferrer";
	}
	if (e.type === "code" || e.type === "pre") {
		node.classList.add("copy");
		node.title = "Copy";
		node.addEventListener("click", () => copy(node.textContent));
	}
	return node;
}

async function copy(text) {
	try {
		await navigator.clipboard.writeText(text);
		toast("Copied to clipboard");
	} catch (e) {
		toast("Copying failed: " + e.message);
	}
}

function drawInvoice(m) {
	const inv = el("div", "invoice");
	inv.append(el("div", "title", m.invoice.title));
	inv.append(el("div", "desc", m.invoice.description));
	const price = m.invoice.currency === "XTR" ? "⭐ " + m.invoice.total : m.invoice.total + " " + m.invoice.currency;
	inv.append(el("div", "price", price));
	if (m.invoice.paid) inv.append(el("div", "paid", "Paid ✓"));
	return inv;
}

// payButton pays a Stars invoice through the sandbox: the bot answers the
// pre-checkout query, then receives the successful payment.
function payButton(m, label) {
	const b = el("button", "kb pay", label);
	b.dataset.pay = String(m.id);
	if (m.invoice.paid) {
		b.disabled = true;
		b.textContent = "Paid ✓";
		return b;
	}
	b.addEventListener("click", async () => {
		b.classList.add("pending");
		try {
			const res = await api("POST", `/api/chats/${user}/invoices/${m.id}/pay`);
			if (res.accepted) toast("Paid ⭐ " + m.invoice.total);
			else if (res.timed_out) toast("The bot did not confirm the payment in time; nothing was charged.");
			else toast("The bot refused the payment: " + res.error_message);
		} catch (e) {
			toast("Payment failed: " + e.message);
		}
		b.classList.remove("pending");
		poll();
	});
	return b;
}

function drawKeyboard(m) {
	const kb = el("div", "keyboard");
	const rows = (m.buttons || []).map((row) => row.slice());
	// An invoice without a keyboard gets Telegram's own Pay button.
	if (m.invoice && !rows.some((row) => row.some((b) => b.pay))) {
		rows.unshift([{ text: "", pay: true }]);
	}
	for (const row of rows) {
		const r = el("div", "row");
		for (const b of row) {
			if (b.pay && m.invoice) {
				const stars = m.invoice.currency === "XTR" ? "Pay ⭐ " + m.invoice.total : "Pay";
				r.append(payButton(m, b.text || stars));
			} else if (b.web_app) {
				const btn = el("button", "kb app", b.text);
				btn.dataset.webapp = b.web_app;
				btn.addEventListener("click", () => openApp(b.web_app, b.text));
				r.append(btn);
			} else if (b.url) {
				const a = el("a", "kb url", b.text);
				a.href = b.url;
				a.target = "_blank";
				a.rel = "noopener";
				a.dataset.url = b.url;
				r.append(a);
			} else {
				const btn = el("button", "kb", b.text);
				btn.dataset.callback = b.data || "";
				btn.addEventListener("click", () => press(m.id, b.data, btn));
				r.append(btn);
			}
		}
		kb.append(r);
	}
	return kb;
}

function drawMessage(m) {
	const wrap = el("div", "msg " + (m.from_user ? "user" : "bot"));
	wrap.dataset.id = String(m.id);
	const bubble = el("div", "bubble");
	if (m.photo) {
		const img = el("img", "photo");
		img.src = m.photo;
		img.alt = "photo";
		// The image takes its height once loaded: stay at the bottom if the
		// chat was there.
		img.addEventListener("load", () => {
			if (list.dataset.stick === "1") list.scrollTop = list.scrollHeight;
		});
		bubble.append(img);
	}
	if (m.invoice) bubble.append(drawInvoice(m));
	if (m.text) bubble.append(formatted(m.text, m.entities));
	bubble.append(el("div", "meta", (m.edited ? "edited " : "") + time(m.date)));
	wrap.append(bubble);
	if ((m.buttons && m.buttons.length) || m.invoice) wrap.append(drawKeyboard(m));
	return wrap;
}

function render(msgs) {
	const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
	const seen = new Set();
	let prev = null;
	for (const m of msgs) {
		seen.add(m.id);
		const key = JSON.stringify(m);
		let d = drawn.get(m.id);
		if (!d || d.key !== key) {
			const fresh = drawMessage(m);
			if (d) d.el.replaceWith(fresh);
			d = { key, el: fresh };
			drawn.set(m.id, d);
		}
		// Keep send order: insert after the previous message.
		const want = prev ? prev.nextSibling : list.firstChild;
		if (want !== d.el) list.insertBefore(d.el, want);
		prev = d.el;
	}
	for (const [id, d] of drawn) {
		if (!seen.has(id)) {
			d.el.remove();
			drawn.delete(id);
		}
	}
	const empty = list.querySelector(".empty");
	if (msgs.length === 0 && !empty) list.append(el("div", "empty", "No messages yet. Send /start to begin."));
	if (msgs.length > 0 && empty) empty.remove();
	if (nearBottom) list.scrollTop = list.scrollHeight;
	list.dataset.stick = nearBottom ? "1" : "0";
}

async function poll() {
	try {
		render(await api("GET", `/api/chats/${user}/messages`));
	} catch (e) {
		toast("Cannot read the chat: " + e.message);
	}
}

// openApp opens the bot's Mini App in the panel, as Telegram's client
// does: initData signed for this chat's user (by the sandbox, as Telegram
// signs it), the theme and the version in the URL's fragment.
async function openApp(url, title) {
	let launch;
	try {
		launch = await api("GET", `/api/chats/${user}/webapp`);
	} catch (e) {
		toast("Opening the app failed: " + e.message);
		return;
	}
	const dark = matchMedia("(prefers-color-scheme: dark)").matches;
	const theme = dark
		? { bg_color: "#17212b", text_color: "#f5f5f5", hint_color: "#708499", link_color: "#6ab3f3",
			button_color: "#5288c1", button_text_color: "#ffffff", secondary_bg_color: "#232e3c" }
		: { bg_color: "#ffffff", text_color: "#000000", hint_color: "#707579", link_color: "#2481cc",
			button_color: "#2481cc", button_text_color: "#ffffff", secondary_bg_color: "#f1f1f1" };
	const fragment = new URLSearchParams({
		tgWebAppData: launch.init_data,
		tgWebAppVersion: "7.0",
		tgWebAppPlatform: "web",
		tgWebAppThemeParams: JSON.stringify(theme),
	});
	document.getElementById("app-title").textContent = title || "Mini App";
	document.getElementById("app-frame").src = url.split("#")[0] + "#" + fragment.toString();
	document.getElementById("app-panel").hidden = false;
}

document.getElementById("app-close").addEventListener("click", () => {
	document.getElementById("invoice-sheet").hidden = true;
	document.getElementById("app-panel").hidden = true;
	document.getElementById("app-frame").src = "about:blank";
});

// The Mini App talks to Telegram's client as in Telegram Web: postMessage
// with {eventType, eventData}. The panel answers openInvoice
// (web_app_open_invoice) with Telegram's payment sheet, and tells the app
// how it ended (invoice_closed).
window.addEventListener("message", (ev) => {
	const frame = document.getElementById("app-frame");
	if (ev.source !== frame.contentWindow || typeof ev.data !== "string") return;
	let msg;
	try { msg = JSON.parse(ev.data); } catch (e) { return; }
	if (msg && msg.eventType === "web_app_open_invoice" && msg.eventData) openInvoice(String(msg.eventData.slug || ""));
});

async function openInvoice(slug) {
	const frame = document.getElementById("app-frame");
	const sheet = document.getElementById("invoice-sheet");
	const closed = (status) => {
		sheet.hidden = true;
		frame.contentWindow.postMessage(JSON.stringify({ eventType: "invoice_closed", eventData: { slug, status } }), "*");
	};
	let inv;
	try {
		inv = await api("GET", `/api/invoice-links/${encodeURIComponent(slug)}`);
	} catch (e) {
		toast("Opening the invoice failed: " + e.message);
		closed("failed");
		return;
	}
	document.getElementById("invoice-title").textContent = inv.title;
	document.getElementById("invoice-description").textContent = inv.description;
	const pay = document.getElementById("invoice-pay");
	pay.textContent = "Pay ⭐ " + inv.total;
	pay.disabled = false;
	sheet.hidden = false;
	document.getElementById("invoice-cancel").onclick = () => closed("cancelled");
	pay.onclick = async () => {
		pay.disabled = true;
		try {
			const res = await api("POST", `/api/chats/${user}/invoice-links/${encodeURIComponent(slug)}/pay`);
			if (res.accepted) {
				toast("Paid ⭐ " + inv.total);
				closed("paid");
			} else {
				toast(res.timed_out ? "The bot did not confirm the payment in time; nothing was charged." : "The bot refused the payment: " + res.error_message);
				closed("failed");
			}
		} catch (e) {
			toast("Payment failed: " + e.message);
			closed("failed");
		}
		poll();
	};
}

// loadMenuButton shows the bot's menu button beside the message field when
// it opens the Mini App.
async function loadMenuButton() {
	const b = document.getElementById("menu-app");
	try {
		const m = await api("GET", "/api/menu-button");
		b.hidden = m.type !== "web_app";
		b.textContent = m.text;
		b.onclick = () => openApp(m.url, m.text);
	} catch (e) {
		b.hidden = true;
	}
}

async function press(messageID, data, btn) {
	btn.classList.add("pending");
	// The bot answers by editing this message or sending a new one; either
	// way the button looks pressed only for a moment.
	setTimeout(() => btn.classList.remove("pending"), 1500);
	try {
		await api("POST", `/api/chats/${user}/callbacks`, { message_id: messageID, data });
	} catch (e) {
		toast("Pressing the button failed: " + e.message);
	}
}

async function loadKnownChats() {
	try {
		const res = await api("GET", "/api/chats");
		const dl = document.getElementById("known-chats");
		dl.replaceChildren(...res.chats.map((id) => {
			const o = document.createElement("option");
			o.value = String(id);
			return o;
		}));
	} catch (e) {
		// The list only helps to pick a chat; typing an id works without it.
	}
}

function openChat(id, name) {
	user = id;
	localStorage.setItem("sandbox-user", String(id));
	const url = new URL(location.href);
	url.searchParams.set("user", String(id));
	history.replaceState(null, "", url);
	userInput.value = String(id);
	document.getElementById("chat-sub").textContent = "bot · you are " + (name ? name + ", user " : "user ") + id;
	drawn = new Map();
	list.replaceChildren();
	clearInterval(polling);
	poll();
	polling = setInterval(poll, pollMs);
}

document.getElementById("who").addEventListener("submit", async (ev) => {
	ev.preventDefault();
	const id = parseInt(userInput.value, 10);
	if (!(id > 0)) return;
	let name = nameInput.value.trim();
	if (name) {
		try {
			await api("PUT", `/api/chats/${id}/user`, { first_name: name, username: name.toLowerCase().replace(/\W+/g, "") });
		} catch (e) {
			toast("Setting the name failed: " + e.message);
			name = "";
		}
	}
	openChat(id, name);
	loadKnownChats();
});

document.getElementById("compose").addEventListener("submit", async (ev) => {
	ev.preventDefault();
	const text = textInput.value;
	if (!text.trim()) return;
	textInput.value = "";
	try {
		await api("POST", `/api/chats/${user}/messages`, { text });
		await poll();
		list.scrollTop = list.scrollHeight;
	} catch (e) {
		textInput.value = text;
		toast("Sending failed: " + e.message);
	}
});

openChat(user);
loadKnownChats();
loadMenuButton();
// The bot sets its menu button when it starts, maybe after this page.
setInterval(loadMenuButton, 10000);
textInput.focus();
