// Servicing and collections pages. No inline scripts (CSP script-src 'self'): data comes from
// json_script blocks, behaviour is attached here.
(function () {
  "use strict";

  // Confirm before destructive posts (payment reversal).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.classList && form.classList.contains("js-confirm")) {
      var question = form.getAttribute("data-confirm");
      if (question && !window.confirm(question)) {
        event.preventDefault();
      }
    }
  });

  // Hardship measure form: show only the fields the chosen measure uses.
  var MEASURE_FIELDS = {
    extension: ["days"],
    reinstallment: ["months"],
    interest_freeze: ["starts_on", "ends_on"],
    settlement: ["on_date", "discount"],
    legal: ["legal_reference"],
    write_off: []
  };
  var OPTIONAL = ["days", "months", "starts_on", "ends_on", "on_date", "discount", "legal_reference"];

  function syncMeasure(form) {
    var kind = form.querySelector("select[name=kind]");
    if (!kind) { return; }
    var shown = MEASURE_FIELDS[kind.value] || [];
    OPTIONAL.forEach(function (name) {
      var input = form.querySelector("[name=" + name + "]");
      var wrapper = input && document.getElementById(input.id + "_wrapper");
      if (wrapper) { wrapper.hidden = shown.indexOf(name) === -1; }
    });
  }

  document.querySelectorAll(".js-measure-form").forEach(function (form) {
    syncMeasure(form);
    form.addEventListener("change", function (event) {
      if (event.target.name === "kind") { syncMeasure(form); }
    });
  });

  // Overdue analysis charts (Chart.js, vendored).
  var dataNode = document.getElementById("overdue-chart-data");
  if (dataNode && window.Chart) {
    var data = JSON.parse(dataNode.textContent);
    document.querySelectorAll("canvas.js-overdue-chart").forEach(function (canvas) {
      var series = data[canvas.getAttribute("data-dimension")];
      if (!series || !series.labels.length) { return; }
      new window.Chart(canvas, {
        type: "bar",
        data: {
          labels: series.labels,
          datasets: [
            { label: "#", data: series.counts, yAxisID: "count", backgroundColor: "rgba(13, 110, 253, 0.6)" },
            { label: "¥", data: series.amounts.map(Number), yAxisID: "amount", type: "line",
              borderColor: "rgba(220, 53, 69, 0.9)", backgroundColor: "rgba(220, 53, 69, 0.9)" }
          ]
        },
        options: {
          maintainAspectRatio: false,
          scales: {
            count: { position: "left", beginAtZero: true, ticks: { precision: 0 } },
            amount: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false } }
          },
          plugins: { legend: { display: false } }
        }
      });
    });
  }
})();
