/* The audience builder: show only the inputs that matter for the chosen operator, value type, mode and window.
   Hidden inputs still travel with the form (the server ignores what does not apply), so the page works the
   same without this file, only busier. */
(function () {
  "use strict";

  // "rule_0-op=exists,not_exists;rule_0-value_type=true" -> [{name, values}, ...]
  function conditions(spec) {
    return spec.split(";").filter(Boolean).map(function (part) {
      var index = part.indexOf("=");
      return { name: part.slice(0, index), values: part.slice(index + 1).split(",") };
    });
  }

  function holds(form, condition) {
    var control = form.elements.namedItem(condition.name);
    return Boolean(control) && condition.values.indexOf(control.value) !== -1;
  }

  function apply() {
    var form = document.getElementById("builder-form");
    if (!form) {
      return;
    }
    form.querySelectorAll("[data-show-if], [data-hide-if]").forEach(function (element) {
      var show = element.getAttribute("data-show-if");
      var hide = element.getAttribute("data-hide-if");
      var visible = true;
      if (show) {
        visible = conditions(show).every(function (condition) { return holds(form, condition); });
      }
      if (visible && hide) {
        visible = !conditions(hide).some(function (condition) { return holds(form, condition); });
      }
      element.hidden = !visible;
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target.closest && event.target.closest("#builder-form")) {
      apply();
    }
  });
  document.addEventListener("htmx:load", apply);

  // Values are one line unless the operator takes a list ("is one of": one item per line), so Enter in a
  // single value does not slip a line break into it.
  document.addEventListener("keydown", function (event) {
    var field = event.target;
    if (event.key !== "Enter" || !field.classList || !field.classList.contains("builder-value") || !field.form) {
      return;
    }
    var op = field.form.elements.namedItem(field.name.replace(/-value$/, "-op"));
    if (!op || (op.value !== "in" && op.value !== "not_in")) {
      event.preventDefault();
    }
  });
  apply();

  // After a save that found problems, take keyboard and screen-reader users straight to the list of them.
  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
  }
})();
