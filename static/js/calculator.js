// Plan calculator: draws principal vs interest per installment for each schedule shown.
// Loaded as a file (the CSP allows no inline script). The data comes from json_script elements
// named by each canvas's data-chart-data attribute; htmx swaps in new results and we redraw.
(function () {
  "use strict";

  const charts = new Map();

  function toNumbers(values) {
    return (values || []).map(Number); // display only: the exact amounts are in the table
  }

  function draw(canvas) {
    const source = document.getElementById(canvas.dataset.chartData);
    if (!source || typeof window.Chart === "undefined") {
      return;
    }
    const data = JSON.parse(source.textContent);
    const names = data.names || {};
    const datasets = [
      { label: names.principal, data: toNumbers(data.principal), backgroundColor: "rgba(13, 110, 253, 0.75)", stack: "payment" },
      { label: names.interest, data: toNumbers(data.interest), backgroundColor: "rgba(253, 126, 20, 0.8)", stack: "payment" },
    ];
    if (data.fee && data.fee.length) {
      datasets.push({ label: names.fee, data: toNumbers(data.fee), backgroundColor: "rgba(108, 117, 125, 0.7)", stack: "payment" });
    }
    const previous = charts.get(canvas.id);
    if (previous) {
      previous.destroy();
    }
    charts.set(canvas.id, new window.Chart(canvas, {
      type: "bar",
      data: { labels: data.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: { title: { display: Boolean(names.title), text: names.title } },
        scales: {
          x: { stacked: true, title: { display: Boolean(names.x), text: names.x } },
          y: { stacked: true, beginAtZero: true },
        },
      },
    }));
  }

  function drawAll(root) {
    // Forget charts whose canvas was swapped out.
    charts.forEach((chart, id) => {
      if (!document.getElementById(id)) {
        chart.destroy();
        charts.delete(id);
      }
    });
    (root || document).querySelectorAll("canvas[data-chart-data]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", () => drawAll(document));
  document.addEventListener("htmx:afterSettle", (event) => drawAll(event.target));
})();
