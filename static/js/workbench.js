// Staff workbench: the inline document viewer, the charts (data from json_script elements) and a
// reason check before rejecting a document. Loaded as a file (the CSP allows no inline script);
// every page still works without it (documents download, the figures are in tables beside the charts).
(function () {
  "use strict";

  // --- Inline document viewer: PDFs in an iframe, images in an img, on the application page. ---
  function showDocument(button) {
    const viewer = document.getElementById("document-viewer");
    const frame = document.getElementById("document-viewer-frame");
    const image = document.getElementById("document-viewer-image");
    const title = document.getElementById("document-viewer-title");
    if (!viewer || !frame || !image) {
      return;
    }
    const src = button.dataset.src;
    const isImage = (button.dataset.contentType || "").startsWith("image/");
    title.textContent = button.dataset.title || "";
    frame.hidden = isImage;
    image.hidden = !isImage;
    if (isImage) {
      frame.removeAttribute("src");
      image.src = src;
      image.alt = button.dataset.title || "";
    } else {
      image.removeAttribute("src");
      frame.src = src;
    }
    viewer.hidden = false;
    // No animated scroll when the user asked for reduced motion (and so no moving target under
    // a click that follows at once).
    const reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    viewer.scrollIntoView({ behavior: reduceMotion ? "auto" : "smooth", block: "nearest" });
  }

  function closeViewer() {
    const viewer = document.getElementById("document-viewer");
    if (!viewer) {
      return;
    }
    viewer.hidden = true;
    document.getElementById("document-viewer-frame").removeAttribute("src");
    document.getElementById("document-viewer-image").removeAttribute("src");
  }

  document.addEventListener("click", (event) => {
    const view = event.target.closest(".js-view-document");
    if (view) {
      event.preventDefault();
      showDocument(view);
      return;
    }
    if (event.target.closest(".js-viewer-close")) {
      closeViewer();
    }
  });

  // --- Rejecting a document needs a reason: say so before the round trip (the server checks too). ---
  document.addEventListener("submit", (event) => {
    const form = event.target;
    const button = event.submitter;
    if (!form.classList.contains("js-document-review") || !button || button.value !== "rejected") {
      return;
    }
    const reason = form.querySelector("input[name='reason']");
    if (reason && !reason.value.trim()) {
      event.preventDefault();
      event.stopImmediatePropagation();
      reason.classList.add("is-invalid");
      reason.focus();
    }
  }, true);

  // --- Charts ---
  function readData(canvas) {
    const source = document.getElementById(canvas.dataset.chartSource);
    return source ? JSON.parse(source.textContent) : null;
  }

  function statementChart(canvas) {
    const data = readData(canvas);
    if (!data || !data.labels.length) {
      return;
    }
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [
          { label: data.inflow_label, data: data.inflow.map(Number), backgroundColor: "rgba(25, 135, 84, 0.7)" },
          { label: data.outflow_label, data: data.outflow.map(Number), backgroundColor: "rgba(220, 53, 69, 0.6)" },
        ],
      },
      options: { responsive: true, maintainAspectRatio: false, scales: { y: { beginAtZero: true } } },
    });
  }

  function productivityChart(canvas) {
    const data = readData(canvas);
    if (!data) {
      return;
    }
    new window.Chart(canvas, {
      type: "bar",
      data: { labels: data.labels, datasets: [{ label: data.label, data: data.values, backgroundColor: "rgba(13, 110, 253, 0.7)" }] },
      options: { responsive: true, maintainAspectRatio: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!window.Chart) {
      return;
    }
    const statement = document.getElementById("statement-chart");
    if (statement) {
      statementChart(statement);
    }
    const productivity = document.getElementById("productivity-chart");
    if (productivity) {
      productivityChart(productivity);
    }
  });
})();
