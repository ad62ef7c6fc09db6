// The receptionist page: ringing calls as cards (from GET /events over a WebSocket opened with
// a one-time ticket), recent calls from the call log, and a click-to-dial box. Plain DOM, no
// framework, no build step. Every value from the API is set as text, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { key: sessionStorage.getItem("callbridge.key") || "", extensions: [],
                watched: new Set(), lastId: null, ws: null, closing: false, cards: new Map(),
                scopes: new Set() };
// What each part of the desk needs of the key (GET /whoami says what it has): a part the key
// can't use is left out, saying so, rather than failing on every click.
const NEEDS = { "events:read": "live calls", "calllog:read": "recent calls", "dial": "dialing",
                "contacts:write": "saving new callers" };
// The receptionist preset, and what the page can use beyond it
const USES = new Set(["contacts:read", "calllog:read", "dial", "events:read", "contacts:write"]);
const can = (scope) => state.scopes.has(scope);

async function api(method, path, body) {
  const headers = { "x-api-key": state.key };
  if (body !== undefined) headers["content-type"] = "application/json";
  const resp = await fetch(path, { method, headers,
                                   body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(data.message || data.error || `HTTP ${resp.status}`);
  return data;
}

// ---- connecting -----------------------------------------------------------------------------

async function connect(event) {
  if (event) event.preventDefault();
  state.key = $("key").value.trim() || state.key;
  $("login-error").hidden = true;
  try {
    state.scopes = new Set((await api("GET", "/whoami")).scopes);
    state.extensions = await api("GET", "/extensions");
  } catch (err) {
    $("login-error").textContent = `Cannot connect: ${err.message}`;
    $("login-error").hidden = false;
    return;
  }
  sessionStorage.setItem("callbridge.key", state.key);
  $("login").hidden = true;
  $("desk").hidden = false;
  const saved = JSON.parse(sessionStorage.getItem("callbridge.watched") || "null");
  state.watched = new Set(saved || state.extensions.map((e) => e.extension));
  renderExtensions();
  showScopes();
  if (can("events:read")) openStream(); else setLinkState(false, "key lacks events:read");
  if (can("calllog:read")) loadRecent();
  loadPresence();
  setInterval(loadPresence, 30000);  // what no event says (a phone's registration expiring)
}

function showScopes() {
  $("recent").hidden = !can("calllog:read");
  $("dial").hidden = !can("dial");
  const missing = Object.entries(NEEDS).filter(([scope]) => !can(scope))
    .map(([scope, what]) => `${what} (${scope})`);
  const extra = [...state.scopes].filter((s) => !USES.has(s));
  const said = [];
  if (missing.length) said.push(`This key can't be used for ${missing.join(", ")}.`);
  if (extra.length) said.push(`This key also has ${extra.join(", ")}, which this page never`
                              + " uses: a receptionist key (--preset receptionist) is safer here.");
  $("scope-notice").textContent = said.join(" ");
  $("scope-notice").hidden = said.length === 0;
}

function renderExtensions() {
  const box = $("extensions");
  const select = $("dial-extension");
  box.replaceChildren();
  select.replaceChildren();
  for (const ext of state.extensions) {
    const label = document.createElement("label");
    const check = document.createElement("input");
    check.type = "checkbox";
    check.value = ext.extension;
    check.checked = state.watched.has(ext.extension);
    check.addEventListener("change", () => {
      check.checked ? state.watched.add(ext.extension) : state.watched.delete(ext.extension);
      sessionStorage.setItem("callbridge.watched", JSON.stringify([...state.watched]));
    });
    const badge = document.createElement("span");
    badge.className = "presence";
    badge.dataset.extension = ext.extension;
    label.className = "colleague";
    label.append(check, ` ${ext.extension}${ext.name ? " " + ext.name : ""} `, badge);
    box.append(label);
    const option = document.createElement("option");
    option.value = option.textContent = ext.extension;
    select.append(option);
  }
}

async function openStream() {
  let ticket;
  try {
    ticket = (await api("POST", "/events/ticket")).ticket;
  } catch (err) {
    setLinkState(false, err.message);
    setTimeout(openStream, 3000);
    return;
  }
  // every extension of the account: colleagues' calls and devices keep their presence current;
  // cards are shown for the watched ones only (onEvent)
  const params = new URLSearchParams({ ticket, types: "call.*,dial.progress,device.state" });
  if (state.lastId !== null) params.set("after", state.lastId);  // resume without a gap
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/events?${params}`);
  state.ws = ws;
  state.closing = false;
  ws.onopen = () => setLinkState(true, "connected");
  ws.onmessage = (msg) => onEvent(JSON.parse(msg.data));
  ws.onclose = () => {
    setLinkState(false, "reconnecting…");
    if (!state.closing && state.ws === ws) setTimeout(openStream, 1500);
  };
}

// ---- presence --------------------------------------------------------------------------------

const PRESENCE_TEXT = { available: "available", ringing: "ringing", busy: "on a call",
                        offline: "offline", unknown: "?" };

async function loadPresence() {
  if (!can("events:read")) return;
  let found;
  try {
    found = await api("GET", "/presence");
  } catch (err) {
    return;  // the next event or the next round tries again
  }
  for (const p of found) {
    const badge = document.querySelector(`.presence[data-extension="${p.extension}"]`);
    if (!badge) continue;
    badge.textContent = PRESENCE_TEXT[p.state] || p.state;
    badge.className = `presence ${p.state}`;
    badge.title = p.devices === null ? "its PBX can't be asked now"
                                     : `${p.devices} device(s) can ring`;
  }
}

// Events change presence in bursts (a call rings, is answered, ends): one reload per burst.
function presenceSoon() {
  clearTimeout(state.presenceTimer);
  state.presenceTimer = setTimeout(loadPresence, 250);
}

function setLinkState(on, text) {
  const el = $("link-state");
  el.textContent = text;
  el.className = `state ${on ? "on" : "off"}`;
}

// ---- events ---------------------------------------------------------------------------------

function onEvent(ev) {
  if (ev.id !== undefined) state.lastId = ev.id;
  const d = ev.data || {};
  if (ev.type.startsWith("call.") || ev.type === "device.state") presenceSoon();
  if (ev.type === "device.state") return;
  // a colleague's call: their presence only; cards are for the watched extensions
  if (d.extension && ev.type.startsWith("call.") && !state.watched.has(d.extension)) return;
  if (ev.type === "call.ringing") showCard(ev, d);
  else if (ev.type === "call.answered") markCard(d, "answered", `Answered (${d.device})`);
  else if (ev.type === "call.ended" || ev.type === "call.missed") {
    markCard(d, "ended", ev.type === "call.missed" ? "Missed" : `Ended (${d.disposition})`);
    setTimeout(() => removeCard(d), 8000);
    loadRecent();
  } else if (ev.type === "call.taken") {
    // another extension answered or picked it up: the card closes, saying who
    markCard(d, "ended", d.reason === "picked_up" ? `Picked up by ${d.taken_by}`
                                                   : `Answered by ${d.taken_by}`);
    setTimeout(() => removeCard(d), 8000);
  } else if (ev.type === "call.transferred") {
    markCard(d, d.to === d.extension ? "answered" : "ended",
             d.to === d.extension ? `Transferred here by ${d.transferred_by}`
                                  : `Transferred to ${d.to || "another party"}`);
  } else if (ev.type === "dial.progress") {
    $("dial-state").textContent = `Call ${d.call_id}: ${d.state}` +
      (d.failure_reason ? ` (${d.failure_reason})` : "");
  } else if (ev.type === "error" && d.error === "events_expired") {
    loadRecent();  // what the stream can no longer replay is in the call log
  }
}

const cardKey = (d) => `${d.call_id}/${d.extension}`;

function showCard(ev, d) {
  if (state.cards.has(cardKey(d))) return;
  const card = $("card-template").content.firstElementChild.cloneNode(true);
  card.dataset.callId = d.call_id;
  card.dataset.extension = d.extension;
  card.dataset.eventTime = ev.time;
  const c = d.contact;
  const number = d.number || d.caller;
  card.querySelector(".name").textContent = c ? c.name : "Unknown caller";
  card.querySelector(".org").textContent = c && c.organization ? `· ${c.organization}` : "";
  card.querySelector(".number").textContent = `${number || ""} → ${d.extension}` +
    (d.direction === "outbound" ? " (click-to-dial)" : "");
  card.querySelector(".note").textContent = c && c.note ? c.note : "";
  const profile = card.querySelector(".profile");
  if (c && c.profile_url && /^https?:\/\//i.test(c.profile_url)) {
    profile.href = c.profile_url;
    profile.hidden = false;
  }
  if (!c && number && d.direction !== "internal" && can("contacts:write")) {
    offerCreate(card, number);
  }
  card.querySelector(".status").textContent = "Ringing";
  if (number && can("calllog:read")) showHistory(card, number);
  $("cards").prepend(card);
  card.dataset.shownAt = String(Date.now());
  state.cards.set(cardKey(d), card);
  $("no-calls").hidden = true;
}

// The caller's last calls, on the card: who took them, when, how long.
async function showHistory(card, number) {
  const since = new Date(Date.now() - 90 * 86400e3).toISOString().slice(0, 19).replace("T", " ");
  let rows = [];
  try {
    let path = `/call_log/records_after_timestamp?timestamp=${encodeURIComponent(since)}` +
               `&number=${encodeURIComponent(number)}&limit=1000`;
    for (let page = 0; page < 3 && path; page++) {
      const data = await api("GET", path);
      rows = rows.concat(data.records).slice(-3);
      path = data.next ? `/call_log/records_after_timestamp?timestamp=${encodeURIComponent(since)}` +
             `&number=${encodeURIComponent(number)}&after=${data.next}&limit=1000` : null;
    }
  } catch (err) {
    return;
  }
  const list = card.querySelector(".history");
  list.replaceChildren();
  for (const r of rows.reverse()) {
    const li = document.createElement("li");
    const talk = r.billsec ? ` ${Math.floor(r.billsec / 60)}:${String(r.billsec % 60).padStart(2, "0")}` : "";
    li.textContent = `${r.call_timestamp.slice(0, 16)} · ${r.cidext_inside || ""} · ` +
                     `${(r.disposition || "").toLowerCase()}${talk}`;
    list.append(li);
  }
  list.hidden = rows.length === 0;
}

function offerCreate(card, number) {
  const link = card.querySelector(".create");
  const form = card.querySelector(".create-form");
  link.hidden = false;
  link.addEventListener("click", (e) => { e.preventDefault(); form.hidden = false; link.hidden = true; });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const firstname = form.querySelector(".first").value.trim();
    const lastname = form.querySelector(".last").value.trim();
    try {
      await api("POST", "/contacts/contacts", { firstname, lastname: lastname || undefined,
                                               mobile_phone: number });
      card.querySelector(".name").textContent = [firstname, lastname].filter(Boolean).join(" ");
      form.hidden = true;
    } catch (err) {
      card.querySelector(".status").textContent = `Not saved: ${err.message}`;
    }
  });
}

function markCard(d, cls, text) {
  const card = state.cards.get(cardKey(d));
  if (!card) return;
  card.classList.add(cls);
  card.querySelector(".status").textContent = text;
}

function removeCard(d) {
  const card = state.cards.get(cardKey(d));
  if (card) card.remove();
  state.cards.delete(cardKey(d));
  $("no-calls").hidden = state.cards.size > 0;
}

// ---- the call log and the dialer --------------------------------------------------------------

async function loadRecent() {
  const since = new Date(Date.now() - 7 * 86400e3).toISOString().slice(0, 19).replace("T", " ");
  let rows = [];
  try {
    let path = `/call_log/records_after_timestamp?timestamp=${encodeURIComponent(since)}&limit=1000`;
    for (let page = 0; page < 10 && path; page++) {  // oldest first, so read to the newest
      const data = await api("GET", path);
      rows = rows.concat(data.records).slice(-20);
      path = data.next ? `/call_log/records_after_timestamp?timestamp=${encodeURIComponent(since)}` +
                         `&after=${data.next}&limit=1000` : null;
    }
  } catch (err) {
    return;
  }
  const body = $("recent-rows");
  body.replaceChildren();
  for (const r of rows.reverse()) {
    const tr = document.createElement("tr");
    for (const v of [r.call_timestamp, r.cidext_inside, r.direction, r.cidnumber_outside,
                     r.cidname_outside, r.disposition]) {
      const td = document.createElement("td");
      td.textContent = v == null ? "" : String(v);
      tr.append(td);
    }
    if (r.cidnumber_outside && can("dial")) {  // call back: the number into the dial box
      const cell = tr.children[3];
      cell.classList.add("callback");
      cell.title = "Put into the dial box";
      cell.addEventListener("click", () => fillDial(r.cidnumber_outside));
    }
    body.append(tr);
  }
}

async function dial(event) {
  event.preventDefault();
  const extension = $("dial-extension").value;
  const phonenumber = $("dial-number").value.trim();
  $("dial-state").textContent = "Dialing…";
  try {
    const done = await api("POST", "/dialer/call", { extension, phonenumber });
    $("dial-state").textContent = `Call ${done.call_id}: ringing ${extension}`;
  } catch (err) {
    $("dial-state").textContent = `Not dialed: ${err.message}`;
  }
}

// ---- the keyboard -------------------------------------------------------------------------------
// A receptionist dials without the mouse: a digit (or + * #) typed anywhere starts a number in the
// dial box, "/" goes there, Enter dials, Escape clears it.

function fillDial(number) {
  $("dial-number").value = number;
  $("dial-number").focus();
}

function onKey(e) {
  if ($("desk").hidden || !can("dial") || e.ctrlKey || e.metaKey || e.altKey) return;
  const inField = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
  if (e.key === "Escape" && document.activeElement === $("dial-number")) {
    $("dial-number").value = "";
    $("dial-number").blur();
  } else if (!inField && e.key === "/") {
    e.preventDefault();
    $("dial-number").focus();
  } else if (!inField && /^[0-9+*#]$/.test(e.key)) {
    e.preventDefault();
    fillDial($("dial-number").value + e.key);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", connect);
  $("dial-form").addEventListener("submit", dial);
  document.addEventListener("keydown", onKey);
  if (state.key) connect();
});
