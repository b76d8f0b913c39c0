// Customer self-service pages (customers/portal): the offers chart, the wizard's dependent fields
// and confirmations. Loaded as a file: the CSP allows no inline script. Data comes from json_script
// elements; every page works without this file (it only hides fields that do not apply and draws).
(function () {
  "use strict";

  const PALETTE = ["#0d6efd", "#fd7e14", "#198754", "#6f42c1", "#d63384", "#20c997", "#6c757d"];
  const charts = new Map();

  // "What you pay over time": the cumulative amount paid after each installment, one line per plan.
  function drawOffersChart(canvas) {
    const source = document.getElementById(canvas.dataset.chartData);
    if (!source || typeof window.Chart === "undefined") {
      return;
    }
    const data = JSON.parse(source.textContent);
    const names = data.names || {};
    const previous = charts.get(canvas.id);
    if (previous) {
      previous.destroy();
    }
    const datasets = (data.series || []).map((series, index) => ({
      label: series.label,
      data: series.data.map(Number), // display only: the exact amounts are in the tables
      borderColor: PALETTE[index % PALETTE.length],
      backgroundColor: PALETTE[index % PALETTE.length],
      pointRadius: 0,
      borderWidth: 2,
      tension: 0,
    }));
    charts.set(canvas.id, new window.Chart(canvas, {
      type: "line",
      data: { labels: data.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom" } },
        scales: {
          x: { title: { display: Boolean(names.x), text: names.x } },
          y: { beginAtZero: true, title: { display: Boolean(names.y), text: (names.y || "") + (data.currency ? " (" + data.currency + ")" : "") } },
        },
      },
    }));
  }

  function drawAll(root) {
    charts.forEach((chart, id) => {
      if (!document.getElementById(id)) {
        chart.destroy();
        charts.delete(id);
      }
    });
    (root || document).querySelectorAll("canvas[data-chart-data]").forEach(drawOffersChart);
  }

  // The request step: show the target payment or the term according to the preference, and the
  // low-income months only for a seasonal income.
  function toggle(selector, show) {
    document.querySelectorAll(selector).forEach((el) => {
      el.hidden = !show;
    });
  }

  function updateRequestStep() {
    const preference = document.querySelector("input[name='preference']:checked");
    if (preference) {
      toggle(".js-preference-payment", preference.value === "payment");
      toggle(".js-preference-term", preference.value === "term");
    }
    const pattern = document.querySelector("select[name='income_pattern']");
    if (pattern) {
      toggle(".js-low-months", pattern.value === "seasonal");
    }
  }

  document.addEventListener("change", (event) => {
    if (event.target.name === "preference" || event.target.name === "income_pattern") {
      updateRequestStep();
    }
  });

  // Forms that ask before they act (discarding an application).
  document.addEventListener("submit", (event) => {
    const message = event.target.dataset && event.target.dataset.confirm;
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });

  document.addEventListener("DOMContentLoaded", () => {
    drawAll(document);
    updateRequestStep();
  });
  document.addEventListener("htmx:afterSettle", (event) => drawAll(event.target));
})();
