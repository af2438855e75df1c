"""The one home of what tests share (no test module imports another):

- fakes.py, registration.py, matchmaking.py, notifications.py: in-memory fakes for handler unit tests;
- services.py: the registration service in-process (``running_registration``, the ``api`` fixture, ``auth``,
  ``outbox_events``), ``serving_http`` (an ASGI app behind uvicorn), the module-wide ``broker_bootstrap``;
- inprocess.py: the four services in-process without workers (security and contract tests);
- database.py: fresh databases (``create_database``, ``module_database_url``), ``kernel_pool``;
- stack.py: ``cxc run`` as processes (``Stack``, ``running_stack``) for the e2e and chaos suites;
- payloads.py: participant bodies and events; polling.py: ``eventually``/``poll``; topics.py: ``produce`` and
  ``read_all``; leases.py: time passing for delivery leases without sleeping; secrets.py: the test secrets;
- notifications_harness.py, smtp_server.py, containers.py: the notifications harness, a TLS+AUTH SMTP
  server, the testcontainers images.
"""
