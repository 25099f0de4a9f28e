/* Registers the offline worker named by this script tag's data-worker (/sw.js, web/sw.js), on the map page.
 * On the first visit the page loaded before the worker ran, so nothing of it is kept yet: once the worker
 * is active, it is asked to keep this page and the files it loaded (Workbox's CACHE_URLS message, answered
 * by the worker's own routes: what they do not keep is left alone). Later visits pass through the worker. */
(function () {
  "use strict";
  var me = document.currentScript;
  if (!("serviceWorker" in navigator) || !me || !me.dataset.worker) return;
  var first = !navigator.serviceWorker.controller;

  function keepThisPage(reg) {
    if (!first || !reg.active) return;
    var urls = [window.location.href];
    performance.getEntriesByType("resource").forEach(function (e) {
      if (e.name.indexOf(window.location.origin + "/") === 0 && urls.indexOf(e.name) < 0) urls.push(e.name);
    });
    reg.active.postMessage({ type: "CACHE_URLS", payload: { urlsToCache: urls } });
  }

  navigator.serviceWorker.register(me.dataset.worker).catch(function () { /* the map works without it */ });
  window.addEventListener("load", function () {
    navigator.serviceWorker.ready.then(keepThisPage);
  });
})();
