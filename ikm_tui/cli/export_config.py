"""`ikm-tui export-config java|nss|openssl|mq --out DIR`: use a token key from another tool."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ikm_tui.cli.cert import RAW, _hex_id, _say
from ikm_tui.cli.common import add_common, open_token
from ikm_tui.cli.jsonout import add_json, result
from ikm_tui.core.text.use_elsewhere import TARGETS

if TYPE_CHECKING:
    from ikm_tui.cli.common import Subparsers

EPILOG = """\
examples:
  ikm-tui export-config java --key web01 --out ~/web01-java
  sh ~/web01-java/keytool-list.sh          (asks for the PIN; web01 shows as PrivateKeyEntry)
  ikm-tui export-config nss --key web01 --out /tmp/nss && NSSDB=sql:$HOME/.pki/nssdb sh /tmp/nss/nss-add-module.sh
  ikm-tui export-config openssl --id 3f2a --out ./ossl && sh ./ossl/openssl-engine-check.sh | openssl req -noout -verify
  ikm-tui --token "UserPIN (SmartCard-HSM)" export-config mq --key qm1 --out ./mq --json

what each target writes (every file says how to prove it works; no PIN is ever written):
  java     sunpkcs11.cfg, keytool-list.sh (keytool -list -storetype PKCS11 ... -providerArg sunpkcs11.cfg)
  nss      nss-add-module.sh (modutil -add), nss-check.sh (certutil -L -h all: expect u,u,u)
  openssl  openssl-engine.cnf (libp11 engine), openssl-provider.cnf (pkcs11-provider), *-check.sh
           (openssl req -new -config ... -key pkcs11:...)
  mq       mqclient.ini (SSL stanza), qmgr.mqsc (SSLKEYR/SSLCRYP/CERTLABL), mq-check.sh (runmqakm -cert -list)

The key: --key LABEL and/or --id HEX; with neither, the token's only private key. Logs in (PIN prompt,
--pin-file or IKM_PIN) to see private keys. Files that exist are left alone unless --force.
"""


def register(sub: Subparsers) -> None:
    p = sub.add_parser("export-config", help="write the config another tool (Java, NSS, OpenSSL, MQ) needs "
                                             "to use a token key", formatter_class=RAW, epilog=EPILOG,
                       description="Write, for the selected token and one of its keys, the files Java "
                                   "(SunPKCS11), NSS, OpenSSL (engine and provider) or IBM MQ need to use the key "
                                   "in place, each with a script that proves it works.")
    add_common(p, top=False)
    p.add_argument("target", choices=TARGETS, help="the tool to configure")
    p.add_argument("--out", required=True, metavar="DIR", help="directory for the files (made if missing)")
    p.add_argument("--key", metavar="LABEL", help="the private key's label")
    p.add_argument("--id", type=_hex_id, metavar="HEX", help="the private key's CKA_ID")
    p.add_argument("--force", action="store_true", help="replace files of the same names in DIR (without it "
                                                        "nothing is written when one exists: exit status 3)")
    add_json(p, "export-config")
    p.set_defaults(func=cmd_export_config)


def cmd_export_config(args: argparse.Namespace) -> int:
    from ikm_tui.core.ops.export_config import pick_key, write_bundle
    from ikm_tui.core.text.use_elsewhere import bundle

    svc, slot = open_token(args, login=True)
    use = svc.run(pick_key, slot, args.key, args.id)
    made = bundle(args.target, use)
    paths = write_bundle(made, args.out, force=args.force)
    result(args, target=args.target, out=str(args.out),
           key={"label": use.key_label, "id": use.key_id.hex(), "key_type": use.key_type,
                "certificate": use.cert_label, "uri": use.key_uri, "java_alias": use.java.alias,
                "nss_nickname": use.nss.nickname if use.nss else None},
           files=[{"name": a.name, "path": str(p), "mode": f"{a.mode:04o}", "purpose": a.purpose}
                  for a, p in zip(made.files, paths, strict=True)],
           proof=str(paths[[a.name for a in made.files].index(made.proof)]), expect=made.expect,
           warnings=list(made.warnings))
    for a, p in zip(made.files, paths, strict=True):
        _say(f"wrote {p} ({a.purpose})")
    _say(f"prove it: sh {paths[[a.name for a in made.files].index(made.proof)]}  -> expect: {made.expect}")
    for w in made.warnings:
        _say(f"warning: {w}")
    return 0
