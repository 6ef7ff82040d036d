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
