// The app page: links the ranked hotspot table and the map, and tidies the filter form.
(function () {
  "use strict";

  // The page is built once for many browsers: its sign-out form takes this browser's CSRF token
  // from the cookie the sign-in page set (a page on another site can neither read nor send it).
  var token = (document.cookie.match(/(?:^|;\s*)hotspots_csrf=([^;]+)/) || [])[1];
  if (token) {
    document.querySelectorAll("input[data-hs-csrf]").forEach(function (input) { input.value = token; });
  }

  var form = document.getElementById("hs-form");
  if (form) {
    // Empty number fields mean "choose from the data": leave them out of the query.
    form.addEventListener("submit", function () {
      form.querySelectorAll("input[type=number]").forEach(function (input) {
        if (input.value === "") { input.disabled = true; }
      });
    });
    var method = document.getElementById("hs-method");
    var syncMethod = function () {
      var hdb = method.value === "hdbscan";
      form.querySelectorAll(".hs-dbscan").forEach(function (el) { el.hidden = hdb; });
      form.querySelectorAll(".hs-hdbscan").forEach(function (el) { el.hidden = !hdb; });
    };
    if (method) { method.addEventListener("change", syncMethod); syncMethod(); }
  }

  // On a phone the filters and the legend start folded so the map is visible.
  if (window.matchMedia && window.matchMedia("(max-width: 760px)").matches) {
    document.querySelectorAll("details.hs-filters, details.hs-legend").forEach(function (d) { d.open = false; });
  }

  var configNode = document.getElementById("hs-config");
  if (!configNode) { return; }
  var config = JSON.parse(configNode.textContent);
  var map = window[config.map];
  var layer = config.hotspots ? window[config.hotspots] : null;
  if (!map) { return; }

  // A popup needs the room: fold the legend while one is open. On a phone, fold the layer list too.
  map.on("popupopen", function () {
    document.querySelectorAll("details.hs-legend").forEach(function (d) { d.open = false; });
  });
  if (window.matchMedia && window.matchMedia("(max-width: 760px)").matches) {
    // Its toggle button expands it again; a tap on the map folds it.
    var list = map.getContainer().querySelector(".leaflet-control-layers");
    var fold = function () { if (list) { list.classList.remove("leaflet-control-layers-expanded"); } };
    fold();
    map.on("click", fold);
  }

  if (!layer) { document.body.setAttribute("data-map-ready", "true"); return; }
  var byRank = {};
  layer.eachLayer(function (shape) { byRank[String(shape.feature.id)] = shape; });
  var status = document.getElementById("hs-status");

  function highlightRow(rank, scroll) {
    document.querySelectorAll(".hs-table tr.hs-active").forEach(function (tr) {
      tr.classList.remove("hs-active");
      tr.removeAttribute("aria-current");
    });
    var row = document.getElementById("hs-row-" + rank);
    if (!row) { return; }
    row.classList.add("hs-active");
    row.setAttribute("aria-current", "true");
    if (scroll) { row.scrollIntoView({block: "nearest"}); }
  }

  // A click on a hotspot (or a popup opened from the table) highlights its row.
  layer.on("click", function (e) {
    var shape = e.layer || e.propagatedFrom;
    if (shape && shape.feature) { highlightRow(String(shape.feature.id), !e.fromTable); }
  });

  // Leaflet ignores a new view while a zoom animation runs (such as the first fit to the area):
  // act when the map is idle.
  function whenIdle(fn) {
    if (map._animatingZoom) { map.once("zoomend", function () { setTimeout(fn, 0); }); } else { fn(); }
  }
  whenIdle(function () { document.body.setAttribute("data-map-ready", "true"); });

  function showOnMap(rank) {
    whenIdle(function () { moveTo(rank); });
  }

  function moveTo(rank) {
    var shape = byRank[rank];
    if (!shape) { return; }
    var bounds = shape.getBounds();
    map.fitBounds(bounds, {maxZoom: 16, padding: [40, 40], animate: false});
    // Fire the click Leaflet would fire, so the popup (bound on the layer group) opens for this shape.
    shape.fire("click", {latlng: bounds.getCenter(), fromTable: true}, true);
    highlightRow(rank, false);
    if (status) { status.textContent = "Showing hotspot " + rank + " on the map."; }
  }

  document.querySelectorAll(".hs-go").forEach(function (button) {
    button.addEventListener("click", function () { showOnMap(button.getAttribute("data-rank")); });
  });
})();
