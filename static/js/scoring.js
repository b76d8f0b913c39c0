// Scoring monitoring charts. Loaded as a file (the CSP allows no inline script); data comes from
// the json_script element "scoring-chart-data". Tables beside each chart carry the same figures.
(function () {
  "use strict";

  function percent(value) {
    return (value * 100).toFixed(1) + " %";
  }

  function distributionChart(canvas, data) {
    if (!canvas || !data.distribution.length) {
      return;
    }
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.distribution.map((b) => b.from + "–" + b.to),
        datasets: [
          { label: data.labels.training, data: data.distribution.map((b) => b.expected), backgroundColor: "rgba(108, 117, 125, 0.5)" },
          { label: data.labels.current, data: data.distribution.map((b) => b.actual), backgroundColor: "rgba(13, 110, 253, 0.7)" },
        ],
      },
      options: {
        responsive: true,
        scales: { y: { ticks: { callback: percent } } },
        plugins: { tooltip: { callbacks: { label: (ctx) => ctx.dataset.label + ": " + percent(ctx.parsed.y) } } },
      },
    });
  }

  function calibrationChart(canvas, data) {
    if (!canvas || !data.calibration.length) {
      return;
    }
    new window.Chart(canvas, {
      type: "line",
      data: {
        labels: data.calibration.map((row) => row.decile),
        datasets: [
          { label: data.labels.predicted, data: data.calibration.map((row) => row.mean_pd), borderColor: "#6c757d", tension: 0.2 },
          { label: data.labels.actual, data: data.calibration.map((row) => row.bad_rate), borderColor: "#dc3545", tension: 0.2 },
        ],
      },
      options: {
        responsive: true,
        scales: { x: { title: { display: true, text: data.labels.decile } }, y: { ticks: { callback: percent } } },
        plugins: { tooltip: { callbacks: { label: (ctx) => ctx.dataset.label + ": " + percent(ctx.parsed.y) } } },
      },
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const source = document.getElementById("scoring-chart-data");
    if (!source || !window.Chart) {
      return;
    }
    const data = JSON.parse(source.textContent);
    distributionChart(document.getElementById("distribution-chart"), data);
    calibrationChart(document.getElementById("calibration-chart"), data);
  });
})();
