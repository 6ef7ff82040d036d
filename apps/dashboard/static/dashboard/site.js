/* A card whose table is wider than the window scrolls sideways. Keyboard users can scroll it only once it
   can take the focus, so such a card gets tabindex=0 (and loses it when it fits again): on load, on resize,
   and after each HTMX swap, which may bring wider content. */
(function () {
  "use strict";
  function markScrollable() {
    document.querySelectorAll(".card").forEach(function (card) {
      if (card.scrollWidth > card.clientWidth + 1) {
        card.setAttribute("tabindex", "0");
      } else if (card.getAttribute("tabindex") === "0") {
        card.removeAttribute("tabindex");
      }
    });
  }
  document.addEventListener("DOMContentLoaded", markScrollable);
  document.addEventListener("htmx:afterSettle", markScrollable);
  window.addEventListener("resize", markScrollable);
})();

/* A form with data-busy-text does slow work on the server (ordering a large labelling queue, say): once
   sent, its submit button is disabled, so it is not sent twice, and the text says what is going on. */
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var text = form.getAttribute && form.getAttribute("data-busy-text");
    if (!text || event.defaultPrevented) { return; }
    var button = form.querySelector("button[type=submit], button:not([type])");
    var note = document.createElement("p");
    note.className = "busy";
    note.setAttribute("role", "status");
    note.textContent = text;
    form.appendChild(note);
    // Disabled after the submission has started, so the button's own name and value still go with it.
    if (button) { window.setTimeout(function () { button.disabled = true; }, 0); }
  });
})();

/* The run form shows the settings of the chosen kind only: a row marked data-kinds="tfidf" is hidden
   while the kind is a transformer, and the other way round (a row holding an error always shows). Its
   inputs still go with the form, at their defaults, and the chosen kind never reads them. Without
   JavaScript every row shows. */
(function () {
  "use strict";
  function apply(form) {
    var kind = form.querySelector("select[name=kind]");
    if (!kind) { return; }
    form.querySelectorAll("tr[data-kinds]").forEach(function (row) {
      var shown = row.getAttribute("data-kinds").split(" ").indexOf(kind.value) !== -1;
      row.hidden = !shown && !row.querySelector(".errorlist");
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-kind-settings]").forEach(function (form) {
      apply(form);
      form.addEventListener("change", function (event) {
        if (event.target.name === "kind") { apply(form); }
      });
    });
  });
})();
