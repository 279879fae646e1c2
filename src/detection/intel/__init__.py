"""Threat intelligence, pure: feed lists, feed formats, the indicator index.

Downloading and caching feeds is I/O and lives in `agent.intel`.
"""
