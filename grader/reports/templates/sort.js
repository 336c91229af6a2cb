"use strict";
// Sorts the submissions table by a column: a click on its heading, or the page's address
// ending in #sort=KEY (ascending) or #sort=-KEY (descending). Cells sort by their data-sort.
(function () {
  var table = document.getElementById("submissions");
  if (!table) { return; }
  var heads = table.tHead.rows[0].cells;
  function key(row, col) {
    var cell = row.cells[col], v = cell.getAttribute("data-sort");
    return v === null ? cell.textContent.trim().toLowerCase() : v;
  }
  function sortBy(col, descending) {
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a, col), y = key(b, col), nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : (x < y ? -1 : (x > y ? 1 : 0));
      return descending ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(heads, function (th, i) {
      if (i === col) { th.setAttribute("aria-sort", descending ? "descending" : "ascending"); }
      else { th.removeAttribute("aria-sort"); }
    });
  }
  Array.prototype.forEach.call(heads, function (th, col) {
    if (!th.hasAttribute("data-key")) { return; }
    var b = document.createElement("button");
    b.type = "button";
    b.className = "sort";
    b.textContent = th.textContent;
    th.textContent = "";
    th.appendChild(b);
    b.addEventListener("click", function () { sortBy(col, th.getAttribute("aria-sort") === "ascending"); });
  });
  var m = /^#sort=(-?)(.+)$/.exec(window.location.hash);
  if (m) {
    Array.prototype.forEach.call(heads, function (th, col) {
      if (th.getAttribute("data-key") === decodeURIComponent(m[2])) { sortBy(col, m[1] === "-"); }
    });
  }
})();
