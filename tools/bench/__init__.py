"""The benchmark of lifespan-state-shim: ``python -m tools.bench`` writes BENCHMARKS.md.

Sections: end to end (server releases with the shim off and on under wrk / h2load), per scope
(the time ``StateApp.__call__`` adds to one hand-off), activation (import and ``activate()`` in a
fresh interpreter, no eager server import) and memory (100,000 requests through a real server).
"""

__all__: list = []  # type: ignore[type-arg]
