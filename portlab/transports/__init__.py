"""Transports: the only parts of a scan that do I/O (see base.Transport)."""
