"""Vendor connectors: one protocol, one module per vendor."""
