"""The floor of any Python listing through python-pkcs11: what `ikm-tui list` cannot do without.

    SOFTHSM2_CONF=... IKM_PIN=... python bench/floor.py MODULE TOKEN_LABEL

Interpreter start, python-pkcs11 loading the module (C_Initialize), login, the two searches and
one C_GetAttributeValue per certificate through ikm-tui's own fast path (core/p11/fastpath.py):
no parsing, no pairing, no output, no interpreter clean-up. bench/run.py times it beside
`ikm-tui list --json` and `pkcs11-tool -O` (issue 16): the distance between this and ikm-tui is
everything ikm-tui adds (its imports, parsing, pairing, the "seen by" verdicts, the JSON).
"""

import os
import sys

# ikm_tui from this checkout, as bench/run.py does.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pkcs11
from pkcs11 import Attribute, ObjectClass

from ikm_tui.core.p11.attributes import ATTRS_BY_CLASS, make_mapper, read_template, ulong_pack, unpackers
from ikm_tui.core.p11.fastpath import RawObjects

module, label = sys.argv[1], sys.argv[2]
session = pkcs11.lib(module).get_token(token_label=label).open(user_pin=os.environ["IKM_PIN"])
raw = RawObjects(module, hold_gil=True)
h = int(session.handle)  # type: ignore[attr-defined]
certs = raw.find(h, [(int(Attribute.CLASS), ulong_pack(ObjectClass.CERTIFICATE))])
everything = raw.find(h)
template = read_template(ATTRS_BY_CLASS[ObjectClass.CERTIFICATE])
unpack = unpackers(make_mapper())
read = sum(1 for x in certs if raw.read(h, x, template, unpack))
os._exit(0 if read == len(everything) else 1)  # a token of certificates only: all were read
