// The analyst's keys on a request opened from the review queue: c confirms and f dismisses the
// first finding still without a verdict, n and p move along the queue. Typing in a field is
// left alone.
(function () {
  "use strict";
  var keys = {
    c: "form.verdict-open button[value=confirmed]",
    f: "form.verdict-open button[value=false_alarm]",
    n: "#queue-next",
    p: "#queue-prev"
  };
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var target = event.target;
    if (target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) { return; }
    var selector = keys[event.key];
    var element = selector && document.querySelector(selector);
    if (element) {
      event.preventDefault();
      element.click();
    }
  });
}());
