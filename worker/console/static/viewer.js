// The comparison viewer (compare.html), keyboard first. Both panes share one view: a scale in
// screen pixels per pixel of A (none: fit) and a centre in fractions of the image; B is drawn
// at the same size as A, so that two photos of different resolutions stay on the same place as
// one zooms and pans. Positions are set through the CSSOM (element.style), which the CSP
// allows; nothing is inline in the page.
(function () {
  "use strict";
  var stage = document.getElementById("stage");
  if (!stage) { return; }
  var body = document.body;
  var panes = Array.prototype.slice.call(stage.querySelectorAll(".pane"));
  var images = panes.map(function (pane) { return pane.querySelector("img"); });
  var facts = panes.map(function (pane) {
    return document.getElementById("facts-" + pane.dataset.side);
  });
  var stateLine = document.getElementById("viewer-state");
  var view = { scale: null, cx: 0.5, cy: 0.5 };
  var mode = "side";
  var shown = 0;
  var opacity = 0.5;
  var boost = 0;
  // The page's words, in its language (data- attributes: the CSP allows no inline script).
  var words = stateLine.dataset;
  var MODES = { side: words.side, flip: words.flip, onion: words.onion };
  function say(pattern, name, value) { return pattern.replace("{" + name + "}", value); }

  function size(i) {
    var img = images[i];
    return [img.naturalWidth || img.width || 1, img.naturalHeight || img.height || 1];
  }

  function fitScale(i) {
    var wh = size(i);
    var pane = panes[i];
    return Math.min(pane.clientWidth / wh[0], pane.clientHeight / wh[1]);
  }

  function fitA() {
    // The largest scale of A at which every image fits its pane.
    return Math.min.apply(null, panes.map(function (pane, i) {
      return fitScale(i) * size(i)[0] / size(0)[0];
    }));
  }

  function scale(i) {
    return (view.scale === null ? fitA() : view.scale) * size(0)[0] / size(i)[0];
  }

  function clamp(value, low, high) { return Math.max(low, Math.min(high, value)); }

  function draw() {
    panes.forEach(function (pane, i) {
      var wh = size(i);
      var s = scale(i);
      var x = pane.clientWidth / 2 - view.cx * wh[0] * s;
      var y = pane.clientHeight / 2 - view.cy * wh[1] * s;
      images[i].style.transform = "translate(" + x + "px, " + y + "px) scale(" + s + ")";
      var on = i === shown;
      pane.classList.toggle("shown", on);
      if (facts[i]) { facts[i].classList.toggle("shown", on); }
      images[i].style.opacity = mode === "onion" && i === 1 ? String(opacity) : "";
    });
    body.classList.remove("mode-side", "mode-flip", "mode-onion", "boost-1", "boost-2");
    body.classList.add("mode-" + mode);
    if (boost) { body.classList.add("boost-" + boost); }
    body.dataset.shown = panes[shown].dataset.side;
    var text = MODES[mode];
    if (mode === "flip") { text += ": " + say(words.shown, "side", shown === 0 ? "A" : "B"); }
    if (mode === "onion") { text += ": " + say(words.at, "percent", Math.round(opacity * 100)); }
    text += " · " + say(words.pixels, "percent", Math.round(scale(0) * 100));
    if (boost) { text += " · " + say(words.brighter, "step", boost); }
    stateLine.textContent = text;
  }

  function zoomBy(factor, i, px, py) {
    // Keeps the image point under (px, py) of pane i where it is.
    var wh = size(i);
    var pane = panes[i];
    var before = scale(i);
    var fx = view.cx + (px - pane.clientWidth / 2) / (wh[0] * before);
    var fy = view.cy + (py - pane.clientHeight / 2) / (wh[1] * before);
    var fit = fitA();
    view.scale = clamp(scale(0) * factor, fit * 0.2, Math.max(fit, 64));
    var after = scale(i);
    view.cx = clamp(fx - (px - pane.clientWidth / 2) / (wh[0] * after), 0, 1);
    view.cy = clamp(fy - (py - pane.clientHeight / 2) / (wh[1] * after), 0, 1);
    draw();
  }

  function zoomAtCentre(factor) {
    zoomBy(factor, shown, panes[shown].clientWidth / 2, panes[shown].clientHeight / 2);
  }

  function panBy(dx, dy, i) {
    var wh = size(i);
    var s = scale(i);
    view.cx = clamp(view.cx - dx / (wh[0] * s), 0, 1);
    view.cy = clamp(view.cy - dy / (wh[1] * s), 0, 1);
    draw();
  }

  function paneIndex(target) {
    var pane = target && target.closest ? target.closest(".pane") : null;
    var i = panes.indexOf(pane);
    return i < 0 ? shown : i;
  }

  stage.addEventListener("wheel", function (event) {
    event.preventDefault();
    var i = paneIndex(event.target);
    var box = panes[i].getBoundingClientRect();
    zoomBy(event.deltaY < 0 ? 1.2 : 1 / 1.2, i, event.clientX - box.left, event.clientY - box.top);
  }, { passive: false });

  var drag = null;
  stage.addEventListener("pointerdown", function (event) {
    var i = paneIndex(event.target);
    drag = { i: i, x: event.clientX, y: event.clientY };
    panes[i].classList.add("dragging");
    panes[i].setPointerCapture(event.pointerId);
  });
  stage.addEventListener("pointermove", function (event) {
    if (!drag) { return; }
    panBy(event.clientX - drag.x, event.clientY - drag.y, drag.i);
    drag.x = event.clientX;
    drag.y = event.clientY;
  });
  function endDrag() {
    if (drag) { panes[drag.i].classList.remove("dragging"); }
    drag = null;
  }
  stage.addEventListener("pointerup", endDrag);
  stage.addEventListener("pointercancel", endDrag);

  function goBack() {
    var back = document.getElementById("viewer-back");
    var fromHere = document.referrer.indexOf(location.origin + "/") === 0;
    if (fromHere && history.length > 1) { history.back(); } else { location.href = back.href; }
  }

  function setMode(next) {
    mode = panes.length > 1 ? next : "side";
    draw();
  }

  var STEP = 60; // pixels an arrow key pans
  var keys = {
    "+": function () { zoomAtCentre(1.25); },
    "=": function () { zoomAtCentre(1.25); },
    "-": function () { zoomAtCentre(1 / 1.25); },
    "_": function () { zoomAtCentre(1 / 1.25); },
    "0": function () { view = { scale: null, cx: 0.5, cy: 0.5 }; draw(); },
    "1": function () { view.scale = 1; draw(); },
    ArrowLeft: function () { panBy(STEP, 0, shown); },
    ArrowRight: function () { panBy(-STEP, 0, shown); },
    ArrowUp: function () { panBy(0, STEP, shown); },
    ArrowDown: function () { panBy(0, -STEP, shown); },
    " ": function () {
      if (panes.length < 2) { return; }
      shown = 1 - shown;
      setMode("flip");
    },
    s: function () { setMode("side"); },
    o: function () { shown = 1; setMode(mode === "onion" ? "side" : "onion"); },
    "[": function () { opacity = clamp(opacity - 0.1, 0, 1); draw(); },
    "]": function () { opacity = clamp(opacity + 0.1, 0, 1); draw(); },
    b: function () { boost = (boost + 1) % 3; draw(); },
    Escape: goBack
  };
  keys.x = keys[" "];

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var action = keys[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });
  images.forEach(function (img) {
    if (!img.complete) { img.addEventListener("load", draw); }
  });
  window.addEventListener("resize", draw);
  draw();
}());
