"""access: access-as-code for Procore, SAP Concur and PingOne."""

__version__ = "0.1.0"
