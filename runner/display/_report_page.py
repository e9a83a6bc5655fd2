"""The report page's frame: inline CSS and the sample-table filter script (no CDN, no network).

The script sets ``data-report-ready`` on ``<body>`` once it has run, which the browser test reads. Filters
can be set from the link (``report.html#model=openai/gpt-4o&score=match&min=1``) to share a filtered view.
"""

from __future__ import annotations

from string import Template

STYLE = """
body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{margin-bottom:0}.status{color:#555;margin-top:4px}
section{margin:28px 0}
table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
thead th{background:#f3f3f3}
td[data-col]{text-align:right;white-space:nowrap}
div.text{white-space:pre-wrap;max-width:480px;max-height:9em;overflow:auto}
svg.chart{display:block;margin:12px 0;background:#fff}
.filters{margin:8px 0}.filters label{margin-right:12px}
#shown{color:#555}
p.warning{color:#8a5a00}p.stopped{color:#b00020;font-weight:bold}p.note{color:#555}
"""

SCRIPT = """
(function () {
  var rows = Array.prototype.slice.call(document.querySelectorAll('#samples tbody tr'));
  var model = document.getElementById('filter-model');
  var score = document.getElementById('filter-score');
  var low = document.getElementById('filter-min');
  var high = document.getElementById('filter-max');
  var shown = document.getElementById('shown');
  function apply() {
    var count = 0;
    var lo = low.value === '' ? -Infinity : parseFloat(low.value);
    var hi = high.value === '' ? Infinity : parseFloat(high.value);
    rows.forEach(function (row) {
      var ok = !model.value || row.getAttribute('data-model') === model.value;
      if (ok && score.value !== '') {
        var raw = row.getAttribute('data-score-' + score.value);
        ok = raw !== null && parseFloat(raw) >= lo && parseFloat(raw) <= hi;
      }
      row.hidden = !ok;
      if (ok) { count += 1; }
    });
    shown.textContent = count + ' of ' + rows.length + ' shown';
  }
  // A link can carry filters: report.html#model=openai/gpt-4o&score=match&min=1
  (location.hash || '').replace(/^#/, '').split('&').forEach(function (pair) {
    var parts = pair.split('=');
    var field = {model: model, min: low, max: high}[parts[0]];
    var value = parts.length === 2 ? decodeURIComponent(parts[1]) : null;
    if (field && value !== null) { field.value = value; }
    if (parts[0] === 'score') {
      Array.prototype.forEach.call(score.options, function (o) {
        if (o.text === value) { score.value = o.value; }
      });
    }
  });
  [model, score, low, high].forEach(function (el) { el.addEventListener('input', apply); });
  apply();
  document.body.setAttribute('data-report-ready', String(rows.length));
})();
"""

PAGE = Template(
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>$title</title><style>$style</style></head><body>"
    '<h1>$heading</h1><p class="status">$status</p><p class="status">run folder: $run_dir</p>'
    "$body<script>$script</script></body></html>\n"
)


def page(*, title: str, heading: str, status: str, run_dir: str, body: str) -> str:
    """The full document around already-escaped parts."""
    return PAGE.substitute(
        title=title, heading=heading, status=status, run_dir=run_dir, body=body, style=STYLE, script=SCRIPT
    )
