// Management dashboard charts. Loaded as a file (the CSP allows no inline script); the data comes
// from the json_script elements "dashboard-chart-data" (portfolio) and "dashboard-satisfaction-data".
// Every chart has a table beside it on the page with the same figures (and a CSV export).
(function () {
  "use strict";

  const COLOURS = ["#0d6efd", "#dc3545", "#198754", "#fd7e14", "#6f42c1", "#20c997", "#6c757d", "#d63384",
    "#0dcaf0", "#ffc107", "#343a40", "#adb5bd"];

  function percent(value) {
    return value === null || value === undefined ? "—" : (value * 100).toFixed(1) + " %";
  }

  function draw(id, config) {
    const canvas = document.getElementById(id);
    if (!canvas) {
      return null;
    }
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
    return new window.Chart(canvas, config);
  }

  function percentAxis(extra) {
    return Object.assign({ beginAtZero: true, ticks: { callback: (v) => (v * 100).toFixed(0) + " %" } }, extra || {});
  }

  function percentTooltip() {
    return { callbacks: { label: (ctx) => ctx.dataset.label + ": " + percent(ctx.parsed.y) } };
  }

  function portfolio(data) {
    const L = data.labels;
    draw("applications-chart", {
      data: {
        labels: data.applications.map((r) => r.period),
        datasets: [
          { type: "bar", label: L.submitted, data: data.applications.map((r) => r.submitted), backgroundColor: "rgba(13, 110, 253, 0.6)", yAxisID: "y" },
          { type: "line", label: L.approval_rate, data: data.applications.map((r) => r.approval_rate), borderColor: "#198754", backgroundColor: "#198754", yAxisID: "y1", spanGaps: true, tension: 0.2 },
        ],
      },
      options: {
        scales: { y: { beginAtZero: true, position: "left" }, y1: percentAxis({ position: "right", max: 1, grid: { drawOnChartArea: false } }) },
        plugins: { tooltip: { callbacks: { label: (ctx) => ctx.dataset.label + ": " + (ctx.dataset.yAxisID === "y1" ? percent(ctx.parsed.y) : ctx.parsed.y) } } },
      },
    });
    draw("disbursed-chart", {
      data: {
        labels: data.disbursements.map((r) => r.period),
        datasets: [
          { type: "bar", label: L.amount + " (" + data.currency + ")", data: data.disbursements.map((r) => Number(r.amount)), backgroundColor: "rgba(32, 201, 151, 0.7)", yAxisID: "y" },
          { type: "line", label: L.plans, data: data.disbursements.map((r) => r.count), borderColor: "#6f42c1", backgroundColor: "#6f42c1", yAxisID: "y1", tension: 0.2 },
        ],
      },
      options: { scales: { y: { beginAtZero: true }, y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } } } },
    });
    draw("par-chart", {
      type: "line",
      data: {
        labels: data.par.map((r) => r.month),
        datasets: ["par1", "par30", "par90"].map((key, i) => ({
          label: L[key], data: data.par.map((r) => r[key]), borderColor: ["#fd7e14", "#dc3545", "#6f42c1"][i],
          backgroundColor: ["#fd7e14", "#dc3545", "#6f42c1"][i], borderWidth: key === "par30" ? 3 : 1.5, spanGaps: true, tension: 0.2,
        })),
      },
      options: { scales: { y: percentAxis() }, plugins: { tooltip: percentTooltip() } },
    });
    draw("buckets-chart", {
      type: "bar",
      data: {
        labels: data.buckets.map((r) => r.label),
        datasets: [{ label: L.outstanding + " (" + data.currency + ")", data: data.buckets.map((r) => Number(r.outstanding)),
          backgroundColor: ["#198754", "#ffc107", "#fd7e14", "#dc3545", "#842029", "#6c757d"] }],
      },
      options: { plugins: { legend: { display: false }, tooltip: { callbacks: { afterLabel: (ctx) => percent(data.buckets[ctx.dataIndex].share) } } } },
    });
    const longest = data.vintages.reduce((n, v) => Math.max(n, v.points.length), 0);
    draw("vintage-chart", {
      type: "line",
      data: {
        labels: Array.from({ length: longest }, (_, k) => k),
        datasets: data.vintages.slice(-12).map((v, i) => ({
          label: v.cohort + " (" + v.cohort_size + ")", data: v.points, borderColor: COLOURS[i % COLOURS.length],
          backgroundColor: COLOURS[i % COLOURS.length], pointRadius: 2, tension: 0.1,
        })),
      },
      options: {
        scales: { x: { title: { display: true, text: L.months_on_book } }, y: percentAxis() },
        plugins: { tooltip: percentTooltip(), legend: { labels: { boxWidth: 10, font: { size: 10 } } } },
      },
    });
    draw("apr-chart", {
      type: "line",
      data: {
        labels: data.disbursements.map((r) => r.period),
        datasets: [
          { label: L.apr + " (%)", data: data.disbursements.map((r) => r.average_apr), borderColor: "#0d6efd", backgroundColor: "#0d6efd", yAxisID: "y", spanGaps: true, tension: 0.2 },
          { label: L.term, data: data.disbursements.map((r) => r.average_term_months), borderColor: "#6c757d", backgroundColor: "#6c757d", yAxisID: "y1", spanGaps: true, borderDash: [4, 4] },
        ],
      },
      options: { scales: { y: { beginAtZero: false }, y1: { position: "right", grid: { drawOnChartArea: false } } } },
    });
  }

  function satisfaction(data) {
    draw("satisfaction-chart", {
      data: {
        labels: data.periods.map((r) => r.key),
        datasets: [
          { type: "line", label: data.labels.average, data: data.periods.map((r) => r.average), borderColor: "#0d6efd", backgroundColor: "#0d6efd", yAxisID: "y", tension: 0.2 },
          { type: "bar", label: data.labels.count, data: data.periods.map((r) => r.count), backgroundColor: "rgba(108, 117, 125, 0.4)", yAxisID: "y1" },
        ],
      },
      options: { scales: { y: { min: 1, max: 5 }, y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } } },
        plugins: { legend: { labels: { boxWidth: 10, font: { size: 10 } } } } },
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!window.Chart) {
      return;
    }
    const source = document.getElementById("dashboard-chart-data");
    if (source) {
      portfolio(JSON.parse(source.textContent));
    }
    const ratings = document.getElementById("dashboard-satisfaction-data");
    if (ratings) {
      satisfaction(JSON.parse(ratings.textContent));
    }
  });
})();
