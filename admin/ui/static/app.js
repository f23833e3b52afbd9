// Tasker dashboard: the little JavaScript it needs. Forms with
// data-confirm ask before they submit (the server checks the role and the
// CSRF token whatever this does).
document.addEventListener("submit", function (ev) {
  var msg = ev.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) {
    ev.preventDefault();
  }
});
