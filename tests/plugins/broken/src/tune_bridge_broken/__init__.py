"""A plugin module that fails at import, for the plugin-loading tests."""

raise RuntimeError("tune_bridge_broken fails at import on purpose")
