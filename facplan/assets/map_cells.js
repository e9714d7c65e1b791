
(function (C, group) {{
  var D = {data};
  var feats = [];
  for (var i = 0; i < D.g.length; i++) feats.push({{type: "Feature", geometry: D.g[i], properties: {{i: i}}}});
  C.cellData = D;
  C.cellStyle = function (f) {{
    var c = C.colour(D.d.length ? D.d[C.view][f.properties.i] : null, C.view);
    return {{className: "fp-cell", color: c, fillColor: c, fillOpacity: 0.62, opacity: 0.9, weight: D.pt ? 1 : 0.4}};
  }};
  var opts = {{
    style: C.cellStyle,
    pointToLayer: function (f, ll) {{ return L.circleMarker(ll, {{radius: 4, className: "fp-cell"}}); }}
  }};
  if (D.canvas) opts.renderer = L.canvas({{padding: 0.5}});
  var lyr = L.geoJSON(feats, opts);
  lyr.bindTooltip(function (l) {{
    var i = l.feature.properties.i, t = C.t, rows = [];
    var d = D.d.length ? D.d[C.view][i] : null;
    if (D.agg) {{
      rows.push(t.cells_n + ": " + D.n[i]);
      rows.push(t.population + ": " + C.fmt(D.pop[i]));
      if (D.d.length) rows.push(t.median + ": " + (d === null ? t.unreachable : C.fmt(d) + " m"));
      var s = D.d.length ? D.cov[C.view][i] : null;
      if (s !== null && s !== undefined) rows.push(t.share + ": " + Math.round(s * 100) + "%");
    }} else {{
      rows.push(t.id + ": " + C.esc(D.id[i]));
      rows.push(t.population + ": " + C.fmt(D.pop[i]));
      if (D.d.length) rows.push(t.distance + ": " + (d === null ? t.unreachable : C.fmt(d) + " m"));
    }}
    return rows.join("<br>");
  }}, {{sticky: true}});
  lyr.addTo(group);
  C.cells = lyr;
}})({core}, {group});
