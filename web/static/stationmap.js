/* Worker map: markers in the folium MarkerCluster, filters, "locate me", nearest list, language switch.
 * Station positions arrive already shifted into the basemap's datum by stationmap.mapview (Python);
 * only the user's own GPS position (WGS-84) is shifted here, with gcoord, when the basemap is GCJ-02.
 * With cfg.api set, nearest search asks /api/nearest (geodesic, the library); in a static export it
 * runs here on the embedded records (haversine, same speeds and detour factor as stationmap.travel). */
var StationMap = (function () {
  "use strict";
  var S = { markers: {}, filters: { amenities: [], open: false }, user: null, tapToSet: false };

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
  function amenityName(key) { var a = S.cfg.amenities[key]; return a ? a[S.lang === "en" ? 1 : 0] : key; }

  /* Open now, judged on the Asia/Shanghai clock: null when hours are unknown. */
  function openNow(st) {
    if (st.st !== "open") return false;
    if (!st.h) return null;
    var parts = new Intl.DateTimeFormat("en-GB", { timeZone: "Asia/Shanghai", weekday: "short", hour: "2-digit",
      minute: "2-digit", hourCycle: "h23" }).formatToParts(new Date());
    var get = function (type) { for (var i = 0; i < parts.length; i++) if (parts[i].type === type) return parts[i].value; };
    var day = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].indexOf(get("weekday"));
    var minute = parseInt(get("hour"), 10) * 60 + parseInt(get("minute"), 10);
    return st.h[day].some(function (span) { return span[0] <= minute && minute < span[1]; });
  }

  function navUrl(which, st) {
    var c = which === "amap" ? st.g : st.b;  // [lon, lat] in GCJ-02 / BD-09, computed by stationmap.datums
    return S.cfg.nav[which].replace("{lon}", c[0].toFixed(6)).replace("{lat}", c[1].toFixed(6))
      .replace("{name}", encodeURIComponent(st.n.replace(/,/g, "，")));
  }

  function hoursText(st) { return S.lang === "en" ? (st.ho === "24/7" ? "24/7" : st.ho || t("hours_unknown")) : st.hz; }

  function kindLabel(st) {
    if (st.st !== "open") return t(st.st);
    return t(st.k);
  }

  function openBadge(st) {
    var o = openNow(st);
    if (o === null) return '<span class="sm-badge sm-unknown">' + esc(t("hours_unknown")) + "</span>";
    return o ? '<span class="sm-badge sm-isopen">' + esc(t("open_now")) + "</span>"
      : '<span class="sm-badge sm-isclosed">' + esc(t("closed_now")) + "</span>";
  }

  /* Smart stations' live status from their own reports (/api/live): open, closed or unknown. */
  function liveBadge(st) {
    if (st.k !== "smart" || !S.live) return "";
    var l = S.live[st.id] || { state: "unknown" };
    var text = t("live_" + l.state) + (l.state === "open" && l.occupancy != null ? " · " + l.occupancy + " " + t("people") : "");
    return ' <span class="sm-badge sm-live sm-live-' + esc(l.state) + '">' + esc(text) + "</span>";
  }

  function fetchLive() {
    fetch(S.cfg.api + "/live", { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d) S.live = d.stations; })
      .catch(function () { /* live status is extra: the map works without it */ });
  }

  function navButtons(st) {
    return '<div class="sm-nav"><a class="sm-btn sm-nav-amap" target="_blank" rel="noopener" href="' + esc(navUrl("amap", st)) +
      '">' + esc(t("amap")) + '</a><a class="sm-btn sm-nav-baidu" target="_blank" rel="noopener" href="' +
      esc(navUrl("baidu", st)) + '">' + esc(t("baidu")) + "</a>" +
      (st.ph ? '<a class="sm-btn sm-btn-ghost sm-call" href="tel:' + esc(st.ph) + '">' + esc(t("call")) + "</a>" : "") + "</div>";
  }

  function popupHtml(st) {
    var am = st.am.map(amenityName).join(S.lang === "en" ? ", " : "、");
    return '<div class="sm-popup" data-id="' + esc(st.id) + '">' +
      '<div class="sm-popup-kind sm-k-' + esc(st.k) + '">' + esc(kindLabel(st)) + (st.demo ? ' · <span class="sm-demo">' +
        esc(t("sample_short")) + "</span>" : "") + "</div>" +
      "<h3>" + esc(st.n) + "</h3>" + openBadge(st) + liveBadge(st) + navButtons(st) +
      "<dl><dt>" + esc(t("hours")) + "</dt><dd>" + esc(hoursText(st)) + "</dd>" +
      (am ? "<dt>" + esc(t("amenities")) + "</dt><dd>" + esc(am) + "</dd>" : "") +
      (st.a ? "<dt>" + esc(t("address")) + "</dt><dd>" + esc(st.a) + "</dd>" : "") +
      (st.ph ? "<dt>" + esc(t("phone")) + '</dt><dd><a href="tel:' + esc(st.ph) + '">' + esc(st.ph) + "</a></dd>" : "") +
      "</dl></div>";
  }

  function icon(st) {
    var cls = "sm-pin sm-" + st.k + (st.st !== "open" ? " sm-off" : "");
    return L.divIcon({ className: "sm-icon", html: '<span class="' + cls + '" data-id="' + esc(st.id) + '"><span>' +
      (st.k === "smart" ? "智" : "驿") + "</span></span>", iconSize: st.k === "smart" ? [34, 34] : [28, 28],
      iconAnchor: st.k === "smart" ? [17, 17] : [14, 14], popupAnchor: [0, -12] });
  }

  /* A cluster says how many smart stations it holds (智N), so that they stay visible at city scale. */
  function clusterIcon(cluster) {
    var kids = cluster.getAllChildMarkers(), smart = 0;
    for (var i = 0; i < kids.length; i++) if (S.byId[kids[i].options.stationId].k === "smart") smart++;
    var size = kids.length < 10 ? "small" : kids.length < 100 ? "medium" : "large";
    return L.divIcon({ className: "marker-cluster marker-cluster-" + size, iconSize: L.point(40, 40),
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
    status();
  }

  function status(msg) {
    var el = $("sm-status");
    if (!el) return;
    var total = S.cfg.stations.length;
    var text = S.shown === total ? t("all_stations").replace("{n}", total)
      : t("shown_stations").replace("{n}", S.shown).replace("{total}", total);
    el.textContent = msg ? msg + " " + text : text;
    S.lastMsg = msg || "";
  }

  /* -- filters ------------------------------------------------------------------------------ */
  var CHIPS = ["microwave", "drinking_water", "toilet", "air_conditioning", "phone_charging", "first_aid", "aed",
    "seating", "fridge", "wifi", "umbrella", "tool_kit", "reading", "shelter", "washbasin", "sewing_kit"];

  function buildFilters() {
    var box = $("sm-filters");
    if (!box) return;
    CHIPS.forEach(function (key) {
      if (!S.cfg.amenities[key]) return;
      var b = document.createElement("button");
      b.type = "button"; b.className = "sm-chip"; b.dataset.amenity = key; b.setAttribute("aria-pressed", "false");
      b.textContent = amenityName(key);
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

  function changed() {
    redraw();
    if (S.user) findNearest();
  }

  /* -- locate me and nearest ---------------------------------------------------------------- */
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

  function setUser(lat, lon, note) {
    S.user = [lat, lon];
    var d = toDisplay(lat, lon);
    if (S.userMarker) S.map.removeLayer(S.userMarker);
    S.userMarker = L.circleMarker(d, { radius: 9, color: "#fff", weight: 3, fillColor: "#1a73e8", fillOpacity: 1,
      className: "sm-you" }).addTo(S.map).bindTooltip(t("you"));
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

  function failed() {
    S.tapToSet = true;
    status(t("locate_failed"));
    var list = $("sm-list");
    if (list) list.innerHTML = '<li class="sm-hint">' + esc(t("locate_failed")) + "</li>";
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
    var k = 5;
    if (!S.cfg.api) return showNearest(localNearest(k), note);
    var q = "lat=" + S.user[0].toFixed(7) + "&lon=" + S.user[1].toFixed(7) + "&k=" + k;
    if (S.filters.amenities.length) q += "&amenity=" + encodeURIComponent(S.filters.amenities.join(","));
    if (S.filters.open) q += "&open_now=true";
    fetch(S.cfg.api + "/nearest?" + q, { headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) {
        var res = data.results.filter(function (r) { return S.byId[r.id]; });
        showNearest(res, note || (data.origin.in_jieyang ? "" : t("outside")));
      })
      .catch(function () { showNearest(localNearest(k), note); });
  }

  function fmtDistance(m) {
    return m < 1000 ? Math.round(m) + " " + t("m") : (m / 1000).toFixed(m < 10000 ? 1 : 0) + " " + t("km");
  }

  function showNearest(results, note) {
    S.lastNearest = results;
    var list = $("sm-list");
    status(note || "");
    if (!list) return;
    if (!results.length) { list.innerHTML = '<li class="sm-hint">' + esc(t("none_found")) + "</li>"; return; }
    list.innerHTML = results.map(function (r) {
      var st = S.byId[r.id];
      var mins = ["walk", "ebike"].map(function (m) {
        return esc(t(m)) + " " + Math.max(1, Math.round(r.minutes[m])) + " " + esc(t("min"));
      }).join(" · ");
      return '<li class="sm-item" data-id="' + esc(st.id) + '"><button type="button" class="sm-item-main">' +
        '<span class="sm-pin sm-mini sm-' + st.k + (st.st !== "open" ? " sm-off" : "") + '"><span>' +
        (st.k === "smart" ? "智" : "驿") + "</span></span> <b>" + esc(st.n) + "</b>" +
        '<span class="sm-dist">' + fmtDistance(r.distance_m) + " · " + mins + "</span> " + openBadge(st) +
        "</button>" + navButtons(st) + "</li>";
    }).join("");
    Array.prototype.forEach.call(list.querySelectorAll(".sm-item-main"), function (b) {
      b.addEventListener("click", function () { focus(b.parentNode.dataset.id); });
    });
    var pts = results.map(function (r) { return S.byId[r.id].p; });
    pts.push(toDisplay(S.user[0], S.user[1]));
    var legend = $("sm-legend");
    if (legend && window.innerWidth < 600) legend.open = false;  // room for the stations on a phone
    S.map.invalidateSize();  // the list below the map may have grown
    S.map.fitBounds(L.latLngBounds(pts).pad(0.2), { maxZoom: 16 });
  }

  function focus(id) {
    var m = S.markers[id];
    S.cluster.zoomToShowLayer(m, function () { m.openPopup(); });
  }

  /* -- language --------------------------------------------------------------------------- */
  function setLang(lang) {
    S.lang = lang;
    document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
    Array.prototype.forEach.call(document.querySelectorAll("[data-i18n]"), function (el) {
      el.textContent = t(el.dataset.i18n);
    });
    Array.prototype.forEach.call(document.querySelectorAll(".sm-chip[data-amenity]"), function (el) {
      el.textContent = amenityName(el.dataset.amenity);
    });
    document.title = t("title") + " · " + t("org");
    if (S.lastNearest) showNearest(S.lastNearest, S.lastMsg); else status();
    S.map.closePopup();
    try {
      var u = new URL(window.location.href);
      u.searchParams.set("lang", lang);
      window.history.replaceState(null, "", u.toString());
    } catch (e) { /* file:// in some browsers */ }
  }

  function init(map, cluster, boundaries, cfg) {
    S.map = map; S.cluster = cluster; S.boundaries = boundaries; S.cfg = cfg; S.lang = cfg.lang;
    S.byId = {};
    cluster.options.iconCreateFunction = clusterIcon;  // read by Leaflet.markercluster whenever it draws a cluster
    cfg.stations.forEach(function (st) {
      S.byId[st.id] = st;
      var m = L.marker(st.p, { icon: icon(st), title: st.n, alt: st.n, riseOnHover: true, stationId: st.id,
        zIndexOffset: st.k === "smart" ? 500 : 0 });
      // top padding keeps the popup below the zoom buttons and the legend, which sit above Leaflet's popups
      m.bindPopup(function () { return popupHtml(st); }, { maxWidth: 300, minWidth: 220, maxHeight: 220,
        autoPanPaddingTopLeft: [10, 84], autoPanPaddingBottomRight: [10, 40] });
      S.markers[st.id] = m;
    });
    buildFilters();
    redraw();
    var legend = $("sm-legend"), size = map.getSize();
    if (legend && (size.x < 360 || size.y < 360)) legend.open = false;  // a small iframe: the map first
    if (cfg.api) fetchLive();
    var drawn = boundaries.getBounds();
    if (cfg.view === "fit" && drawn.isValid()) map.fitBounds(drawn, { padding: [8, 8] });
    else if (cfg.view === "centre" && drawn.isValid()) map.setView(drawn.getCenter(), map.getZoom());
    var loc = $("sm-locate");
    if (loc) loc.addEventListener("click", locate);
    var lang = $("sm-lang");
    if (lang) lang.addEventListener("click", function () { setLang(S.lang === "en" ? "zh" : "en"); });
    map.on("click", function (e) {
      if (!S.tapToSet) return;
      var w = fromDisplay(e.latlng.lat, e.latlng.lng);
      setUser(w[0], w[1], t("tap_to_set"));
    });
    document.body.classList.add("sm-ready");
  }

  return { init: init, state: S, setLang: setLang, setUser: setUser, locate: locate };
})();
