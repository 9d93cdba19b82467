/* Charts drawn with Chart.js from data the page embeds with json_script (never inline JS data).

   <canvas data-chart="size-trend" data-chart-source="ID"> reads the JSON array in <script id="ID">:
   [{"label": "2026-11-28 12:00", "size": 120, "entered": 4, "exited": 2, ...}, ...] (oldest first).
   Every chart has a table with the same data beside it, so the page is complete without this file. */
(function () {
  "use strict";

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

  function sizeTrend(canvas, points) {
    var primary = cssVar("--bs-primary", "#0d6efd");
    var grid = cssVar("--bs-border-color", "#dee2e6");
    var text = cssVar("--bs-secondary-color", "#6c757d");
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
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: {
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
        },
        scales: {
          x: { ticks: { color: text, maxRotation: 0, autoSkip: true, maxTicksLimit: 8 }, grid: { color: grid } },
          y: { beginAtZero: true, ticks: { color: text, precision: 0 }, grid: { color: grid } }
        }
      }
    });
  }

  var builders = { "size-trend": sizeTrend };

  function draw() {
    if (!window.Chart) {
      return;
    }
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var build = builders[canvas.getAttribute("data-chart")];
      var points = readData(canvas);
      if (build && points && points.length && !canvas.chart) {
        canvas.chart = build(canvas, points);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
