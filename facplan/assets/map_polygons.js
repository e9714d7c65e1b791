
(function (C, group) {{
  var D = {data};
  var feats = [];
  for (var i = 0; i < D.g.length; i++) feats.push({{type: "Feature", geometry: D.g[i], properties: {{i: i}}}});
  var lyr = L.geoJSON(feats, {{
    interactive: D.interactive,
    style: function (f) {{
      var s = Object.assign({{}}, D.style);
      if (D.colour) {{ s.color = D.colour[f.properties.i]; s.fillColor = s.color; }}
      return s;
    }}
  }});
  if (D.tip) lyr.bindTooltip(function (l) {{ return D.tip[l.feature.properties.i]; }}, {{sticky: true}});
  lyr.addTo(group);
  if (D.labels) {{
    for (var j = 0; j < D.labels.length; j++) {{
      var a = D.labels[j];
      L.marker([a[0], a[1]], {{
        interactive: false, keyboard: false,
        icon: L.divIcon({{className: "fp-label", html: "<span>" + a[2] + "</span>", iconSize: null}})
      }}).addTo(group);
    }}
    if (D.labelMinZoom) {{
      var hide = function () {{
        L.DomUtil[C.map.getZoom() < D.labelMinZoom ? "addClass" : "removeClass"](
          C.map.getContainer(), "fp-nolabels");
      }};
      C.map.on("zoomend", hide);
      hide();
    }}
  }}
}})({core}, {group});
