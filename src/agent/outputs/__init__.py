"""Output files of an analysis: alerts.json (IDMEF v2), alerts.log, eve.json, summary.json."""
