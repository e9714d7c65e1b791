
(function (C) {{
  var ctl = L.control({{position: "bottomleft"}});
  ctl.onAdd = function () {{
    var div = L.DomUtil.create("div", "fp-panel");
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    if (C.views.length) {{
      var h = L.DomUtil.create("div", "fp-h", div);
      h.innerHTML = C.t.view;
      var sel = L.DomUtil.create("select", "fp-view", div);
      sel.setAttribute("aria-label", C.t.viewPlain);
      for (var i = 0; i < C.views.length; i++) {{
        var o = document.createElement("option");
        o.value = String(i);
        o.textContent = C.views[i].label;
        sel.appendChild(o);
      }}
      sel.addEventListener("change", function () {{ C.setView(parseInt(sel.value, 10)); }});
      C.select = sel;
    }}
    var det = L.DomUtil.create("details", "fp-details", div);
    det.open = true;
    L.DomUtil.create("summary", "", det).innerHTML = C.t.legend;
    if (C.views.length) {{
      var leg = L.DomUtil.create("div", "fp-legend", det);
      C.drawLegend = function () {{
        var v = C.views[C.view], b = v.b, rows = [];
        var item = function (k, txt) {{
          var c = k < 0 ? C.unreachable : C.pal[k];
          return '<span class="fp-item"><span class="fp-sw" style="background:' + c + '"></span>' + txt + "</span>";
        }};
        var range = function (k) {{
          return k === 0 ? "≤ " + C.fmt(b[0])
            : k === b.length ? "> " + C.fmt(b[b.length - 1])
            : C.fmt(b[k - 1]) + "–" + C.fmt(b[k]);
        }};
        var row = function (head, ks) {{
          var out = '<div class="fp-row">' + (head ? "<b>" + head + "</b>" : "");
          for (var j = 0; j < ks.length; j++) out += item(ks[j], ks[j] < 0 ? C.t.unreachable : range(ks[j]) + " m");
          return out + "</div>";
        }};
        if (v.t !== null) {{
          rows.push(row(C.t.covered + " (" + C.t.threshold + " " + C.fmt(v.t) + " m)", [0, 1]));
          rows.push(row(C.t.not_covered, [2, 3, 4, -1]));
        }} else {{
          rows.push(row("", [0, 1, 2, 3, 4, -1]));
        }}
        if (C.cellData && C.cellData.agg) rows.push('<div class="fp-row">(' + C.t.aggregated + ")</div>");
        leg.innerHTML = rows.join("");
      }};
      C.drawLegend();
    }}
    if (C.staticLegend) {{
      var st = L.DomUtil.create("div", "fp-static", det);
      st.innerHTML = C.staticLegend;
    }}
    return div;
  }};
  ctl.addTo(C.map);
  if (C.bounds) {{
    // fit the data into the part of the map the legend panel leaves free
    var mw = C.map.getSize().x, pw = ctl.getContainer().offsetWidth;
    C.map.fitBounds(C.bounds, {{
      paddingTopLeft: [Math.min(pw + 20, mw * 0.4), 50], paddingBottomRight: [20, 20]
    }});
  }}
}})({core});
