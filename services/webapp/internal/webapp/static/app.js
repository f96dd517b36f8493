// The cabinet's page: signs in with what Telegram opened it with, then
// shows what the API gives for the session's user. No framework, no inline
// code (the Content-Security-Policy allows none), no user data in the page
// itself: every user's data comes from the API, over their session cookie.
"use strict";

(function () {
  const texts = {
    en: {
      title: "My VPN", tab_sub: "Subscription", tab_plans: "Plans", tab_payments: "Payments", tab_invite: "Invite",
      key: "Your key", copy: "Copy", copied: "Copied", setup: "Set it up",
      key_hint: "Paste the key into your VPN app, or scan the QR code with it.",
      invite_intro: "Share your link: friends who join by it count for you.",
      none: "You have no subscription. Take the free trial in the bot, or pick a plan.",
      trial: "Trial until %s", paid: "Subscription until %s", ended: "Your subscription ended on %s.",
      pending: "Your key is being made; it appears here in a moment.",
      left: "%dd %dh %dm %ds left", location: "Location: %s", balance: "Balance: %s",
      pay_crypto: "Pay %s with Crypto Pay", pay_stars: "Pay %s ⭐ with Stars", stars_paid: "Paid with Stars: your subscription is being extended.",
      pay_balance: "Pay %s from balance", bought: "Paid from your balance: subscription until %s.",
      days: "%d days", discount: "Your promo code %s is applied.",
      no_orders: "No payments yet.", plan: "Plan %s", topup: "Top-up",
      made: "Ordered %s", paid_at: "Paid %s", told: "Confirmed in the bot %s", key_at: "Key delivered %s",
      st_pending: "waiting for payment", st_paid: "paid", st_expired: "expired", pay_now: "Pay",
      invited: "Joined by your link: %d, of whom paid: %d. Earned: %d days%s.",
      open_in_telegram: "Open this page from the bot in Telegram,", login: "or sign in with Telegram.",
      session_ended: "Your session has ended; open the app from the bot again.",
      error: "Something went wrong; try again.",
      gate: "The app is for subscribers of our channel. Join it, then press Check again.",
      gate_join: "📢 Join channel", gate_check: "✅ Check again", gate_not_yet: "You have not joined the channel yet.",
    },
    ru: {
      title: "Мой VPN", tab_sub: "Подписка", tab_plans: "Тарифы", tab_payments: "Платежи", tab_invite: "Пригласить",
      key: "Ваш ключ", copy: "Копировать", copied: "Скопировано", setup: "Настройка",
      key_hint: "Вставьте ключ в VPN-приложение или отсканируйте им QR-код.",
      invite_intro: "Поделитесь ссылкой: друзья, пришедшие по ней, засчитываются вам.",
      none: "Подписки нет. Возьмите пробный период в боте или выберите тариф.",
      trial: "Пробный период до %s", paid: "Подписка до %s", ended: "Подписка закончилась %s.",
      pending: "Ключ создаётся и скоро появится здесь.",
      left: "Осталось %dд %dч %dм %dс", location: "Локация: %s", balance: "Баланс: %s",
      pay_crypto: "Оплатить %s через Crypto Pay", pay_stars: "Оплатить %s ⭐ звёздами", stars_paid: "Оплачено звёздами: подписка продлевается.",
      pay_balance: "Оплатить %s с баланса", bought: "Оплачено с баланса: подписка до %s.",
      days: "%d дн.", discount: "Применён промокод %s.",
      no_orders: "Платежей пока нет.", plan: "Тариф %s", topup: "Пополнение",
      made: "Заказ %s", paid_at: "Оплачен %s", told: "Подтверждён в боте %s", key_at: "Ключ выдан %s",
      st_pending: "ждёт оплаты", st_paid: "оплачен", st_expired: "истёк", pay_now: "Оплатить",
      invited: "Пришли по ссылке: %d, из них оплатили: %d. Заработано: %d дн.%s.",
      open_in_telegram: "Откройте эту страницу из бота в Telegram", login: "или войдите через Telegram.",
      session_ended: "Сессия закончилась; откройте приложение из бота снова.",
      error: "Что-то пошло не так; попробуйте ещё раз.",
      gate: "Приложение — для подписчиков нашего канала. Подпишитесь и нажмите «Проверить снова».",
      gate_join: "📢 Подписаться", gate_check: "✅ Проверить снова", gate_not_yet: "Вы ещё не подписались на канал.",
    },
  };

  // refreshMs is how often the tab in view is read again.
  const refreshMs = 5000;
  const launch = new URLSearchParams(location.hash.slice(1));
  const initData = launch.get("tgWebAppData") || sessionStorage.getItem("initData") || "";
  if (initData) sessionStorage.setItem("initData", initData);
  let lang = localStorage.getItem("lang") || "";
  let csrf = "";
  let me = null;
  let clockOffset = 0;
  let guides = null; // /api/setup: kind of key → language → guides
  let platform = "";
  const $ = (id) => document.getElementById(id);

  function t(key, ...args) {
    let i = 0;
    return (texts[lang] || texts.en)[key].replace(/%[sd]/g, () => String(args[i++]));
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function when(iso) {
    return new Date(iso).toLocaleString(lang === "ru" ? "ru-RU" : "en-GB", { dateStyle: "medium", timeStyle: "short" });
  }

  // postEvent talks to the Telegram client the way its own script does,
  // without loading that script from another origin.
  function postEvent(type, data) {
    const payload = JSON.stringify({ eventType: type, eventData: data || {} });
    if (window.TelegramWebviewProxy) window.TelegramWebviewProxy.postEvent(type, JSON.stringify(data || {}));
    else if (window.parent !== window) window.parent.postMessage(payload, "*");
  }

  function applyTheme() {
    let theme = {};
    try { theme = JSON.parse(launch.get("tgWebAppThemeParams") || "{}"); } catch (e) { theme = {}; }
    for (const [k, v] of Object.entries(theme)) {
      if (/^#[0-9a-fA-F]{3,8}$/.test(v)) document.documentElement.style.setProperty("--tg-theme-" + k.replace(/_/g, "-"), v);
    }
  }

  function notice(text) {
    const n = $("notice");
    n.textContent = text || "";
    n.hidden = !text;
  }

  async function api(method, path, body) {
    const headers = {};
    if (method !== "GET") headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let res = await fetch(path, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
    if (res.status === 401 && initData && await signIn()) {
      if (method !== "GET") headers["X-CSRF-Token"] = csrf;
      res = await fetch(path, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
    }
    const data = res.headers.get("Content-Type") === "application/json" ? await res.json() : null;
    if (!res.ok) {
      throw Object.assign(new Error((data && data.message) || t("error")),
        { status: res.status, code: data && data.error, joinURL: data && data.join_url });
    }
    return data;
  }

  // signIn exchanges Telegram's signature for a session: the Mini App's
  // initData, or the Login Widget's data it came back to /login/done with.
  async function signIn(loginData) {
    const path = loginData ? "/api/session/login" : "/api/session";
    const res = await fetch(path, { method: "POST", body: loginData || initData, credentials: "same-origin" });
    const data = await res.json();
    if (!res.ok) { notice(data.message || t("session_ended")); return false; }
    csrf = data.csrf_token;
    return true;
  }

  function translate() {
    document.documentElement.lang = lang;
    document.querySelectorAll("[data-t]").forEach((e) => { e.textContent = t(e.dataset.t); });
    document.querySelectorAll("[data-lang]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.lang === lang)));
  }

  function renderSub() {
    const s = me.subscription;
    $("key").hidden = true;
    $("sub-location").textContent = "";
    $("sub-countdown").textContent = "";
    if (!s) { $("sub-status").textContent = t("none"); }
    else if (!s.running) { $("sub-status").textContent = t("ended", when(s.expires_at)); }
    else {
      $("sub-status").textContent = t(s.kind === "trial" ? "trial" : "paid", when(s.expires_at));
      if (s.location) $("sub-location").textContent = t("location", s.location);
      if (s.key) {
        $("key").hidden = false;
        $("key-text").value = s.key;
        $("key-qr").src = "/api/key/qr?" + encodeURIComponent(s.expires_at);
        renderSetup(s.key_kind);
      } else if (s.key_pending) { $("sub-countdown").textContent = t("pending"); }
    }
    $("balances").textContent = me.balances.length ? t("balance", me.balances.map((b) => b.text).join(", ")) : "";
    tick();
  }

  // renderSetup shows a platform's steps for the kind of key, in the page's
  // language: the bot's own guides.
  async function renderSetup(kind) {
    if (!guides) {
      try { guides = await api("GET", "/api/setup"); } catch (e) { return; }
    }
    const list = ((guides[kind] || {})[lang] || (guides[kind] || {}).en) || [];
    if (!list.length) return;
    if (!platform) platform = guessPlatform(list);
    const buttons = $("setup-platforms");
    buttons.replaceChildren();
    for (const g of list) {
      const b = el("button", g.name);
      b.type = "button";
      b.dataset.platform = g.platform;
      b.setAttribute("aria-pressed", String(g.platform === platform));
      b.addEventListener("click", () => { platform = g.platform; renderSetup(kind); });
      buttons.append(b);
    }
    const steps = $("setup-steps");
    steps.replaceChildren();
    for (const step of (list.find((g) => g.platform === platform) || list[0]).steps) steps.append(el("li", step));
  }

  // guessPlatform picks the guide of the device the page runs on.
  function guessPlatform(list) {
    const ua = navigator.userAgent;
    const p = /Android/i.test(ua) ? "android" : /iPhone|iPad/i.test(ua) ? "ios" : /Mac/i.test(ua) ? "macos" : /Windows/i.test(ua) ? "windows" : "";
    return list.some((g) => g.platform === p) ? p : list[0].platform;
  }

  function tick() {
    const s = me && me.subscription;
    if (!s || !s.running) return;
    const left = Math.max(0, Math.floor((Date.parse(s.expires_at) - (Date.now() + clockOffset)) / 1000));
    $("sub-countdown").textContent = t("left", Math.floor(left / 86400), Math.floor(left % 86400 / 3600), Math.floor(left % 3600 / 60), left % 60);
  }

  async function loadMe() {
    me = await api("GET", "/api/me");
    clockOffset = Date.parse(me.now) - Date.now();
    if (!lang) lang = me.user.language === "ru" ? "ru" : "en";
    translate();
    renderSub();
  }

  async function loadPlans() {
    const v = await api("GET", "/api/plans");
    $("discount").textContent = v.discount ? t("discount", v.discount.code) : "";
    const list = $("plan-list");
    list.replaceChildren();
    for (const p of v.plans) {
      const li = el("li");
      const row = el("div", undefined, "row");
      row.append(el("strong", lang === "ru" ? p.title_ru : p.title_en), el("span", "$" + p.price_usd + " · " + p.price_stars + " ⭐"));
      li.append(row, el("p", t("days", Math.round(p.seconds / 86400)), "hint"));
      if (me && me.crypto_pay) {
        const b = el("button", t("pay_crypto", "$" + p.price_usd), "primary");
        b.type = "button";
        b.addEventListener("click", () => order(p.id, b));
        li.append(b);
      }
      if (me && me.stars) {
        const b = el("button", t("pay_stars", p.price_stars), "primary stars");
        b.type = "button";
        b.addEventListener("click", () => orderStars(p.id, b));
        li.append(b);
      }
      for (const bal of (me && me.balances) || []) {
        const usd = bal.currency === "USD";
        if (bal.amount < (usd ? Math.round(parseFloat(p.price_usd) * 100) : p.price_stars)) continue;
        const b = el("button", t("pay_balance", usd ? "$" + p.price_usd : p.price_stars + " ⭐"), "balance");
        b.type = "button";
        b.addEventListener("click", () => buy(p.id, bal.currency, b));
        li.append(b);
      }
      list.append(li);
    }
  }

  // openLink opens a payment's or a channel's link: a t.me one in
  // Telegram itself, any other in the browser.
  function openLink(url) {
    const u = new URL(url);
    if (u.hostname === "t.me" && (window.TelegramWebviewProxy || window.parent !== window)) {
      postEvent("web_app_open_tg_link", { path_full: u.pathname + u.search });
    } else {
      window.open(url, "_blank", "noopener");
    }
  }

  async function order(planID, button) {
    button.disabled = true;
    try {
      const o = await api("POST", "/api/orders", { plan: planID, provider: "cryptopay" });
      openLink(o.pay_url);
      notice("");
    } catch (e) { failed(e); } finally { button.disabled = false; }
  }

  // pressID names a press, so that a request sent again acts once.
  function pressID() {
    return crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + "-" + String(Math.random()).slice(2, 10);
  }

  // orderStars makes the press's Stars order and opens its invoice in
  // Telegram's payment sheet (openInvoice); the client tells the page how
  // it ended with invoice_closed.
  async function orderStars(planID, button) {
    button.disabled = true;
    try {
      const o = await api("POST", "/api/orders", { plan: planID, provider: "stars", request_id: pressID() });
      openInvoice(o.pay_url);
      notice("");
    } catch (e) { failed(e); } finally { button.disabled = false; }
  }

  function openInvoice(url) {
    const u = new URL(url);
    const m = /^\/(?:\$|invoice\/)([^/]+)$/.exec(u.pathname);
    const slug = m ? m[1] : "";
    if (u.hostname === "t.me" && slug && (window.TelegramWebviewProxy || window.parent !== window)) {
      postEvent("web_app_open_invoice", { slug });
    } else {
      window.open(url, "_blank", "noopener");
    }
  }

  // receiveEvent takes what Telegram's client tells the page: through
  // window.Telegram.WebView in the apps, postMessage from the parent in
  // Telegram Web.
  function receiveEvent(type, data) {
    if (type !== "invoice_closed" || !data) return;
    if (data.status === "paid") {
      notice(t("stars_paid"));
      show("sub");
    } else if (data.status === "failed") {
      notice(t("error"));
    }
  }
  window.Telegram = window.Telegram || {};
  window.Telegram.WebView = Object.assign(window.Telegram.WebView || {}, { receiveEvent });
  window.addEventListener("message", (ev) => {
    if (ev.source !== window.parent || typeof ev.data !== "string") return;
    let m;
    try { m = JSON.parse(ev.data); } catch (e) { return; }
    if (m && m.eventType) receiveEvent(m.eventType, m.eventData);
  });

  // buy pays a plan from the balance; the request's id is the press's, so
  // a request sent again buys once.
  async function buy(planID, currency, button) {
    button.disabled = true;
    const id = pressID();
    try {
      const p = await api("POST", "/api/orders", { plan: planID, provider: "balance", currency, request_id: id });
      await show("sub");
      notice(t("bought", when(p.expires_at)));
    } catch (e) { failed(e); } finally { button.disabled = false; }
  }

  async function loadPayments() {
    const v = await api("GET", "/api/payments");
    const list = $("order-list");
    list.replaceChildren();
    if (!v.orders.length) { list.append(el("li", t("no_orders"))); return; }
    for (const o of v.orders) {
      const li = el("li");
      const row = el("div", undefined, "row");
      row.append(el("strong", o.purpose === "plan" ? t("plan", o.plan_id) : t("topup")), el("span", o.price.text + " · " + t("st_" + o.status)));
      const steps = el("ol");
      steps.append(el("li", t("made", when(o.created_at))));
      if (o.paid_at) steps.append(el("li", t("paid_at", when(o.paid_at))));
      if (o.told_at) steps.append(el("li", t("told", when(o.told_at))));
      if (o.key_at) steps.append(el("li", t("key_at", when(o.key_at))));
      li.append(row, steps);
      if (o.pay_url) {
        const b = el("button", t("pay_now"), "primary");
        b.type = "button";
        b.addEventListener("click", () => openLink(o.pay_url));
        li.append(b);
      }
      list.append(li);
    }
  }

  async function loadInvite() {
    const v = await api("GET", "/api/invite");
    $("invite-link").value = v.link;
    const money = v.balance.length ? ", " + v.balance.map((b) => b.text).join(", ") : "";
    $("invite-stats").textContent = t("invited", v.invited, v.paid, v.days, money);
  }

  const loaders = { sub: loadMe, plans: loadPlans, payments: loadPayments, invite: loadInvite };

  let current = "";
  let joinURL = "";

  // failed shows what went wrong: the required channel's gate when the
  // cabinet is for its members only and the user is not one, else the
  // error's message.
  function failed(e) {
    if (e.code === "channel_required") gate(e.joinURL);
    else notice(e.message);
  }

  // launchLanguage is the language Telegram says the user's client is in,
  // for a screen shown before the cabinet has read the user's own.
  function launchLanguage() {
    try {
      const u = JSON.parse(new URLSearchParams(initData).get("user") || "{}");
      return u.language_code === "ru" ? "ru" : "en";
    } catch (e) { return "en"; }
  }

  // gate shows the required channel's gate in place of the tabs.
  function gate(url) {
    joinURL = url;
    current = "";
    if (!lang) lang = launchLanguage();
    translate();
    document.querySelector("nav").hidden = true;
    document.querySelectorAll("main section").forEach((s) => { s.hidden = s.id !== "gate"; });
  }

  // checkAgain asks whether the user has joined now (past the app's cache)
  // and, once they have, opens the cabinet.
  async function checkAgain(button) {
    button.disabled = true;
    try {
      const v = await api("GET", "/api/channel");
      if (!v.joined) { notice(t("gate_not_yet")); return; }
      notice("");
      document.querySelector("nav").hidden = false;
      await show("sub");
    } catch (e) { failed(e); } finally { button.disabled = false; }
  }

  // refresh reloads the tab in view while the page is visible, so a
  // payment made in another window shows as paid, with its new expiry,
  // without a reload.
  async function refresh() {
    if (!current || document.hidden || !csrf) return;
    try { await loaders[current](); } catch (e) { failed(e); }
  }

  async function show(tab) {
    current = tab;
    document.querySelectorAll("nav button").forEach((b) => {
      if (b.dataset.tab === tab) b.setAttribute("aria-current", "page"); else b.removeAttribute("aria-current");
    });
    document.querySelectorAll("main section").forEach((s) => { s.hidden = s.id !== tab; });
    try { await loaders[tab](); } catch (e) { failed(e); }
  }

  function copyFrom(id, button) {
    navigator.clipboard.writeText($(id).value).then(() => {
      button.textContent = t("copied");
      setTimeout(() => { button.textContent = t("copy"); }, 1500);
    });
  }

  async function start() {
    applyTheme();
    document.querySelectorAll("nav button").forEach((b) => b.addEventListener("click", () => show(b.dataset.tab)));
    document.querySelectorAll("[data-lang]").forEach((b) => b.addEventListener("click", () => {
      lang = b.dataset.lang;
      localStorage.setItem("lang", lang);
      translate();
      if (me) renderSub();
    }));
    $("key-copy").addEventListener("click", (e) => copyFrom("key-text", e.currentTarget));
    $("invite-copy").addEventListener("click", (e) => copyFrom("invite-link", e.currentTarget));
    $("gate-join").addEventListener("click", () => openLink(joinURL));
    $("gate-check").addEventListener("click", (e) => checkAgain(e.currentTarget));
    setInterval(tick, 1000);
    setInterval(refresh, refreshMs);
    postEvent("web_app_ready");
    postEvent("web_app_expand");
    if (lang) translate();
    if (location.pathname === "/login/done" && location.search) {
      const loginData = location.search.slice(1);
      history.replaceState(null, "", "/");
      if (await signIn(loginData)) await show("sub");
      return;
    }
    if (!initData) {
      const res = await fetch("/api/session", { credentials: "same-origin" });
      if (res.ok) {
        csrf = (await res.json()).csrf_token;
        await show("sub");
        return;
      }
      translate();
      notice(t("open_in_telegram"));
      const a = el("a", t("login"));
      a.href = "/login";
      $("notice").append(" ", a);
      return;
    }
    if (await signIn()) await show("sub");
  }

  document.addEventListener("DOMContentLoaded", start);
})();
