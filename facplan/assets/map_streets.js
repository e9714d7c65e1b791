
(function (map, group) {{
  var D = {data};
  if (!map.getPane("fpStreets")) map.createPane("fpStreets").style.zIndex = 350;
  L.geoJSON({{type: "Feature", geometry: D.g, properties: {{}}}}, {{
    pane: "fpStreets", interactive: false, style: function () {{ return D.style; }}
  }}).addTo(group);
  // tiles that cannot load (an intranet): after a few failures and no success, show
  // the streets instead; the failures stay network events, not errors of this page
  map.eachLayer(function (t) {{
    if (!(t instanceof L.TileLayer)) return;
    var failed = 0, loaded = 0;
    t.on("tileload", function () {{ loaded += 1; }});
    t.on("tileerror", function () {{
      failed += 1;
      if (failed >= D.failures && loaded === 0 && map.hasLayer(t)) {{
        map.removeLayer(t);
        if (!map.hasLayer(group)) map.addLayer(group);
      }}
    }});
  }});
}})({map}, {group});
