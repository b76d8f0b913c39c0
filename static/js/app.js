// Small behaviours shared by every page. No inline scripts: the CSP allows only our own files.
document.addEventListener("change", (event) => {
  const el = event.target;
  if (el.classList && el.classList.contains("js-autosubmit") && el.form) {
    el.form.submit();
  }
});
