/* The admin page: sign in, list/edit/close/reopen/delete stations, read and export the audit log, usage.
 * The token lives in sessionStorage (gone when the tab closes) and goes out only as a Bearer header.
 * Every value from the server is put into the page as text (textContent), never as HTML. */
(function () {
  "use strict";
  var KEY = "stationmap-admin-token";
  var $ = function (id) { return document.getElementById(id); };
  var state = { user: null, stations: [], editing: null };
  var LIVE = { open: "开放中", closed: "已关闭", unknown: "状态未知" };
  var STATUS = { open: "开放", closed: "暂停开放", planned: "规划中" };

  function token() { return sessionStorage.getItem(KEY); }

  function say(text, isError) {
    var m = $("message");
    m.textContent = text || "";
    m.className = "sm-admin-msg" + (isError ? " err" : "");
  }

  function api(method, path, body, headers) {
    var h = Object.assign({ "Accept": "application/json" }, headers || {});
    if (token()) { h["Authorization"] = "Bearer " + token(); }
    if (body !== undefined) { h["Content-Type"] = "application/json"; }
    return fetch(path, { method: method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) })
      .then(function (resp) {
        if (resp.status === 204) { return { resp: resp, data: null }; }
        var type = resp.headers.get("Content-Type") || "";
        var read = type.indexOf("json") >= 0 ? resp.json() : resp.text();
        return read.then(function (data) {
          if (!resp.ok) {
            if (resp.status === 401 && path !== "/api/auth/login") { signedOut(); }
            var detail = data && data.detail ? data.detail : resp.statusText;
            var err = new Error(resp.status + " " + (data && data.title ? data.title : "") + ": " + detail);
            err.status = resp.status;
            throw err;
          }
          return { resp: resp, data: data };
        });
      });
  }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    if (cls) { e.className = cls; }
    return e;
  }

  function button(text, onClick) {
    var b = el("button", text);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  // -- session -------------------------------------------------------------------------------------
  function signedIn(user) {
    state.user = user;
    $("login").hidden = true;
    $("app").hidden = false;
    $("logout").hidden = false;
    $("who").hidden = false;
    $("who").textContent = user.name + "（" + (user.role === "admin" ? "管理员" : "编辑") + " · " + user.district_name + "）";
    loadStations();
  }

  function signedOut() {
    sessionStorage.removeItem(KEY);
    state.user = null;
    $("login").hidden = false;
    $("app").hidden = true;
    $("logout").hidden = true;
    $("who").hidden = true;
  }

  $("login").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var f = ev.target;
    api("POST", "/api/auth/login", { name: f.name.value, password: f.password.value }).then(function (r) {
      sessionStorage.setItem(KEY, r.data.token);
      f.password.value = "";
      say("已登录 Signed in");
      signedIn(r.data.user);
    }).catch(function (e) { say("登录失败 " + e.message, true); });
  });

  $("logout").addEventListener("click", function () {
    api("POST", "/api/auth/logout").catch(function () {}).then(function () { signedOut(); say("已退出 Signed out"); });
  });

  // -- tabs ------------------------------------------------------------------------------------------
  Array.prototype.forEach.call(document.querySelectorAll("[data-tab]"), function (tab) {
    tab.addEventListener("click", function () {
      Array.prototype.forEach.call(document.querySelectorAll("[data-tab]"), function (t) {
        t.setAttribute("aria-selected", String(t === tab));
        $("tab-" + t.dataset.tab).hidden = t !== tab;
      });
      if (tab.dataset.tab === "audit") { loadAudit(); }
      if (tab.dataset.tab === "usage") { loadUsage(); }
    });
  });

  // -- stations --------------------------------------------------------------------------------------
  function loadStations() {
    return api("GET", "/api/admin/stations").then(function (r) {
      state.stations = r.data.stations;
      renderStations();
    }).catch(function (e) { say(e.message, true); });
  }

  function liveText(live) {
    if (!live) { return "—"; }
    var t = LIVE[live.state] || live.state;
    if (live.state !== "unknown" && live.occupancy !== undefined) { t += " · " + live.occupancy + "人"; }
    if (live.temperature_c !== undefined && live.temperature_c !== null && live.state !== "unknown") {
      t += " · " + live.temperature_c + "℃";
    }
    if (live.alarm) { t += " · 报警!"; }
    return t;
  }

  function renderStations() {
    var body = $("stations");
    var needle = $("filter").value.trim().toLowerCase();
    body.textContent = "";
    state.stations.filter(function (s) {
      return !needle || [s.name, s.address, s.id, s.host].join(" ").toLowerCase().indexOf(needle) >= 0;
    }).forEach(function (s) {
      var tr = el("tr");
      var name = el("td");
      name.appendChild(el("div", s.name));
      name.appendChild(el("small", s.id + (s.demo ? " · 示例" : "")));
      tr.appendChild(name);
      tr.appendChild(el("td", s.district_name + " " + s.township_name));
      tr.appendChild(el("td", STATUS[s.status] || s.status));
      tr.appendChild(el("td", liveText(s.live), s.live ? "sm-live-" + s.live.state : ""));
      var actions = el("td");
      actions.appendChild(button("编辑 Edit", function () { openEditor(s); }));
      if (s.status === "open") {
        actions.appendChild(button("暂停 Close", function () { act("POST", s, "/close", "已暂停开放"); }));
      } else {
        actions.appendChild(button("开放 Reopen", function () { act("POST", s, "/reopen", "已恢复开放"); }));
      }
      actions.appendChild(button("删除 Delete", function () {
        if (window.confirm("删除「" + s.name + "」？此操作记入审计日志。Delete this station?")) { act("DELETE", s, "", "已删除"); }
      }));
      tr.appendChild(actions);
      body.appendChild(tr);
    });
  }

  function act(method, s, suffix, done) {
    api(method, "/api/stations/" + encodeURIComponent(s.id) + suffix, undefined, { "If-Match": '"' + s.etag + '"' })
      .then(function () { say(done + "：" + s.name); return loadStations(); })
      .catch(function (e) { say(conflictHint(e), true); });
  }

  function conflictHint(e) {
    return e.status === 409 ? "该驿站已被他人修改，已刷新，请重试。Changed by someone else; reloaded, try again. " + e.message
      : e.message;
  }

  $("filter").addEventListener("input", renderStations);

  var FIELDS = ["name", "kind", "status", "hours", "address", "host", "phone", "amenities", "lat", "lon", "year_opened"];

  function openEditor(s) {
    state.editing = s || null;
    var f = $("edit-form");
    $("edit-title").textContent = s ? "编辑驿站 Edit: " + s.name : "新建驿站 New station";
    $("edit-error").textContent = "";
    FIELDS.forEach(function (k) {
      var v = s ? s[k] : (k === "kind" ? "outdoor" : k === "status" ? "open" : "");
      if (Array.isArray(v)) { v = v.join("、"); }
      f.elements[k].value = v === null || v === undefined ? "" : v;
    });
    f.elements.crs.value = "wgs84";
    $("editor").showModal();
  }

  $("new").addEventListener("click", function () { openEditor(null); });
  $("edit-cancel").addEventListener("click", function () { $("editor").close(); });

  $("edit-save").addEventListener("click", function () {
    var f = $("edit-form");
    var s = state.editing;
    var body = {};
    FIELDS.forEach(function (k) {
      var v = f.elements[k].value.trim();
      var old = s ? s[k] : undefined;
      if (Array.isArray(old)) { old = old.join("、"); }
      if (old === null || old === undefined) { old = ""; }
      if (!s || String(old) !== v) { body[k] = v; }
    });
    if (s && (body.lat !== undefined || body.lon !== undefined)) {  // a move: both coordinates, in the chosen datum
      body.lat = f.elements.lat.value.trim();
      body.lon = f.elements.lon.value.trim();
    }
    var crs = "?crs=" + encodeURIComponent(f.elements.crs.value);
    var call = s ? api("PATCH", "/api/stations/" + encodeURIComponent(s.id) + crs, body, { "If-Match": '"' + s.etag + '"' })
      : api("POST", "/api/stations" + crs, body);
    call.then(function (r) {
      $("editor").close();
      say((s ? "已保存 Saved：" : "已新建 Created：") + r.data.station.name);
      return loadStations();
    }).catch(function (e) {
      $("edit-error").textContent = conflictHint(e);
      if (e.status === 409) { loadStations(); }
    });
  });

  // -- audit -------------------------------------------------------------------------------------------
  function loadAudit() {
    api("GET", "/api/audit?limit=300").then(function (r) {
      var body = $("audit");
      body.textContent = "";
      r.data.entries.forEach(function (e) {
        var tr = el("tr");
        tr.appendChild(el("td", e.at_local));
        tr.appendChild(el("td", e.actor));
        tr.appendChild(el("td", e.action + " / " + e.op));
        tr.appendChild(el("td", ((e.after || e.before || {}).name || "") + " " + e.station_id));
        tr.appendChild(el("td", e.op === "update" ? e.changed.join(", ") : ""));
        body.appendChild(tr);
      });
    }).catch(function (e) { say(e.message, true); });
  }

  $("audit-reload").addEventListener("click", loadAudit);
  $("audit-csv").addEventListener("click", function () {
    fetch("/api/audit?format=csv&limit=100000", { headers: { "Authorization": "Bearer " + token() } })
      .then(function (resp) {
        if (!resp.ok) { throw new Error(resp.status + " " + resp.statusText); }
        return resp.blob();
      }).then(function (blob) {
        var a = document.createElement("a");
        a.href = URL.createObjectURL(blob);
        a.download = "audit.csv";
        document.body.appendChild(a);
        a.click();
        setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
      }).catch(function (e) { say(e.message, true); });
  });

  // -- usage -------------------------------------------------------------------------------------------
  function loadUsage() {
    var by = $("usage-by").value;
    $("usage-csv").href = "/api/usage?format=csv&by=" + encodeURIComponent(by);
    api("GET", "/api/usage?by=" + encodeURIComponent(by)).then(function (r) {
      var body = $("usage");
      body.textContent = "";
      r.data.rows.forEach(function (row) {
        var label = by === "station" ? row.name + " " + row.station : by === "district" ? row.district_name
          : by === "week" ? row.week + "（" + row.monday + "起）" : row.day;
        var tr = el("tr");
        tr.appendChild(el("td", label));
        tr.appendChild(el("td", row.visits));
        tr.appendChild(el("td", row.reports));
        body.appendChild(tr);
      });
      if (!r.data.rows.length) { body.appendChild(el("tr")).appendChild(el("td", "暂无智能驿站报告 No reports yet")); }
    }).catch(function (e) { say(e.message, true); });
  }

  $("usage-by").addEventListener("change", loadUsage);

  // -- start -------------------------------------------------------------------------------------------
  if (token()) {
    api("GET", "/api/auth/me").then(function (r) { signedIn(r.data.user); }).catch(function () { signedOut(); });
  }
}());
