// Live fan-out progress on a run page: poll /api/runs/RUN_ID every 2 s while the run is live.
(function () {
  "use strict";
  var root = document.getElementById("run");
  if (!root || root.dataset.live !== "true") return;
  var kinds = ["sent", "failed", "skipped", "unknown"];
  function update(f) {
    var box = document.querySelector('.fan-out[data-block="' + CSS.escape(f.block_id) + '"]');
    if (!box) { location.reload(); return; }
    kinds.forEach(function (k) {
      box.querySelector(".fo-" + k).textContent = f[k];
      box.querySelector(".fo-bar-" + k).style.width = (f.total ? 100 * f[k] / f.total : 0) + "%";
    });
    box.querySelector(".fo-done").textContent = f.done;
    box.querySelector(".fo-total").textContent = f.total;
  }
  function poll() {
    fetch("/api/runs/" + encodeURIComponent(root.dataset.runId), {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (run) {
        run.fan_out.forEach(update);
        var badge = document.getElementById("run-status");
        badge.textContent = run.status;
        badge.className = "badge b-" + run.status;
        if (run.live) { setTimeout(poll, 2000); } else { location.reload(); }
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 2000);
})();
