"""Built-in backends. Each module holds one backend class with ``@hookimpl`` methods."""
