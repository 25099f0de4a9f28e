/* A station's page: its small map, the share button and the report form sent with fetch.
 * The page reads whole without this script (name, hours, amenities, navigation links, the form's plain
 * POST); the script adds what needs it. Words come from the page (stationmap/maps/words.py), the
 * station's position already in the basemap's datum (stationmap/maps/pages.py). */
var StationPage = (function () {
  "use strict";
  function $(id) { return document.getElementById(id); }
  var data = JSON.parse($("sm-station").textContent), t = JSON.parse($("sm-words").textContent);
  var P = { data: data };

  function drawMap() {
    var el = $("sm-st-map");
    if (!el || !window.L) return;
    el.classList.add("sm-st-map-on");
    var map = L.map(el, { center: data.p, zoom: 16, minZoom: 7, maxZoom: 18, scrollWheelZoom: false,
      dragging: !L.Browser.mobile, tap: false });
    (data.basemap.layers || []).forEach(function (d) {
      L.tileLayer(d.url, { subdomains: d.subdomains, maxNativeZoom: d.maxNativeZoom, maxZoom: 18,
        attribution: d.attribution }).addTo(map);
    });
    var pin = document.createElement("span"), inner = document.createElement("span");
    pin.className = "sm-pin " + (data.kind === "smart" ? "sm-smart" : "sm-outdoor") + (data.status !== "open" ? " sm-off" : "");
    inner.textContent = data.kind === "smart" ? "智" : "驿";
    pin.appendChild(inner);
    P.marker = L.marker(data.p, { icon: L.divIcon({ className: "sm-icon", html: pin, iconSize: [44, 44], iconAnchor: [22, 22] }),
      title: data.name, alt: data.name, keyboard: false }).addTo(map);
    P.map = map;
  }

  /* The system's share sheet where there is one, else the link copied to the clipboard. */
  function share() {
    var btn = $("sm-share"), msg = $("sm-share-msg"), input = $("sm-share-url");
    if (!btn) return;
    btn.hidden = false;
    function copied() { msg.textContent = t.share_copied; }
    function byHand() {
      input.focus();
      input.select();
      try { if (document.execCommand("copy")) return copied(); } catch (e) { /* not allowed here */ }
      msg.textContent = t.share_copy;
    }
    function copy() {
      if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(data.url).then(copied, byHand);
      else byHand();
    }
    btn.addEventListener("click", function () {
      msg.textContent = "";
      if (!navigator.share) return copy();
      navigator.share({ title: data.name, text: data.name, url: data.url }).catch(function (e) {
        if (!e || e.name !== "AbortError") copy();  /* cancelled by the worker: nothing to say */
      });
    });
  }

  /* The report form: checked here in the worker's words, sent as JSON to the API; the same form posts
   * to the page without JavaScript. */
  function report() {
    var form = $("sm-report");
    if (!form || !window.fetch) return;
    var msg = $("sm-rk-msg"), send = $("sm-rk-send"), posRow = $("sm-rk-posrow"), pos = $("sm-rk-pos");
    function kind() { var c = form.querySelector('input[name="kind"]:checked'); return c ? c.value : ""; }
    function update() { if (posRow) posRow.hidden = !(navigator.geolocation && kind() === "location"); }
    function say(text, bad, detail) {
      msg.textContent = text + (detail ? " (" + detail + ")" : "");
      msg.classList.toggle("sm-st-error", !!bad);
    }
    function post(body) {
      send.disabled = true;
      say(t.rk_sending);
      fetch(data.report, { method: "POST", body: JSON.stringify(body),
        headers: { "Content-Type": "application/json", Accept: "application/json" } })
        .then(function (r) {
          return r.json().catch(function () { return {}; }).then(function (d) { return { status: r.status, d: d }; });
        })
        .then(function (a) {
          send.disabled = false;
          if (a.status === 201) { form.reset(); update(); P.sent = a.d; return say(t.rk_thanks); }
          say(t["rk_err_" + a.status] || t.rk_err_other, true, a.d && a.d.detail);
        })
        .catch(function () { send.disabled = false; say(t.rk_offline, true); });
    }
    form.noValidate = true;  /* checked below, in the page's words, rather than in the browser's */
    form.addEventListener("change", update);
    update();
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var k = kind(), body = { kind: k }, text = form.elements.text.value.trim();
      var amenity = form.elements.amenity ? form.elements.amenity.value : "";
      if (!k) return say(t.rk_pick, true);
      if (k === "broken") { if (!amenity) return say(t.rk_need_amenity, true); body.amenity = amenity; }
      if (k === "other" && !text) return say(t.rk_need_text, true);
      if (text) body.text = text;
      if (k !== "location" || !pos || !pos.checked || !navigator.geolocation) return post(body);
      say(t.rk_locating);
      navigator.geolocation.getCurrentPosition(function (p) {
        body.lat = Math.round(p.coords.latitude * 1e7) / 1e7;
        body.lon = Math.round(p.coords.longitude * 1e7) / 1e7;
        if (isFinite(p.coords.accuracy)) body.accuracy_m = Math.round(p.coords.accuracy);
        post(body);
      }, function () { say(t.rk_no_position); post(body); }, { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
    });
  }

  function init() {
    drawMap();
    share();
    report();
    document.body.classList.add("sm-ready");
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
  return P;
})();
