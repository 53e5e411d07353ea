// Explorable tables of the neurokine report: sort, filter, search, CSV of the filtered rows, and a
// detail panel per finding (per-donor values, gene coverage, the genes driving it). Data come from
// the page's JSON blocks (type application/json); every value from data is set as text
// (textContent, createTextNode, SVG text nodes), never parsed as markup, so a cell-type label
// that looks like an HTML tag stays text. No network is used.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var SEP = "\u001f";

  function node(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    if (cls) { e.className = cls; }
    return e;
  }
  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
    if (text !== undefined) { e.textContent = String(text); }
    return e;
  }
  function readJSON(id) { return JSON.parse(document.getElementById(id).textContent); }
  function fmt(v, kind) {
    if (v === null || v === undefined) { return "\u2013"; }
    if (kind === "p") { return v !== 0 && Math.abs(v) < 0.001 ? v.toExponential(1) : String(Number(v.toPrecision(2))); }
    if (kind === "num") { return String(Number(v.toPrecision(3))); }
    return String(v);
  }
  function order(a, b) {
    if (a === b) { return 0; }
    if (a === null) { return 1; }
    if (b === null) { return -1; }
    return (typeof a === "number" && typeof b === "number") ? a - b : String(a).localeCompare(String(b));
  }
  function csvCell(v) {
    var s = v === null || v === undefined ? "" : String(v);
    return /[",\n\r]/.test(s) ? "\"" + s.replace(/"/g, "\"\"") + "\"" : s;
  }

  function Explorer(host) {
    var spec = readJSON(host.getAttribute("data-source"));
    var data = host.hasAttribute("data-details") ? readJSON(host.getAttribute("data-details")) : null;
    var cols = spec.columns, shown = [];
    var state = { sort: -1, dir: 1, query: "", filters: {}, significant: !!spec.significance_default, limit: 100 };
    cols.forEach(function (c, i) { if (!c.hidden) { shown.push(i); } });
    function at(key) { return cols.findIndex(function (c) { return c.key === key; }); }
    var spot = spec.details ? {
      contrast: at("contrast"), tissue: at("tissue"), cas: at("case"), ref: at("reference"),
      note: spec.details.note ? at(spec.details.note) : -1,
      items: spec.details.items.map(function (it) { return { cell: at(it.cell), sig: at(it.signature), suffix: it.suffix, title: it.title }; })
    } : null;
    function itemsOf(row) {
      if (!spot) { return []; }
      return spot.items.filter(function (it) { return it.cell >= 0 && it.sig >= 0 && row[it.cell] !== null && row[it.sig] !== null; })
        .map(function (it) {
          var cell = String(row[it.cell]), sig = String(row[it.sig]) + (it.suffix || ""), tissue = String(row[spot.tissue]);
          return { title: it.title + sig + " in " + cell, signature: sig, "case": String(row[spot.cas]), reference: String(row[spot.ref]),
                   stratum: [tissue, cell, sig].join(SEP), finding: [String(row[spot.contrast]), tissue, cell, sig].join(SEP) };
        });
    }
    var controls = node("div", null, "controls");
    var search = node("input");
    search.type = "search"; search.placeholder = "search all columns"; search.className = "search";
    search.addEventListener("input", function () { state.query = search.value.toLowerCase(); state.limit = 100; draw(); });
    controls.appendChild(search);
    cols.forEach(function (c, i) {
      if (!c.filter) { return; }
      var values = Array.from(new Set(spec.rows.map(function (r) { return r[i]; }))).sort(order);
      var select = node("select", null, "filter");
      select.setAttribute("data-key", c.key);
      select.appendChild(node("option", "all " + c.label));
      select.options[0].value = "";
      values.forEach(function (v) { var o = node("option", fmt(v, c.kind)); o.value = v === null ? "" : String(v); select.appendChild(o); });
      select.addEventListener("change", function () { state.filters[i] = select.value; state.limit = 100; draw(); });
      controls.appendChild(select);
    });
    var sigIndex = -1;
    if (spec.significance) {
      sigIndex = cols.findIndex(function (c) { return c.key === spec.significance.key; });
      var label = node("label", null, "significant");
      var box = node("input");
      box.type = "checkbox"; box.checked = state.significant;
      box.addEventListener("change", function () { state.significant = box.checked; state.limit = 100; draw(); });
      label.appendChild(box);
      label.appendChild(document.createTextNode(" " + spec.significance.label));
      controls.appendChild(label);
    }
    var download = node("a", "download CSV (filtered rows)", "csv");
    download.setAttribute("download", spec.id + ".csv");
    download.href = "data:text/csv;charset=utf-8,";
    controls.appendChild(download);
    var count = node("span", null, "count");
    controls.appendChild(count);
    var table = node("table", null, "explore");
    var head = node("tr");
    shown.forEach(function (i) {
      var th = node("th", cols[i].label);
      th.title = "sort by " + cols[i].label;
      th.addEventListener("click", function () { state.dir = state.sort === i ? -state.dir : 1; state.sort = i; draw(); });
      head.appendChild(th);
    });
    table.appendChild(node("thead")).appendChild(head);
    var body = table.appendChild(node("tbody"));
    var more = node("button", null, "more");
    more.type = "button";
    more.addEventListener("click", function () { state.limit = Infinity; draw(); });
    var panel = node("div", null, "detail");
    panel.hidden = true;
    host.appendChild(controls);
    var scroll = node("div", null, "scroll");
    scroll.appendChild(table);
    host.appendChild(scroll);
    host.appendChild(more);
    host.appendChild(panel);

    function matching() {
      var rows = [];
      spec.rows.forEach(function (r, index) {
        if (state.significant && sigIndex >= 0 && r[sigIndex] !== "yes") { return; }
        for (var k in state.filters) {
          if (state.filters[k] !== "" && String(r[k] === null ? "" : r[k]) !== state.filters[k]) { return; }
        }
        if (state.query && !r.some(function (v) { return v !== null && String(v).toLowerCase().indexOf(state.query) >= 0; })) { return; }
        rows.push(index);
      });
      if (state.sort >= 0) {
        rows.sort(function (a, b) { return state.dir * order(spec.rows[a][state.sort], spec.rows[b][state.sort]) || a - b; });
      }
      return rows;
    }
    function draw() {
      var rows = matching();
      body.textContent = "";
      rows.slice(0, state.limit).forEach(function (index) {
        var tr = node("tr");
        tr.setAttribute("data-row", String(index));
        shown.forEach(function (i) {
          var kind = cols[i].kind;
          tr.appendChild(node("td", fmt(spec.rows[index][i], kind), kind === "long" ? "wrap" : kind === "text" ? "" : "num"));
        });
        if (itemsOf(spec.rows[index]).length) {
          tr.className = "clickable";
          tr.title = "open: per-donor values and genes";
          tr.addEventListener("click", function () { open(index); });
        }
        body.appendChild(tr);
      });
      Array.from(head.children).forEach(function (th, k) {
        th.setAttribute("aria-sort", shown[k] === state.sort ? (state.dir > 0 ? "ascending" : "descending") : "none");
      });
      var hidden = spec.total - spec.rows.length;
      count.textContent = rows.length + " of " + spec.rows.length + " rows" + (hidden > 0 ? " (" + hidden + " more in the TSV download)" : "");
      more.hidden = rows.length <= state.limit;
      more.textContent = "show all " + rows.length + " rows";
      var lines = [shown.map(function (i) { return csvCell(cols[i].label); }).join(",")];
      rows.forEach(function (index) { lines.push(shown.map(function (i) { return csvCell(spec.rows[index][i]); }).join(",")); });
      download.href = "data:text/csv;charset=utf-8," + encodeURIComponent(lines.join("\n") + "\n");
    }
    function open(index) {
      var row = spec.rows[index];
      panel.textContent = "";
      panel.hidden = false;
      var close = node("button", "close", "close");
      close.type = "button";
      close.addEventListener("click", function () { panel.hidden = true; });
      panel.appendChild(close);
      panel.appendChild(node("h4", cols.map(function (c, i) { return c.filter && row[i] !== null ? String(row[i]) : null; })
        .filter(function (x) { return x !== null; }).join(" \u00b7 ")));
      if (spot.note >= 0 && row[spot.note]) { panel.appendChild(node("p", row[spot.note], "note")); }
      itemsOf(row).forEach(function (item) { panel.appendChild(detailItem(item)); });
      panel.scrollIntoView({ block: "nearest" });
    }
    function detailItem(item) {
      var box = node("div", null, "detail-item");
      box.appendChild(node("h5", item.title));
      var values = (data && data.strata[item.stratum]) || [];
      box.appendChild(donorPlot(values, item));
      var coverage = data && data.coverage[item.signature];
      box.appendChild(node("p", coverage ? "gene coverage: " + coverage[1] + " of " + coverage[0] + " listed genes in the data" +
        (coverage[2] ? " (missing: " + coverage[2] + ")" : "") + "; " + coverage[3] : "gene coverage: not recorded", "coverage"));
      var genes = data && data.genes[item.finding];
      if (!genes) {
        box.appendChild(node("p", "Per-gene evidence is computed for the report's top findings only (report.detail_findings).", "note"));
        return box;
      }
      box.appendChild(node("p", "Genes driving it (pseudobulk log-CPM, case minus reference; t moderated across genes), strongest first:", "note"));
      var t = node("table", null, "genes");
      var h = node("tr");
      ["gene", "status", "effect (log2 CPM)", "t", "p"].forEach(function (x) { h.appendChild(node("th", x)); });
      t.appendChild(h);
      genes.forEach(function (g) {
        var tr = node("tr");
        tr.appendChild(node("td", g[0])); tr.appendChild(node("td", g[1]));
        tr.appendChild(node("td", fmt(g[2], "num"), "num")); tr.appendChild(node("td", fmt(g[3], "num"), "num"));
        tr.appendChild(node("td", fmt(g[4], "p"), "num"));
        t.appendChild(tr);
      });
      box.appendChild(t);
      return box;
    }
    function donorPlot(values, item) {
      var groups = [item.reference, item.case], w = 360, h = 200, top = 16, bottom = 160, left = 58;
      var points = values.filter(function (v) { return groups.indexOf(data.groups[v[1]]) >= 0; });
      var plot = svg("svg", { width: w, height: h, viewBox: "0 0 " + w + " " + h, role: "img", "class": "donors" });
      plot.appendChild(svg("title", {}, "per-donor values of " + item.title));
      if (!points.length) {
        plot.appendChild(svg("text", { x: 10, y: 90 }, "no per-donor values for this stratum"));
        return plot;
      }
      var ys = points.map(function (v) { return v[2]; });
      var lo = Math.min.apply(null, ys), hi = Math.max.apply(null, ys), pad = (hi - lo) * 0.08 || 0.5;
      lo -= pad; hi += pad;
      function y(v) { return bottom - (v - lo) / (hi - lo) * (bottom - top); }
      function x(g) { return left + 70 + 150 * g; }
      var byDonor = {};
      points.forEach(function (v) { var g = groups.indexOf(data.groups[v[1]]); (byDonor[v[0]] = byDonor[v[0]] || {})[g] = v[2]; });
      Object.keys(byDonor).forEach(function (d) {
        var pair = byDonor[d];
        if (pair[0] !== undefined && pair[1] !== undefined) {
          plot.appendChild(svg("line", { x1: x(0), y1: y(pair[0]), x2: x(1), y2: y(pair[1]), stroke: "#999", "stroke-width": 1, "class": "paired" }));
        }
      });
      [0, 1].forEach(function (g) {
        var mine = points.filter(function (v) { return groups.indexOf(data.groups[v[1]]) === g; })
          .sort(function (a, b) { return a[2] - b[2] || a[0] - b[0]; });
        mine.forEach(function (v, k) {
          var dx = mine.length > 1 ? (k / (mine.length - 1) - 0.5) * 24 : 0;
          var dot = svg("circle", { cx: x(g) + (byDonor[v[0]][1 - g] === undefined ? dx : 0), cy: y(v[2]), r: 4, fill: g ? "#b2182b" : "#4d4d4d", "class": "donor" });
          dot.appendChild(svg("title", {}, data.donors[v[0]] + ": " + fmt(v[2], "num")));
          plot.appendChild(dot);
        });
        plot.appendChild(svg("text", { x: x(g), y: bottom + 18, "text-anchor": "middle", "font-size": 11 }, groups[g] + " (n=" + mine.length + ")"));
      });
      plot.appendChild(svg("line", { x1: left, y1: top, x2: left, y2: bottom, stroke: "#333" }));
      [lo + pad, hi - pad].forEach(function (v) {
        plot.appendChild(svg("text", { x: left - 4, y: y(v) + 4, "text-anchor": "end", "font-size": 10 }, fmt(v, "num")));
      });
      plot.appendChild(svg("text", { x: 12, y: (top + bottom) / 2, transform: "rotate(-90 12 " + (top + bottom) / 2 + ")", "text-anchor": "middle", "font-size": 10 }, "donor value"));
      return plot;
    }
    draw();
  }
  Array.prototype.forEach.call(document.querySelectorAll(".explorable"), function (host) { host.explorer = new Explorer(host); });
})();
