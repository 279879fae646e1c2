"""Threat intelligence, I/O side: downloading feeds and caching their last good copy."""
