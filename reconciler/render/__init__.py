"""Renderers: pure functions from a Plan to a string (text with rich markup, markdown, JSON)."""
