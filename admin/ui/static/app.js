// Tasker dashboard: the little JavaScript it needs. Forms with
// data-confirm ask before they submit (the server checks the role and the
// CSRF token whatever this does). A resolve form's results that are not
// JSON are refused in place, the field keeping what was typed (the server
// refuses them too, with the task's page and the field as typed).
document.addEventListener("submit", function (ev) {
  var results = ev.target.classList.contains("resolve") && ev.target.elements.results;
  if (results && results.value.trim() !== "") {
    try {
      JSON.parse(results.value);
    } catch (e) {
      results.setCustomValidity("The results are not JSON (" + e.message + "): type a JSON document, or nothing for null.");
      results.reportValidity();
      ev.preventDefault();
      return;
    }
  }
  var msg = ev.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) {
    ev.preventDefault();
  }
});
// A field refused above is checked again once it is edited.
document.addEventListener("input", function (ev) {
  if (ev.target.setCustomValidity) {
    ev.target.setCustomValidity("");
  }
});
