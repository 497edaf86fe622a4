"""Simulators of the vendors' APIs: same paths, auth, paging, errors and rate limits."""
