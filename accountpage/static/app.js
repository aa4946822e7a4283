// The example account page: reads and changes one member's Facebook sharing
// through watchshare's public /v1 API (behind the page's dev proxy, which
// adds the bearer token). No framework, no build step.
"use strict";

const API = "/account/api/v1";
const MEMBER_ID = /^[A-Za-z0-9_.-]{1,64}$/;

const $ = (id) => document.getElementById(id);

// What the connect flow's redirect means (facebook= and reason= in the query).
const CONNECT_OUTCOMES = {
  connected: "Your Facebook account is connected.",
  denied: "You cancelled on Facebook: nothing was connected.",
};
const CONNECT_ERRORS = {
  invalid_state: "That Facebook login link was already used or has expired. Please connect again.",
  exchange_failed: "Facebook did not confirm the login. Please connect again.",
  facebook_unavailable: "Facebook could not be reached. Please try again in a few minutes.",
  facebook_account_in_use: "That Facebook account is already connected to another member.",
  unavailable: "We could not save the connection. Please try again.",
};

const state = { member: "", view: null, names: new Map() };

// api calls the /v1 API and returns the decoded JSON, or throws an Error
// carrying the API's error message and code.
async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(API + path, init);
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) {
    const err = new Error((data && data.error && data.error.message) || `HTTP ${res.status}`);
    err.code = data && data.error && data.error.code;
    throw err;
  }
  return data;
}

function memberPath(suffix = "") {
  return "/members/" + encodeURIComponent(state.member) + suffix;
}

function say(text, isError = false) {
  const box = $("message");
  box.textContent = text;
  box.classList.toggle("error", isError);
  box.hidden = false;
}

function when(iso) {
  if (!iso) return "never";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

function titleName(id, name) {
  if (name) state.names.set(id, name);
  return state.names.get(id) || id;
}

// busy disables button while fn runs, so an action is not sent twice.
async function busy(button, fn) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    await fn();
  } catch (err) {
    say(err.message, true);
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

function item(text, detail, button) {
  const li = document.createElement("li");
  const what = document.createElement("span");
  what.className = "what";
  what.textContent = text;
  if (detail) {
    const small = document.createElement("span");
    small.className = "when";
    small.textContent = detail;
    what.append(small);
  }
  li.append(what);
  if (button) li.append(button);
  return li;
}

function actionButton(label, accessibleName, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "small";
  b.textContent = label;
  b.setAttribute("aria-label", accessibleName);
  b.addEventListener("click", () => busy(b, onClick));
  return b;
}

function fillList(listId, emptyId, items) {
  $(listId).replaceChildren(...items);
  $(emptyId).hidden = items.length > 0;
}

const STATUS_TEXT = {
  not_connected: "Not connected",
  connected: "Connected",
  reconnect_required: "Facebook needs you to log in again",
};

function renderMember(m) {
  state.view = m;
  const status = $("member-status");
  status.textContent = STATUS_TEXT[m.status] || m.status;
  status.dataset.status = m.status;
  const linked = m.status !== "not_connected";
  $("member-details").hidden = !linked;
  if (linked) {
    $("fb-name").textContent = m.name || "–";
    $("fb-id").textContent = m.facebook_user_id || "–";
    $("can-publish").textContent = m.can_publish ? "yes" : "no (publish_actions was not granted)";
    $("connected-at").textContent = when(m.connected_at);
    $("consent-expires").textContent = when(m.consent_expires_at);
    $("last-sync").textContent = when(m.last_friend_sync);
  }
  const connect = $("connect");
  connect.hidden = m.status === "connected";
  connect.textContent = m.status === "reconnect_required" ? "Reconnect Facebook" : "Connect with Facebook";
  $("sharing-enabled").checked = m.sharing_enabled;
  $("disconnect-section").hidden = !linked;
}

async function loadShares() {
  const { shares } = await api("GET", memberPath("/shares"));
  fillList("shares", "shares-empty", shares.map((s) => {
    const name = titleName(s.title_id, s.title_name);
    return item(name, "shared " + when(s.shared_at),
      actionButton("Hide", `Hide ${name}`, () => hide(s.title_id)));
  }));
}

async function loadHidden() {
  const { titles } = await api("GET", memberPath("/hidden-titles"));
  fillList("hidden", "hidden-empty", titles.map((t) => {
    const name = titleName(t.title_id);
    return item(name, "hidden " + when(t.hidden_at),
      actionButton("Allow", `Allow ${name} again`, () => allow(t.title_id)));
  }));
}

async function loadFriends() {
  const { friends, synced_at } = await api("GET", memberPath("/friends"));
  fillList("friends", "friends-empty", friends.map((f) => item(f.name || f.member_id, "member " + f.member_id)));
  $("friends-synced").textContent = synced_at ? "Last synced " + when(synced_at) + "." : "";
}

async function loadActivity() {
  const { activity } = await api("GET", memberPath("/friends/activity"));
  fillList("activity", "activity-empty", activity.map((a) =>
    item(`${a.name || a.member_id} watched ${a.title_name || a.title_id}`, when(a.shared_at))));
}

// load reads everything shown for the member.
async function load() {
  renderMember(await api("GET", memberPath()));
  await Promise.all([loadShares(), loadHidden(), loadFriends(), loadActivity()]);
}

async function connect() {
  const returnTo = location.pathname + "?member=" + encodeURIComponent(state.member);
  const { authorize_url } = await api("POST", memberPath("/connect"), { return_to: returnTo });
  say("Taking you to Facebook…");
  location.assign(authorize_url);
}

async function setSharing(enabled) {
  renderMember(await api("PUT", memberPath("/sharing"), { enabled }));
  say(enabled ? "Sharing is on: titles you watch can be posted to Facebook."
    : "Sharing is paused: nothing will be posted until you turn it back on.");
}

async function hide(titleID) {
  const r = await api("PUT", memberPath("/hidden-titles/" + encodeURIComponent(titleID)));
  const name = titleName(titleID);
  let text = `“${name}” is hidden and will not be shared.`;
  if (r.deleted_actions > 0) {
    text += r.deleted_actions === 1 ? " Its post was deleted from Facebook." : ` ${r.deleted_actions} posts were deleted from Facebook.`;
  }
  if (r.pending_deletions > 0) {
    text += ` Facebook did not confirm ${r.pending_deletions === 1 ? "one deletion" : r.pending_deletions + " deletions"} yet; we keep trying.`;
  }
  await Promise.all([loadShares(), loadHidden(), loadActivity()]);
  say(text);
}

async function allow(titleID) {
  await api("DELETE", memberPath("/hidden-titles/" + encodeURIComponent(titleID)));
  await loadHidden();
  say(`“${titleName(titleID)}” may be shared again (nothing is re-posted).`);
}

async function syncFriends() {
  const r = await api("POST", memberPath("/friends/sync"));
  await Promise.all([loadFriends(), loadActivity()]);
  renderMember(await api("GET", memberPath()));
  say(`Friends synced: ${r.friends} on the service (${r.added} added, ${r.removed} removed).`);
}

async function disconnect() {
  const deletePosts = $("delete-posts").checked;
  const r = await api("POST", memberPath("/disconnect"), { delete_posts: deletePosts });
  $("delete-posts").checked = false;
  await load();
  let text = "Facebook is disconnected and everything we got from Facebook for you was deleted.";
  if (deletePosts) text += " Your posts were deleted from Facebook.";
  if (r.revocation === "pending") text += " Facebook could not be reached to remove the app; we keep trying.";
  say(text);
}

// connectOutcome turns the redirect's facebook= (and reason=) into a
// message, then drops them from the address bar so a reload does not repeat it.
function connectOutcome(params) {
  const outcome = params.get("facebook");
  if (!outcome) return;
  if (outcome === "error") {
    const reason = params.get("reason") || "";
    say(CONNECT_ERRORS[reason] || `Connecting Facebook failed (${reason || "unknown reason"}). Please try again.`, true);
  } else if (CONNECT_OUTCOMES[outcome]) {
    say(CONNECT_OUTCOMES[outcome], outcome !== "connected");
  } else {
    say(`Unexpected answer from the connect flow: ${outcome}.`, true);
  }
  params.delete("facebook");
  params.delete("reason");
  history.replaceState(null, "", location.pathname + "?" + params.toString());
}

function choose(member) {
  state.member = member;
  state.names.clear();
  $("member-id").value = member;
  document.title = `Facebook sharing – ${member}`;
}

async function start() {
  const params = new URLSearchParams(location.search);
  const member = params.get("member") || "m1";
  if (!MEMBER_ID.test(member)) {
    say(`“${member}” is not a member id (1–64 letters, digits, _ . -).`, true);
    return;
  }
  choose(member);
  connectOutcome(params);
  const outcome = $("message").hidden ? "" : $("message").textContent;
  try {
    await load();
    if (outcome && state.view.status === "connected" && !state.view.can_publish) {
      say(outcome + " Facebook did not allow posting (publish_actions was declined), so nothing will be posted for you.");
    }
  } catch (err) {
    say("Could not load your settings: " + err.message, true);
  }
}

$("member-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const member = $("member-id").value.trim();
  if (!MEMBER_ID.test(member)) {
    say("A member id is 1–64 letters, digits, _ . or -.", true);
    return;
  }
  const params = new URLSearchParams({ member });
  history.pushState(null, "", location.pathname + "?" + params.toString());
  choose(member);
  $("message").hidden = true;
  load().catch((err) => say("Could not load your settings: " + err.message, true));
});
$("connect").addEventListener("click", (ev) => busy(ev.currentTarget, connect));
$("sharing-enabled").addEventListener("change", (ev) => {
  const box = ev.currentTarget;
  busy(box, () => setSharing(box.checked).catch((err) => {
    box.checked = !box.checked;
    throw err;
  }));
});
$("sync-friends").addEventListener("click", (ev) => busy(ev.currentTarget, syncFriends));
$("disconnect").addEventListener("click", (ev) => busy(ev.currentTarget, disconnect));

start();
