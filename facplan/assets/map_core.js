
var {core} = (function () {{
  var C = {data};
  C.map = {map};
  C.view = 0;
  C.esc = function (s) {{
    return String(s).replace(/[&<>"']/g, function (c) {{
      return {{"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}}[c];
    }});
  }};
  C.fmt = function (v) {{ return v === null || v === undefined ? "—" : Math.round(v).toLocaleString("en-US"); }};
  C.colour = function (d, v) {{
    if (d === null || d === undefined) return C.unreachable;
    var b = C.views[v].b;
    for (var i = 0; i < b.length; i++) {{ if (d <= b[i] + {eps}) return C.pal[i]; }}
    return C.pal[b.length];
  }};
  C.setView = function (v) {{
    C.view = v;
    if (C.cells) C.cells.setStyle(C.cellStyle);
    if (C.select) C.select.value = String(v);
    if (C.drawLegend) C.drawLegend();
  }};
  L.control.scale({{imperial: false, maxWidth: 150}}).addTo(C.map);
  var title = L.control({{position: "topleft"}});
  title.onAdd = function () {{
    var div = L.DomUtil.create("div", "fp-title");
    div.innerHTML = C.title;
    return div;
  }};
  title.addTo(C.map);
  return C;
}})();
