"use strict";
// Cross-run index: filters, sorting and the side-by-side view.
// Every string from the data (names, prompts, metadata) is attacker-controlled:
// it is only ever put into the page with textContent, never parsed as HTML.
(function () {
  var data = JSON.parse(document.getElementById("ek-data").textContent);
  var table = document.getElementById("runs");
  var tbody = table.tBodies[0];
  var rows = Array.prototype.slice.call(tbody.rows);
  var HEX = /#[0-9A-Fa-f]{6}\b/g;

  // ---- filters -------------------------------------------------------------
  var selects = document.querySelectorAll("select[data-filter]");
  var dates = document.querySelectorAll("input[data-filter-date]");
  var search = document.querySelector("input[data-filter-text]");

  function applyFilters() {
    var shown = 0;
    rows.forEach(function (tr) {
      var ok = true;
      selects.forEach(function (s) {
        if (s.value !== "" && tr.getAttribute("data-" + s.getAttribute("data-filter")) !== s.value) ok = false;
      });
      dates.forEach(function (d) {
        var date = tr.getAttribute("data-date");
        if (d.value && d.getAttribute("data-filter-date") === "from" && date < d.value) ok = false;
        if (d.value && d.getAttribute("data-filter-date") === "to" && date > d.value) ok = false;
      });
      if (search.value && tr.getAttribute("data-name").toLowerCase().indexOf(search.value.toLowerCase()) < 0) ok = false;
      tr.hidden = !ok;
      if (ok) shown += 1;
    });
    document.getElementById("shown-count").textContent = shown + " of " + rows.length + " shown";
    document.getElementById("no-rows").hidden = shown > 0;
  }
  selects.forEach(function (s) { s.addEventListener("change", applyFilters); });
  dates.forEach(function (d) { d.addEventListener("change", applyFilters); });
  search.addEventListener("input", applyFilters);
  document.getElementById("reset-filters").addEventListener("click", function () {
    selects.forEach(function (s) { s.value = ""; });
    dates.forEach(function (d) { d.value = ""; });
    search.value = "";
    applyFilters();
  });

  // ---- sorting -------------------------------------------------------------
  table.querySelectorAll("button.sort").forEach(function (button) {
    button.addEventListener("click", function () {
      var th = button.parentElement;
      var col = Number(button.getAttribute("data-col"));
      var numeric = button.getAttribute("data-kind") === "num";
      var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      table.querySelectorAll("thead th").forEach(function (h) { if (h.hasAttribute("aria-sort")) h.setAttribute("aria-sort", "none"); });
      th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
      function key(tr) {
        var v = tr.cells[col].getAttribute("data-v");
        if (!numeric) return v;
        var n = parseFloat(v);
        return isNaN(n) ? null : n;
      }
      rows.sort(function (a, b) {
        var ka = key(a), kb = key(b);
        if (ka === kb) return 0;
        if (ka === null) return 1;  // missing values last, either way
        if (kb === null) return -1;
        return (ka < kb ? -1 : 1) * dir;
      });
      rows.forEach(function (tr) { tbody.appendChild(tr); });
    });
  });

  // ---- side by side --------------------------------------------------------
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function img(src, cls, size, alt) {
    if (!src) return el("div", "thumb missing", "render missing");
    var i = document.createElement("img");
    i.src = src;  // relative, percent-quoted paths written by evalkit
    i.className = cls;
    i.width = size; i.height = size;
    i.alt = alt;
    i.loading = "lazy";
    return i;
  }
  function fmt(v) { return v === null || v === undefined ? "—" : v.toFixed(3); }
  function better(metric, delta) { return data.lower_is_better.indexOf(metric) >= 0 ? delta < 0 : delta > 0; }
  function deltaCell(tag, metric, d) {
    var tone = Math.abs(d) < 0.0005 ? "same" : better(metric, d) ? "good" : "worse";
    return el(tag, "num delta " + tone, (d >= 0 ? "+" : "\u2212") + Math.abs(d).toFixed(3));
  }
  function promptNode(entry) {
    var box = el("div", "pair-prompt");
    box.appendChild(el("span", "pid", entry[0] + " · seed " + entry[1]));
    var text = data.prompts[entry[2]], pos = 0, m;
    HEX.lastIndex = 0;
    while ((m = HEX.exec(text)) !== null) {
      box.appendChild(document.createTextNode(text.slice(pos, m.index)));
      var hex = el("span", "hex");
      var sw = el("span", "swatch");
      sw.style.backgroundColor = m[0];  // matched #rrggbb only
      hex.appendChild(sw);
      hex.appendChild(document.createTextNode(m[0]));
      box.appendChild(hex);
      pos = m.index + m[0].length;
    }
    box.appendChild(document.createTextNode(text.slice(pos)));
    return box;
  }
  function side(entry, cls) {
    var box = el("div", "pair-side " + cls);
    box.appendChild(img(entry[3], "thumb", 96, "render"));
    box.appendChild(img(entry[4], "px grid24", 72, "recovered 24x24 punk"));
    var scores = el("div", "pair-scores");
    data.metrics.forEach(function (metric, k) {
      var line = el("div", entry[6][k] === false ? "worse" : "", metric.replace("_", " ") + " " + fmt(entry[5][k]) + (entry[6][k] === false ? " \u2717" : ""));
      scores.appendChild(line);
    });
    box.appendChild(scores);
    return box;
  }
  function deltas(a, b) {
    var box = el("div", "pair-delta");
    box.appendChild(el("div", "muted", "B \u2212 A"));
    data.metrics.forEach(function (metric, k) {
      if (a[5][k] === null || b[5][k] === null) { box.appendChild(el("div", "", "—")); return; }
      box.appendChild(deltaCell("div", metric, b[5][k] - a[5][k]));
    });
    return box;
  }
  function summaryTable(A, B) {
    var t = document.getElementById("compare-summary");
    t.replaceChildren();
    var head = t.createTHead().insertRow();
    ["", "checkpoint", "run", "verdict"].concat(data.metrics).forEach(function (h) { head.appendChild(el("th", "", h)); });
    [["A", A], ["B", B]].forEach(function (pair) {
      var r = t.insertRow();
      r.className = "summary-" + pair[0].toLowerCase();
      r.appendChild(el("th", "", pair[0]));
      [pair[1].name, pair[1].run, pair[1].verdict].forEach(function (v) { r.appendChild(el("td", "", v)); });
      pair[1].means.forEach(function (v) { r.appendChild(el("td", "num", fmt(v))); });
    });
    var r = t.insertRow();
    r.appendChild(el("th", "", "B \u2212 A"));
    r.appendChild(el("td")); r.appendChild(el("td")); r.appendChild(el("td"));
    data.metrics.forEach(function (metric, k) {
      var a = A.means[k], b = B.means[k];
      if (a === null || b === null) { r.appendChild(el("td", "num", "—")); return; }
      r.appendChild(deltaCell("td", metric, b - a));
    });
  }
  function slot(e) { return e[0] + "\u0000" + e[1] + "\u0000" + e[2]; }
  function renderCompare() {
    var a = document.querySelector("input[name=side-a]:checked");
    var b = document.querySelector("input[name=side-b]:checked");
    rows.forEach(function (tr) {
      tr.classList.toggle("picked-a", !!a && tr.getAttribute("data-key") === a.value);
      tr.classList.toggle("picked-b", !!b && tr.getAttribute("data-key") === b.value);
    });
    var view = document.getElementById("compare-view");
    if (!a || !b) { view.hidden = true; return; }
    var A = data.rows[a.value], B = data.rows[b.value];
    summaryTable(A, B);
    var bySlot = {};
    B.images.forEach(function (e) { bySlot[slot(e)] = e; });
    var pairs = document.getElementById("compare-pairs");
    pairs.replaceChildren();
    var common = 0;
    A.images.forEach(function (ea) {
      var eb = bySlot[slot(ea)];
      if (!eb) return;
      common += 1;
      var row = el("div", "pair");
      row.style.display = "contents";
      row.appendChild(promptNode(ea));
      row.appendChild(side(ea, "side-a"));
      row.appendChild(side(eb, "side-b"));
      row.appendChild(deltas(ea, eb));
      pairs.appendChild(row);
    });
    var onlyA = A.images.length - common, onlyB = B.images.length - common;
    document.getElementById("compare-count").textContent =
      common + " renders on the same prompts and seeds" +
      (onlyA || onlyB ? " (" + onlyA + " only in A, " + onlyB + " only in B)" : "");
    view.hidden = false;
  }
  document.querySelectorAll("input[name=side-a], input[name=side-b]").forEach(function (r) {
    r.addEventListener("change", renderCompare);
  });
  applyFilters();
  renderCompare();
})();
