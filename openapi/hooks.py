"""Schemathesis hooks of renkei's API test (scripts/api-test): request
bodies for the media types the tool cannot make by itself.

Senders' deposits are compact JWS (`application/jose`) or lines of them
(`application/jsonl`): the bodies drawn here are JWS-shaped strings and
arbitrary text, so that the portal's refusals of both are exercised.
"""

from hypothesis import strategies as st

import schemathesis

_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_part = st.text(alphabet=_B64URL, max_size=48)
_jws = st.tuples(_part, _part, _part).map(".".join)
_line = st.one_of(_jws, st.text(max_size=120))

schemathesis.openapi.media_type("application/jose", _line.map(str.encode))
schemathesis.openapi.media_type(
    "application/jsonl",
    st.lists(_line, max_size=4).map(lambda lines: "\n".join(lines).encode()),
)
