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
