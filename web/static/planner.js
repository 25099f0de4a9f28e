/* Planner page: the station dots of the coverage map (names as text, never as markup) and the
 * question form (minutes or metres: typing one clears the other, so the form never sends both). */
var SMPlanner = (function () {
  "use strict";

  function tooltip(name) {
    var el = document.createElement("span");
    el.textContent = name;
    return el;
  }

  function stations(map, records) {
    SMPlanner.markers = records.map(function (r) {
      var smart = r.k === "smart";
      return L.circleMarker(r.p, { radius: smart ? 6 : 4, color: "#fff", weight: 1, fillColor: smart ? "#1864ab" : "#e8590c",
        fillOpacity: 1, className: "sm-plan-station" }).bindTooltip(tooltip(r.n)).addTo(map);
    });
    SMPlanner.count = records.length;
  }

  function form() {
    var f = document.getElementById("sm-plan-form");
    if (!f) return;
    var a = f.elements.minutes, b = f.elements.reach_m;
    a.addEventListener("input", function () { if (a.value) b.value = ""; });
    b.addEventListener("input", function () { if (b.value) a.value = ""; });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", form); else form();
  return { stations: stations, count: 0, markers: [] };
})();
