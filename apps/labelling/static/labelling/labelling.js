/* Keyboard shortcuts of the labelling page: 1 or left arrow: negative, 2 or right arrow: positive,
   s: skip, u: undo. Each presses the matching button, so the keyboard does exactly what a click does
   (an HTMX request that brings the next review). Keys are ignored while typing in a field and while
   a request is on its way, so a key held down never labels a review the analyst has not seen. */
(function () {
  "use strict";
  var ACTIONS = { "1": "negative", ArrowLeft: "negative", "2": "positive", ArrowRight: "positive", s: "skip", u: "undo" };
  var busy = false;
  document.addEventListener("htmx:beforeRequest", function () { busy = true; });
  document.addEventListener("htmx:afterRequest", function () { busy = false; });
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) { return; }
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) { return; }
    var action = ACTIONS[event.key] || ACTIONS[String(event.key).toLowerCase()];
    if (!action) { return; }
    var button = document.querySelector('#labelling-card button[name="action"][value="' + action + '"]');
    if (!button || button.disabled) { return; }
    event.preventDefault();
    if (busy) { return; }
    // A card swapped in a moment ago is bound by HTMX only once it settles (some 20 ms later); until
    // then its button would send the form as a plain POST and reload the page. Bind it now (a second
    // binding is a no-op), so a key pressed at once still goes through HTMX.
    if (window.htmx && button.form) { window.htmx.process(button.form); }
    button.click();
  });
})();
