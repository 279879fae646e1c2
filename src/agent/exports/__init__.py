"""Optional exports of findings: STIX 2.1 (file, TAXII 2.1), Slack, syslog (RFC 5424 + CEF).

Modules: `config` (the `exports` YAML section), the pure formatters `stix`,
`syslog` (plus its small socket sender) and `slack`, the TAXII client `taxii`,
the HTTP port `_http`, and `service` (`Exporters`: a bounded queue and a
thread per exporter behind one non-blocking `on_finding`). See docs/exports.md.
"""
