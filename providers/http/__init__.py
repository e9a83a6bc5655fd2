"""HTTP for the providers: the client pool every provider sends through, and what lies under it.

:mod:`~providers.http._pool` (``ClientPool``: a run's long-lived clients, transport errors as provider
errors), :mod:`~providers.http._lean_post` (a JSON POST without httpx's client machinery),
:mod:`~providers.http._lean_transport` (HTTP/1.1 with an O(1) keep-alive pool),
:mod:`~providers.http._http1` (the bytes of a request and the parsing of a reply),
:mod:`~providers.http._socket_stream` (the TCP stream under it) and :mod:`~providers.http._reply_size`
(the cap on a reply's size). Nothing here knows any vendor's API (import-linter holds it so).
"""
