/* The admin page: sign in, list/edit/close/reopen/verify/delete stations, place them on a map, settle workers'
 * reports, read and export the audit log, usage.
 * The token lives in sessionStorage (gone when the tab closes) and goes out only as a Bearer header.
 * Every value from the server (reports' text included) is put into the page as text (textContent), never as HTML.
 * Codes are shown in words from the page's vocabulary block (#sm-admin-words); messages are Chinese first. */
(function () {
  "use strict";
  var KEY = "stationmap-admin-token";
  var $ = function (id) { return document.getElementById(id); };
  var state = { user: null, stations: [], editing: null, reports: [], flags: {}, actOn: null };
  var LIVE = { open: "开放中", closed: "已关闭", unknown: "状态未知" };
  var WORDS = JSON.parse(($("sm-admin-words") || {}).textContent || "{}") || {};
  var STATUS = WORDS.statuses || { open: "开放", closed: "暂停开放", planned: "规划中" };
  var REPORT_KIND = WORDS.report_kinds || { closed: "应开未开", broken: "设施损坏或缺失", location: "位置不对", other: "其他" };
  var REPORT_STATE = WORDS.report_states || { open: "待处理", resolved: "已处理", acted: "已采取措施" };
  var AMENITY = {};
  (WORDS.amenities || []).forEach(function (t) { AMENITY[t.key] = t.zh; });
  // What each refusal means, said first in Chinese; the service's own detail follows.
  var PROBLEM = {
    400: "输入有误，请检查后重试", 401: "未登录或登录已过期，请重新登录", 403: "无权操作：只能管理本县区的驿站",
    404: "找不到该项目（可能已被删除）", 409: "已被他人修改或已处理，页面已刷新，请重试", 413: "内容太长",
    428: "缺少版本信息，请刷新后重试", 429: "操作过于频繁，请稍后再试", 500: "服务器暂时无法处理，请稍后再试",
    503: "服务繁忙，请稍后再试"
  };

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
            err.detail = detail;
            err.retryAfter = resp.headers.get("Retry-After");
            throw err;
          }
          return { resp: resp, data: data };
        });
      });
  }

  function problem(e) {
    var zh = PROBLEM[e.status] || (e.status >= 500 ? PROBLEM[500] : e.status ? "请求未完成" : "网络连接失败，请检查网络");
    if (e.status === 429 && e.retryAfter) { zh += "（" + e.retryAfter + " 秒后）"; }
    return zh + (e.detail ? "。" + e.detail : e.status ? "" : "。" + e.message);
  }

  function amenityWords(keys) {
    return (keys || []).map(function (k) { return AMENITY[k] || k; }).join("、");
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
    loadReports(true);
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
    }).catch(function (e) {
      say("登录失败：" + (e.status === 401 ? "用户名或密码错误，或账号已停用" : problem(e)), true);
    });
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
      if (tab.dataset.tab === "reports") { loadReports(false); }
      if (tab.dataset.tab === "usage") { loadUsage(); }
    });
  });

  // -- stations --------------------------------------------------------------------------------------
  function loadStations() {
    return api("GET", "/api/admin/stations").then(function (r) {
      state.stations = r.data.stations;
      renderStations();
    }).catch(function (e) { say(problem(e), true); });
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

  /* The station's public page and its QR code (SVG to print for the door, PNG to send). */
  function stationLinks(s) {
    var box = el("small", null, "sm-admin-links"), id = encodeURIComponent(s.id);
    [["页面 Page", "/s/" + id, null], ["二维码 QR SVG", "/api/stations/" + id + "/qr.svg", s.id + "-qr.svg"],
      ["PNG", "/api/stations/" + id + "/qr.png", s.id + "-qr.png"]].forEach(function (l) {
      var a = el("a", l[0]);
      a.href = l[1];
      if (l[2]) { a.setAttribute("download", l[2]); } else { a.target = "_blank"; a.rel = "noopener"; }
      box.appendChild(a);
      box.appendChild(document.createTextNode(" "));
    });
    return box;
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
      name.appendChild(stationLinks(s));
      tr.appendChild(name);
      tr.appendChild(el("td", s.district_name + " " + s.township_name));
      var status = el("td", STATUS[s.status] || s.status);
      if (state.flags[s.id]) {
        status.appendChild(el("small", state.flags[s.id] + " 条反馈称应开未开", "sm-admin-flag"));
      }
      tr.appendChild(status);
      tr.appendChild(el("td", s.hours ? s.hours_zh : "未填写"));
      tr.appendChild(el("td", amenityWords(s.amenities) || "—"));
      tr.appendChild(el("td", s.last_verified || "从未核实", s.last_verified ? "" : "sm-admin-stale"));
      tr.appendChild(el("td", liveText(s.live), s.live ? "sm-live-" + s.live.state : ""));
      var actions = el("td");
      actions.appendChild(button("编辑 Edit", function () { openEditor(s); }));
      actions.appendChild(button("今日已核实 Verified today", function () { verify(s); }));
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
      .catch(function (e) { say(problem(e), true); if (e.status === 409) { loadStations(); } });
  }

  function verify(s) {
    api("POST", "/api/admin/stations/" + encodeURIComponent(s.id) + "/verify")
      .then(function () { say("已记录今日核实：" + s.name); return loadStations(); })
      .catch(function (e) { say(problem(e), true); });
  }

  $("filter").addEventListener("input", renderStations);

  // -- the editor ----------------------------------------------------------------------------------------
  var FIELDS = ["name", "kind", "status", "hours", "address", "host", "phone", "year_opened"];
  var GC = { wgs84: "WGS84", gcj02: "GCJ02", bd09: "BD09" };
  var BASEMAPS = {
    amap: { crs: "gcj02", subdomains: "1234", attribution: "&copy; 高德地图 AutoNavi",
            url: "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}" },
    osm: { crs: "wgs84", subdomains: "abc", attribution: "&copy; OpenStreetMap contributors",
           url: "https://tile.openstreetmap.org/{z}/{x}/{y}.png" }
  };
  var picker = { map: null, tiles: null, marker: null, crs: "gcj02", moved: false };
  var useBoxes = (WORDS.amenities || []).length > 0;

  function convert(lat, lon, from, to) {  // [lat, lon] from one datum to another, with the vendored gcoord
    if (from === to) { return [lat, lon]; }
    var p = gcoord.transform([lon, lat], gcoord[GC[from]], gcoord[GC[to]]);
    return [p[1], p[0]];
  }

  function fixed(x) { return String(Math.round(x * 1e7) / 1e7); }

  function typedPoint() {  // the form's point in WGS-84, or null while it is not two numbers in range
    var f = $("edit-form");
    var lat = parseFloat(f.elements.lat.value), lon = parseFloat(f.elements.lon.value);
    if (!isFinite(lat) || !isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) { return null; }
    return convert(lat, lon, f.elements.crs.value, "wgs84");
  }

  function showPoint(pan) {
    var w = typedPoint();
    var where = $("picker-where");
    if (!w) {
      if (picker.marker) { picker.marker.remove(); picker.marker = null; }
      where.textContent = "请在地图上点击，或输入坐标。Tap the map or type coordinates.";
      return;
    }
    var shown = convert(w[0], w[1], "wgs84", BASEMAPS[$("picker-basemap").value].crs);
    if (!picker.marker) {
      picker.marker = L.circleMarker(shown, { radius: 9, color: "#c92a2a", weight: 3, fillOpacity: 0.5 }).addTo(picker.map);
    } else {
      picker.marker.setLatLng(shown);
    }
    if (pan) { picker.map.setView(shown, Math.max(picker.map.getZoom(), 15)); }
    where.textContent = (picker.moved ? "保存后驿站将位于" : "驿站当前位于") + " WGS-84 约 " + w[0].toFixed(6) + ", "
      + w[1].toFixed(6) + "（地图上红圈处）。" + (picker.moved ? "Will be saved here." : "Current location.");
  }

  function setBasemap() {
    var b = BASEMAPS[$("picker-basemap").value];
    if (picker.tiles) { picker.tiles.remove(); }
    picker.tiles = L.tileLayer(b.url, { subdomains: b.subdomains, maxZoom: 18, attribution: b.attribution }).addTo(picker.map);
    showPoint(false);
  }

  function ensurePicker() {
    if (picker.map) { return; }
    picker.map = L.map("picker", { center: [23.55, 116.37], zoom: 10, attributionControl: true });
    picker.map.attributionControl.setPrefix(false);
    picker.map.on("click", function (ev) {  // a tap, in the basemap's datum, written in the form's datum
      var f = $("edit-form");
      var p = convert(ev.latlng.lat, ev.latlng.lng, BASEMAPS[$("picker-basemap").value].crs, f.elements.crs.value);
      f.elements.lat.value = fixed(p[0]);
      f.elements.lon.value = fixed(p[1]);
      picker.moved = true;
      showPoint(false);
    });
    setBasemap();
  }

  function buildBoxes() {
    var box = $("amenity-boxes");
    $("amenities-text").hidden = useBoxes;
    box.hidden = !useBoxes;
    if (!useBoxes || box.querySelector("input")) { return; }
    WORDS.amenities.forEach(function (t) {
      var label = el("label");
      var input = el("input");
      input.type = "checkbox";
      input.value = t.key;
      input.name = "amenity";
      label.appendChild(input);
      label.appendChild(document.createTextNode((t.icon ? t.icon + " " : "") + t.zh));
      box.appendChild(label);
    });
  }

  function chosenAmenities() {
    if (!useBoxes) { return $("edit-form").elements.amenities.value.trim(); }
    return Array.prototype.filter.call($("amenity-boxes").querySelectorAll("input"), function (i) { return i.checked; })
      .map(function (i) { return i.value; });
  }

  function shownValue(s, k) {  // a field as the form shows it: hours in words, not as a code
    if (!s) { return k === "kind" ? "outdoor" : k === "status" ? "open" : ""; }
    var v = k === "hours" ? (s.hours ? s.hours_zh : "") : s[k];
    return v === null || v === undefined ? "" : String(v);
  }

  function openEditor(s, reportId) {
    state.editing = s || null;
    state.actOn = reportId || null;
    var f = $("edit-form");
    $("edit-title").textContent = s ? "编辑驿站 Edit: " + s.name : "新建驿站 New station";
    $("edit-error").textContent = "";
    FIELDS.forEach(function (k) { f.elements[k].value = shownValue(s, k); });
    buildBoxes();
    f.elements.amenities.value = s ? amenityWords(s.amenities) : "";
    Array.prototype.forEach.call($("amenity-boxes").querySelectorAll("input"), function (i) {
      i.checked = !!s && s.amenities.indexOf(i.value) >= 0;
    });
    f.elements.crs.value = "gcj02";  // what staff copy from Amap
    picker.crs = "gcj02";
    picker.moved = false;
    if (s) {
      var g = convert(s.lat, s.lon, "wgs84", "gcj02");
      f.elements.lat.value = fixed(g[0]);
      f.elements.lon.value = fixed(g[1]);
    } else {
      f.elements.lat.value = "";
      f.elements.lon.value = "";
    }
    $("editor").showModal();
    ensurePicker();
    picker.map.invalidateSize();
    showPoint(true);
  }

  $("edit-form").elements.crs.addEventListener("change", function () {  // the same point, said in another datum
    var f = $("edit-form");
    var lat = parseFloat(f.elements.lat.value), lon = parseFloat(f.elements.lon.value);
    if (isFinite(lat) && isFinite(lon) && !picker.moved && state.editing) {
      var p = convert(lat, lon, picker.crs, f.elements.crs.value);
      f.elements.lat.value = fixed(p[0]);
      f.elements.lon.value = fixed(p[1]);
    }
    picker.crs = f.elements.crs.value;
    showPoint(false);
  });
  ["lat", "lon"].forEach(function (k) {
    $("edit-form").elements[k].addEventListener("input", function () { picker.moved = true; showPoint(true); });
  });
  $("picker-basemap").addEventListener("change", function () { if (picker.map) { setBasemap(); } });

  $("new").addEventListener("click", function () { openEditor(null); });
  $("edit-cancel").addEventListener("click", function () { $("editor").close(); });

  $("edit-save").addEventListener("click", function () {
    var f = $("edit-form");
    var s = state.editing;
    var body = {};
    FIELDS.forEach(function (k) {
      var v = f.elements[k].value.trim();
      if (!s || shownValue(s, k) !== v) { body[k] = v; }
    });
    var amenities = chosenAmenities();
    var before = s ? (useBoxes ? s.amenities.slice().sort().join(",") : amenityWords(s.amenities)) : "";
    if (!s || (useBoxes ? amenities.slice().sort().join(",") : amenities) !== before) { body.amenities = amenities; }
    if (!s || picker.moved) {  // a move: both coordinates, in the chosen datum; stored in WGS-84 by the service
      body.lat = f.elements.lat.value.trim();
      body.lon = f.elements.lon.value.trim();
    }
    var crs = "?crs=" + encodeURIComponent(f.elements.crs.value);
    var actOn = state.actOn;
    var call = s ? api("PATCH", "/api/stations/" + encodeURIComponent(s.id) + crs, body, { "If-Match": '"' + s.etag + '"' })
      : api("POST", "/api/stations" + crs, body);
    call.then(function (r) {
      $("editor").close();
      say((s ? "已保存 Saved：" : "已新建 Created：") + r.data.station.name);
      if (actOn) { settle(actOn, "acted", "已修改驿站信息"); }
      return loadStations();
    }).catch(function (e) {
      $("edit-error").textContent = problem(e);
      if (e.status === 409) { loadStations(); }
    });
  });

  // -- workers' reports ----------------------------------------------------------------------------------
  function stationById(id) {
    return state.stations.filter(function (s) { return s.id === id; })[0];
  }

  function loadReports(quiet) {
    var chosen = $("reports-state").value;
    var open = api("GET", "/api/admin/reports?state=open").then(function (r) {
      state.flags = {};
      r.data.reports.forEach(function (x) {
        if (x.kind === "closed") { state.flags[x.station_id] = (state.flags[x.station_id] || 0) + 1; }
      });
      $("reports-count").textContent = String(r.data.reports.length);
      $("reports-count").hidden = r.data.reports.length === 0;
      renderStations();
      return r;
    });
    var shown = chosen === "open" ? open : api("GET", "/api/admin/reports?state=" + encodeURIComponent(chosen));
    return shown.then(function (r) { state.reports = r.data.reports; renderReports(); })
      .catch(function (e) { if (!quiet) { say("无法读取群众反馈：" + problem(e), true); } });
  }

  function reportText(x) {
    var t = x.text || "";
    if (x.kind === "location" && x.lat !== null && x.lat !== undefined) {
      t += (t ? "\n" : "") + "报告人位置 WGS-84：" + x.lat + ", " + x.lon
        + (x.accuracy_m !== null && x.accuracy_m !== undefined ? "（误差约 " + Math.round(x.accuracy_m) + " 米）" : "");
    }
    return t || "—";
  }

  function renderReports() {
    var body = $("reports");
    body.textContent = "";
    state.reports.forEach(function (x) {
      var s = stationById(x.station_id);
      var tr = el("tr");
      tr.appendChild(el("td", x.at_local));
      var where = el("td", s ? s.name : x.station_id);
      where.appendChild(el("small", x.district_name + " · " + x.station_id));
      tr.appendChild(where);
      tr.appendChild(el("td", (REPORT_KIND[x.kind] || x.kind) + (x.amenity ? "：" + (AMENITY[x.amenity] || x.amenity_zh || x.amenity) : "")));
      tr.appendChild(el("td", reportText(x), "sm-admin-text"));
      var st = el("td", REPORT_STATE[x.state] || x.state);
      if (x.state !== "open") { st.appendChild(el("small", x.handled_by + " " + x.handled_local + (x.note ? " · " + x.note : ""))); }
      tr.appendChild(st);
      var actions = el("td");
      if (x.state === "open") {
        actions.appendChild(button("已处理 Resolve", function () {
          var note = window.prompt("处理说明（可不填）Note (optional)", "");
          if (note !== null) { settle(x.id, "resolved", note); }
        }));
        if (x.kind === "closed" && s && s.status === "open") {
          actions.appendChild(button("暂停开放此驿站 Close station", function () { closeFromReport(x, s); }));
        }
        if (s) { actions.appendChild(button("编辑驿站 Edit station", function () { openEditor(s, x.id); })); }
      }
      tr.appendChild(actions);
      body.appendChild(tr);
    });
    if (!state.reports.length) { body.appendChild(el("tr")).appendChild(el("td", "暂无反馈 No reports")); }
  }

  function settle(id, outcome, note) {
    return api("POST", "/api/admin/reports/" + encodeURIComponent(id) + "/resolve", { outcome: outcome, note: note || "" })
      .then(function () { say(outcome === "acted" ? "反馈已标记为已采取措施" : "反馈已标记为已处理"); return loadReports(false); })
      .catch(function (e) { say(problem(e), true); loadReports(true); });
  }

  function closeFromReport(x, s) {
    if (!window.confirm("将「" + s.name + "」设为暂停开放？此操作记入审计日志。Close this station?")) { return; }
    api("POST", "/api/admin/reports/" + encodeURIComponent(x.id) + "/close", { note: "" }, { "If-Match": '"' + s.etag + '"' })
      .then(function () { say("已暂停开放：" + s.name + "，相关反馈已标记"); return loadStations().then(function () { return loadReports(false); }); })
      .catch(function (e) { say(problem(e), true); if (e.status === 409) { loadStations(); } });
  }

  $("reports-state").addEventListener("change", function () { loadReports(false); });
  $("reports-reload").addEventListener("click", function () { loadReports(false); });

  var ACTION = { create: "新建", edit: "编辑", close: "暂停开放", reopen: "恢复开放", delete: "删除", verify: "核实",
                 "import": "导入", sample: "示例数据", report: "群众反馈", "report-resolve": "反馈已处理",
                 "report-act": "反馈已采取措施" };

  function noteText(d) {
    if (!d) { return ""; }
    return "反馈 #" + d.report + " " + (REPORT_KIND[d.kind] || d.kind || "") + (d.amenity ? "：" + (AMENITY[d.amenity] || d.amenity) : "")
      + (d.step === "close" ? " · 已暂停开放" : "") + (d.note ? " · " + d.note : "");
  }

  // -- audit -------------------------------------------------------------------------------------------
  function loadAudit() {
    api("GET", "/api/audit?limit=300").then(function (r) {
      var body = $("audit");
      body.textContent = "";
      r.data.entries.forEach(function (e) {
        var tr = el("tr");
        tr.appendChild(el("td", e.at_local));
        tr.appendChild(el("td", e.actor));
        tr.appendChild(el("td", ACTION[e.action] || e.action));
        var st = stationById(e.station_id);
        tr.appendChild(el("td", ((e.after || e.before || st || {}).name || "") + " " + e.station_id));
        tr.appendChild(el("td", e.op === "update" ? e.changed.join(", ") : e.op === "note" ? noteText(e.detail) : ""));
        body.appendChild(tr);
      });
    }).catch(function (e) { say(problem(e), true); });
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
      }).catch(function (e) { say(problem(e), true); });
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
    }).catch(function (e) { say(problem(e), true); });
  }

  $("usage-by").addEventListener("change", loadUsage);

  // -- start -------------------------------------------------------------------------------------------
  if (token()) {
    api("GET", "/api/auth/me").then(function (r) { signedIn(r.data.user); }).catch(function () { signedOut(); });
  }
}());
