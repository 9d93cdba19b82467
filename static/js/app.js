/* Small behaviours on top of Bootstrap and htmx. Every page works without this file. */
(function () {
  "use strict";

  // Copy buttons: <button data-copy-target="#id">; the text of the target goes to the clipboard.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) {
      return;
    }
    var target = document.querySelector(button.getAttribute("data-copy-target"));
    if (!target) {
      return;
    }
    var text = target.value !== undefined ? target.value : target.textContent;
    var status = document.querySelector(button.getAttribute("data-copy-status") || "#copy-status");
    var done = function (message) {
      if (status) {
        status.textContent = message;
      }
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text.trim()).then(
        function () { done("Copied to the clipboard."); },
        function () { done("Copy failed: select the text and copy it by hand."); }
      );
    } else {
      // Plain http on a LAN address has no clipboard API: select the text so Ctrl+C copies it.
      var range = document.createRange();
      range.selectNodeContents(target);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      done("Selected: press Ctrl+C (or Cmd+C) to copy.");
    }
  });

  // Controls marked data-autosubmit submit their form on change (the form keeps a submit button for no-JS use).
  document.addEventListener("change", function (event) {
    var control = event.target.closest("[data-autosubmit]");
    if (control && control.form) {
      control.form.requestSubmit();
    }
  });

  // After htmx swaps the timeline, move focus to its heading so keyboard and screen-reader users follow.
  document.addEventListener("htmx:afterSwap", function (event) {
    var heading = event.detail.target.querySelector("[data-focus-after-swap]");
    if (heading) {
      heading.focus({ preventScroll: false });
    }
  });
})();
