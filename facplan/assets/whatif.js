/* facplan what-if panel (facplan/outputs/whatif.py): switch candidate sites on and off
 * and see coverage change, with no server and no network request. Plain JavaScript on
 * Leaflet; user text is only ever set with textContent. */
function facplanWhatIfInit(C, D) {
  "use strict";
  var t0 = performance.now();
  // every string arrives HTML-escaped (html.escape, as the map keeps user text): undo it
  // once; from here on text reaches the page only through textContent
  var ENT = {amp: "&", lt: "<", gt: ">", quot: '"', "#x27": "'"};
  function unescape(v) {
    if (typeof v === "string") {
      return v.indexOf("&") < 0 ? v : v.replace(/&(amp|lt|gt|quot|#x27);/g, function (m, e) { return ENT[e]; });
    }
    if (Array.isArray(v)) {
      for (var i = 0; i < v.length; i++) if (typeof v[i] !== "number") v[i] = unescape(v[i]);
      return v;
    }
    if (v !== null && typeof v === "object") {
      var o = {};
      Object.keys(v).forEach(function (k) {
        Object.defineProperty(o, unescape(k), {value: unescape(v[k]), enumerable: true,
                                               writable: true, configurable: true});
      });
      return o;
    }
    return v;
  }
  D = unescape(D);
  var T = D.t, nSites = D.sites.length;
  var siteIndex = new Map();
  for (var si = 0; si < nSites; si++) {
    siteIndex.set(D.sites[si][0], si);
    // the kinds/tiers a site can be opened for come as positions in openKeys
    D.sites[si][5] = D.sites[si][5].map(function (j) { return D.openKeys[j]; });
  }

  // ---------------------------------------------------------------- exact sums
  // Shewchuk's algorithm with CPython's final rounding (math.fsum): the sum of the
  // values, correctly rounded, whatever their order.
  function Fsum() { this.p = []; }
  Fsum.prototype.add = function (x) {
    var p = this.p, i = 0;
    for (var j = 0; j < p.length; j++) {
      var y = p[j];
      if (Math.abs(x) < Math.abs(y)) { var t = x; x = y; y = t; }
      var hi = x + y, lo = y - (hi - x);
      if (lo !== 0) p[i++] = lo;
      x = hi;
    }
    p.length = i;
    p.push(x);
  };
  Fsum.prototype.value = function () {
    var p = this.p, n = p.length;
    if (!n) return 0;
    var hi = p[--n], lo = 0, x, y, yr;
    while (n > 0) {
      x = hi; y = p[--n]; hi = x + y; yr = hi - x; lo = y - yr;
      if (lo !== 0) break;
    }
    if (n > 0 && ((lo < 0 && p[n - 1] < 0) || (lo > 0 && p[n - 1] > 0))) {
      y = lo * 2; x = hi + y; yr = x - hi;
      if (y === yr) hi = x;
    }
    return hi;
  };

  // ---------------------------------------------------------------- decoding
  function decode(b64, counts) {
    var bin = atob(b64), b = new Uint8Array(bin.length), p = 0, out = [];
    for (var i = 0; i < bin.length; i++) b[i] = bin.charCodeAt(i);
    for (var k = 0; k < counts.length; k++) {
      var n = counts[k], a = new Int32Array(n), prev = -1;
      for (var j = 0; j < n; j++) {
        var v = 0, mul = 1, c;
        do { c = b[p++]; v += (c & 127) * mul; mul *= 128; } while (c & 128);
        prev = prev + 1 + v;
        a[j] = prev;
      }
      out.push(a);
    }
    return out;
  }

  // site outlines (for the export): compact form of encode_geoms -> GeoJSON geometries
  function geoms(G) {
    var bin = atob(G.c), p = 0, ax = 0, ay = 0, out = [];
    function next() {
      var v = 0, mul = 1, c;
      do { c = bin.charCodeAt(p++); v += (c & 127) * mul; mul *= 128; } while (c & 128);
      return v % 2 ? -(v + 1) / 2 : v / 2;
    }
    function points(n) {
      var a = [];
      for (var i = 0; i < n; i++) { ax += next(); ay += next(); a.push([ax / G.k, ay / G.k]); }
      return a;
    }
    function build(sh) {
      if (sh === 0) return points(1)[0];
      if (typeof sh === "number") return points(sh);
      return sh.map(build);
    }
    for (var i = 0; i < G.s.length; i++) {
      var sh = G.s[i];
      out.push(sh === null ? G.g[String(i)] : {type: sh[0], coordinates: build(sh[1])});
    }
    return out;
  }
  var geomCache = null;

  var plan = D.plan.map(function (e) { return [e[0], e[1]]; });
  var openAt = new Map();  // site position -> open key
  var api = {enabled: D.enabled, reason: D.reason};

  function idsOpen() {
    var ids = [];
    openAt.forEach(function (k, s) { ids.push(D.sites[s][0]); });
    return ids.sort();
  }

  function off() { throw new Error(D.reason); }

  if (!D.enabled) {
    for (var q = 0; q < plan.length; q++) openAt.set(plan[q][0], plan[q][1]);
    api.open = idsOpen;
    api.keyOf = function (siteId) {
      var s = siteIndex.get(String(siteId)), k = s === undefined ? undefined : openAt.get(s);
      return k === undefined ? null : k;
    };
    api.toggle = off; api.coverage = off; api.exportGeoJSON = off; api.reset = off;
    api.figures = off;
    window.facplanWhatIf = api;
    panel(null);
    return;
  }

  var nCells = D.pop.length, keys = D.keys;
  var total = new Fsum();
  for (var ci = 0; ci < nCells; ci++) total.add(D.pop[ci]);
  total = total.value();
  var base = {}, cnt = {}, cov = {}, dirty = {}, nowCache = {};
  keys.forEach(function (k) {
    var b = decode(D.base[k].b, D.base[k].n)[0], c = new Int32Array(nCells);
    var m = new Uint8Array(nCells);
    for (var i = 0; i < b.length; i++) { c[b[i]] = 1; m[b[i]] = 1; }
    base[k] = m; cnt[k] = c; dirty[k] = true;
    cov[k] = new Array(nSites);
    var e = D.cover[k];
    if (e) {
      var sets = decode(e.b, e.n);
      for (var j = 0; j < e.s.length; j++) cov[k][e.s[j]] = sets[j];
    }
  });

  function apply(s, okey, sign) {
    var ks = D.serves[okey] || [];
    for (var a = 0; a < ks.length; a++) {
      var k = ks[a], set = cov[k][s], c = cnt[k];
      dirty[k] = true;
      if (!set) continue;
      for (var i = 0; i < set.length; i++) c[set[i]] += sign;
      if (W && W.pending && k === W.colourKey) W.pending.push(set);
    }
  }
  function openSite(s, k) { openAt.set(s, k); apply(s, k, 1); }
  function closeSite(s) { var k = openAt.get(s); openAt.delete(s); apply(s, k, -1); }

  function coveredSum(k, mask) {
    var f = new Fsum(), pop = D.pop;
    for (var i = 0; i < nCells; i++) if (mask(i)) f.add(pop[i]);
    return f.value();
  }
  function now(k) {
    if (dirty[k]) {
      var c = cnt[k];
      nowCache[k] = coveredSum(k, function (i) { return c[i] > 0; });
      dirty[k] = false;
    }
    return nowCache[k];
  }
  var beforeFig = {}, planFig = {}, planCnt = {};
  keys.forEach(function (k) {
    var m = base[k];
    beforeFig[k] = coveredSum(k, function (i) { return m[i] === 1; });
  });
  for (var pq = 0; pq < plan.length; pq++) openSite(plan[pq][0], plan[pq][1]);
  keys.forEach(function (k) { planFig[k] = now(k); planCnt[k] = cnt[k].slice(); });

  function siteOf(siteId) {
    var s = siteIndex.get(String(siteId));
    if (s === undefined) {
      throw new Error("facplanWhatIf: no candidate site with id " + JSON.stringify(String(siteId)) +
        " can be opened (not a candidate, or not eligible for any optimize entry)");
    }
    return s;
  }

  api.open = idsOpen;
  api.toggle = function (siteId, key) {
    var s = siteOf(siteId), ks = D.sites[s][5], cur = openAt.get(s);
    var given = key !== undefined && key !== null;
    if (given && ks.indexOf(key) < 0) {
      throw new Error("facplanWhatIf: site " + JSON.stringify(String(siteId)) + " cannot serve " +
        JSON.stringify(String(key)) + "; it can serve: " + ks.join(", "));
    }
    if (cur !== undefined) {
      closeSite(s);
      if (!given || key === cur) { changed([s]); return false; }
    } else if (!given) {
      if (ks.length !== 1) {
        throw new Error("facplanWhatIf: site " + JSON.stringify(String(siteId)) +
          " could serve several kinds/tiers (" + ks.join(", ") + "): give the key");
      }
      key = ks[0];
    }
    openSite(s, key);
    changed([s]);
    return true;
  };
  api.keyOf = function (siteId) {
    var k = openAt.get(siteOf(siteId));
    return k === undefined ? null : k;
  };
  api.coverage = function () {
    var out = {};
    keys.forEach(function (k) { out[k] = now(k); });
    return out;
  };
  api.figures = function () {
    var out = {};
    keys.forEach(function (k) {
      out[k] = {before: beforeFig[k], plan: planFig[k], now: now(k), population: total};
    });
    return out;
  };
  api.reset = function () {
    Array.from(openAt.keys()).forEach(closeSite);
    for (var i = 0; i < plan.length; i++) openSite(plan[i][0], plan[i][1]);
    changed();
  };

  // greedy rank per kind/tier over the open set (largest newly covered population
  // first, ties by site id), as sites.geojson's rank and marginal_population
  function ranks() {
    var byKey = {}, out = new Map();
    openAt.forEach(function (k, s) { (byKey[k] = byKey[k] || []).push(s); });
    Object.keys(byKey).forEach(function (k) {
      var left = byKey[k].slice(), done = new Uint8Array(nCells), m = base[k], rank = 1;
      for (var i = 0; i < nCells; i++) done[i] = m ? m[i] : 0;
      while (left.length) {
        var best = -1, bestGain = -1, bestPos = -1;
        for (var j = 0; j < left.length; j++) {
          var set = cov[k] ? cov[k][left[j]] : null, f = new Fsum();
          if (set) for (var a = 0; a < set.length; a++) if (!done[set[a]]) f.add(D.pop[set[a]]);
          var g = f.value(), id = D.sites[left[j]][0];
          if (g > bestGain || (g === bestGain && id < D.sites[best][0])) {
            best = left[j]; bestGain = g; bestPos = j;
          }
        }
        var bs = cov[k] ? cov[k][best] : null;
        if (bs) for (var b = 0; b < bs.length; b++) done[bs[b]] = 1;
        out.set(best, [rank++, bestGain]);
        left.splice(bestPos, 1);
      }
    });
    return out;
  }
  api.exportGeoJSON = function () {
    var r = ranks(), feats = [], phase = new Map();
    for (var i = 0; i < plan.length; i++) phase.set(plan[i][0] + "/" + plan[i][1], D.planPhase[i]);
    var order = Array.from(openAt.keys()).sort(function (a, b) {
      var ka = openAt.get(a), kb = openAt.get(b);
      if (ka !== kb) return keys.indexOf(ka) - keys.indexOf(kb);
      return r.get(a)[0] - r.get(b)[0];
    });
    order.forEach(function (s) {
      var st = D.sites[s], k = openAt.get(s), tier = k.slice(k.indexOf("/") + 1);
      var ph = phase.get(s + "/" + k);
      if (!geomCache) geomCache = geoms(D.geom);
      feats.push({type: "Feature", geometry: geomCache[s], properties: {
        site_id: st[0], kind: st[1], tier: tier, rank: r.get(s)[0],
        marginal_population: r.get(s)[1], cost: st[2], community_id: st[6],
        phase: ph === undefined ? null : ph, name: st[7], tag: st[8], snap_m: st[9]
      }});
    });
    return {type: "FeatureCollection", features: feats};
  };
  window.facplanWhatIf = api;

  // ---------------------------------------------------------------- cell colours
  var W = {colourKey: null, shown: keys.length ? keys[0] : null};
  var COL = {base: "#1a9850", added: "#91cf60", none: "#d73027", some: "#fee08b", empty: "#bdbdbd"};
  var origStyle = C.cellStyle, origSetView = C.setView;
  var cellRow = D.cellRow, hexOf = D.hex;
  var hexCov = null, hexPop = null;
  function hexShares(k) {
    var nh = 0, i;
    for (i = 0; i < hexOf.length; i++) if (hexOf[i] + 1 > nh) nh = hexOf[i] + 1;
    hexCov = new Float64Array(nh); hexPop = new Float64Array(nh);
    var c = cnt[k];
    for (i = 0; i < hexOf.length; i++) {
      var r = cellRow ? cellRow[i] : i, h = hexOf[i];
      hexPop[h] += D.pop[r];
      if (c[r] > 0) hexCov[h] += D.pop[r];
    }
  }
  if (C.cells && origStyle) {
    C.cellStyle = function (f) {
      var k = W.colourKey;
      if (k === null) return origStyle(f);
      var st = origStyle(f), i = f.properties.i, col;
      if (hexOf) {
        var p = hexPop[i], sh = p > 0 ? hexCov[i] / p : -1;
        col = sh < 0 ? COL.empty : sh >= 0.995 ? COL.base : sh >= 0.5 ? COL.added : sh > 0 ? COL.some : COL.none;
      } else {
        var r = cellRow ? cellRow[i] : i;
        col = cnt[k][r] > 0 ? (base[k][r] ? COL.base : COL.added) : COL.none;
      }
      st.color = col; st.fillColor = col;
      return st;
    };
    C.setView = function (v) { W.colourKey = null; W.pending = null; origSetView(v); if (W.draw) W.draw(); };
  }
  // a full restyle when the coloured kind/tier changes; after a toggle only the cells
  // (or hexagons) of the toggled site's set
  var featLayer = null, rowFeat = null;
  function indexCells() {
    featLayer = [];
    C.cells.eachLayer(function (l) { featLayer[l.feature.properties.i] = l; });
    rowFeat = new Int32Array(nCells).fill(-1);
    var n = hexOf ? hexOf.length : featLayer.length;
    for (var i = 0; i < n; i++) rowFeat[cellRow ? cellRow[i] : i] = hexOf ? hexOf[i] : i;
  }
  function recolour(full) {
    if (!C.cells || !origStyle || W.colourKey === null) { W.pending = null; return; }
    if (hexOf) hexShares(W.colourKey);
    if (full || !W.pending) {
      C.cells.setStyle(C.cellStyle);
    } else {
      if (!featLayer) indexCells();
      var seen = new Uint8Array(featLayer.length);
      W.pending.forEach(function (set) {
        for (var i = 0; i < set.length; i++) {
          var f = rowFeat[set[i]];
          if (f < 0 || seen[f]) continue;
          seen[f] = 1;
          var l = featLayer[f];
          if (l) l.setStyle(C.cellStyle(l.feature));
        }
      });
    }
    W.pending = [];
  }

  // ---------------------------------------------------------------- site markers
  var map = C.map, markers = new Array(nSites);
  map.createPane("fpWhatIf");
  map.getPane("fpWhatIf").style.zIndex = 640;
  var layer = L.layerGroup().addTo(map);
  function markerStyle(s) {
    var on = openAt.has(s);
    return {pane: "fpWhatIf", radius: on ? 7 : 4, weight: on ? 2 : 1.5, color: on ? "#111111" : "#666666",
            fillColor: on ? "#ff6f00" : "#ffffff", fillOpacity: on ? 0.95 : 0.75,
            className: "fp-wi-site" + (on ? " fp-wi-open" : "")};
  }
  function keyPopup(s) {
    var div = document.createElement("div"), st = D.sites[s];
    div.className = "fp-wi-pop";
    var h = document.createElement("b");
    h.textContent = T.site + ": " + st[0];
    div.appendChild(h);
    st[5].forEach(function (k) {
      var b = document.createElement("button");
      b.type = "button";
      var on = openAt.get(s) === k;
      b.textContent = (on ? T.close : T.open_for) + ": " + D.labels[k];
      b.addEventListener("click", function () { api.toggle(st[0], k); map.closePopup(); });
      div.appendChild(b);
    });
    return div;
  }
  for (var ms = 0; ms < nSites; ms++) {
    (function (s) {
      var st = D.sites[s];
      var mk = L.circleMarker([st[3], st[4]], markerStyle(s)).addTo(layer);
      var tip = document.createElement("span");
      tip.textContent = T.site + ": " + st[0];
      mk.bindTooltip(tip, {direction: "top"});
      mk.on("click", function (ev) {
        L.DomEvent.stopPropagation(ev);
        if (st[5].length === 1 && !(openAt.has(s) && openAt.get(s) !== st[5][0])) {
          api.toggle(st[0], st[5][0]);
        } else {
          L.popup().setLatLng(ev.latlng).setContent(keyPopup(s)).openOn(map);
        }
      });
      markers[s] = mk;
    })(ms);
  }

  function changed(only) {
    for (var s = 0; s < nSites; s++) {
      if (only !== undefined && only.indexOf(s) < 0) continue;
      var mk = markers && markers[s];
      if (!mk) continue;
      var want = markerStyle(s);
      mk.setStyle(want);
      mk.setRadius(want.radius);
      var el = mk.getElement && mk.getElement();
      if (el) {
        el.setAttribute("class", "leaflet-interactive " + want.className);
        el.setAttribute("data-site", String(s));
      }
    }
    if (W.shown !== null && W.colourKey !== W.shown) {
      W.colourKey = W.shown;
      recolour(true);
    } else {
      recolour(false);
    }
    if (W.draw) W.draw();
  }

  panel(W);
  for (var s0 = 0; s0 < nSites; s0++) {
    var el0 = markers[s0].getElement && markers[s0].getElement();
    if (el0) el0.setAttribute("data-site", String(s0));
  }
  W.draw();
  api.initMs = performance.now() - t0;  // the panel's own share of the page load

  // ---------------------------------------------------------------- the panel
  function panel(W) {
    var ctl = L.control({position: "bottomright"});
    ctl.onAdd = function () {
      var div = L.DomUtil.create("div", "fp-panel fp-whatif");
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      var det = L.DomUtil.create("details", "fp-wi-details", div);
      var sum = L.DomUtil.create("summary", "", det);
      sum.textContent = T.title;
      if (!W) {
        var p = L.DomUtil.create("p", "fp-wi-off", det);
        p.textContent = D.reason;
        det.open = true;
        return div;
      }
      L.DomUtil.create("p", "fp-wi-hint", det).textContent = T.hint;
      var table = L.DomUtil.create("table", "fp-wi-table", det);
      var cost = L.DomUtil.create("div", "fp-wi-cost", det);
      var row = L.DomUtil.create("div", "fp-wi-row", det);
      var lab = L.DomUtil.create("label", "", row);
      lab.textContent = T.show + " ";
      var sel = L.DomUtil.create("select", "fp-wi-key", lab);
      keys.forEach(function (k) {
        var o = document.createElement("option");
        o.value = k; o.textContent = D.labels[k];
        sel.appendChild(o);
      });
      sel.addEventListener("change", function () {
        W.shown = sel.value; W.colourKey = sel.value; recolour(true); W.draw();
      });
      var leg = L.DomUtil.create("div", "fp-wi-legend", det);
      [["base", hexOf ? "≥ 99.5% " + T.share_hex : T.covered_before],
       ["added", hexOf ? "≥ 50%" : T.covered_new],
       ["none", T.not_covered]].forEach(function (e) {
        var it = L.DomUtil.create("span", "fp-item", leg);
        var sw = L.DomUtil.create("span", "fp-sw", it);
        sw.style.background = COL[e[0]];
        L.DomUtil.create("span", "", it).textContent = e[1];
      });
      var ch = L.DomUtil.create("div", "fp-wi-comm", det);
      var btns = L.DomUtil.create("div", "fp-wi-row", det);
      var reset = L.DomUtil.create("button", "fp-wi-reset", btns);
      reset.type = "button"; reset.textContent = T.reset;
      reset.addEventListener("click", function () { api.reset(); });
      var exp = L.DomUtil.create("button", "fp-wi-export", btns);
      exp.type = "button"; exp.textContent = T.export;
      exp.addEventListener("click", function () {
        var blob = new Blob([JSON.stringify(api.exportGeoJSON())], {type: "application/geo+json"});
        var a = document.createElement("a");
        a.href = URL.createObjectURL(blob);
        a.download = "whatif-sites.geojson";
        document.body.appendChild(a);
        a.click();
        setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 0);
      });
      function cell(tr, text, cls) {
        var td = document.createElement(tr.parentNode && tr.parentNode.tagName === "THEAD" ? "th" : "td");
        td.textContent = text;
        if (cls) td.className = cls;
        tr.appendChild(td);
        return td;
      }
      function share(v) { return total > 0 ? (100 * v / total).toFixed(1) + "%" : "—"; }
      function money(v) { return C.fmt(v); }
      W.draw = function () {
        sel.value = W.shown;
        table.textContent = "";
        var head = table.createTHead().insertRow();
        [T.kindtier, T.before, T.plan, T.now].forEach(function (h) { cell(head, h); });
        var body = table.createTBody(), fig = api.figures();
        keys.forEach(function (k) {
          var tr = body.insertRow(), f = fig[k];
          cell(tr, D.short[k]).title = D.labels[k];
          cell(tr, C.fmt(f.before) + " (" + share(f.before) + ")");
          cell(tr, C.fmt(f.plan) + " (" + share(f.plan) + ")");
          cell(tr, C.fmt(f.now) + " (" + share(f.now) + ")",
               f.now > f.plan ? "fp-wi-up" : f.now < f.plan ? "fp-wi-down" : "");
          tr.setAttribute("data-key", k);
        });
        // cost
        var c = 0, cp = 0;
        openAt.forEach(function (k, s) { c += D.sites[s][2] || 0; });
        plan.forEach(function (e) { cp += D.sites[e[0]][2] || 0; });
        cost.textContent = "";
        L.DomUtil.create("div", "", cost).textContent =
          T.cost + ": " + money(c) + " (" + T.plan_cost + " " + money(cp) + "); " +
          T.open_n + ": " + openAt.size;
        D.budgets.forEach(function (b) {
          var used = 0;
          openAt.forEach(function (k, s) { if (b.keys.indexOf(k) >= 0) used += D.sites[s][2] || 0; });
          var line = L.DomUtil.create("div", used > b.budget + 1e-9 ? "fp-wi-over" : "", cost);
          line.textContent = b.label + " (" + b.keys.join(", ") + "): " + money(used) + " / " +
            T.budget + " " + money(b.budget) + (used > b.budget + 1e-9 ? " — " + T.over : "");
        });
        // per community, for the shown key
        ch.textContent = "";
        L.DomUtil.create("div", "fp-h", ch).textContent = T.change + " — " + D.labels[W.shown];
        var k = W.shown, nc = D.comms.length, fn = [], fp = [], i;
        for (i = 0; i < nc; i++) { fn.push(new Fsum()); fp.push(new Fsum()); }
        var cn = cnt[k], pc = planCnt[k];
        for (i = 0; i < nCells; i++) {
          var g = D.comm[i];
          if (g < 0) continue;
          if (cn[i] > 0) fn[g].add(D.pop[i]);
          if (pc[i] > 0) fp[g].add(D.pop[i]);
        }
        var rows = [];
        for (i = 0; i < nc; i++) {
          var a = fn[i].value(), b = fp[i].value();
          if (a !== b) rows.push([D.comms[i][1], b, a]);
        }
        rows.sort(function (x, y) { return Math.abs(y[2] - y[1]) - Math.abs(x[2] - x[1]); });
        if (!rows.length) {
          L.DomUtil.create("div", "fp-wi-none", ch).textContent = T.no_change;
        } else {
          var ct = L.DomUtil.create("table", "fp-wi-ctable", ch);
          var hr = ct.createTHead().insertRow();
          [T.community, T.plan, T.now, "Δ"].forEach(function (h) { cell(hr, h); });
          var cb = ct.createTBody();
          rows.forEach(function (r) {
            var tr = cb.insertRow();
            cell(tr, r[0]);
            cell(tr, C.fmt(r[1]));
            cell(tr, C.fmt(r[2]));
            var d = r[2] - r[1];
            cell(tr, (d > 0 ? "+" : d < 0 ? "−" : "") + C.fmt(Math.abs(d)), d > 0 ? "fp-wi-up" : "fp-wi-down");
          });
        }
      };
      return div;
    };
    ctl.addTo(C.map);
  }
}
