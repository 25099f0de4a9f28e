/* Worker map: markers in the folium MarkerCluster, orientation without tiles, basemap switcher, search,
 * travel mode, "locate me", the numbered nearest list, language switch.
 * Station positions arrive already shifted into the basemap's datum by stationmap.mapview (Python), and
 * so do district lines and the orientation layer; the user's own position (WGS-84), search results and,
 * after a basemap switch, everything drawn, are shifted here with the vendored gcoord.
 * With cfg.api set, nearest search asks /api/nearest (geodesic, the library); in a static export it
 * runs here on the embedded records (haversine, same speeds and detour factor as stationmap.travel).
 * A static export reads its view and filters (district, kind, center, zoom, lang, basemap) from the URL.
 * A large registry (cfg.remote) is not in the page: as the view moves, the page asks /api/stations/clusters for
 * the clusters and single stations in view (debounced), and the nearest list always comes from /api/nearest. */
var StationMap = (function () {
  "use strict";
  var S = { markers: {}, filters: { amenities: [], open: false }, user: null, tapToSet: false, k: 5, mode: "ebike" };
  var STEP = 5, FAR_M = 30000, MODE_KEY = "stationmap.mode";

  function $(id) { return document.getElementById(id); }
  var I18N = null;  /* the page's words, a JSON block the server fills (stationmap/maps/words.py) */
  function t(key) {
    I18N = I18N || JSON.parse(document.getElementById("sm-i18n").textContent);
    return (I18N[S.lang] || I18N.zh)[key] || key;
  }
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function json(id) { var el = $(id); return el ? JSON.parse(el.textContent) : null; }
  function amenityName(key) { var a = S.cfg.amenities[key]; return a ? a[S.lang === "en" ? 1 : 0] : key; }
  function amenityIcon(key) { var a = S.cfg.amenities[key]; return (a && a[2]) || ""; }
  function amenityTags(st) {
    return '<span class="sm-ams">' + st.am.map(function (key) {
      var i = amenityIcon(key);
      return '<span class="sm-am">' + (i ? '<span aria-hidden="true">' + esc(i) + "</span>" : "") + esc(amenityName(key)) + "</span>";
    }).join("") + "</span>";
  }

  /* -- opening hours on the Asia/Shanghai clock ----------------------------------------------- */
  function clock() {
    var parts = new Intl.DateTimeFormat("en-GB", { timeZone: "Asia/Shanghai", weekday: "short", hour: "2-digit",
      minute: "2-digit", hourCycle: "h23" }).formatToParts(new Date());
    var get = function (type) { for (var i = 0; i < parts.length; i++) if (parts[i].type === type) return parts[i].value; };
    return { day: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].indexOf(get("weekday")),
      minute: parseInt(get("hour"), 10) * 60 + parseInt(get("minute"), 10) };
  }
  function hhmm(m) { return ("0" + Math.floor(m / 60)).slice(-2) + ":" + ("0" + (m % 60)).slice(-2); }
  function byHours(st) {  /* null: hours unknown */
    if (!st.h) return null;
    var c = clock();
    return st.h[c.day].some(function (span) { return span[0] <= c.minute && c.minute < span[1]; });
  }
  /* When the hours change next: "open until 18:00", "opens 08:00", "opens tomorrow 08:00"; "" if never. */
  function nextChange(st) {
    if (!st.h) return "";
    var c = clock();
    if (st.h.every(function (d) { return d.some(function (s) { return s[0] <= 0 && s[1] >= 1440; }); })) return t("open_24h");
    var cur = st.h[c.day].filter(function (s) { return s[0] <= c.minute && c.minute < s[1]; })[0];
    if (cur) {
      var end = cur[1], day = c.day;  /* an evening span running past midnight continues the next day */
      if (end >= 1440) {
        var next = st.h[(day + 1) % 7].filter(function (s) { return s[0] === 0; })[0];
        if (next) return t("closes_at").replace("{t}", t("tomorrow") + " " + hhmm(next[1] % 1440));
      }
      return t("closes_at").replace("{t}", hhmm(end));  /* ends are at most 1440: "24:00" */
    }
    for (var k = 0; k < 8; k++) {
      var d = (c.day + k) % 7, spans = st.h[d].slice().sort(function (a, b) { return a[0] - b[0]; });
      for (var i = 0; i < spans.length; i++) {
        if (k === 0 && spans[i][0] <= c.minute) continue;
        var when = k === 0 ? "" : k === 1 ? t("tomorrow") + " " : t("days").split(",")[d] + " ";
        return t("opens_at").replace("{t}", when + hhmm(spans[i][0]));
      }
    }
    return "";
  }
  /* The one rule of stationmap.present.open_state: status, then a smart station's live report, then hours. */
  function openState(st) {
    var live = st.k === "smart" && S.live ? (S.live[st.id] || { state: "unknown" }) : null, label, on;
    if (st.os && !st.h) { on = st.os.open; label = st.os.label; }  /* a record from a nearest answer: its state */
    else if (st.st !== "open") { on = false; label = st.st === "closed" ? "suspended" : "planned"; }
    else if (live && (live.state === "open" || live.state === "closed")) { on = live.state === "open"; label = live.state + "_live"; }
    else {
      on = byHours(st);
      label = on === null ? "hours_unknown" : !on ? "closed" : st.k === "smart" ? "open_by_hours" : "open";
    }
    var words = S.cfg.labels[label] || [label, label];
    return { open: on, label: label, text: words[S.lang === "en" ? 1 : 0], live: live };
  }
  function openNow(st) { return openState(st).open; }

  function stateBadge(st) {
    var s = openState(st), more = s.label === "suspended" || s.label === "planned" ? "" : nextChange(st);
    if (s.label === "open_live" && s.live && s.live.occupancy != null) more = s.live.occupancy + " " + t("people") + (more ? " · " + more : "");
    var cls = s.open === true ? "sm-isopen" : s.open === false ? "sm-isclosed" : "sm-unknown";
    return '<span class="sm-badge ' + cls + '" data-state="' + esc(s.label) + '">' + esc(s.text) + "</span>" +
      (more ? ' <span class="sm-when">' + esc(more) + "</span>" : "");
  }

  function fetchLive() {
    fetch(S.cfg.api + "/live", { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d) { S.live = d.stations; if (S.lastNearest) showNearest(S.lastNearest, S.lastMsg); } })
      .catch(function (e) {  /* live status is extra: the map works without it */
        if (e instanceof TypeError) offline(true);  /* the page's first question: no answer, no network */
      });
  }

  /* Stations with open "closed" reports from workers (a count each, never the text): badges on the map. */
  function fetchReported() {
    fetch(S.cfg.api + "/reports/closed", { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d) { S.reported = d.stations; if (S.lastNearest) showNearest(S.lastNearest, S.lastMsg); } })
      .catch(function () { /* a badge is extra: the map works without it */ });
  }
  function reportedBadge(st) {
    return S.reported && S.reported[st.id] ? ' <span class="sm-badge sm-reported" data-reported="' + esc(S.reported[st.id]) +
      '">' + esc(t("reported_closed_short")) + "</span>" : "";
  }

  /* The station's own page (served maps only; a static copy has none): details, sharing, reports. */
  function pageUrl(st, hash) {
    return S.cfg.api.replace(/\/api$/, "") + "/s/" + encodeURIComponent(st.id) + (S.lang === "en" ? "?lang=en" : "") + (hash || "");
  }
  function pageLinks(st) {
    if (!S.cfg.api) return "";
    var away = window.top !== window.self ? ' target="_blank" rel="noopener"' : "";  /* framed (embed): a new tab */
    return '<div class="sm-links"><a class="sm-page-link" href="' + esc(pageUrl(st)) + '"' + away + ">" + esc(t("details")) +
      '</a><a class="sm-report-link" href="' + esc(pageUrl(st, "#report")) + '"' + away + ">" + esc(t("report")) + "</a></div>";
  }

  /* -- navigation hand-off: stationmap.present.nav_config's templates, in the chosen mode ------------ */
  function navUrl(which, st) {
    var app = S.cfg.nav.apps[which], c = which === "amap" ? st.g : st.b;  // [lon, lat] from stationmap.datums
    var origin = "";
    if (S.user) {
      var o = gcoord.transform([S.user[1], S.user[0]], gcoord.WGS84, app.crs === "bd09" ? gcoord.BD09 : gcoord.GCJ02);
      origin = app.origin.replace("{olat}", o[1].toFixed(6)).replace("{olon}", o[0].toFixed(6));
    }
    return app.url.replace("{origin}", origin).replace("{mode}", app.modes[S.mode])
      .replace("{lon}", c[0].toFixed(6)).replace("{lat}", c[1].toFixed(6))
      .replace("{name}", encodeURIComponent(st.n.replace(/,/g, "，")));
  }

  function navButtons(st) {
    return '<div class="sm-nav"><a class="sm-btn sm-nav-amap" target="_blank" rel="noopener" href="' + esc(navUrl("amap", st)) +
      '">' + esc(t("amap")) + '</a><a class="sm-btn sm-nav-baidu" target="_blank" rel="noopener" href="' +
      esc(navUrl("baidu", st)) + '">' + esc(t("baidu")) + "</a>" +
      (st.ph ? '<a class="sm-btn sm-btn-ghost sm-call" href="tel:' + esc(st.ph) + '">' + esc(t("call")) + "</a>" : "") + "</div>";
  }

  function hoursText(st) { return S.lang === "en" ? (st.ho === "24/7" ? "24/7" : st.ho || t("hours_unknown")) : st.hz; }

  function popupHtml(st) {
    return '<div class="sm-popup" data-id="' + esc(st.id) + '">' +
      '<div class="sm-popup-kind sm-k-' + esc(st.k) + '">' + esc(t(st.k)) + (st.demo ? ' · <span class="sm-demo">' +
        esc(t("sample_short")) + "</span>" : "") + "</div>" +
      "<h3>" + esc(st.n) + "</h3>" + stateBadge(st) + reportedBadge(st) + navButtons(st) +
      "<dl><dt>" + esc(t("hours")) + "</dt><dd>" + esc(hoursText(st)) + "</dd>" +
      (st.am.length ? "<dt>" + esc(t("amenities")) + "</dt><dd>" + amenityTags(st) + "</dd>" : "") +
      (st.a ? "<dt>" + esc(t("address")) + "</dt><dd>" + esc(st.a) + "</dd>" : "") +
      (st.ph ? "<dt>" + esc(t("phone")) + '</dt><dd><a href="tel:' + esc(st.ph) + '">' + esc(st.ph) + "</a></dd>" : "") +
      "</dl>" + pageLinks(st) + "</div>";
  }

  /* A 44 px tap target around the drawn pin (28 px outdoor, 34 px smart). */
  function icon(st) {
    var cls = "sm-pin sm-" + st.k + (st.st !== "open" ? " sm-off" : "");
    return L.divIcon({ className: "sm-icon", html: '<span class="' + cls + '" data-id="' + esc(st.id) + '"><span>' +
      (st.k === "smart" ? "智" : "驿") + "</span></span>", iconSize: [44, 44], iconAnchor: [22, 22], popupAnchor: [0, -14] });
  }

  /* A cluster says how many smart stations it holds (智N), so that they stay visible at city scale. */
  function clusterIcon(cluster) {
    var kids = cluster.getAllChildMarkers(), smart = 0;
    for (var i = 0; i < kids.length; i++) if (S.byId[kids[i].options.stationId].k === "smart") smart++;
    var size = kids.length < 10 ? "small" : kids.length < 100 ? "medium" : "large";
    return L.divIcon({ className: "marker-cluster marker-cluster-" + size, iconSize: L.point(44, 44),
      html: "<div><span>" + kids.length + "</span></div>" +
        (smart ? '<b class="sm-cluster-smart">智' + smart + "</b>" : "") });
  }

  function passes(st) {
    var f = S.filters;
    for (var i = 0; i < f.amenities.length; i++) if (st.am.indexOf(f.amenities[i]) < 0) return false;
    if (f.open && openNow(st) !== true) return false;
    return true;
  }

  function redraw() {
    var shown = [];
    S.cfg.stations.forEach(function (st) { if (passes(st)) shown.push(S.markers[st.id]); });
    S.cluster.clearLayers();
    S.cluster.addLayers(shown);
    S.shown = shown.length;
    stationLabels();
    status();
  }

  function status(msg) {
    var el = $("sm-status");
    if (!el) return;
    var total = S.cfg.remote ? S.cfg.remote.total : S.cfg.stations.length;
    var text = S.cfg.remote || S.shown === total ? t("all_stations").replace("{n}", total)
      : t("shown_stations").replace("{n}", S.shown).replace("{total}", total);
    el.textContent = msg ? msg + " " + text : text;
    S.lastMsg = msg || "";
  }

  /* -- orientation without tiles: township cells and names, seats, districts, station names ----- */
  function label(p, text, cls) {
    return L.marker(p, { pane: "sm-labels", interactive: false, keyboard: false,
      icon: L.divIcon({ className: "sm-label " + cls, html: "<span>" + esc(text) + "</span>", iconSize: null }) });
  }
  function drawOrientation() {
    var o = S.orient;
    S.map.createPane("sm-labels").style.zIndex = 450;
    S.map.getPane("sm-labels").style.pointerEvents = "none";
    S.cells = L.geoJSON(o.cells, { interactive: false, style: function () {
      return { color: "#5f6b7a", weight: 1, opacity: 0.7, fill: false, dashArray: "2 4" }; } }).addTo(S.map);
    S.placeLabels = L.layerGroup().addTo(S.map);
    o.seats.forEach(function (s) { S.placeLabels.addLayer(label([s[0], s[1]], s[2], "sm-label-town")); });
    o.districts.forEach(function (d) { S.placeLabels.addLayer(label([d[0], d[1]], S.lang === "en" ? d[3] : d[2], "sm-label-district")); });
    S.stationLabels = L.layerGroup().addTo(S.map);
    S.map.on("zoomend", zoomClass);
    S.map.on("moveend", function () { if (S.map.getZoom() >= 15) stationLabels(); });
    zoomClass();
  }
  function zoomClass() {
    var z = S.map.getZoom(), c = S.map.getContainer();
    c.classList.toggle("sm-z-city", z < 11);
    c.classList.toggle("sm-z-street", z >= 15);
    stationLabels();
  }
  function stationLabels() {
    if (!S.stationLabels) return;
    S.stationLabels.clearLayers();
    if (S.map.getZoom() < 15) return;
    var seen = S.map.getBounds().pad(0.25);  /* the names of the stations in view only */
    S.cfg.stations.forEach(function (st) {
      if (passes(st) && seen.contains(st.p)) S.stationLabels.addLayer(label(st.p, st.n, "sm-label-station"));
    });
  }

  /* -- basemaps: one tap to switch; a line when tiles fail ------------------------------------- */
  var CRS = { wgs84: "WGS84", gcj02: "GCJ02", bd09: "BD09" };
  function shift(latlng, from, to) {
    if (from === to) return L.latLng(latlng.lat, latlng.lng);
    var p = gcoord.transform([latlng.lng, latlng.lat], gcoord[CRS[from]], gcoord[CRS[to]]);
    return L.latLng(p[1], p[0]);
  }
  function shiftAll(arr, from, to) {
    return arr.map(function (x) { return Array.isArray(x) ? shiftAll(x, from, to) : shift(x, from, to); });
  }
  function useBasemap(key) {
    var b = S.cfg.basemaps[key], from = S.cfg.crs, to = b ? b.crs : from;
    S.tiles.forEach(function (l) { S.map.removeLayer(l); });
    S.tiles = [];
    S.basemap = key;
    if (from !== to) {  /* everything drawn moves into the new basemap's datum */
      Object.keys(S.byId).forEach(function (id) {
        var st = S.byId[id];
        st.p = to === "gcj02" ? [st.g[1], st.g[0]] : [st.w[0], st.w[1]];
        if (S.markers[id]) S.markers[id].setLatLng(st.p);
      });
      [S.boundaries, S.cells].forEach(function (g) {
        g.eachLayer(function (l) { if (l.setLatLngs) l.setLatLngs(shiftAll(l.getLatLngs(), from, to)); });
      });
      S.placeLabels.eachLayer(function (l) { l.setLatLng(shift(l.getLatLng(), from, to)); });
      S.map.setView(shift(S.map.getCenter(), from, to), S.map.getZoom(), { animate: false });
      S.cfg.crs = to;
      if (S.cfg.remote) loadView();
      if (S.user) drawUser();
      if (S.lastNearest) drawNumbers(S.lastNearest);
      redraw();
    }
    tileWatch(null);
    if (b) {
      b.layers.forEach(function (def) {
        var layer = L.tileLayer(def.url, { subdomains: def.subdomains, maxNativeZoom: def.maxNativeZoom, maxZoom: 18,
          attribution: def.attribution }).addTo(S.map);
        layer.bringToBack();
        S.tiles.push(layer);
      });
      tileWatch(S.tiles[0]);
    }
    Array.prototype.forEach.call(document.querySelectorAll(".sm-basemaps button"), function (el) {
      el.setAttribute("aria-pressed", String(el.dataset.basemap === key));
    });
  }
  /* Tiles failed: three errors and no tile loaded, or nothing loaded within 6 s. */
  function tileWatch(layer) {
    clearTimeout(S.tileTimer);
    tileNote(false);
    if (!layer) return;
    var errors = 0, loaded = false;
    layer.on("tileload", function () { loaded = true; tileNote(false); });
    layer.on("tileerror", function () { if (++errors >= 3 && !loaded) tileNote(true); });
    S.tileTimer = setTimeout(function () { if (!loaded) tileNote(true); }, 6000);
  }
  function tileNote(on) {
    var el = $("sm-tiles");
    if (!el) return;
    el.hidden = !on;
    if (on) el.textContent = t("tiles_failed").replace("{b}", basemapName(S.basemap));
  }
  function basemapName(key) { return t("bm_" + key); }
  function basemapControl() {
    var Ctl = L.Control.extend({ options: { position: "bottomleft" }, onAdd: function () {
      var box = L.DomUtil.create("div", "sm-basemaps leaflet-bar");
      box.setAttribute("role", "group");
      box.setAttribute("aria-label", t("basemap"));
      Object.keys(S.cfg.basemaps).concat(["none"]).forEach(function (key) {
        var btn = L.DomUtil.create("button", "", box);
        btn.type = "button"; btn.dataset.basemap = key;
        btn.textContent = basemapName(key);
        L.DomEvent.on(btn, "click", function (e) { L.DomEvent.stop(e); useBasemap(key); });
      });
      L.DomEvent.disableClickPropagation(box);
      return box;
    } });
    new Ctl().addTo(S.map);
  }

  /* -- filters and travel mode ---------------------------------------------------------------- */
  var CHIPS = ["ebike_charging", "battery_swap", "microwave", "drinking_water", "toilet", "ebike_parking", "air_conditioning",
    "phone_charging", "step_free", "first_aid", "aed", "seating", "fridge", "wifi", "umbrella", "tool_kit", "reading",
    "shelter", "washbasin", "sewing_kit"];

  function buildFilters() {
    var box = $("sm-filters");
    if (!box) return;
    CHIPS.forEach(function (key) {
      if (!S.cfg.amenities[key]) return;
      var b = document.createElement("button");
      b.type = "button"; b.className = "sm-chip"; b.dataset.amenity = key; b.setAttribute("aria-pressed", "false");
      chipText(b);
      b.addEventListener("click", function () {
        var on = b.getAttribute("aria-pressed") !== "true";
        b.setAttribute("aria-pressed", String(on));
        var list = S.filters.amenities;
        if (on) list.push(key); else list.splice(list.indexOf(key), 1);
        changed();
      });
      box.appendChild(b);
    });
    var open = $("sm-open");
    open.addEventListener("click", function () {
      S.filters.open = open.getAttribute("aria-pressed") !== "true";
      open.setAttribute("aria-pressed", String(S.filters.open));
      changed();
    });
  }
  function chipText(b) {
    var i = amenityIcon(b.dataset.amenity);
    b.textContent = (i ? i + " " : "") + amenityName(b.dataset.amenity);
  }

  function buildModes() {
    try { var saved = window.localStorage.getItem(MODE_KEY); } catch (e) { saved = null; }
    if (saved && S.cfg.speeds[saved]) S.mode = saved;
    Array.prototype.forEach.call(document.querySelectorAll("#sm-modes button"), function (b) {
      b.setAttribute("aria-pressed", String(b.dataset.mode === S.mode));
      b.addEventListener("click", function () {
        S.mode = b.dataset.mode;
        try { window.localStorage.setItem(MODE_KEY, S.mode); } catch (e) { /* private mode: not remembered */ }
        Array.prototype.forEach.call(document.querySelectorAll("#sm-modes button"), function (o) {
          o.setAttribute("aria-pressed", String(o === b));
        });
        if (S.lastNearest) showNearest(S.lastNearest, S.lastMsg);
        S.map.closePopup();
      });
    });
  }

  function changed() {
    redraw();
    if (S.user) findNearest();
  }

  /* -- where the worker is: located, tapped or searched ---------------------------------------- */
  function toDisplay(lat, lon) {  // WGS-84 -> the basemap's datum (GCJ-02 for Amap)
    if (S.cfg.crs !== "gcj02") return [lat, lon];
    var p = gcoord.transform([lon, lat], gcoord.WGS84, gcoord.GCJ02);
    return [p[1], p[0]];
  }
  function fromDisplay(lat, lon) {
    if (S.cfg.crs !== "gcj02") return [lat, lon];
    var p = gcoord.transform([lon, lat], gcoord.GCJ02, gcoord.WGS84);
    return [p[1], p[0]];
  }

  function drawUser() {
    if (S.userMarker) S.map.removeLayer(S.userMarker);
    S.userMarker = L.circleMarker(toDisplay(S.user[0], S.user[1]), { radius: 9, color: "#fff", weight: 3,
      fillColor: "#1a73e8", fillOpacity: 1, className: "sm-you" }).addTo(S.map).bindTooltip(t("you"));
  }

  function setUser(lat, lon, note) {
    S.user = [lat, lon];
    S.k = STEP;
    drawUser();
    findNearest(note);
  }

  function locate() {
    var btn = $("sm-locate");
    status(t("locating"));
    if (!navigator.geolocation) return failed();
    btn.disabled = true;
    navigator.geolocation.getCurrentPosition(function (pos) {
      btn.disabled = false;
      S.tapToSet = false;
      setUser(pos.coords.latitude, pos.coords.longitude);
    }, function () { btn.disabled = false; failed(); }, { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
  }

  /* No location: searching for a place is what we offer first (tapping the map still works). */
  function failed() {
    S.tapToSet = true;
    status(t("locate_failed"));
    var list = $("sm-list");
    if (list) list.innerHTML = '<li class="sm-hint">' + esc(t("locate_failed")) + "</li>";
    var q = $("sm-q");
    if (q) { document.body.classList.add("sm-search-first"); q.focus(); }
  }

  function haversine(a, b) {
    var R = 6371008.8, r = Math.PI / 180;
    var dLat = (b[0] - a[0]) * r, dLon = (b[1] - a[1]) * r;
    var h = Math.sin(dLat / 2) * Math.sin(dLat / 2) + Math.cos(a[0] * r) * Math.cos(b[0] * r) * Math.sin(dLon / 2) * Math.sin(dLon / 2);
    return 2 * R * Math.asin(Math.min(1, Math.sqrt(h)));
  }

  function localNearest(k) {
    var c = S.cfg, out = [];
    c.stations.forEach(function (st) {
      if (!passes(st)) return;
      var d = haversine(S.user, st.w), minutes = {};
      Object.keys(c.speeds).forEach(function (m) { minutes[m] = d * c.detour / c.speeds[m] / 60; });
      out.push({ id: st.id, distance_m: d, minutes: minutes });
    });
    out.sort(function (a, b) { return a.distance_m - b.distance_m; });
    return out.slice(0, k);
  }

  function findNearest(note) {
    var k = S.k;
    if (!S.cfg.api) return showNearest(localNearest(k), note);
    var q = "lat=" + S.user[0].toFixed(7) + "&lon=" + S.user[1].toFixed(7) + "&k=" + k;
    if (S.filters.amenities.length) q += "&amenity=" + encodeURIComponent(S.filters.amenities.join(","));
    if (S.filters.open) q += "&open_now=true";
    fetch(S.cfg.api + "/nearest?" + q, { headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) {
        if (S.cfg.remote) data.results.forEach(function (r) { if (!S.byId[r.id]) S.byId[r.id] = fromResult(r); });
        var res = data.results.filter(function (r) { return S.byId[r.id]; });
        res.far = data.far;
        res.inJieyang = data.origin.in_jieyang;
        showNearest(res, note);
      })
      .catch(function (e) {
        if (e instanceof TypeError) offline(true);  /* no answer at all, not a refusal: no network */
        showNearest(localNearest(k), note);
      });
  }

  function fmtDistance(m) {
    return m < 1000 ? Math.round(m) + " " + t("m") : (m / 1000).toFixed(m < 10000 ? 1 : 0) + " " + t("km");
  }
  function minutes(r) {
    var m = r.minutes && r.minutes[S.mode] != null ? r.minutes[S.mode]
      : r.distance_m * S.cfg.detour / S.cfg.speeds[S.mode] / 60;
    return Math.max(1, Math.round(m));
  }

  /* Numbered pins on the map matching the rows of the list. */
  function drawNumbers(results) {
    if (S.numbers) S.map.removeLayer(S.numbers);
    S.numbers = L.layerGroup(results.map(function (r, i) {
      return L.marker(S.byId[r.id].p, { interactive: false, keyboard: false, zIndexOffset: 2000,
        icon: L.divIcon({ className: "sm-num-icon", html: '<span class="sm-num" data-id="' + esc(r.id) + '">' + (i + 1) + "</span>",
          iconSize: [22, 22], iconAnchor: [-4, 28] }) });
    })).addTo(S.map);
  }

  function showNearest(results, note) {
    S.lastNearest = results;
    var list = $("sm-list");
    var far = results.far != null ? results.far : results.length > 0 && results[0].distance_m > FAR_M;
    if (far) note = t("far").replace("{d}", fmtDistance(results[0].distance_m));
    else if (results.inJieyang === false && !note) note = t("outside");
    status(note || "");
    drawNumbers(results);
    if (!list) return;
    if (!results.length) { list.innerHTML = '<li class="sm-hint">' + esc(t("none_found")) + "</li>"; return; }
    list.innerHTML = results.map(function (r, i) {
      var st = S.byId[r.id];
      var how = far ? "" : " · " + esc(t(S.mode)) + " " + minutes(r) + " " + esc(t("min"));
      return '<li class="sm-item" data-id="' + esc(st.id) + '"><button type="button" class="sm-item-main">' +
        '<span class="sm-num sm-num-row" aria-hidden="true">' + (i + 1) + "</span>" +
        "<b>" + esc(st.n) + "</b>" + (st.k === "smart" ? ' <span class="sm-kind-smart">' + esc(t("smart_short")) + "</span>" : "") +
        '<span class="sm-dist">' + fmtDistance(r.distance_m) + how + "</span>" +
        '<span class="sm-state">' + stateBadge(st) + reportedBadge(st) + "</span>" + amenityTags(st) +
        (st.a ? '<span class="sm-addr">' + esc(st.a) + "</span>" : "") +
        "</button>" + navButtons(st) + pageLinks(st) + "</li>";
    }).join("") + (results.length >= S.k ? '<li class="sm-more-row"><button type="button" class="sm-btn sm-btn-ghost sm-more" id="sm-more">' +
      esc(t("more")) + "</button></li>" : "");
    Array.prototype.forEach.call(list.querySelectorAll(".sm-item-main"), function (b) {
      b.addEventListener("click", function () { focus(b.parentNode.dataset.id); });
    });
    var more = $("sm-more");
    if (more) more.addEventListener("click", function () { S.k += STEP; S.keepView = true; findNearest(S.lastMsg); });
    if (S.keepView) { S.keepView = false; return; }
    var pts = results.slice(0, STEP).map(function (r) { return S.byId[r.id].p; });
    if (!far) pts.push(toDisplay(S.user[0], S.user[1]));
    var legend = $("sm-legend");
    if (legend) legend.open = false;
    S.map.invalidateSize();  // the list below the map may have grown
    S.map.fitBounds(L.latLngBounds(pts).pad(0.2), { maxZoom: 16 });
  }

  function focus(id) {
    var m = S.markers[id], st = S.byId[id];
    if (m && S.cluster.hasLayer(m)) return S.cluster.zoomToShowLayer(m, function () { m.openPopup(); });
    S.map.setView(st.p, Math.max(S.map.getZoom(), 17));  /* not loaded yet: the view's stations follow */
    L.popup({ maxWidth: Math.min(320, window.innerWidth - 60) }).setLatLng(st.p).setContent(popupHtml(st)).openOn(S.map);
  }

  /* -- a large registry: what the view shows, from the service ---------------------------------- */
  function place(st) { st.p = S.cfg.crs === "gcj02" ? [st.g[1], st.g[0]] : [st.w[0], st.w[1]]; return st; }
  function fromResult(r) {  /* a nearest answer's station as the map's record */
    return place({ id: r.id, n: r.name, k: r.kind, st: r.status, w: [r.lat, r.lon], g: r.coords.gcj02, b: r.coords.bd09,
      a: r.address, hz: r.hours_zh, ho: r.hours, h: null, os: r.open_state, am: r.amenities || [], f: [], ph: r.phone,
      d: r.district, demo: r.demo });
  }
  function viewBox() {
    var b = S.map.getBounds().pad(0.1), sw = fromDisplay(b.getSouth(), b.getWest()), ne = fromDisplay(b.getNorth(), b.getEast());
    var clamp = function (v, lim) { return Math.max(-lim, Math.min(lim, v)).toFixed(5); };
    return [clamp(sw[1], 180), clamp(sw[0], 85), clamp(ne[1], 180), clamp(ne[0], 85)].join(",");
  }
  function loadView() {
    clearTimeout(S.viewTimer);
    S.viewTimer = setTimeout(function () {
      var ask = ++S.asked, q = new URLSearchParams({ bbox: viewBox(), zoom: String(Math.floor(S.map.getZoom())) });
      fetch(S.cfg.api + "/stations/clusters?" + q, { headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (d) { if (ask === S.asked) drawView(d); })
        .catch(function (e) { if (e instanceof TypeError) offline(true); });
    }, 250);
  }
  function drawView(d) {
    S.cfg.stations = d.stations.map(function (st) {
      var known = S.byId[st.id];
      if (!known || !known.h) { S.byId[st.id] = place(st); S.markers[st.id] = marker(st); }
      return S.byId[st.id];
    });
    S.groups.clearLayers();
    d.clusters.forEach(function (c) {
      var size = c.count < 10 ? "small" : c.count < 100 ? "medium" : "large";
      var g = L.marker(toDisplay(c.lat, c.lon), { keyboard: false, icon: L.divIcon({ className: "marker-cluster marker-cluster-" + size +
        " sm-view-cluster", iconSize: L.point(44, 44), html: "<div><span>" + c.count + "</span></div>" +
        (c.smart ? '<b class="sm-cluster-smart">智' + c.smart + "</b>" : "") }) });
      g.on("click", function () {
        var sw = toDisplay(c.bbox[1], c.bbox[0]), ne = toDisplay(c.bbox[3], c.bbox[2]);
        S.map.fitBounds(L.latLngBounds(sw, ne).pad(0.2), { maxZoom: 18 });
      });
      S.groups.addLayer(g);
    });
    redraw();
  }

  /* -- search: stations, townships and districts, pasted coordinates; all offline ----------------
   * The ranking of stationmap.query.search: equal 1.0, starts with 0.8, contains 0.6, a place named inside
   * the query 0.5, a station whose address contains it 0.4; ties: shorter name, coordinates, townships,
   * districts, stations. Places come from its client_index() block. */
  var ORDER = { coords: 0, township: 1, district: 2, station: 3 };
  function fold(s) { return String(s || "").normalize("NFKC").toLowerCase().trim(); }
  function places() {
    if (!S.places) S.places = ((json("sm-places") || {}).places || []).map(function (p) {
      return { kind: p.t, name: p.n, words: [p.n].concat(p.a || []), within: p.d || "", at: p.p };
    });
    return S.places;
  }
  function match(q, words) {
    var best = 0;
    for (var i = 0; i < words.length; i++) {
      var w = fold(words[i]);
      if (!w) continue;
      if (w === q) return 1;
      best = Math.max(best, w.indexOf(q) === 0 ? 0.8 : w.indexOf(q) >= 0 ? 0.6 : w.length >= 2 && q.indexOf(w) >= 0 ? 0.5 : 0);
    }
    return best;
  }
  function searchText(text) {
    var q = fold(text), hits = parseCoords(text);
    if (!q) return [];
    places().forEach(function (p) {
      var s = match(q, p.words);
      if (s) hits.push({ s: s, kind: p.kind, name: p.name, note: p.kind === "township" ? p.within : "", at: p.at });
    });
    S.cfg.stations.forEach(function (st) {
      var s = match(q, [st.n]);
      s = Math.max(s === 0.5 ? 0 : s, fold(st.a).indexOf(q) >= 0 ? 0.4 : 0);
      if (s) hits.push({ s: s, kind: "station", name: st.n, note: st.a, at: st.w, id: st.id });
    });
    hits.sort(function (a, b) {
      return b.s - a.s || a.name.length - b.name.length || ORDER[a.kind] - ORDER[b.kind] || (a.name < b.name ? -1 : 1);
    });
    return hits.slice(0, 8);
  }

  /* Coordinates pasted from Amap or Baidu (links or numbers): the datum said in the text or given by
   * the app's link; bare numbers are read as GCJ-02 first (phones copy them from Amap, Tencent, WeChat),
   * then offered as GPS and Baidu. Baidu's Mercator (map.baidu.com/@x,y) is BD-09 too. */
  function parseCoords(text) {
    var s = String(text), low = s.toLowerCase(), crs = null;
    if (/amap\.com|autonavi|gaode|高德|腾讯|qq\.com/.test(low)) crs = "gcj02";
    if (/baidu\.com|百度/.test(low)) crs = "bd09";
    var ct = low.match(/coord_?type=([a-z0-9]+)/);
    if (ct) crs = /wgs/.test(ct[1]) ? "wgs84" : /gcj|gaode/.test(ct[1]) ? "gcj02" : /bd09|baidu/.test(ct[1]) ? "bd09" : crs;
    if (/wgs-?84|gps/.test(low)) crs = "wgs84"; else if (/gcj-?02/.test(low)) crs = "gcj02"; else if (/bd-?09/.test(low)) crs = "bd09";
    var mc = s.match(/@(-?\d{7,9}(?:\.\d+)?),\s*(-?\d{6,8}(?:\.\d+)?)/);
    var lat, lon;
    if (mc) {
      var ll = gcoord.transform([parseFloat(mc[1]), parseFloat(mc[2])], gcoord.BD09MC, gcoord.BD09);
      lon = ll[0]; lat = ll[1]; crs = "bd09";
    } else {
      var nums = (s.match(/-?\d{1,3}\.\d{3,}/g) || []).map(parseFloat);
      if (nums.length < 2) return [];
      var a = nums[0], b = nums[1];
      if (a >= 70 && a <= 140 && b >= 0 && b <= 60) { lon = a; lat = b; }
      else if (b >= 70 && b <= 140 && a >= 0 && a <= 60) { lat = a; lon = b; }
      else if (Math.abs(a) <= 90 && Math.abs(b) <= 180) { lat = a; lon = b; }
      else return [];
    }
    var options = crs ? [crs] : ["gcj02", "wgs84", "bd09"];
    return options.map(function (c, i) {
      var w = c === "wgs84" ? [lon, lat] : gcoord.transform([lon, lat], gcoord[CRS[c]], gcoord.WGS84);
      return { s: 2 - i / 10, kind: "coords", name: lat.toFixed(6) + ", " + lon.toFixed(6), note: t("datum_" + c), at: [w[1], w[0]] };
    });
  }

  function showResults(hits, text) {
    var box = $("sm-results");
    if (!box) return;
    S.hits = hits;
    box.hidden = !text;
    if (!text) { box.innerHTML = ""; return; }
    if (!hits.length) { box.innerHTML = '<li class="sm-hint">' + esc(t("search_none")) + "</li>"; return; }
    box.innerHTML = hits.map(function (h, i) {
      return '<li><button type="button" class="sm-hit" role="option" data-i="' + i + '"><span class="sm-hit-kind">' +
        esc(t("kind_" + h.kind)) + "</span> <b>" + esc(h.name) + "</b>" +
        (h.note ? ' <span class="sm-hit-note">' + esc(h.note) + "</span>" : "") + "</button></li>";
    }).join("");
    Array.prototype.forEach.call(box.querySelectorAll(".sm-hit"), function (b) {
      b.addEventListener("click", function () { pick(S.hits[parseInt(b.dataset.i, 10)]); });
    });
  }

  /* A picked result is where the worker is: the nearest list starts from it. */
  function pick(h) {
    showResults([], "");
    var q = $("sm-q");
    if (q) { q.value = h.name; q.blur(); }
    document.body.classList.remove("sm-search-first");
    S.tapToSet = false;
    setUser(h.at[0], h.at[1], t("search_origin").replace("{name}", h.name));
  }

  /* Online, the service's configured geocoder may know the text as an address: added below the
   * offline hits (nothing changes when the request fails or no geocoder is configured). */
  function addressHits(text, hits) {
    if (!S.cfg.api || !text) return;
    fetch(S.cfg.api + "/search?" + new URLSearchParams({ q: text, limit: "8" }), { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) {
        var found = ((d && d.results) || []).filter(function (r) {
          return r.type === "address" || (S.cfg.remote && r.type === "station");
        });
        if (!found.length || $("sm-q").value.trim() !== text) return;
        showResults(hits.concat(found.map(function (r) {
          return { s: r.score, kind: "address", name: r.name, note: r.district_name, at: [r.lat, r.lon] };
        })), text);
      })
      .catch(function () { /* offline: the shipped places and stations are the answer */ });
  }

  function buildSearch() {
    var form = $("sm-search"), q = $("sm-q");
    if (!form || !q) return;
    q.addEventListener("input", function () { showResults(searchText(q.value), q.value.trim()); });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var hits = searchText(q.value);
      if (hits.length && hits[0].s >= 0.8) return pick(hits[0]);
      showResults(hits, q.value.trim());
      addressHits(q.value.trim(), hits);
    });
    document.addEventListener("keydown", function (e) { if (e.key === "Escape") showResults([], ""); });
  }

  /* -- a static copy: the URL's parameters, as /embed takes them --------------------------------- */
  function urlView() {
    var q = new URLSearchParams(window.location.search), out = {};
    var district = (q.get("district") || "").trim(), kind = q.get("kind");
    if (district) {
      var code = null;
      S.boundaries.eachLayer(function (l) {
        var p = l.feature.properties;
        if (district === p.adcode || district === p.name || district === p.name.slice(0, -1) ||
          district.toLowerCase() === String(p.name_en).toLowerCase()) code = p.adcode;
      });
      if (code) {
        var keep = "";
        out.district = code;
        S.boundaries.eachLayer(function (l) {
          if (l.feature.properties.adcode === code) keep = l.feature.properties.name; else S.boundaries.removeLayer(l);
        });
        S.orient.cells.features = S.orient.cells.features.filter(function (f) { return f.properties.d === code; });
        S.orient.seats = S.orient.seats.filter(function (x) { return x[3] === code; });
        S.orient.districts = S.orient.districts.filter(function (x) { return x[2] === keep; });
      }
    }
    if (out.district || kind === "outdoor" || kind === "smart") {
      S.cfg.stations = S.cfg.stations.filter(function (st) {
        return (!out.district || st.d === out.district) && (kind !== "outdoor" && kind !== "smart" || st.k === kind);
      });
    }
    var c = (q.get("center") || "").split(",").map(parseFloat), z = parseFloat(q.get("zoom"));
    if (c.length === 2 && isFinite(c[0]) && isFinite(c[1])) { out.center = c; S.cfg.view = "given"; }
    if (isFinite(z)) { out.zoom = z; if (!out.center) S.cfg.view = "centre"; }
    else if (!out.center && out.district) S.cfg.view = "fit";
    if (q.get("lang") === "en" || q.get("lang") === "zh") out.lang = q.get("lang");
    if (S.cfg.basemaps[q.get("basemap")]) out.basemap = q.get("basemap");
    return out;
  }

  function dataAge() {
    if (!S.cfg.built) return;
    var el = document.createElement("div");
    el.className = "sm-age";
    el.id = "sm-age";
    var when = new Date(S.cfg.built), days = Math.floor((Date.now() - when.getTime()) / 86400000);
    el.textContent = t("data_built").replace("{t}", when.toLocaleDateString(S.lang === "en" ? "en-GB" : "zh-CN",
      { timeZone: "Asia/Shanghai" })) + (days >= 1 ? " · " + t("days_ago").replace("{n}", days) : "");
    S.map.getContainer().parentNode.appendChild(el);
  }

  /* -- offline: the page from the offline worker's copy (web/sw.js), or the network gone since --------
   * Its data are as old as the older of this load and the worker's copy of this page (stamped when kept). */
  function ago(ms) {
    var min = Math.floor(ms / 60000);
    if (min < 1) return t("just_now");
    if (min < 60) return t("minutes_ago").replace("{n}", min);
    if (min < 1440) return t("hours_ago").replace("{n}", Math.floor(min / 60));
    return t("days_ago").replace("{n}", Math.floor(min / 1440));
  }
  function savedAt() {
    var loaded = Date.now() - performance.now();
    if (!window.caches) return Promise.resolve(loaded);
    return caches.match(window.location.href).then(function (r) {
      var kept = r ? parseInt(r.headers.get("X-Stationmap-Saved"), 10) : NaN;
      return isFinite(kept) ? Math.min(kept, loaded) : loaded;
    }).catch(function () { return loaded; });
  }
  function offline(on) {
    S.offline = on;
    var el = $("sm-offline");
    if (!el) return;
    if (!on) { el.hidden = true; return; }
    savedAt().then(function (when) {
      if (!S.offline) return;
      el.textContent = t("offline_note").replace("{t}", ago(Math.max(0, Date.now() - when)));
      el.dataset.saved = new Date(when).toISOString();
      el.hidden = false;
    });
  }

  /* -- language --------------------------------------------------------------------------- */
  function setLang(lang) {
    S.lang = lang;
    document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
    Array.prototype.forEach.call(document.querySelectorAll("[data-i18n]"), function (el) {
      el.textContent = t(el.dataset.i18n);
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-i18n-ph]"), function (el) {
      el.placeholder = t(el.dataset.i18nPh);
    });
    Array.prototype.forEach.call(document.querySelectorAll(".sm-chip[data-amenity]"), chipText);
    Array.prototype.forEach.call(document.querySelectorAll(".sm-basemaps button"), function (el) {
      el.textContent = basemapName(el.dataset.basemap);
    });
    document.title = t("title") + " · " + t("org");
    if (S.offline) offline(true);
    if (S.lastNearest) showNearest(S.lastNearest, S.lastMsg); else status();
    S.map.closePopup();
    try {
      var u = new URL(window.location.href);
      u.searchParams.set("lang", lang);
      window.history.replaceState(null, "", u.toString());
    } catch (e) { /* file:// in some browsers */ }
  }

  function few() { return S.cfg.stations.length > 1 && S.cfg.stations.length <= 20; }

  function init(map, cluster, boundaries, cfg) {
    S.map = map; S.cluster = cluster; S.boundaries = boundaries; S.cfg = cfg; S.lang = cfg.lang;
    S.orient = json("sm-orient"); S.basemap = cfg.basemap;
    S.tiles = [];
    map.eachLayer(function (l) { if (l instanceof L.TileLayer) S.tiles.push(l); });
    FAR_M = cfg.far_m || FAR_M;
    var asked = cfg.api ? {} : urlView();
    S.byId = {};
    cluster.options.iconCreateFunction = clusterIcon;  // read by Leaflet.markercluster whenever it draws a cluster
    /* the view first: what is drawn next is drawn once, at the zoom the worker sees */
    var drawn = boundaries.getBounds();
    var still = { animate: false };
    if (asked.center) map.setView(toDisplay(asked.center[0], asked.center[1]), asked.zoom || 13, still);
    else if (cfg.view === "fit" && few()) map.fitBounds(L.latLngBounds(cfg.stations.map(function (st) { return st.p; })),
      { padding: [40, 40], maxZoom: 15, animate: false });  /* a handful of stations: each its own icon */
    else if (cfg.view === "fit" && drawn.isValid()) map.fitBounds(drawn, { padding: [8, 8], animate: false });
    else if (cfg.view === "centre" && drawn.isValid()) map.setView(drawn.getCenter(), asked.zoom || map.getZoom(), still);
    cfg.stations.forEach(function (st) { S.byId[st.id] = st; S.markers[st.id] = marker(st); });
    map.on("popupopen popupclose", function (e) {
      map.getContainer().parentNode.classList.toggle("sm-popup-open", e.type === "popupopen");
    });
    redraw();  /* the stations first; the rest in short tasks after it, so a tap is never kept waiting long */
    if (cfg.remote) {
      S.asked = 0;
      S.groups = L.layerGroup().addTo(map);
      map.on("moveend", loadView);
      loadView();
    }
    later(drawOrientation, function () {
      buildFilters();
      buildModes();
      buildSearch();
      basemapControl();
      if (cfg.api) { fetchLive(); fetchReported(); }
      ready(cfg, asked);
    });
  }

  function marker(st) {
    var popupWidth = Math.min(320, window.innerWidth - 60);
    var m = L.marker(st.p, { icon: icon(st), title: st.n, alt: st.n, riseOnHover: true, stationId: st.id,
      zIndexOffset: st.k === "smart" ? 500 : 0 });
    // no inner scroll: the map pans to show the popup whole, and the controls step aside while it is open
    m.bindPopup(function () { return popupHtml(st); }, { maxWidth: popupWidth, minWidth: Math.min(240, popupWidth),
      autoPanPaddingTopLeft: [8, 8], autoPanPaddingBottomRight: [8, 8] });
    return m;
  }

  /* Each function in its own task, in order. */
  function later() {
    var steps = Array.prototype.slice.call(arguments);
    (function next() { if (steps.length) setTimeout(function () { steps.shift()(); next(); }, 0); })();
  }

  function ready(cfg, asked) {
    var map = S.map;
    useBasemap(asked.basemap || cfg.basemap);
    if (asked.lang && asked.lang !== S.lang) setLang(asked.lang);
    dataAge();
    if (cfg.api) {
      if (navigator.onLine === false) offline(true);
      window.addEventListener("offline", function () { offline(true); });
      window.addEventListener("online", function () { offline(false); });
    }
    var loc = $("sm-locate");
    if (loc) loc.addEventListener("click", locate);
    var lang = $("sm-lang");
    if (lang) lang.addEventListener("click", function () { setLang(S.lang === "en" ? "zh" : "en"); });
    map.on("click", function (e) {
      if (!S.tapToSet) return;
      var w = fromDisplay(e.latlng.lat, e.latlng.lng);
      setUser(w[0], w[1], t("tap_to_set"));
    });
    if (navigator.permissions && $("sm-q")) {  /* location already refused: offer search first */
      navigator.permissions.query({ name: "geolocation" }).then(function (p) {
        if (p.state === "denied") failed();
      }).catch(function () {});
    }
    document.body.classList.add("sm-ready");
  }

  return { init: init, state: S, setLang: setLang, setUser: setUser, locate: locate, search: searchText,
    useBasemap: useBasemap };
})();
