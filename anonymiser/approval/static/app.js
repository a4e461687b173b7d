// Review app: drag a "blur more" box over the photo with the mouse. Without this script the
// same form takes the four numbers typed in. Nothing is fetched; no inline code (CSP).
(function () {
  "use strict";
  var frame = document.querySelector(".frame.draw");
  var form = document.getElementById("blur-form");
  if (!frame || !form) { return; }
  var img = frame.querySelector("img");
  var fullW = Number(frame.getAttribute("data-width"));
  var fullH = Number(frame.getAttribute("data-height"));
  var box = document.createElement("div");
  box.className = "drawn";
  box.hidden = true;
  frame.appendChild(box);
  var start = null;

  function point(ev) {
    var r = img.getBoundingClientRect();
    var x = Math.min(Math.max(ev.clientX - r.left, 0), r.width);
    var y = Math.min(Math.max(ev.clientY - r.top, 0), r.height);
    return { x: x, y: y, scale: fullW / r.width, scaleY: fullH / r.height };
  }
  function show(a, b) {
    var left = Math.min(a.x, b.x), top = Math.min(a.y, b.y);
    box.style.left = left + "px";
    box.style.top = top + "px";
    box.style.width = Math.abs(b.x - a.x) + "px";
    box.style.height = Math.abs(b.y - a.y) + "px";
    box.hidden = false;
  }
  function fill(a, b) {
    var x = Math.round(Math.min(a.x, b.x) * a.scale);
    var y = Math.round(Math.min(a.y, b.y) * a.scaleY);
    var w = Math.round(Math.abs(b.x - a.x) * a.scale);
    var h = Math.round(Math.abs(b.y - a.y) * a.scaleY);
    form.elements.x.value = x;
    form.elements.y.value = y;
    form.elements.w.value = Math.max(w, 2);
    form.elements.h.value = Math.max(h, 2);
  }
  frame.addEventListener("mousedown", function (ev) {
    if (ev.button !== 0) { return; }
    ev.preventDefault();
    start = point(ev);
    show(start, start);
  });
  window.addEventListener("mousemove", function (ev) {
    if (start) { show(start, point(ev)); }
  });
  window.addEventListener("mouseup", function (ev) {
    if (!start) { return; }
    var end = point(ev);
    if (Math.abs(end.x - start.x) >= 3 && Math.abs(end.y - start.y) >= 3) {
      fill(start, end);
      document.getElementById("blur-submit").focus();
    } else {
      box.hidden = true;
    }
    start = null;
  });
})();
