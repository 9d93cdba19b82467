/* Charts drawn with Chart.js from data the page embeds with json_script (never inline JS data).

   <canvas data-chart="KIND" data-chart-source="ID"> reads the JSON in <script id="ID">. Kinds:
   - size-trend, entries-exits: [{"label": "2026-11-28 12:00", "size": 120, "entered": 4, "exited": 2, ...}, ...]
   - match-rate: {"labels": [...], "series": [{"label": "Meta", "values": [0.61, null, ...]}, ...]} (rates 0..1)
   - run-volume: [{"label", "added", "removed", "unmatchable", "invalid", "failed", "duration"}, ...]
   All series are oldest first. Every chart has a table with the same data beside it, so the page is complete
   without this file. Charts inside content swapped in by htmx are drawn when it settles. */
(function () {
  "use strict";

  if (window.audienceOpsCharts) {
    return;  // loaded twice on one page: the first copy already draws everything
  }

  function readData(canvas) {
    var source = document.getElementById(canvas.getAttribute("data-chart-source"));
    if (!source) {
      return null;
    }
    try {
      return JSON.parse(source.textContent);
    } catch (error) {
      return null;
    }
  }

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  // A palette that stays apart for colour-blind readers (Okabe-Ito), after the theme's primary.
  var PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];

  function axes(extra) {
    var grid = cssVar("--bs-border-color", "#dee2e6");
    var text = cssVar("--bs-secondary-color", "#6c757d");
    var scales = {
      x: { ticks: { color: text, maxRotation: 0, autoSkip: true, maxTicksLimit: 8 }, grid: { color: grid } },
      y: { beginAtZero: true, ticks: { color: text, precision: 0 }, grid: { color: grid } }
    };
    Object.keys(extra || {}).forEach(function (key) {
      var base = scales[key] || { ticks: { color: text }, grid: { color: grid } };
      var merged = Object.assign({}, base, extra[key]);
      merged.ticks = Object.assign({}, base.ticks, extra[key].ticks || {});
      merged.grid = Object.assign({}, base.grid, extra[key].grid || {});
      scales[key] = merged;
    });
    return scales;
  }

  function baseOptions(scales, plugins) {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      plugins: Object.assign({ legend: { display: true, position: "bottom" } }, plugins || {}),
      scales: scales
    };
  }

  function sizeTrend(canvas, points) {
    var primary = cssVar("--bs-primary", "#0d6efd");
    return new window.Chart(canvas, {
      type: "line",
      data: {
        labels: points.map(function (point) { return point.label; }),
        datasets: [{
          label: "Members",
          data: points.map(function (point) { return point.size; }),
          borderColor: primary,
          backgroundColor: primary,
          borderWidth: 2,
          pointRadius: points.length > 60 ? 0 : 3,
          pointHoverRadius: 4,
          tension: 0.15
        }]
      },
      options: baseOptions(axes(), {
        legend: { display: false },
        tooltip: {
          callbacks: {
            title: function (items) { return items[0].label + " UTC"; },
            afterBody: function (items) {
              var point = points[items[0].dataIndex];
              return ["+" + point.entered + " entered, \u2212" + point.exited + " exited"];
            }
          }
        }
      })
    });
  }

  function entriesExits(canvas, points) {
    var success = cssVar("--bs-success", "#198754");
    var danger = cssVar("--bs-danger", "#dc3545");
    return new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: points.map(function (point) { return point.label; }),
        datasets: [
          { label: "Entered", data: points.map(function (point) { return point.entered; }), backgroundColor: success },
          { label: "Exited", data: points.map(function (point) { return point.exited; }), backgroundColor: danger }
        ]
      },
      options: baseOptions(axes(), {
        tooltip: { callbacks: { title: function (items) { return items[0].label + " UTC"; } } }
      })
    });
  }

  function percent(value) {
    return value === null || value === undefined ? "\u2014" : (value * 100).toFixed(1) + "%";
  }

  function matchRate(canvas, data) {
    var manyPoints = data.labels.length > 60;
    return new window.Chart(canvas, {
      type: "line",
      data: {
        labels: data.labels,
        datasets: data.series.map(function (series, index) {
          var colour = PALETTE[index % PALETTE.length];
          return {
            label: series.label,
            data: series.values,
            borderColor: colour,
            backgroundColor: colour,
            borderWidth: 2,
            pointRadius: manyPoints ? 0 : 3,
            spanGaps: true,
            tension: 0.1
          };
        })
      },
      options: baseOptions(
        axes({ y: { beginAtZero: true, max: 1, ticks: { precision: 2, callback: function (value) { return Math.round(value * 100) + "%"; } } } }),
        {
          tooltip: {
            callbacks: {
              title: function (items) { return items[0].label + " UTC"; },
              label: function (item) { return item.dataset.label + ": " + percent(item.raw); }
            }
          }
        }
      )
    });
  }

  function runVolume(canvas, points) {
    var labels = points.map(function (point) { return point.label; });
    var bar = function (label, key, colour) {
      return {
        type: "bar",
        label: label,
        data: points.map(function (point) { return point[key]; }),
        backgroundColor: colour,
        stack: "rows",
        yAxisID: "y"
      };
    };
    return new window.Chart(canvas, {
      data: {
        labels: labels,
        datasets: [
          bar("Added", "added", PALETTE[2]),
          bar("Removed", "removed", PALETTE[5]),
          bar("Unmatchable", "unmatchable", PALETTE[1]),
          bar("Invalid", "invalid", PALETTE[3]),
          {
            type: "line",
            label: "Duration (s)",
            data: points.map(function (point) { return point.duration; }),
            borderColor: PALETTE[0],
            backgroundColor: PALETTE[0],
            borderWidth: 2,
            pointRadius: points.length > 60 ? 0 : 3,
            yAxisID: "seconds"
          }
        ]
      },
      options: baseOptions(
        axes({
          x: { stacked: true },
          y: { stacked: true, beginAtZero: true, title: { display: true, text: "rows" } },
          seconds: { position: "right", beginAtZero: true, title: { display: true, text: "seconds" }, grid: { drawOnChartArea: false } }
        }),
        { tooltip: { callbacks: { title: function (items) { return items[0].label + " UTC (run #" + points[items[0].dataIndex].run + ")"; } } } }
      )
    });
  }

  var builders = {
    "size-trend": { build: sizeTrend, empty: function (data) { return !data.length; } },
    "entries-exits": { build: entriesExits, empty: function (data) { return !data.length; } },
    "match-rate": { build: matchRate, empty: function (data) { return !data.series || !data.series.length; } },
    "run-volume": { build: runVolume, empty: function (data) { return !data.length; } }
  };

  function draw() {
    if (!window.Chart) {
      return;
    }
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var builder = builders[canvas.getAttribute("data-chart")];
      var data = readData(canvas);
      if (builder && data && !builder.empty(data) && !canvas.chart) {
        canvas.chart = builder.build(canvas, data);
        canvas.setAttribute("data-chart-drawn", "true");
      }
    });
  }

  window.audienceOpsCharts = { draw: draw };
  document.addEventListener("htmx:afterSettle", draw);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
