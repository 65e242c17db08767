"""Names ikm-tui agrees on with itself and other tools: how a pending request is stored on a token."""

from __future__ import annotations

# A pending certificate request is a CKO_DATA object with CKA_APPLICATION == REQUEST_APPLICATION
# and CKA_LABEL == its key's label. The request side writes it; the receive side finds and deletes
# it by exactly these two attributes; rename carries it along with the key.
REQUEST_APPLICATION = "ikm-tui request"
