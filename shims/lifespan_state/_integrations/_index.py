"""Generated from the descriptors by ``python -m lifespan_state._integrations._load``: do not
edit (tests/unit keeps it equal to them). Plain data, read at activation without importing
a descriptor."""

#: Every integration of this package (its descriptor), by rank.
INTEGRATIONS = ('lifespan_state._integrations.uvicorn:INTEGRATION',
 'lifespan_state._integrations.hypercorn:INTEGRATION',
 'lifespan_state._integrations.gunicorn:INTEGRATION',
 'lifespan_state._integrations.granian:INTEGRATION',
 'lifespan_state._integrations.anycorn:INTEGRATION',
 'lifespan_state._integrations.asgi_lifespan:INTEGRATION',
 'lifespan_state._integrations.starlette_testclient:INTEGRATION',
 'lifespan_state._integrations.async_asgi_testclient:INTEGRATION',
 'lifespan_state._integrations.litestar_testclient:INTEGRATION',
 'lifespan_state._integrations.daphne:INTEGRATION',
 'lifespan_state._integrations.mangum:INTEGRATION',
 'lifespan_state._integrations.azure_functions:INTEGRATION')

#: The runtime table's rows of those the shim acts on (``lifespan_state._versions``), one a line.
ROWS = (
    {'name': 'uvicorn', 'integration': 'lifespan_state._integrations.uvicorn:INTEGRATION', 'imports': ('uvicorn',), 'newest_tested': '0.55.0', 'notable': ('0.11.8', '0.15.0', '0.17.6', '0.20.0', '0.21.0', '0.21.1'), 'ranges': (('0.11.0', 'add', 'no lifespan state before 0.21.0'), ('0.21.0', 'fix', '0.21.0 shares one copy of the state'), ('0.21.1', 'native', 'per-request copies since 0.21.1'))},
    {'name': 'hypercorn', 'integration': 'lifespan_state._integrations.hypercorn:INTEGRATION', 'imports': ('hypercorn',), 'newest_tested': '0.18.0', 'notable': ('0.11.2', '0.13.2', '0.14.4', '0.16.0', '0.17.3', '0.18.0'), 'ranges': (('0.11.0', 'add', 'no lifespan state before 0.17.0'), ('0.17.0', 'fix', '0.17.x copies the state once per connection'), ('0.18.0', 'fix', '0.18.0 copies a startup snapshot on trio and HTTP/3 and deep-copies the state in ProxyFixMiddleware'))},
    {'name': 'gunicorn', 'integration': 'lifespan_state._integrations.gunicorn:INTEGRATION', 'imports': ('gunicorn.workers.gasgi',), 'newest_tested': '27.0.1', 'notable': ('24.0.0', '26.2.0', '27.0.1'), 'ranges': (('24.0.0', 'fix', "the ASGI worker hands every request the worker's lifespan dict itself"), ('27.0.0', 'native', 'per-request copies since 27.0.0'))},
    {'name': 'granian', 'integration': 'lifespan_state._integrations.granian:INTEGRATION', 'imports': ('granian.asgi',), 'newest_tested': '2.8.9', 'notable': ('1.0.2', '1.7.6', '2.8.9'), 'ranges': (('1.0.0', 'fix', 'LifespanProtocol.shutdown() empties the state before lifespan.shutdown'),)},
    {'name': 'anycorn', 'integration': 'lifespan_state._integrations.anycorn:INTEGRATION', 'imports': ('anycorn',), 'newest_tested': '0.20.1', 'notable': ('0.17.2', '0.18.7', '0.19.3', '0.20.1'), 'ranges': (('0.17.0', 'add', 'no lifespan state before 0.17.3'), ('0.17.3', 'fix', '0.17.3 - 0.18.x copy the state once per connection'), ('0.19.0', 'fix', '0.19+ copy a startup snapshot (0.19.x also deep-copy it in ProxyFixMiddleware)'))},
    {'name': 'asgi-lifespan', 'integration': 'lifespan_state._integrations.asgi_lifespan:INTEGRATION', 'imports': ('asgi_lifespan',), 'newest_tested': '2.1.0', 'notable': ('2.0.0', '2.1.0'), 'ranges': (('1.0.0', 'add', 'LifespanManager has no lifespan state before 2.1.0'), ('2.1.0', 'fix', "2.1.0 hands every request the manager's dict itself"))},
    {'name': 'starlette', 'integration': 'lifespan_state._integrations.starlette_testclient:INTEGRATION', 'imports': ('starlette.testclient',), 'newest_tested': '1.10.0', 'notable': ('0.26.0', '1.10.0'), 'ranges': (('0.26.0', 'fix', "TestClient keeps one state dict per client: a second `with` block starts with the first run's keys"),)},
    {'name': 'async-asgi-testclient', 'integration': 'lifespan_state._integrations.async_asgi_testclient:INTEGRATION', 'imports': ('async_asgi_testclient',), 'newest_tested': '1.4.11', 'notable': ('1.4.11',), 'ranges': (('1.0.0', 'add', "the TestClient's lifespan scope has no state"),)},
    {'name': 'litestar', 'integration': 'lifespan_state._integrations.litestar_testclient:INTEGRATION', 'imports': ('litestar.testing',), 'newest_tested': '2.25.0', 'notable': ('2.25.0',), 'ranges': (('2.0.0', 'add', "the TestClient puts no state into a non-Litestar app's scopes before 2.4.0"), ('2.4.0', 'fix', "the TestClient gives every scope of a non-Litestar app, the lifespan's included, a fresh {}"))},
)
