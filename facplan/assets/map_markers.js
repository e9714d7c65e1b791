
(function (C, group) {{
  var D = {data};
  // many markers: they shrink when zoomed out (full size from zoom D.full on), so that
  // they do not hide the cells under them
  var many = D.m.length >= D.many;
  if (many) {{
    var rescale = function () {{
      var z = C.map.getZoom();
      var k = Math.max(D.minScale, Math.min(1, Math.pow(2, (z - D.full) / 2)));
      C.map.getContainer().style.setProperty("--fp-marker-scale", String(k));
    }};
    C.map.on("zoomend", rescale);
    rescale();
  }}
  for (var i = 0; i < D.m.length; i++) {{
    var m = D.m[i], ic = D.icons[m[2]];
    var icon = L.divIcon({{className: "fp-marker " + D.cls + (many ? " fp-many" : ""), html: ic[0],
      iconSize: [ic[1], ic[1]], iconAnchor: [ic[1] / 2, ic[1] / 2], popupAnchor: [0, -ic[1] / 2]}});
    L.marker([m[0], m[1]], {{icon: icon, riseOnHover: true}})
      .bindPopup(m[3]).bindTooltip(m[4], {{direction: "top", offset: [0, -ic[1] / 2]}})
      .addTo(group);
  }}
}})({core}, {group});
