// Draw an intervention's target polygon on the interventions page: click the map to add vertices,
// "Undo last point" (on a closed polygon: re-open it), "Clear", "Close polygon". Closing writes the shape as GeoJSON (WGS84, 6
// decimals, counter-clockwise ring as RFC 7946 asks) into the form's polygon text field, which the
// server reads like an uploaded polygon. Plain Leaflet (served by our own app), no plug-in.
(function () {
  "use strict";
  var configNode = document.getElementById("hs-draw-config");
  var box = document.getElementById("hs-draw-map");
  if (!configNode || !box || typeof L === "undefined") { return; }
  var config = JSON.parse(configNode.textContent);
  var field = document.getElementById("hs-iv-polygon-text");
  var status = document.getElementById("hs-draw-status");
  var STROKE = "#6a3d9a";

  var map = L.map(box, {zoomSnap: 0.25, doubleClickZoom: false});
  window.hsDrawMap = map;
  if (config.tiles) {
    L.tileLayer(config.tiles, {attribution: config.attribution || "", maxZoom: 19}).addTo(map);
  }
  if (config.outline) {
    L.geoJSON(config.outline, {
      interactive: false,
      style: {color: "#555", weight: 2, fill: false, dashArray: "4 3"}
    }).addTo(map);
  }
  if (config.bounds) { map.fitBounds(config.bounds); } else { map.setView([51.55, 0.1], 11); }
  function text(words) {  // a tooltip as plain text: names are typed by users
    var node = document.createElement("span");
    node.textContent = words;
    return node;
  }
  // Interventions already recorded here: grey, dashed, named on hover; a click still adds a point.
  (config.existing || []).forEach(function (item) {
    if (!item.geometry) { return; }
    L.geoJSON(item.geometry, {
      className: "hs-draw-existing",
      style: {color: "#555", weight: 1.5, dashArray: "5 4", fillColor: "#888", fillOpacity: 0.15}
    }).bindTooltip(text(item.name + " (" + item.when + ")"), {sticky: true}).addTo(map);
  });

  var points = [];
  var closed = false;
  var written = null;  // the text this script last put in the field
  var line = L.polyline([], {color: STROKE, weight: 3, interactive: false}).addTo(map);
  var shape = L.polygon([], {color: STROKE, weight: 3, fillOpacity: 0.15, interactive: false});
  var markers = L.layerGroup().addTo(map);

  function round6(v) { return Math.round(v * 1e6) / 1e6; }

  function ring() {
    var coords = points.map(function (p) { return [round6(p.lng), round6(p.lat)]; });
    // Signed area (shoelace, lon/lat): negative is clockwise; RFC 7946 exteriors run counter-clockwise.
    var twice = 0;
    for (var i = 0; i < coords.length; i++) {
      var a = coords[i], b = coords[(i + 1) % coords.length];
      twice += a[0] * b[1] - b[0] * a[1];
    }
    if (twice < 0) { coords.reverse(); }
    coords.push(coords[0].slice());
    return coords;
  }

  function say(text) { if (status) { status.textContent = text; } }

  function writeField() {
    if (!field) { return; }
    if (closed) {
      written = JSON.stringify({type: "Polygon", coordinates: [ring()]});
      field.value = written;
    } else if (written !== null && field.value === written) {
      field.value = "";  // the drawn shape changed: the old one is no longer what is drawn
      written = null;
    }
  }

  function redraw() {
    markers.clearLayers();
    points.forEach(function (p, i) {
      L.circleMarker(p, {
        radius: i === 0 ? 6 : 4, color: STROKE, weight: 2, fillColor: "#fff", fillOpacity: 1,
        interactive: false, className: "hs-draw-vertex"
      }).addTo(markers);
    });
    if (closed) {
      line.setLatLngs([]);
      shape.setLatLngs(points.slice());
      if (!map.hasLayer(shape)) { shape.addTo(map); }
      say("Polygon closed: " + points.length + " points. It is in the form; press Record to save it.");
    } else {
      if (map.hasLayer(shape)) { map.removeLayer(shape); }
      line.setLatLngs(points.slice());
      var need = Math.max(0, 3 - points.length);
      say(points.length + " point" + (points.length === 1 ? "" : "s") +
        (need ? ": click " + need + " more on the map" : ": click more, or close the polygon"));
    }
    writeField();
    document.getElementById("hs-draw-close").disabled = closed || points.length < 3;
    document.getElementById("hs-draw-undo").disabled = points.length === 0;
    document.getElementById("hs-draw-clear").disabled = points.length === 0;
  }

  map.on("click", function (e) {
    if (closed) { say("The polygon is closed: undo its last point or clear it to change it."); return; }
    points.push(e.latlng);
    redraw();
  });
  document.getElementById("hs-draw-undo").addEventListener("click", function () {
    if (closed) { closed = false; } else { points.pop(); }  // first undo re-opens a closed polygon
    redraw();
  });
  document.getElementById("hs-draw-clear").addEventListener("click", function () {
    points = [];
    closed = false;
    redraw();
  });
  document.getElementById("hs-draw-close").addEventListener("click", function () {
    if (points.length < 3) { return; }
    closed = true;
    redraw();
  });
  redraw();
  box.setAttribute("data-draw-ready", "true");
})();
