"""`import ikm_tui.ui.app` imports only what the TUI's first screen needs (issue 16: start-up time).

The first screen (tokens tree, object tables, details) needs neither cryptography nor asn1crypto
(the listing's certificate fields come from core.x509.certcache), nor the TextArea of the receive
dialog: together ~70 ms of imports on the main thread before the first table was drawn. The flows
that need them import them when they run; a module-level import creeping back fails here.
"""

from __future__ import annotations

import json
import subprocess
import sys

_PROBE = """
import json, sys
import ikm_tui.ui.app
print(json.dumps(sorted(sys.modules)))
"""

# Module prefixes the first screen must not pay for, and where they are imported instead.
_DEFERRED = {
    "cryptography": "lint (ui.widgets.lint_view), the flows behind the action keys",
    "asn1crypto": "pending requests (ui.flows.requests_view), the flows behind the action keys",
    "textual.document": "the receive dialog's TextArea (ui.screens.receive_screen)",
    "ikm_tui.core.ops.pending": "ui.flows.requests_view, when the token holds a request",
}


def test_importing_the_app_leaves_the_deferred_modules_for_later() -> None:
    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=True)
    loaded = json.loads(done.stdout)
    early = {prefix: [m for m in loaded if m == prefix or m.startswith(prefix + ".")] for prefix in _DEFERRED}
    bad = [f"{prefix} ({', '.join(found[:3])}): belongs to {_DEFERRED[prefix]}"
           for prefix, found in early.items() if found]
    assert not bad, "imported by `import ikm_tui.ui.app`:\n" + "\n".join(bad)
    assert "ikm_tui.ui.main_screen" in loaded  # the probe did import the TUI
