/* The offline worker for the workers' map and the station pages, with Workbox from our own vendor folder.
 * web/pages.py serves it at /sw.js (scope: the whole site) with `SM` set above this text:
 *   SM.workbox  the fingerprinted folder of the vendored Workbox modules (never Workbox's CDN);
 *   SM.pages    path prefixes of the pages kept for offline use (the map, the station pages);
 *   SM.shell    the map page, shown offline in place of a page that was not kept;
 *   SM.skip     path prefixes the worker leaves alone, with everything those pages load (the embed);
 *   SM.static   the prefix of fingerprinted static URLs (web/assets.py).
 *
 * Pages: network first (a copy within NETWORK_S, else the kept one), so every visit with a signal keeps
 * the current registry's page, whose station list, orientation layer and search index are JSON blocks
 * in it. A page of a new registry version (X-Registry-Version) drops the pages kept from older ones.
 * Static files: their URLs carry their content hash, so cache first. Tiles, the API and other sites'
 * requests are not touched: offline, the page computes the nearest stations itself. */
/* global SM, importScripts, workbox */

importScripts(SM.workbox + "/workbox-sw.js");
workbox.setConfig({ modulePathPrefix: SM.workbox, debug: false });

var PAGES = "sm-pages-v1", STATIC = "sm-static-v1", OURS = [PAGES, STATIC];
var NETWORK_S = 6;  /* a phone on one bar of signal: after this, the kept page, while the network goes on */
var VERSION_HEADER = "X-Registry-Version";
var SAVED_HEADER = "X-Stationmap-Saved";  /* when the copy was kept (ms since 1970): the page says how old it is */

var skipClients = new Set();  /* ids of the pages the worker leaves alone (a fetch names its page by id) */

/* `path` is one of `prefixes` ("/map": itself and below it; "/s/": below it, and "/s" itself) */
function under(path, prefixes) {
  return prefixes.some(function (p) {
    var dir = p.slice(-1) === "/" ? p : p + "/";
    return path === dir.slice(0, -1) || path.indexOf(dir) === 0;
  });
}

/* A request from, or for, a page the worker leaves alone: its own navigation, or a fetch by it (known
 * by its page's id, or by the referrer when the worker was restarted since that page opened). */
function skipped(request, event) {
  if (event && skipClients.has(event.clientId)) return true;
  if (request.referrer && request.referrer.indexOf("http") === 0) {
    var ref = new URL(request.referrer);
    if (ref.origin === self.location.origin && under(ref.pathname, SM.skip)) return true;
  }
  return false;
}

/* Before Workbox's router: note the pages left alone, and answer nothing for them. */
self.addEventListener("fetch", function (event) {
  var url = new URL(event.request.url);
  if (event.request.mode === "navigate" && url.origin === self.location.origin && under(url.pathname, SM.skip)) {
    if (event.resultingClientId) skipClients.add(event.resultingClientId);
    event.stopImmediatePropagation();
  } else if (skipped(event.request, event)) {
    event.stopImmediatePropagation();
  }
});

/* Only whole pages are kept, each stamped with when it came from the network. */
var stampPlugin = {
  cacheWillUpdate: async function (ctx) {
    var r = ctx.response;
    if (!r || r.status !== 200) return null;
    var headers = new Headers(r.headers);
    headers.set(SAVED_HEADER, String(Date.now()));
    headers.delete("Content-Encoding");  /* the body read here is decoded already */
    headers.delete("Content-Length");
    return new Response(await r.blob(), { status: r.status, statusText: r.statusText, headers: headers });
  },
};

/* A page of a new registry version replaces every page kept from an older one. */
var registryPlugin = {
  cacheDidUpdate: async function (ctx) {
    var version = ctx.newResponse.headers.get(VERSION_HEADER);
    if (!version) return;
    var cache = await caches.open(ctx.cacheName);
    var keys = await cache.keys();
    await Promise.all(keys.map(async function (key) {
      if (key.url === ctx.request.url) return;
      var kept = await cache.match(key);
      if (kept && kept.headers.get(VERSION_HEADER) !== version) await cache.delete(key);
    }));
  },
};

var pages = new workbox.strategies.NetworkFirst({
  cacheName: PAGES,
  networkTimeoutSeconds: NETWORK_S,
  plugins: [stampPlugin, registryPlugin, new workbox.expiration.ExpirationPlugin({ maxEntries: 40 })],
});
workbox.routing.registerRoute(function (o) {
  return o.sameOrigin && under(o.url.pathname, SM.pages) && !skipped(o.request, o.event);
}, {
  /* offline, a page never opened here gets the kept map page (its stations, its nearest list) */
  handle: function (o) {
    return pages.handle(o).catch(function () {
      return caches.open(PAGES).then(function (c) { return c.match(SM.shell); }).then(function (r) {
        return r || Response.error();
      });
    });
  },
});

workbox.routing.registerRoute(function (o) {
  return o.sameOrigin && o.url.pathname.indexOf(SM.static) === 0 && !skipped(o.request, o.event);
}, new workbox.strategies.CacheFirst({
  cacheName: STATIC,
  plugins: [new workbox.cacheableResponse.CacheableResponsePlugin({ statuses: [200] }),
    new workbox.expiration.ExpirationPlugin({ maxEntries: 120, purgeOnQuotaError: true })],
}));

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (n) { return n.indexOf("sm-") === 0 && OURS.indexOf(n) < 0; })
      .map(function (n) { return caches.delete(n); }));
  }));
});
workbox.core.clientsClaim();
