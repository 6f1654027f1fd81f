"""Built-in backends. Each module contains one backend class with ``@hookimpl`` methods."""
