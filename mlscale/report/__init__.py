"""The run report: one self-contained report.html per run, rebuilt from the MLflow run alone.

`build` (the page at the end of a run, `mlscale report RUN`, compare/bench pages), `collect` (a run ->
ReportData), `render` (HTML), `page` (the typed page), `section` (the section.json contract),
`profile`, `tuning`, `plots`, `plots_eval`, `plots_explain`."""
