"""``cxc``: the tooling around the platform — the command line, ``cxc run`` (embedded PostgreSQL and broker,
the four services supervised), the operator commands (topics, tail, trace, lag, dlq) and the compose stack's
certificates. It may import the services and the kernel (``shared``); neither imports it back, except the
services' own ``entrypoints/cli.py`` modules, which are cxc sub-commands living next to what they operate on.
"""
