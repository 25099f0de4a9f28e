/* The planner page: loaded once, it asks the API. Coverage, gaps and sites come as JSON (a new question
 * answers 202: the job is polled, its place in the queue shown, and it can be cancelled); answers are kept
 * in memory, so a question asked again is shown at once. What-if: tap the map to add a candidate station,
 * drag a numbered site, tap a station to assume it closed; the change in 1- and 2-station coverage comes
 * from POST /api/whatif. Demand: the modelled population, the smart stations' counted visits, or a file the
 * planner sends (POST /api/demand answers its key, or says row by row what is wrong); every question then
 * names it (demand=). While siting computes, the job's status carries its best plan so far, drawn as dashed
 * numbered sites with the proven gap. Every name and number is set as text (never as markup); points arrive
 * in WGS-84 and are shifted into the basemap's datum with gcoord. */
var SMPlanner = (function () {
  "use strict";
  var S = { count: 0, markers: [], cache: {}, answers: {}, plan: { add: [], remove: {} }, whatif: null, run: null,
    demand: null, incumbents: 0 };
  var cfg, map, T, layers = {};

  function $(id) { return document.getElementById(id); }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function say(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_m, k) { return values[k] === undefined ? "" : String(values[k]); });
  }
  var NF = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  function num(x) { return x === null || x === undefined ? "–" : NF.format(x); }
  function pct(x) { return x === null || x === undefined ? "–" : (x * 100).toFixed(1) + "%"; }
  function signed(x) { return (x > 0 ? "+" : "") + num(x); }

  /* WGS-84 [lat, lon] -> the basemap's datum, and back (taps on an Amap basemap are GCJ-02). */
  function disp(lat, lon) {
    if (cfg.crs !== "gcj02") return [lat, lon];
    var p = gcoord.transform([lon, lat], gcoord.WGS84, gcoord.GCJ02);
    return [p[1], p[0]];
  }
  function wgs(lat, lon) {
    if (cfg.crs !== "gcj02") return [lat, lon];
    var p = gcoord.transform([lon, lat], gcoord.GCJ02, gcoord.WGS84);
    return [p[1], p[0]];
  }

  // -- the question -----------------------------------------------------------------------------
  function query(q, extra) {
    var p = new URLSearchParams();
    if (q.reach_m) p.set("reach_m", q.reach_m); else { p.set("minutes", q.minutes); p.set("mode", q.mode); }
    p.set("min_stations", q.min_stations);
    if (S.demand) p.set("demand", S.demand.demand);
    Object.keys(extra || {}).forEach(function (k) { p.set(k, extra[k]); });
    return p.toString();
  }
  function formQuestion() {
    var f = $("sm-plan-form").elements;
    var q = { min_stations: Number(f.min_stations.value) || 1, n: Math.max(0, Number(f.n.value) || 0) };
    if (f.reach_m.value) q.reach_m = Number(f.reach_m.value);
    else { q.minutes = Number(f.minutes.value) || 15; q.mode = f.mode.value; }
    return q;
  }

  // -- asking: cache, 202, polling, cancel --------------------------------------------------------
  function Cancelled() { this.message = "cancelled"; }
  function getJSON(url, run) {
    if (S.cache[url]) { run.cached = true; return Promise.resolve(S.cache[url]); }
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" }).then(function (r) {
      if (run.cancelled) throw new Cancelled();
      if (r.status === 202) return r.json().then(function (st) { return wait(url, st, run); });
      return r.json().then(function (doc) {
        if (!r.ok) throw new Error(doc.detail || String(r.status));
        S.cache[url] = doc;
        return doc;
      });
    });
  }
  function wait(url, st, run) {
    var polls = 0;  // the first polls come sooner than the service's Retry-After: most answers take a second or less
    return new Promise(function (resolve, reject) {
      function step(s) {
        if (run.cancelled) return reject(new Cancelled());
        run.jobs[s.job] = s.status;
        progress(run);
        if (s.progress && s.question && s.question.kind === "suggest") showIncumbent(s.progress, run);
        if (s.status === "done") { delete run.jobs[s.job]; return resolve(getJSON(url, run)); }
        if (s.status === "failed") return reject(new Error(s.error || "failed"));
        run.timers.push(setTimeout(function () {
          if (run.cancelled) return reject(new Cancelled());
          fetch(s.poll, { headers: { Accept: "application/json" } }).then(function (r) {
            if (r.status === 404) { delete run.jobs[s.job]; return getJSON(url, run).then(resolve, reject); }
            return r.json().then(step);
          }).catch(reject);
        }, Math.min(250 * Math.pow(2, polls++), 1000 * Math.max(0.5, s.retry_after_s || 1))));
      }
      step(st);
    });
  }
  function progress(run) {
    var keys = Object.keys(run.jobs).filter(function (k) { return run.jobs[k] !== "done"; });
    var box = $("sm-progress");
    if (!keys.length || run.cancelled) { if (!run.cancelled) box.hidden = true; return; }
    var queued = keys.filter(function (k) { return run.jobs[k] === "queued"; });
    var text = queued.length && queued.length === keys.length ? say(T.pl_queued, { n: run.position || 1 }) : T.pl_running;
    $("sm-progress-text").textContent = text;
    $("sm-cancel").hidden = false;
    box.hidden = false;
    box.dataset.state = queued.length === keys.length ? "queued" : "running";
  }
  function cancel() {
    var run = S.run;
    if (!run || run.cancelled) return;
    run.cancelled = true;
    run.timers.forEach(clearTimeout);
    clear("incumbent");
    $("sm-incumbent").hidden = true;
    var queued = Object.keys(run.jobs).filter(function (k) { return run.jobs[k] === "queued"; });
    var running = Object.keys(run.jobs).length > queued.length;
    Promise.all(queued.map(function (k) {
      return fetch(cfg.api.jobs.replace("KEY", encodeURIComponent(k)), { method: "DELETE" })
        .then(function (r) { return r.status === 204; }, function () { return false; });
    })).then(function (done) {
      var all = done.every(Boolean) && !running;
      $("sm-progress-text").textContent = all ? T.pl_cancelled : T.pl_stopped;
      $("sm-progress").dataset.state = "cancelled";
      $("sm-cancel").hidden = true;
    });
  }

  // -- drawing the answers ------------------------------------------------------------------------
  function clear(name) { if (layers[name]) { map.removeLayer(layers[name]); delete layers[name]; } }
  function table(name) { return document.querySelector('table[data-table="' + name + '"]'); }
  function resetTables() {
    ["sites", "districts", "gaps", "townships"].forEach(function (n) {
      var t = table(n);
      t.removeAttribute("id");
      t.tBodies[0].textContent = "";
    });
  }
  function fill(name, rows) {
    var t = table(name) || $("sm-" + name), body = t.tBodies[0];
    body.textContent = "";
    rows.forEach(function (cells) {
      var tr = document.createElement("tr");
      cells.forEach(function (c) {
        var td = c instanceof Node ? el("td") : el("td", c && typeof c === "object" ? c.text : c,
          c && typeof c === "object" ? c.cls : "");
        if (c instanceof Node) td.appendChild(c);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    t.id = "sm-" + name;
  }
  function amapLink(url) {
    var a = el("a", T.pl_amap);
    a.href = url; a.target = "_blank"; a.rel = "noopener";
    a.className = "sm-amap";
    return a;
  }
  function pair(lat, lon) { return Number(lat).toFixed(6) + "," + Number(lon).toFixed(6); }

  var CELL_CLASSES = [[5000, "#a50f15", 0.6], [1000, "#de2d26", 0.5], [200, "#fb6a4a", 0.4], [0, "#fcae91", 0.35]];
  function drawCells(cells, k) {
    clear("cells");
    var renderer = L.canvas({ padding: 0.2 });
    var group = L.layerGroup();
    (cells.cells || []).forEach(function (c) {
      var people = c[4] + c[5];
      if (people <= 0) return;
      var cls = CELL_CLASSES.filter(function (x) { return people >= x[0]; })[0] || CELL_CLASSES[3];
      var onlyOne = k === 2 && c[4] === 0;
      var sw = disp(c[0], c[1]), ne = disp(c[2], c[3]);
      L.rectangle([sw, ne], { renderer: renderer, stroke: false, fillColor: onlyOne ? "#f59f00" : cls[1],
        fillOpacity: onlyOne ? 0.35 : cls[2], interactive: false, className: "sm-cell" }).addTo(group);
    });
    layers.cells = group.addTo(map);
    S.cells = group.getLayers().length;
  }
  function drawReach(reach) {
    clear("reach");
    var group = L.layerGroup();
    cfg.stations.forEach(function (s) {
      if (s.st !== "open" || S.plan.remove[s.id]) return;
      L.circle(s.p, { radius: reach, color: "#2b8a3e", weight: 1, opacity: 0.5, fillColor: "#40c057", fillOpacity: 0.06,
        interactive: false }).addTo(group);
    });
    layers.reach = group.addTo(map);
    if (layers.cells) layers.cells.eachLayer(function (l) { l.bringToBack && l.bringToBack(); });
  }
  function reachLabel(doc) {
    if (cfg.lang === "en") return doc.reach_label;
    var r = NF.format(doc.reach_m);
    return doc.minutes !== null && doc.minutes !== undefined
      ? T[doc.mode] + " " + doc.minutes + " 分钟（直线 " + r + " 米）" : "直线 " + r + " 米";
  }
  function showCoverage(doc, q) {
    $("sm-reach-label").textContent = reachLabel(doc);
    $("sm-k-label").textContent = q.min_stations === 2 ? (cfg.lang === "en" ? ", cross coverage" : "，交叉覆盖") : "";
    $("sm-double15").hidden = !doc.question.double15;
    $("sm-double15").title = T.pl_double15_long;
    $("sm-question").textContent = doc.question.label_zh;
    var scope = doc.scope || {}, scopeNote = cfg.lang === "en" ? scope.note : scope.note_zh;
    $("sm-scope-note").textContent = scopeNote || "";
    $("sm-scope-note").hidden = !scopeNote;
    $("sm-city-pop").textContent = pct(doc.city.population_share);
    $("sm-city-area").textContent = pct(doc.city.area_share);
    $("sm-city-covered").textContent = num(doc.city.covered_population);
    showDemand(doc);
    drawCells(doc.cells || {}, q.min_stations);
    drawReach(doc.reach_m);
    S.reach_m = doc.reach_m;
    var names = {};
    Object.keys(doc.districts).forEach(function (c) { names[c] = doc.districts[c].name; });
    fill("districts", Object.keys(doc.districts).map(function (c) {
      var r = doc.districts[c];
      return [r.name, num(r.population), source(r), num(r.covered_population),
        { text: pct(r.population_share), cls: (r.population_share || 0) < 0.5 ? "sm-low" : "" }, num(r.area_km2), pct(r.area_share)];
    }));
    var towns = Object.keys(doc.townships).map(function (c) { return doc.townships[c]; })
      .sort(function (a, b) { return (a.population_share || 0) - (b.population_share || 0); });
    fill("townships", towns.map(function (r) {
      return [r.name, { text: r.district_name || names[r.district] || r.district, cls: "sm-l" }, num(r.population),
        source(r), num(r.covered_population), { text: pct(r.population_share), cls: (r.population_share || 0) < 0.5 ? "sm-low" : "" },
        pct(r.area_share)];
    }));
  }
  function showGaps(doc) {
    clear("gaps");
    var group = L.layerGroup();
    doc.gaps.forEach(function (g) {
      L.circleMarker(disp(g.lat, g.lon), { radius: 7, color: "#c92a2a", weight: 2, fill: false, interactive: false })
        .addTo(group);
    });
    layers.gaps = group.addTo(map);
    fill("gaps", doc.gaps.map(function (g) {
      return [g.rank, { text: g.district_name, cls: "sm-l" }, { text: g.township_name, cls: "sm-l" }, num(g.population),
        pair(g.lat_wgs84, g.lon_wgs84), pair(g.lat_gcj02, g.lon_gcj02), amapLink(g.amap_url)];
    }));
  }
  function showIncumbent(doc, run) {
    if (run.cancelled || run !== S.run) return;
    clear("incumbent");
    var group = L.layerGroup();
    doc.sites.forEach(function (s, i) {
      L.marker(disp(s.lat, s.lon), { icon: numbered(String(i + 1), "sm-site-draft"), interactive: false, keyboard: false })
        .addTo(group);
    });
    layers.incumbent = group.addTo(map);
    var gap = doc.optimality_gap === null || doc.optimality_gap === undefined ? T.pl_incumbent_nogap
      : say(T.pl_incumbent_gap, { p: Math.ceil(doc.optimality_gap * 1000) / 10 });
    var box = $("sm-incumbent");
    box.textContent = say(T.pl_incumbent, { s: doc.seconds, v: num(doc.value), gap: gap,
      stage: cfg.lang === "en" ? doc.stage_en : doc.stage_zh });
    box.hidden = false;
    $("sm-sites-section").hidden = false;
    S.incumbent = doc;
    S.incumbents += 1;
  }
  function modelled(doc) { return !doc.demand || doc.demand.modelled !== false; }
  function showDemand(doc) {
    var d = doc.demand || {}, m = modelled(doc), en = cfg.lang === "en";
    var src = !en && /^model:/.test(d.source || "") ? "模型，说明见 geodata/SOURCES.md" : d.source;
    $("sm-demand-line").textContent = say(T.pl_demand_line, { label: en ? d.label : d.label_zh, source: src,
      points: num(d.points), total: num(d.total) });
    $("sm-modelled").hidden = !m;
    $("sm-card-share").textContent = m ? T.pl_share_model : T.pl_share_layer;
    $("sm-card-covered").textContent = m ? T.pl_covered_model : T.pl_covered_layer;
    Array.prototype.forEach.call(document.querySelectorAll(".sm-pop-head"), function (th) {
      var gain = th.dataset.what === "gain";
      th.textContent = m ? (gain ? T.pl_gain_model : T.pl_people_model) : (gain ? T.pl_gain_layer : T.pl_people_layer);
    });
  }
  function source(r) {
    var text = cfg.lang === "en" ? r.population_source : r.population_source_zh;
    var model = !r.population_source || r.population_source === "modelled";
    return { text: text || (cfg.lang === "en" ? "modelled" : "模型估算"), cls: "sm-l " + (model ? "sm-src-model" : "sm-src-cited") };
  }
  function numbered(label, cls) {
    var d = el("div", label, "sm-site-label " + (cls || ""));
    return L.divIcon({ html: d, className: "sm-site-icon", iconSize: [26, 26], iconAnchor: [13, 13] });
  }
  function showSites(doc) {
    clear("sites");
    clear("incumbent");
    $("sm-incumbent").hidden = true;
    var group = L.layerGroup();
    $("sm-sites-section").hidden = false;
    $("sm-total-gain").textContent = num(doc.total_gain);
    $("sm-method").textContent = cfg.lang === "en" ? doc.method : doc.method_zh;
    doc.sites.forEach(function (s, i) {
      var m = L.marker(disp(s.lat, s.lon), { icon: numbered(String(i + 1)), draggable: true, keyboard: true,
        title: (cfg.lang === "en" ? "Suggested site " : "建议站点 ") + (i + 1) });
      m.on("dragend click", function () {
        var ll = m.getLatLng(), w = wgs(ll.lat, ll.lng);
        addSite(w[0], w[1], (cfg.lang === "en" ? "Suggested site " : "建议站点 ") + (i + 1));
        group.removeLayer(m);
      });
      m.addTo(group);
    });
    layers.sites = group.addTo(map);
    fill("sites", doc.sites.map(function (s) {
      return [s.rank, { text: s.district_name, cls: "sm-l" }, { text: s.township_name, cls: "sm-l" }, num(s.gain),
        pair(s.lat_wgs84, s.lon_wgs84), pair(s.lat_gcj02, s.lon_gcj02), amapLink(s.amap_url)];
    }));
  }
  function downloads(q) {
    var p = $("sm-downloads");
    p.textContent = cfg.lang === "en" ? "Download: " : "下载：";
    var links = [["coverage", cfg.lang === "en" ? "coverage" : "覆盖表", {}], ["gaps", cfg.lang === "en" ? "gaps" : "缺口", { limit: 1000 }]];
    if (q.n) links.push(["suggest", cfg.lang === "en" ? "sites" : "建议站点", { n: q.n }]);
    links.forEach(function (l) {
      ["csv", "geojson"].forEach(function (fmt) {
        var a = el("a", l[1] + " " + (fmt === "csv" ? "CSV" : "GeoJSON"));
        a.href = cfg.api[l[0]] + "?" + query(q, Object.assign({ format: fmt }, l[2]));
        a.setAttribute("download", "");
        p.appendChild(a);
        p.appendChild(document.createTextNode(" "));
      });
    });
  }

  function ask(q) {
    if (S.run) { S.run.cancelled = true; S.run.timers.forEach(clearTimeout); }
    var run = S.run = { cancelled: false, jobs: {}, timers: [], cached: false };
    S.q = q;
    S.answered = false;
    resetTables();
    ["gaps", "sites", "incumbent"].forEach(clear);
    $("sm-incumbent").hidden = true;
    $("sm-sites-section").hidden = !q.n;
    downloads(q);
    var cov = getJSON(cfg.api.coverage + "?" + query(q), run).then(function (doc) {
      if (run.cancelled) return;
      showCoverage(doc, q);
      return getJSON(cfg.api.gaps + "?" + query(q, { limit: 20 }), run).then(function (g) { if (!run.cancelled) showGaps(g); });
    });
    var sites = q.n ? getJSON(cfg.api.suggest + "?" + query(q, { n: q.n }), run).then(function (doc) {
      if (!run.cancelled) showSites(doc);
    }) : Promise.resolve();
    Promise.all([cov, sites]).then(function () {
      if (run.cancelled) return;
      S.answered = true;
      $("sm-progress").hidden = true;
      if (S.plan.add.length || Object.keys(S.plan.remove).length) whatIf();
    }, function (err) {
      if (err instanceof Cancelled) return;
      $("sm-progress").hidden = false;
      $("sm-progress").dataset.state = "failed";
      $("sm-progress-text").textContent = say(T.pl_failed, { e: err.message });
      $("sm-cancel").hidden = true;
    });
  }

  // -- what-if ------------------------------------------------------------------------------------
  function addSite(lat, lon, name) {
    if (S.plan.add.length >= cfg.limits.add) { $("sm-whatif-limit").textContent = say(T.pl_limit, { a: cfg.limits.add, r: cfg.limits.remove }); return; }
    var site = { lat: lat, lon: lon, name: name || "" };
    site.marker = L.marker(disp(lat, lon), { icon: numbered("+" + (S.plan.add.length + 1), "sm-site-new"), draggable: true,
      title: name || T.pl_whatif }).addTo(layers.plan);
    site.marker.on("dragend", function () {
      var ll = site.marker.getLatLng(), w = wgs(ll.lat, ll.lng);
      site.lat = w[0]; site.lon = w[1];
      whatIf();
    });
    site.marker.on("click", function () {
      S.plan.add.splice(S.plan.add.indexOf(site), 1);
      layers.plan.removeLayer(site.marker);
      renumber();
      whatIf();
    });
    S.plan.add.push(site);
    whatIf();
  }
  function renumber() {
    S.plan.add.forEach(function (s, i) { s.marker.setIcon(numbered("+" + (i + 1), "sm-site-new")); });
  }
  function toggleStation(s, marker) {
    if (S.plan.remove[s.id]) delete S.plan.remove[s.id];
    else {
      if (Object.keys(S.plan.remove).length >= cfg.limits.remove) { $("sm-whatif-limit").textContent = say(T.pl_limit, { a: cfg.limits.add, r: cfg.limits.remove }); return; }
      S.plan.remove[s.id] = true;
    }
    var off = !!S.plan.remove[s.id];
    marker.setStyle({ fillColor: off ? "#868e96" : s.k === "smart" ? "#1864ab" : "#e8590c", color: off ? "#c92a2a" : "#fff",
      weight: off ? 2 : 1 });
    if (S.reach_m) drawReach(S.reach_m);
    whatIf();
  }
  function planBody() {
    return JSON.stringify({ add: S.plan.add.map(function (s) { return s.name ? { lat: s.lat, lon: s.lon, name: s.name } : [s.lat, s.lon]; }),
      remove: Object.keys(S.plan.remove) });
  }
  var pending = null;
  function whatIf() {
    clearTimeout(pending);
    pending = setTimeout(function () {
      var empty = !S.plan.add.length && !Object.keys(S.plan.remove).length;
      $("sm-plan-downloads").hidden = empty;
      $("sm-whatif-cards").hidden = empty;
      if (empty) { $("sm-plan").tBodies[0].textContent = ""; S.whatif = null; return; }
      var url = cfg.api.whatif + "?" + query(S.q || formQuestion()), body = planBody(), key = url + body;
      var known = S.answers[key];
      (known ? Promise.resolve(known) : fetch(url, { method: "POST", headers: { "Content-Type": "application/json",
        Accept: "application/json" }, body: body }).then(function (r) {
        return r.json().then(function (doc) { if (!r.ok) throw new Error(doc.detail || r.status); S.answers[key] = doc; return doc; });
      })).then(showWhatIf, function (err) { $("sm-whatif-limit").textContent = say(T.pl_failed, { e: err.message }); });
    }, 60);
  }
  function showWhatIf(doc) {
    S.whatif = doc;
    var c1 = doc.coverage["1"], c2 = doc.coverage["2"];
    $("sm-wi-newly").textContent = signed(c1.gained);
    $("sm-wi-newly2").textContent = signed(c2.gained);
    $("sm-wi-cov1").textContent = pct(c1.share_before) + " → " + pct(c1.share_after);
    $("sm-wi-cov2").textContent = pct(c2.share_before) + " → " + pct(c2.share_after);
    var rows = doc.added.map(function (a, i) {
      return ["+" + (i + 1), cfg.lang === "en" ? "add" : "新增", a.name, { text: a.township_name, cls: "sm-l" }, signed(a.gain_1),
        signed(a.gain_2), pair(a.lat_wgs84, a.lon_wgs84), pair(a.lat_gcj02, a.lon_gcj02), amapLink(a.amap_url)];
    }).concat(doc.removed.map(function (r, i) {
      return ["−" + (i + 1), cfg.lang === "en" ? "close" : "关闭", r.name, "", signed(-r.lost_1), signed(-r.lost_2),
        pair(r.lat_wgs84, r.lon_wgs84), pair(r.lat_gcj02, r.lon_gcj02), amapLink(r.amap_url)];
    }));
    fill("plan", rows);
    $("sm-whatif-limit").textContent = "";
    S.whatifCount = (S.whatifCount || 0) + 1;
  }
  function exportPlan(fmt) {
    var url = cfg.api.whatif + "?" + query(S.q || formQuestion(), { format: fmt });
    fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: planBody() }).then(function (r) {
      if (!r.ok) return r.json().then(function (d) { throw new Error(d.detail); });
      var name = (/filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") || "") || [])[1] || "plan." + fmt;
      return r.blob().then(function (b) {
        var a = el("a");
        a.href = URL.createObjectURL(b);
        a.download = name;
        document.body.appendChild(a);
        a.click();
        setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
      });
    }).catch(function (err) { $("sm-whatif-limit").textContent = say(T.pl_failed, { e: err.message }); });
  }
  function clearPlan() {
    S.plan.add.forEach(function (s) { layers.plan.removeLayer(s.marker); });
    S.plan.add = [];
    Object.keys(S.plan.remove).forEach(function (id) {
      var i = cfg.stations.findIndex(function (s) { return s.id === id; });
      delete S.plan.remove[id];
      S.markers[i].setStyle({ fillColor: cfg.stations[i].k === "smart" ? "#1864ab" : "#e8590c", color: "#fff", weight: 1 });
    });
    if (S.reach_m) drawReach(S.reach_m);
    whatIf();
  }

  // -- the demand layer ---------------------------------------------------------------------------
  function demandSays(text, state) {
    var p = $("sm-demand-status");
    p.textContent = text;
    p.dataset.state = state;
  }
  function useDemand(doc, option) {
    S.demand = doc;
    if (doc) S.known[doc.demand] = doc;
    var sel = $("sm-demand-layer");
    if (option) {
      var o = Array.prototype.find.call(sel.options, function (x) { return x.value === doc.demand; }) || el("option");
      o.value = doc.demand;
      o.textContent = cfg.lang === "en" ? doc.label : doc.label_zh;
      sel.appendChild(o);
    }
    sel.value = doc ? doc.demand : "";
    demandSays(doc ? say(T.pl_demand_line, { label: cfg.lang === "en" ? doc.label : doc.label_zh, source: doc.source,
      points: num(doc.points), total: num(doc.total) }) + (doc.note_zh ? " " + (cfg.lang === "en" ? doc.note : doc.note_zh) : "")
      : "", doc ? "ok" : "");
    ask(S.q || formQuestion());
  }
  function answerOf(r) {
    return r.json().then(function (doc) {
      if (!r.ok) throw new Error(doc.detail || String(r.status));
      return doc;
    }, function () { throw new Error(String(r.status)); });
  }
  function upload(file) {
    if (!file) return;
    if (file.size > cfg.limits.demand_bytes) {
      demandSays(say(T.pl_demand_too_big, { size: num(file.size), max: num(cfg.limits.demand_bytes) }), "error");
      return;
    }
    demandSays(say(T.pl_demand_sending, { name: file.name }), "busy");
    var p = new URLSearchParams({ name: file.name, crs: $("sm-demand-crs").value });
    var type = /\.csv$|\.txt$/i.test(file.name) ? "text/csv" : "application/geo+json";
    fetch(cfg.api.demand + "?" + p.toString(), { method: "POST", headers: { "Content-Type": type, Accept: "application/json" },
      body: file, credentials: "same-origin" }).then(answerOf).then(function (doc) {
      S.layers = (S.layers || 0) + 1;
      useDemand(doc, true);
    }).catch(function (err) {
      demandSays(say(T.pl_demand_failed, { e: err.message }), "error");
      S.demandRefused = (S.demandRefused || 0) + 1;
    });
  }
  function pickLayer(value) {
    if (!value) return useDemand(null);
    if (value !== "visits") return useDemand(Object.assign({}, S.known[value]));
    fetch(cfg.api.visits, { headers: { Accept: "application/json" }, credentials: "same-origin" }).then(answerOf)
      .then(function (doc) {
        if (doc.available) return useDemand(doc, true);
        $("sm-demand-layer").value = S.demand ? S.demand.demand : "";
        demandSays(cfg.lang === "en" ? doc.message : doc.message_zh, "none");
      }).catch(function (err) { demandSays(say(T.pl_demand_failed, { e: err.message }), "error"); });
  }
  function demandControls() {
    S.known = {};
    $("sm-demand-file").addEventListener("change", function (e) { upload(e.target.files[0]); e.target.value = ""; });
    $("sm-demand-layer").addEventListener("change", function (e) { pickLayer(e.target.value); });
  }

  // -- start ------------------------------------------------------------------------------------
  function tooltip(name) { return el("span", name); }
  function stations() {
    S.markers = cfg.stations.map(function (s) {
      var smart = s.k === "smart";
      var m = L.circleMarker(s.p, { radius: smart ? 6 : 4, color: "#fff", weight: 1, fillColor: smart ? "#1864ab" : "#e8590c",
        fillOpacity: 1, className: "sm-plan-station", bubblingMouseEvents: false }).bindTooltip(tooltip(s.n)).addTo(map);
      m.on("click", function () { toggleStation(s, m); });
      return m;
    });
    S.count = cfg.stations.length;
  }
  function init(m, _boundaries, data) {
    map = S.map = m;
    cfg = data;
    T = cfg.words;
    layers.plan = L.layerGroup().addTo(map);
    stations();
    map.on("click", function (e) { var w = wgs(e.latlng.lat, e.latlng.lng); addSite(w[0], w[1]); });
    var f = $("sm-plan-form");
    var a = f.elements.minutes, b = f.elements.reach_m;
    a.addEventListener("input", function () { if (a.value) b.value = ""; });
    b.addEventListener("input", function () { if (b.value) a.value = ""; });
    f.addEventListener("submit", function (e) {
      if (f.elements.basemap.value !== cfg.basemap) return;  // another basemap: the page is drawn afresh
      e.preventDefault();
      var q = formQuestion();
      var p = new URLSearchParams(query(q, { n: q.n, lang: cfg.lang, basemap: cfg.basemap }));
      history.replaceState(null, "", location.pathname + "?" + p.toString());
      ask(q);
    });
    $("sm-cancel").addEventListener("click", cancel);
    $("sm-export").addEventListener("click", function () { exportPlan("csv"); });
    $("sm-export-geojson").addEventListener("click", function () { exportPlan("geojson"); });
    $("sm-clear").addEventListener("click", clearPlan);
    demandControls();
    var q = cfg.question;
    ask({ minutes: q.minutes, mode: q.mode, reach_m: q.reach_m, min_stations: q.min_stations || 1, n: q.n || 0 });
  }

  return { init: init, state: S, cancel: cancel, addSite: addSite,
    get count() { return S.count; }, get markers() { return S.markers; } };
})();
