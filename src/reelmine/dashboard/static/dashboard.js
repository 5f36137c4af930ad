/* reelmine dashboard: draws every <figure class="chart"> from its JSON endpoint.
 * Each endpoint answers ChartData {kind, title, x, series[{name,data}], y, cells, columns, rows,
 * bands, unit, note}. Kinds: line (bands shaded), bar, stacked, hbar, country, heatmap, funnel,
 * interval (estimate with low..high whiskers) and table (plain DOM).
 * The page's filters (start, end, country) in the address bar are passed to every endpoint.
 * After drawing, a figure gets data-state = drawn | empty | error and data-points = N, which
 * the browser tests check. */
(function () {
  "use strict";
  var FILTERS = ["start", "end", "country"];
  var charts = [];

  function query() {
    var here = new URLSearchParams(window.location.search);
    var out = new URLSearchParams();
    FILTERS.forEach(function (k) { if (here.get(k)) { out.set(k, here.get(k)); } });
    var s = out.toString();
    return s ? s : "";
  }

  function withQuery(endpoint, qs) {
    if (!qs) { return endpoint; }
    return endpoint + (endpoint.indexOf("?") >= 0 ? "&" : "?") + qs;
  }

  function countPoints(d) {
    if (d.kind === "heatmap") { return d.cells.length; }
    if (d.kind === "table") { return (d.rows || []).length; }
    if (d.kind === "interval") { return d.series.length ? d.series[0].data.filter(function (v) { return v !== null; }).length : 0; }
    var n = 0;
    d.series.forEach(function (s) { s.data.forEach(function (v) { if (v !== null) { n += 1; } }); });
    return n;
  }

  function axisName(d) { return d.unit || ""; }
  var NAME_STYLE = { align: "left" };

  function option(d) {
    var base = {
      animation: false,
      tooltip: { trigger: d.kind === "heatmap" || d.kind === "funnel" ? "item" : "axis" },
      legend: { top: 0, type: "scroll" },
      grid: { left: 8, right: 40, top: 36, bottom: 8, containLabel: true }
    };
    var series = d.series.map(function (s) { return { name: s.name, data: s.data }; });
    if (d.kind === "line") {
      base.xAxis = { type: "category", data: d.x, boundaryGap: false };
      base.yAxis = { type: "value", name: axisName(d), nameTextStyle: NAME_STYLE };
      base.series = series.map(function (s) { s.type = "line"; s.showSymbol = d.x.length < 40; return s; });
      // Shaded windows (detected incidents) on the first series.
      if ((d.bands || []).length && base.series.length) {
        base.series[0].markArea = { silent: false, itemStyle: { color: "rgba(220, 50, 47, 0.15)" },
          label: { show: false },
          data: d.bands.map(function (b) { return [{ xAxis: b.start, name: b.label }, { xAxis: b.end }]; }) };
      }
    } else if (d.kind === "bar" || d.kind === "stacked") {
      base.xAxis = { type: "category", data: d.x, axisLabel: { interval: 0, rotate: d.x.length > 6 ? 30 : 0 } };
      base.yAxis = { type: "value", name: axisName(d), nameTextStyle: NAME_STYLE };
      base.series = series.map(function (s) {
        s.type = "bar"; if (d.kind === "stacked") { s.stack = "total"; } return s;
      });
    } else if (d.kind === "hbar" || d.kind === "country") {
      // Ranked horizontal bars; "country" also colours bars by value (choropleth-style scale).
      base.yAxis = { type: "category", data: d.x.slice().reverse() };
      base.xAxis = { type: "value", name: axisName(d) };
      base.series = series.map(function (s) { s.type = "bar"; s.data = s.data.slice().reverse(); return s; });
      if (d.kind === "country" && series.length) {
        var vals = series[0].data.filter(function (v) { return v !== null; });
        base.visualMap = { type: "continuous", min: Math.min.apply(null, vals), max: Math.max.apply(null, vals),
          dimension: 0, orient: "horizontal", right: 0, top: 0, calculable: false,
          inRange: { color: ["#cfe3f7", "#08306b"] } };
        base.legend = { show: false };
      }
    } else if (d.kind === "heatmap") {
      var values = d.cells.map(function (c) { return c[2]; });
      base.xAxis = { type: "category", data: d.x, splitArea: { show: true } };
      base.yAxis = { type: "category", data: d.y, splitArea: { show: true } };
      base.grid.bottom = 64;
      base.visualMap = { min: Math.min.apply(null, values), max: Math.max.apply(null, values),
        calculable: true, orient: "horizontal", left: "center", bottom: 0,
        inRange: { color: ["#f7fbff", "#6baed6", "#08306b"] } };
      base.legend = { show: false };
      base.series = [{ name: d.title, type: "heatmap", data: d.cells, label: { show: d.cells.length <= 60 } }];
    } else if (d.kind === "interval") {
      // Estimate with its interval per category: a flat box at the estimate, whiskers low..high.
      var get = function (name) {
        var f = d.series.filter(function (s) { return s.name === name; })[0];
        return f ? f.data : [];
      };
      var est = get("estimate"), lo = get("low"), hi = get("high");
      base.tooltip = { trigger: "item" };
      base.legend = { show: false };
      base.xAxis = { type: "category", data: d.x, axisLabel: { interval: 0, rotate: d.x.length > 5 ? 30 : 0 } };
      base.yAxis = { type: "value", name: axisName(d), nameTextStyle: NAME_STYLE };
      base.series = [
        { name: "interval", type: "boxplot", boxWidth: [4, 14],
          data: d.x.map(function (_, i) { return [lo[i], est[i], est[i], est[i], hi[i]]; }),
          markLine: { silent: true, symbol: "none", lineStyle: { type: "dashed", color: "#888" },
            data: [{ yAxis: 0 }] } },
        { name: "estimate", type: "scatter", symbolSize: 9, data: est }
      ];
    } else if (d.kind === "funnel") {
      base.legend = { top: 0 };
      // One funnel per series, side by side, each titled with its series name.
      base.title = series.map(function (s, i) {
        var width = 100 / series.length;
        return { text: s.name, left: (i * width + width / 2) + "%", top: 24, textAlign: "center",
          textStyle: { fontSize: 12 } };
      });
      base.series = series.map(function (s, i) {
        var width = 100 / series.length;
        return { name: s.name, type: "funnel", left: (i * width + 2) + "%", width: (width - 4) + "%",
          top: 56, bottom: 8, sort: "none",
          data: d.x.map(function (name, j) { return { name: name, value: s.data[j] }; }) };
      });
    } else {
      throw new Error("unknown chart kind " + d.kind);
    }
    return base;
  }

  function note(fig, text) { fig.querySelector(".chart-note").textContent = text; }

  function cellText(v) {
    if (v === null || v === undefined) { return ""; }
    if (typeof v === "number" && !Number.isInteger(v)) { return String(Math.round(v * 10000) / 10000); }
    return String(v);
  }

  // Tables are plain DOM (textContent only, never HTML from the server).
  function drawTable(fig, d) {
    var plot = fig.querySelector(".plot");
    plot.style.overflow = "auto";
    var table = document.createElement("table");
    table.className = "data";
    table.style.borderCollapse = "collapse";
    table.style.fontSize = ".85rem";
    table.style.width = "100%";
    var head = table.createTHead().insertRow();
    d.columns.forEach(function (c) {
      var th = document.createElement("th");
      th.textContent = c;
      th.style.textAlign = "left";
      th.style.borderBottom = "1px solid #ccc";
      th.style.padding = "2px 6px";
      th.style.position = "sticky";
      th.style.top = "0";
      th.style.background = "#fff";
      head.appendChild(th);
    });
    var body = table.createTBody();
    // Rows hidden by the privacy gate: their null values read "suppressed", never blank or 0.
    var hiddenCol = d.columns.indexOf("suppressed");
    d.rows.forEach(function (r) {
      var tr = body.insertRow();
      var hidden = hiddenCol >= 0 && r[hiddenCol] === true;
      if (hidden) { tr.style.color = "#888"; tr.title = "suppressed: fewer members than the minimum group size"; }
      r.forEach(function (v) {
        var td = tr.insertCell();
        td.textContent = hidden && v === null ? "suppressed" : cellText(v);
        td.style.padding = "2px 6px";
        td.style.borderBottom = "1px solid #eee";
        if (typeof v === "number") { td.style.textAlign = "right"; }
      });
    });
    plot.appendChild(table);
  }

  function draw(fig, qs) {
    var endpoint = withQuery(fig.dataset.endpoint, qs);
    fig.dataset.state = "loading";
    return fetch(endpoint, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (resp) {
        return resp.json().then(function (body) { return { ok: resp.ok, status: resp.status, body: body }; });
      })
      .then(function (r) {
        if (!r.ok) {
          var detail = r.body && r.body.detail;
          if (Array.isArray(detail)) {
            detail = detail.map(function (e) { return e.loc.join(".") + ": " + e.msg; }).join("; ");
          }
          fig.dataset.state = "error";
          note(fig, "HTTP " + r.status + ": " + detail);
          return;
        }
        var d = r.body;
        var n = countPoints(d);
        fig.dataset.points = String(n);
        if (n === 0) {
          fig.dataset.state = "empty";
          note(fig, d.note ? d.note : "No data for these filters.");
          return;
        }
        if (d.kind === "table") {
          drawTable(fig, d);
          fig.dataset.state = "drawn";
          note(fig, d.note || "");
          return;
        }
        var chart = echarts.init(fig.querySelector(".plot"), null, { renderer: "canvas" });
        chart.setOption(option(d));
        charts.push(chart);
        fig.dataset.state = "drawn";
        var said = (d.note || "").indexOf("suppressed") >= 0;  // the server's note may say it
        var extra = d.suppressed && !said ? " " + d.suppressed + " small groups hidden for privacy." : "";
        note(fig, (d.note || "") + extra);
      })
      .catch(function (err) {
        fig.dataset.state = "error";
        note(fig, "Could not draw this chart: " + err.message);
      });
  }

  function init() {
    var qs = query();
    var figs = Array.prototype.slice.call(document.querySelectorAll("figure.chart"));
    Promise.all(figs.map(function (f) { return draw(f, qs); })).then(function () {
      document.body.dataset.charts = "done";
    });
    window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  }

  /* Member explorer (Recommendations page, admin only): sample members from
   * /v1/users/sample, then a member's rows (/v1/users/{id}/rows) and history
   * (/v1/users/{id}/history). Text goes in with textContent only. #member-result gets
   * data-state = loading | drawn | error, data-rows = N and data-history = N. */
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (resp) {
        return resp.json().then(function (body) {
          if (!resp.ok) {
            var d = body && body.detail;
            if (Array.isArray(d)) { d = d.map(function (e) { return e.loc.join(".") + ": " + e.msg; }).join("; "); }
            throw new Error("HTTP " + resp.status + ": " + d);
          }
          return body;
        });
      });
  }

  function drawRows(box, rows) {
    box.textContent = "";
    box.appendChild(el("h3", "", "Home-page rows"));
    rows.forEach(function (row) {
      var card = el("div", "member-row");
      card.dataset.kind = row.kind;
      card.appendChild(el("h4", "", row.name));
      card.appendChild(el("p", "row-reason", row.reason));
      var list = el("ol", "row-items");
      row.items.forEach(function (it) {
        var li = el("li");
        li.appendChild(el("span", "item-name", it.name || it.title_id));
        li.appendChild(el("small", "item-reason", it.reason));
        li.title = it.title_id + " · score " + cellText(it.score);
        list.appendChild(li);
      });
      card.appendChild(list);
      box.appendChild(card);
    });
  }

  function drawHistory(box, hist) {
    box.textContent = "";
    box.appendChild(el("h3", "", "Recent viewing history"));
    if (!hist.items.length) {
      box.appendChild(el("p", "chart-note", hist.known ? "No titles played." :
        "Unknown member: no history, so the rows are the cold-start ranking for their country."));
      return;
    }
    var table = el("table", "data history");
    var head = table.createTHead().insertRow();
    ["title", "last played (UTC)", "strength"].forEach(function (c) { head.appendChild(el("th", "", c)); });
    var body = table.createTBody();
    hist.items.forEach(function (h) {
      var tr = body.insertRow();
      tr.insertCell().textContent = h.name || h.title_id;
      tr.insertCell().textContent = String(h.last_played).replace("T", " ").slice(0, 16);
      var td = tr.insertCell();
      td.textContent = cellText(h.strength);
      td.style.textAlign = "right";
    });
    box.appendChild(table);
  }

  function explore(root, id, pseudonymised) {
    var result = root.querySelector("#member-result");
    var status = result.querySelector(".member-status");
    var enc = encodeURIComponent(id);
    var qs = pseudonymised ? "&pseudonymised=true" : "";
    result.dataset.state = "loading";
    status.textContent = "Loading " + id + " ...";
    return Promise.all([
      getJSON("/v1/users/" + enc + "/rows?per_row=8" + qs),
      getJSON("/v1/users/" + enc + "/history?limit=15" + qs)
    ]).then(function (got) {
      drawRows(result.querySelector(".member-rows"), got[0].rows);
      drawHistory(result.querySelector(".member-history"), got[1]);
      result.dataset.rows = String(got[0].rows.length);
      result.dataset.history = String(got[1].items.length);
      result.dataset.state = "drawn";
      status.textContent = "Member " + id + (got[1].known ? "" : " (not in the model: cold start)") +
        ": " + got[0].rows.length + " rows, " + got[1].items.length + " recent titles.";
    }).catch(function (err) {
      result.dataset.state = "error";
      status.textContent = "Could not load this member: " + err.message;
    });
  }

  function initExplorer() {
    var root = document.getElementById("explorer");
    if (!root) { return; }
    var input = root.querySelector("#member");
    var pseud = root.querySelector("#member-pseudonymised");
    root.querySelector("#explorer-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var id = input.value.trim();
      if (id) { explore(root, id, pseud.checked); }
    });
    input.addEventListener("input", function () { pseud.checked = false; });
    var samples = root.querySelector("#member-samples");
    getJSON("/v1/users/sample?n=8").then(function (body) {
      body.members.forEach(function (m) {
        var b = el("button", "sample-member", m.user_id);
        b.type = "button";
        b.dataset.member = m.user_id;
        b.title = (m.country || "country unknown") + " · " + m.titles + " titles";
        b.addEventListener("click", function () {
          input.value = m.user_id;
          pseud.checked = true;
          explore(root, m.user_id, true);
        });
        samples.appendChild(b);
      });
      samples.dataset.state = "drawn";
    }).catch(function (err) {
      samples.dataset.state = "error";
      samples.appendChild(el("span", "chart-note", err.message));
    });
  }

  function start() {
    init();
    initExplorer();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
