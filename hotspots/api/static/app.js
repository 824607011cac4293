// The app page: links the ranked hotspot table and the map, keeps the view in the URL, and tidies
// the filter form.
(function () {
  "use strict";

  // The page is built once for many browsers: its sign-out form takes this browser's CSRF token
  // from the cookie the sign-in page set (a page on another site can neither read nor send it).
  var token = (document.cookie.match(/(?:^|;\s*)hotspots_csrf=([^;]+)/) || [])[1];
  if (token) {
    document.querySelectorAll("input[data-hs-csrf]").forEach(function (input) { input.value = token; });
  }
  var phone = window.matchMedia && window.matchMedia("(max-width: 760px)").matches;

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

  // On a phone the filters start folded so the map is visible.
  if (phone) {
    document.querySelectorAll("details.hs-filters").forEach(function (d) { d.open = false; });
  }

  // Stability (months hot per hotspot, persistence of the set) costs twelve monthly fits: the
  // table's column is filled in after the page, from /app/stability with the page's own query.
  var stab = document.getElementById("hs-stability");
  if (stab && window.fetch) {
    fetch(stab.getAttribute("data-src"), {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (body) {
        document.querySelectorAll("td.hs-stab").forEach(function (td) {
          td.textContent = body.months_hot[td.getAttribute("data-stab")] || "n/a";
        });
        stab.textContent = body.note || "";
        document.body.setAttribute("data-stability", "ready");
      })
      .catch(function () {
        document.querySelectorAll("td.hs-stab").forEach(function (td) { td.textContent = "n/a"; });
        stab.textContent = "Stability could not be worked out for this view.";
        document.body.setAttribute("data-stability", "failed");
      });
  }

  var configNode = document.getElementById("hs-config");
  if (!configNode) { return; }
  var config = JSON.parse(configNode.textContent);
  var map = window[config.map];
  var layer = config.hotspots ? window[config.hotspots] : null;
  if (!map) { return; }
  var container = map.getContainer();
  var query = new URLSearchParams(window.location.search);

  // The layer list starts folded (the form's "Layers" boxes do the same job); its button unfolds it.
  var list = container.querySelector(".leaflet-control-layers");
  var fold = function () { if (list) { list.classList.remove("leaflet-control-layers-expanded"); } };
  fold();
  map.on("click", fold);
  // A popup needs the room: fold the legend and the layer list while one is open.
  map.on("popupopen", function () {
    document.querySelectorAll("details.hs-legend").forEach(function (d) { d.open = false; });
    fold();
  });

  // One tick per layer: the form's boxes and the map's layer list move together.
  var LAYER_LABELS = {heat: "Heat", significance: "Significance", emerging: "Emerging", interventions: "Interventions"};
  function listInput(key) {
    var found = null;
    container.querySelectorAll(".leaflet-control-layers-overlays label").forEach(function (label) {
      if (label.textContent.trim().indexOf(LAYER_LABELS[key]) === 0) { found = label.querySelector("input"); }
    });
    return found;
  }
  var formBoxes = form ? form.querySelectorAll("input[name=layer]") : [];
  formBoxes.forEach(function (box) {
    box.addEventListener("change", function () {
      var input = listInput(box.value);
      if (input && input.checked !== box.checked) { input.click(); }
    });
  });
  function syncBoxes() {
    formBoxes.forEach(function (box) {
      var input = listInput(box.value);
      if (input) { box.checked = input.checked; }
    });
  }
  syncBoxes();  // a layer the server ticks by itself (interventions in view) shows in the form too
  map.on("overlayadd overlayremove", function () {
    syncBoxes();
    remember();
  });

  // Leaflet ignores a new view while a zoom animation runs: act when the map is idle.
  function whenIdle(fn) {
    if (map._animatingZoom) { map.once("zoomend", function () { setTimeout(fn, 0); }); } else { fn(); }
  }

  // The space the map's own controls take at its top and bottom edges, so that nothing the page
  // opens on (legend, layer button, zoom buttons, scale, attribution) hides a hotspot.
  function controlPadding() {
    var box = container.getBoundingClientRect();
    var top = 0, bottom = 0;
    container.querySelectorAll(".leaflet-control").forEach(function (el) {
      var r = el.getBoundingClientRect();
      if (!r.width || !r.height) { return; }
      if (r.top - box.top < box.height / 2) { top = Math.max(top, r.bottom - box.top); }
      else { bottom = Math.max(bottom, box.bottom - r.top); }
    });
    return {top: top + 6, bottom: bottom + 6};
  }

  var area = null;  // the area's (or the chosen districts') bounds, as the server fitted them
  function fitArea() {
    if (!area) { return; }
    var pad = controlPadding();
    map.fitBounds(area, {paddingTopLeft: [8, pad.top], paddingBottomRight: [8, pad.bottom], animate: false});
  }

  var byRank = {};
  if (layer) { layer.eachLayer(function (shape) { byRank[String(shape.feature.id)] = shape; }); }
  var status = document.getElementById("hs-status");
  var chosen = null;

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

  // The chosen hotspot gets an orange outline on the map, drawn above the others.
  function highlightShape(rank) {
    if (chosen && byRank[chosen]) { layer.resetStyle(byRank[chosen]); }
    chosen = rank;
    var shape = byRank[rank];
    if (!shape) { return; }
    shape.setStyle({color: "#ff8c00", weight: 5, opacity: 1});
    shape.bringToFront();
    var path = shape.getElement && shape.getElement();
    if (path) { path.classList.add("hs-chosen"); }
  }

  if (layer) {
    // A click on a hotspot (or a popup opened from the table) highlights its row and outline.
    layer.on("click", function (e) {
      var shape = e.layer || e.propagatedFrom;
      if (shape && shape.feature) {
        var rank = String(shape.feature.id);
        highlightRow(rank, !e.fromTable);
        highlightShape(rank);
        remember();
      }
    });
    map.on("popupclose", function () {
      if (chosen && byRank[chosen]) { layer.resetStyle(byRank[chosen]); }
      chosen = null;
      remember();
    });
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

  // The view in the URL (zoom, centre, chosen hotspot, layers), so it can be shared as it is.
  var restoring = true;
  function remember() {
    if (restoring || !window.history || !history.replaceState) { return; }
    var q = new URLSearchParams(window.location.search);
    var c = map.getCenter();
    q.set("zoom", String(Math.round(map.getZoom() * 100) / 100));
    q.set("lat", c.lat.toFixed(5));
    q.set("lon", c.lng.toFixed(5));
    if (chosen) { q.set("hotspot", chosen); } else { q.delete("hotspot"); }
    q.delete("layer");
    var shown = [];
    Object.keys(LAYER_LABELS).forEach(function (key) {
      var input = listInput(key);
      if (input && input.checked) { shown.push(key); }
    });
    shown.forEach(function (key) { q.append("layer", key); });
    q.set("layers_set", "true");
    history.replaceState(null, "", window.location.pathname + "?" + q.toString());
  }
  map.on("moveend", remember);

  document.querySelectorAll(".hs-go").forEach(function (button) {
    button.addEventListener("click", function () {
      var rank = button.getAttribute("data-rank");
      // Bring the map into view first (on a phone it is far above the table), then show the hotspot.
      var wrap = document.getElementById("hs-map") || container;
      var r = wrap.getBoundingClientRect();
      if (r.top < 0 || r.bottom > window.innerHeight) {
        wrap.scrollIntoView({block: "start"});
      }
      whenIdle(function () { moveTo(rank); });
    });
  });

  whenIdle(function () {
    map.options.zoomSnap = 0.25;
    area = config.bounds ? L.latLngBounds(config.bounds) : map.getBounds();
    var zoom = parseFloat(query.get("zoom"));
    var lat = parseFloat(query.get("lat"));
    var lon = parseFloat(query.get("lon"));
    var want = query.get("hotspot");
    if (isFinite(zoom) && isFinite(lat) && isFinite(lon)) {
      map.setView([lat, lon], zoom, {animate: false});
    } else {
      fitArea();
    }
    if (want && byRank[want]) {
      var shape = byRank[want];
      shape.fire("click", {latlng: shape.getBounds().getCenter(), fromTable: true}, true);
      highlightRow(want, false);
    }
    restoring = false;
    document.body.setAttribute("data-map-ready", "true");
  });

  // Patrol plan: the ticked hotspots' ids joined by commas, with the page's own analysis query
  // (so the ids mean the same hotspots).
  var patrol = document.getElementById("hs-patrol-form");
  if (patrol) {
    patrol.addEventListener("submit", function (event) {
      event.preventDefault();
      var ids = Array.prototype.map.call(
        document.querySelectorAll("input.hs-pick:checked"), function (box) { return box.value; });
      if (!ids.length) {
        document.getElementById("hs-status").textContent = "Tick one or more hotspots in the table for a patrol plan.";
        return;
      }
      var query = new URLSearchParams(patrol.getAttribute("data-query") || "");
      query.set("hotspots", ids.join(","));
      query.set("shift", document.getElementById("hs-shift").value);
      window.location.href = "/app/patrol-plan?" + query.toString();
    });
  }
})();
