"""Two requests as two streams of one HTTP/2 connection (prior-knowledge h2c): prints their views.

Run with the server environment's interpreter (it has ``h2``): ``python field_h2.py PORT``. The
first stream writes the key ``h2``, the second, opened after the first has been answered, reads.
"""

from __future__ import annotations

import json
import sys

from lifespan_state.check import HTTP2Connection


def main() -> None:
    port = int(sys.argv[1])
    with HTTP2Connection("127.0.0.1", port) as connection:
        first = connection.get("/write?key=h2").json()
        second = connection.get("/").json()
    print(json.dumps({"first": first, "second": second}))


if __name__ == "__main__":
    main()
