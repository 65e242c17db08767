"""What the main screen asks of its flows before one runs: the selected object, the selected CA, the keys.

Kept apart from the flows (ui.flows.manage_flow, issue_flow): they import the modal screens and the
core operations (cryptography, asn1crypto), which the first screen does not need; the main screen
imports them when an action starts one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.binding import Binding
from textual.widgets import TabbedContent

from ikm_tui.core.model import Listing, ObjClass, ObjectInfo
from ikm_tui.ui.widgets.object_table import ObjectTable

if TYPE_CHECKING:
    from ikm_tui.ui.flows.host import FlowHost


def selected_object(main: FlowHost, classes: tuple[ObjClass, ...] | None = None) -> ObjectInfo | None:
    """The object under the cursor of the visible Keys/Certificates table (by handle)."""
    active = main.query_one("#tabs", TabbedContent).active
    table_id = {"tab-keys": "#keys", "tab-certs": "#certs"}.get(active)
    if table_id is None or main.listing is None:
        return None
    handle = main.query_one(table_id, ObjectTable).current_handle()
    obj = main.listing.by_handle(handle) if handle is not None else None
    if obj is not None and classes is not None and obj.cls not in classes:
        return None
    return obj


def is_ca_with_key(listing: Listing | None, obj: ObjectInfo | None) -> bool:
    """A CA certificate (CA:TRUE, keyCertSign) whose private key is on this token (after login)."""
    if listing is None or obj is None or obj.cls is not ObjClass.CERTIFICATE or obj.cert is None:
        return False
    return bool(obj.cert.is_ca and "keyCertSign" in obj.cert.key_usage
                and obj.handle in listing.pairing.cert_to_key)


def selected_ca(main: FlowHost) -> ObjectInfo | None:
    obj = selected_object(main, (ObjClass.CERTIFICATE,))
    return obj if is_ca_with_key(main.listing, obj) else None


def _binding(key: str, what: str, text: str, tooltip: str) -> Any:
    return Binding(key, f"manage('{what}')", text, id=f"main.{what}", show=False, tooltip=tooltip)


# Certificate and key management keys: MainScreen.action_manage starts ui.flows.manage_flow's flow.
MANAGE_BINDINGS = [
    _binding("i", "receive", "Receive cert",
             "Import/receive the CA-signed certificate: stored next to its private key (same CKA_ID and label)"),
    _binding("a", "add_ca", "Add CA cert", "Store a CA / signer certificate from a file (category authority)"),
    _binding("x", "extract", "Save cert", "Save the selected certificate to a PEM or DER file"),
    _binding("p", "export_public", "Export public key", "Save the selected key's public key (PEM)"),
    _binding("U", "use_elsewhere", "Use elsewhere",
             "Write the Java / NSS / OpenSSL / MQ config for the selected key, with a script that proves it"),
    _binding("d,delete", "delete", "Delete",
             "Delete the selected key or certificate (shows exactly what goes; type its label to confirm)"),
    _binding("R", "rename", "Rename", "Rename the selected certificate with its private and public key"),
    _binding("P", "change_pin", "Change PIN", "Change the user PIN (old once, new twice)"),
    _binding("D", "doctor", "Pairing doctor",
             "Find keys without certs, certs without keys, mislinked pairs; repair on confirm"),
]
