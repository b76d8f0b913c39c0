// Customer profile pages. Loaded as a file (the CSP allows no inline script); everything also works without it.
(function () {
  "use strict";

  // "Occupation (other)" is only asked for when the occupation is "other".
  function syncOccupationOther() {
    const select = document.getElementById("id_occupation");
    const wrapper = document.getElementById("id_occupation_other_wrapper");
    if (!select || !wrapper) {
      return;
    }
    const input = document.getElementById("id_occupation_other");
    const hasError = input && input.classList.contains("is-invalid");
    wrapper.hidden = select.value !== "other" && !hasError;
  }

  // Rejecting a document needs a reason: say so before the round trip.
  function requireRejectReason(event) {
    const button = event.submitter;
    if (!button || button.name !== "to" || button.value !== "rejected") {
      return;
    }
    const reason = button.form.querySelector("input[name='reason']");
    if (reason && !reason.value.trim()) {
      event.preventDefault();
      event.stopImmediatePropagation();
      reason.classList.add("is-invalid");
      reason.focus();
    }
  }

  document.addEventListener("DOMContentLoaded", syncOccupationOther);
  document.addEventListener("change", (event) => {
    if (event.target && event.target.id === "id_occupation") {
      syncOccupationOther();
    }
  });
  document.addEventListener("submit", requireRejectReason, true);
})();
