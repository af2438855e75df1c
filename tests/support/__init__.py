"""Test support shared across test modules: in-memory fakes of the kernel's ports (fakes.py)."""
