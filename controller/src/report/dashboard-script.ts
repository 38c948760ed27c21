/**
 * The dashboard's only script (inline, allowed by the page's CSP nonce; no
 * build step). It (1) replaces #live with a fresh copy (?fragment=1) every
 * data-refresh seconds, keeping the scroll position (not while the host
 * filter has the focus), (2) keeps the relative
 * times current, (3) shows the operator action buttons (rendered only for
 * operate tokens) and sends their POSTs with a reason, (4) on a host page
 * fills in the deploy log tail and the operator actions when the controller
 * serves them (each section says so when it does not). Everything it inserts
 * goes in as textContent. Without JavaScript the page still works: a meta
 * refresh reloads it and the buttons stay hidden.
 */
export const DASHBOARD_SCRIPT = String.raw`(function () {
  "use strict";
  var body = document.body;
  var refresh = Number(body.getAttribute("data-refresh")) || 5;
  var skew = 0;
  var UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
  function visible(s) {
    return String(s).replace(UNSAFE, function (c) { var n = c.charCodeAt(0); return n <= 0xff ? "\\x" + ("0" + n.toString(16)).slice(-2) : "\\u" + ("000" + n.toString(16)).slice(-4); });
  }
  function live() { return document.getElementById("live"); }
  function setSkew() { var g = Date.parse(live().getAttribute("data-generated") || ""); if (!isNaN(g)) skew = g - Date.now(); }
  function rel(ms, now) {
    var d = ms - now, s = Math.round(Math.abs(d) / 1000);
    if (s === 0) return "now";
    var a = s < 120 ? s + " s" : s < 7200 ? Math.round(s / 60) + " min" : s < 172800 ? Math.round(s / 3600) + " h" : Math.round(s / 86400) + " d";
    return d < 0 ? a + " ago" : "in " + a;
  }
  function tick() {
    var now = Date.now() + skew, ts = document.querySelectorAll("time[datetime]");
    for (var i = 0; i < ts.length; i++) { var ms = Date.parse(ts[i].getAttribute("datetime")); if (!isNaN(ms)) ts[i].textContent = rel(ms, now); }
  }
  function showButtons() {
    if (body.getAttribute("data-operate") !== "yes") return;
    var bs = document.querySelectorAll("button.action");
    for (var i = 0; i < bs.length; i++) bs[i].hidden = false;
  }
  function flash(msg, bad) {
    var f = document.getElementById("flash");
    f.textContent = visible(msg);
    f.className = bad ? "banner halted" : "banner ok";
    f.hidden = false;
  }
  function el(tag, text, cls) { var e = document.createElement(tag); if (text !== undefined) e.textContent = visible(text); if (cls) e.className = cls; return e; }
  function list(j) { return Array.isArray(j) ? j : j && (j.actions || j.entries) || []; }

  // ---- host page extras: deploy logs and operator actions, when this controller serves them
  function extras() {
    var host = live().getAttribute("data-host");
    if (!host) return;
    var logs = document.getElementById("logs-body");
    if (logs) {
      var rev = live().getAttribute("data-log-rev");
      fetch("/api/v1/hosts/" + encodeURIComponent(host) + "/logs?limit=200" + (rev ? "&rev=" + encodeURIComponent(rev) : ""), { credentials: "same-origin" }).then(function (res) {
        if (!res.ok) { logs.replaceChildren(el("p", res.status === 404 ? "Deploy logs are not available from this controller." : "Deploy logs: HTTP " + res.status)); return; }
        return res.json().then(function (j) {
          var entries = j && j.entries || [];
          if (!entries.length) { logs.replaceChildren(el("p", "No deploy log entries" + (rev ? " for " + rev.slice(0, 12) : "") + ".")); return; }
          var pre = el("pre", entries.map(function (e) { return (e.time || "") + " " + (e.rev ? e.rev.slice(0, 12) + " " : "") + (e.phase || "") + (e.step ? "/" + e.step : "") + (e.outcome ? " " + e.outcome : "") + ": " + (e.text || "") + (e.truncated ? " [truncated]" : ""); }).join("\n"));
          logs.replaceChildren(pre);
        });
      }).catch(function (e) { logs.replaceChildren(el("p", "Deploy logs: " + e.message)); });
    }
    var acts = document.getElementById("actions-body");
    if (acts) {
      fetch("/api/v1/actions?host=" + encodeURIComponent(host) + "&limit=20", { credentials: "same-origin" }).then(function (res) {
        if (!res.ok) { acts.replaceChildren(el("p", res.status === 404 ? "Operator actions are not available from this controller." : "Operator actions: HTTP " + res.status)); return; }
        return res.json().then(function (j) {
          var items = list(j);
          if (!items.length) { acts.replaceChildren(el("p", "No operator actions.")); return; }
          var ul = el("ul");
          items.forEach(function (a) { ul.appendChild(el("li", (a.time || "") + " " + a.action + (a.rev ? " " + String(a.rev).slice(0, 12) : "") + (a.wave ? " wave " + a.wave : "") + " by " + (a.actor || "?") + ": " + (a.reason || ""))); });
          acts.replaceChildren(ul);
        });
      }).catch(function (e) { acts.replaceChildren(el("p", "Operator actions: " + e.message)); });
    }
  }

  // ---- live updates without a reload
  var busy = false, timer = null;
  function update() {
    if (busy) return;
    // someone is typing a host filter (it lives in #live): update after they leave the field
    var a = document.activeElement;
    if (a && a.form && a.form.id === "host-filter") return;
    busy = true;
    var u = new URL(location.href);
    u.searchParams.set("fragment", "1");
    fetch(u, { credentials: "same-origin", headers: { accept: "text/html" } }).then(function (res) {
      if ((res.headers.get("content-type") || "").indexOf("text/html") !== 0) throw new Error("HTTP " + res.status);
      return res.text();
    }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      var fresh = doc.getElementById("live");
      if (!fresh) throw new Error("the controller sent no #live part");
      live().replaceWith(fresh);
      var t = fresh.getAttribute("data-title");
      if (t) document.title = t;
      var f = document.getElementById("flash");
      if (f.getAttribute("data-conn") === "lost") { f.hidden = true; f.removeAttribute("data-conn"); }
      setSkew(); tick(); showButtons(); extras();
    }).catch(function (e) {
      flash("cannot update from the controller: " + e.message + " (retrying)", true);
      document.getElementById("flash").setAttribute("data-conn", "lost");
    }).then(function () { busy = false; });
  }
  function schedule() { clearTimeout(timer); timer = setTimeout(function () { update(); schedule(); }, refresh * 1000); }

  // ---- operator actions (the HTTP API: POST /api/v1/rollouts/{rev}/{action}, /api/v1/hosts/{host}/{action})
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest && ev.target.closest("button.action");
    if (!b) return;
    var action = b.getAttribute("data-action"), host = b.getAttribute("data-host"), rev = b.getAttribute("data-rev"), wave = b.getAttribute("data-wave");
    var what = action + (host ? " " + host : "") + (rev ? " " + rev.slice(0, 12) : "") + (wave ? " wave " + wave : "");
    var reason = window.prompt("Reason for " + what + " (recorded in the audit):", "");
    if (reason === null) return;
    if (!reason.trim()) { flash(what + ": a reason is required", true); return; }
    var payload = { reason: reason.trim() }, path;
    if (host) { path = "/api/v1/hosts/" + encodeURIComponent(host) + "/" + action; if (rev) payload.rev = rev; }
    else { path = "/api/v1/rollouts/" + encodeURIComponent(rev) + "/" + action; if (wave) payload.wave = wave; }
    b.disabled = true;
    fetch(path, { method: "POST", credentials: "same-origin", headers: { "content-type": "application/json" }, body: JSON.stringify(payload) }).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (j) {
        if (res.ok) flash(what + ": recorded" + (j && j.id !== undefined ? " (action " + j.id + ")" : ""), false);
        else flash(what + ": refused, HTTP " + res.status + (j && j.message ? ": " + j.message : ""), true);
      });
    }).catch(function (e) { flash(what + ": " + e.message, true); }).then(function () { b.disabled = false; update(); });
  });

  setSkew(); tick(); showButtons(); extras(); schedule();
  setInterval(tick, 1000);
  window.flotillaUpdate = update;
})();`;
