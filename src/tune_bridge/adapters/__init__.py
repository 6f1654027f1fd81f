"""Adapters that turn a framework's training callbacks into Bridge calls."""
