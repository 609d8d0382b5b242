// Konsol Kunci's only script of its own: what htmx does not do. No inline
// script anywhere (the Content-Security-Policy forbids it).
document.addEventListener("click", function (e) {
  var el = e.target.closest("[data-print]");
  if (el) {
    e.preventDefault();
    window.print();
  }
});
