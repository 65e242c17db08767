"""The files another tool needs to use a token key: SunPKCS11, NSS, OpenSSL (engine, provider), IBM MQ.

Pure text: the caller (core/ops/export_config.py) picks the key and writes the files. What each
tool will call the key comes from core/seen_by.py, whose predictions tests/interop checks against
the tools; the proof commands here are the same tools, run by tests/interop/test_export_config.py.

Facts the files rest on (each measured on Debian 12 unless it says IBM):
- SunPKCS11 (OpenJDK 17) picks a token by `slot` (the PKCS#11 slot id) or `slotListIndex`, not by
  token label. SoftHSM derives its slot ids from the token serial, so they are stable; OpenSC
  numbers readers in plug order. keytool reads the store password (the PIN) from the terminal, or
  from stdin when there is none.
- NSS: one `modutil -add` per module library serves all of its tokens; certutil names a token
  certificate `token:label`; `u,u,u` when a private key has the certificate's CKA_ID.
- OpenSSL 3.0.19: the configuration goes in OPENSSL_CONF; `openssl req -config FILE -engine pkcs11`
  loads the engine a second time and fails (dynamic_load: init failed). libp11's engine takes
  `dynamic_path` and `MODULE_PATH`; pkcs11-provider takes `module` and `pkcs11-module-path` (Debian 12
  has no package of it: `apt-cache policy pkcs11-provider` finds none).
- IBM MQ (IBM documentation, not run here: runmqakm is not installed): the crypto-hardware string is
  `GSK_PKCS11=<module>;<token label>;<token password>;<symmetric cipher setting>;` (MQSCO
  CryptoHardware, the mqclient.ini SSL stanza's SSLCryptoHardware, MQSC SSLCRYP); runp11cred
  protects that password for mqclient.ini/MQSSLCRYP; a CMS key database is needed for SSLKEYR /
  SSLKeyRepository even when every certificate is on the token.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path

from ikm_tui.core.errors import RefusedError
from ikm_tui.core.p11.quirks import quirks_for
from ikm_tui.core.sanitize import safe_text
from ikm_tui.core.seen_by import PRIVATE_KEY_ENTRY, USER_FLAGS, EngineView, JavaView, NssView
from ikm_tui.core.text.equivalents import PIN_PLACEHOLDER
from ikm_tui.core.text.shell import render_argv
from ikm_tui.core.uri import object_uri

TARGETS: tuple[str, ...] = ("java", "nss", "openssl", "mq")
SCRIPT_MODE = 0o755
FILE_MODE = 0o644
MQ_KDB_STEM = "/var/mqm/ssl/key"  # a placeholder the operator replaces: README says so
_ENGINE_DEFAULT = "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so"
_PROVIDER_DEFAULT = "/usr/lib/x86_64-linux-gnu/ossl-modules/pkcs11.so"
# Characters that end or change a value in SunPKCS11, OpenSSL or MQ configuration files.
_CONFIG_BREAKERS = re.compile(r"[\x00-\x1f\x7f\"#$\\;']")


@dataclass(frozen=True)
class KeyUse:
    """What the files are about: the module, the token, the key and what the tools call it."""

    module: str
    token_label: str
    token_serial: str
    slot_id: int
    key_label: str
    key_id: bytes
    key_type: str | None
    cert_label: str | None  # the certificate the tools pair with the key (same CKA_ID), if any
    java: JavaView
    nss: NssView | None
    engine: EngineView

    @property
    def key_uri(self) -> str:
        """The URI the engine selects the key by; else label+id (for the provider)."""
        if self.engine.finds and self.engine.key_uri:
            return self.engine.key_uri
        return object_uri(self.token_label, "", "private_key", self.key_label, self.key_id)


@dataclass(frozen=True)
class Artefact:
    """One file to write: name in --out DIR, text, mode, and what it is for."""

    name: str
    text: str
    mode: int
    purpose: str


@dataclass(frozen=True)
class Bundle:
    target: str
    files: tuple[Artefact, ...]
    proof: str  # the file name of the script whose run proves the files work
    expect: str  # what that run prints when it works
    warnings: tuple[str, ...]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "token"


def config_value(text: str, what: str) -> str:
    """`text` unchanged, or RefusedError when it would break out of a configuration value."""
    if _CONFIG_BREAKERS.search(text):
        raise RefusedError(f"The {what} {safe_text(text)!r} holds a character (quote, '#', '$', ';', '\\' or a "
                           "control character) that the other tool's configuration syntax would misread; "
                           "nothing was written.", "Rename it (or use a module path without such characters).")
    return text


def _script(lines: list[str], argv: list[str], comment: str) -> str:
    head = ["#!/bin/sh", f"# {comment}",
            "# Written by `ikm-tui export-config`; extra arguments go to the last command.", "set -eu",
            'HERE=$(cd "$(dirname "$0")" && pwd)']
    return "\n".join([*head, *lines, render_argv(argv).replace("'$HERE/", '"$HERE"\'/') + ' "$@"', ""])


def _readme(title: str, body: list[str]) -> str:
    return "\n".join([title, "=" * len(title), "", *body, ""])


def _find(pattern: str, default: str) -> tuple[str, bool]:
    found = sorted(glob.glob(pattern))
    return (found[0], True) if found else (default, False)


def java_bundle(use: KeyUse) -> Bundle:
    module = config_value(use.module, "module path")
    cfg = "\n".join([
        f"# SunPKCS11 configuration for token {safe_text(use.token_label)!r} (serial {safe_text(use.token_serial)}).",
        "# SunPKCS11 selects a token by slot id (`slot`) or position (`slotListIndex`), not by label.",
        "# SoftHSM derives slot ids from the token serial (stable); OpenSC numbers card readers in plug",
        "# order: check with `pkcs11-tool --module MODULE --list-slots` if the token moved.",
        f"name = ikm-{_slug(use.token_label)}",
        f"library = {module}",
        f"slot = {use.slot_id}",
        "",
    ])
    argv = ["keytool", "-list", "-keystore", "NONE", "-storetype", "PKCS11", "-providerClass",
            "sun.security.pkcs11.SunPKCS11", "-providerArg", "$HERE/sunpkcs11.cfg"]
    alias = use.java.alias or "(none)"
    expect = f"{alias}, ..., {PRIVATE_KEY_ENTRY}"
    script = _script([], argv, "Lists the token through SunPKCS11; keytool asks for the token PIN "
                     "(or give -storepass:file FILE).")
    warn = () if use.java.entry == PRIVATE_KEY_ENTRY else (
        f"Java will not list this key as a PrivateKeyEntry: {use.java.why}.",)
    readme = _readme("Java (SunPKCS11) for this token", [
        f"Key {use.key_label!r} (CKA_ID {use.key_id.hex() or 'empty'}); Java alias: {alias!r}.",
        "", "sunpkcs11.cfg   the provider configuration (no PIN in it: keytool and your application ask)",
        "keytool-list.sh proves it: run `sh keytool-list.sh` and type the PIN; it works when it prints",
        f"                {expect}",
        "", "In an application: java.security.Security.getProvider(\"SunPKCS11\").configure(\"/path/sunpkcs11.cfg\"),",
        "then KeyStore.getInstance(\"PKCS11\", provider).load(null, pin) and the alias above.",
        "JSSE: -Djavax.net.ssl.keyStoreType=PKCS11 -Djavax.net.ssl.keyStore=NONE with the provider configured.",
    ])
    return Bundle("java", (Artefact("sunpkcs11.cfg", cfg, FILE_MODE, "SunPKCS11 provider configuration"),
                           Artefact("keytool-list.sh", script, SCRIPT_MODE, "proof: keytool -list through it"),
                           Artefact("README-java.txt", readme, FILE_MODE, "what the files are, how to prove them")),
                  "keytool-list.sh", expect, warn)


def _nss_module_name(module: str) -> str:
    stem = Path(module).name.split(".so")[0]
    return _slug(stem.removeprefix("lib")) or "pkcs11"


def nss_bundle(use: KeyUse) -> Bundle:
    name = _nss_module_name(use.module)
    db_line = 'NSSDB="${NSSDB:-sql:$HOME/.pki/nssdb}"'
    create = ['dir=${NSSDB#sql:}',
              '# A new database (no password) when there is none yet; an existing one is used as it is.',
              '[ -e "$dir/cert9.db" ] || { mkdir -p "$dir"; certutil -N -d "$NSSDB" --empty-password; }']
    # -force: modutil otherwise stops to ask whether a browser is running.
    add = _script([db_line, *create], ["modutil", "-dbdir", "$NSSDB", "-add", name, "-libfile", use.module, "-force"],
                  "Adds the PKCS#11 module to the NSS database $NSSDB (default sql:$HOME/.pki/nssdb).")
    add = add.replace("'$NSSDB'", '"$NSSDB"')
    check = _script([db_line], ["certutil", "-L", "-h", "all", "-d", "$NSSDB"],
                    "Lists every certificate NSS sees; certutil asks for the token PIN (or give -f PWFILE).")
    check = check.replace("'$NSSDB'", '"$NSSDB"')
    nick = use.nss.nickname if use.nss else f"{use.token_label}:{use.cert_label or use.key_label}"
    expect = f"{nick}  {USER_FLAGS}"
    warn = () if use.nss is not None and use.nss.flags == USER_FLAGS else (
        "NSS will not show this key's certificate as a user certificate (u,u,u): "
        + (use.nss.why if use.nss else "the key has no certificate with its CKA_ID") + ".",)
    readme = _readme("NSS (Firefox, certutil, NSS-based servers) for this token", [
        f"Key {use.key_label!r}; its certificate's NSS nickname: {nick!r}.",
        "", "nss-add-module.sh  adds the module (once per library: it serves every token of it) to $NSSDB",
        "nss-check.sh       proves it: `NSSDB=sql:DIR sh nss-check.sh` lists, after the PIN,",
        f"                   {expect}",
        "", "modutil refuses a second module of the same name: `modutil -list -dbdir sql:DIR` shows what is there.",
    ])
    return Bundle("nss", (Artefact("nss-add-module.sh", add, SCRIPT_MODE, "modutil -add for this module"),
                          Artefact("nss-check.sh", check, SCRIPT_MODE, "proof: certutil -L -h all"),
                          Artefact("README-nss.txt", readme, FILE_MODE, "what the files are, how to prove them")),
                  "nss-check.sh", expect, warn)


def _req_tail() -> list[str]:
    return ["", "[req]", "distinguished_name = req_dn", "[req_dn]", ""]


def openssl_bundle(use: KeyUse) -> Bundle:
    module = config_value(use.module, "module path")
    engine, have_engine = _find("/usr/lib/*/engines-3/pkcs11.so", _ENGINE_DEFAULT)
    provider, have_provider = _find("/usr/lib/*/ossl-modules/pkcs11.so", _PROVIDER_DEFAULT)
    uri = use.key_uri
    engine_cnf = "\n".join([
        f"# OpenSSL 3 with the libp11 pkcs11 engine; key {uri}",
        "openssl_conf = openssl_init", "[openssl_init]", "engines = engine_section", "[engine_section]",
        "pkcs11 = pkcs11_section", "[pkcs11_section]", "engine_id = pkcs11",
        f"dynamic_path = {config_value(engine, 'engine path')}",
        f"MODULE_PATH = {module}", "init = 0", *_req_tail()])
    provider_cnf = "\n".join([
        f"# OpenSSL 3 with pkcs11-provider; key {uri}",
        "openssl_conf = openssl_init", "[openssl_init]", "providers = provider_section", "[provider_section]",
        "default = default_section", "pkcs11 = pkcs11_section", "[default_section]", "activate = 1",
        "[pkcs11_section]", f"module = {config_value(provider, 'provider path')}", f"pkcs11-module-path = {module}",
        "activate = 1", *_req_tail()])
    subj = "/CN=ikm-tui export-config check"
    # OPENSSL_CONF, not -config: with `-config FILE -engine pkcs11` OpenSSL 3.0.19 loads the engine twice
    # and stops ("dynamic_load: init failed"); from OPENSSL_CONF it is loaded once, before -engine.
    engine_sh = _script(['export OPENSSL_CONF="$HERE/openssl-engine.cnf"'],
                        ["openssl", "req", "-new", "-engine", "pkcs11", "-keyform", "engine", "-key", uri,
                         "-subj", subj],
                        "Signs a throw-away request with the token key through the engine (PIN prompt, or -passin).")
    provider_sh = _script(['export OPENSSL_CONF="$HERE/openssl-provider.cnf"'],
                          ["openssl", "req", "-new", "-provider", "pkcs11", "-provider", "default", "-key", uri,
                           "-subj", subj],
                          "The same through pkcs11-provider (the pkcs11-provider package).")
    warn = [] if use.engine.finds else [f"The engine will not find this key: {use.engine.why}."]
    if not have_engine:
        warn.append(f"libengine-pkcs11-openssl is not installed here; dynamic_path assumes {engine}.")
    if not have_provider:
        warn.append(f"pkcs11-provider is not installed here; openssl-provider.cnf assumes {provider}.")
    if quirks_for(use.module).engine_login_fails:
        warn.append(quirks_for(use.module).engine_login_fails)
    readme = _readme("OpenSSL 3 for this token", [
        f"Key {use.key_label!r}: {uri}", "",
        "openssl-engine.cnf    engine section (libengine-pkcs11-openssl)",
        "openssl-provider.cnf  provider section (pkcs11-provider, OpenSSL >= 3.0.7)",
        "openssl-engine-check.sh / openssl-provider-check.sh prove them: each prints a PEM request signed",
        "by the token key (`| openssl req -noout -verify` says `verify OK`).",
        "Use either file as OPENSSL_CONF=FILE (not `-config FILE` together with `-engine pkcs11`: OpenSSL 3.0",
        "then loads the engine twice and fails); the PIN is asked for (or -passin env:VAR).",
    ])
    return Bundle("openssl", (
        Artefact("openssl-engine.cnf", engine_cnf, FILE_MODE, "OpenSSL config, engine section"),
        Artefact("openssl-provider.cnf", provider_cnf, FILE_MODE, "OpenSSL config, provider section"),
        Artefact("openssl-engine-check.sh", engine_sh, SCRIPT_MODE, "proof: openssl req -engine pkcs11"),
        Artefact("openssl-provider-check.sh", provider_sh, SCRIPT_MODE, "proof: openssl req -provider pkcs11"),
        Artefact("README-openssl.txt", readme, FILE_MODE, "what the files are, how to prove them")),
        "openssl-engine-check.sh", "-----BEGIN CERTIFICATE REQUEST-----", tuple(warn))


def _mq_crypto(use: KeyUse) -> str:
    # SYMMETRIC_CIPHER_OFF: the token signs for the handshake; bulk encryption stays in GSKit
    # (SoftHSM, SmartCard-HSM and YubiKey would be far slower at it than the CPU).
    token = config_value(use.token_label, "token label")
    return f"GSK_PKCS11={config_value(use.module, 'module path')};{token};{PIN_PLACEHOLDER};SYMMETRIC_CIPHER_OFF;"


def mq_bundle(use: KeyUse) -> Bundle:
    crypto = _mq_crypto(use)
    label = config_value(use.cert_label or use.key_label, "certificate label")
    client = "\n".join([
        f"# SSL stanza for mqclient.ini (C and unmanaged .NET clients): key {use.key_label!r} on token "
        f"{use.token_label!r}.", f"# Replace {PIN_PLACEHOLDER} with what `runp11cred` prints for the token PIN "
        "(<P11>!2!...), never the PIN itself.",
        "# SYMMETRIC_CIPHER_OFF (bulk encryption stays in GSKit): the value names are not in the IBM pages",
        "# this was checked against; confirm them in your MQ version's SSLCRYP description.",
        "SSL:", f"   SSLKeyRepository={MQ_KDB_STEM}", f"   SSLCryptoHardware={crypto}",
        f"   CertificateLabel={label}", ""])
    mqsc = "\n".join([
        f"* Queue manager: key {use.key_label!r} on token {use.token_label!r}. Run with runmqsc QMNAME.",
        "* SSLKEYR: stem of the queue manager's CMS key database (CA certificates; needed even with a token).",
        f"* Replace {PIN_PLACEHOLDER} with the token PIN when you run it; do not keep the PIN in this file.",
        f"ALTER QMGR SSLKEYR('{MQ_KDB_STEM}') SSLCRYP('{crypto}') CERTLABL('{label}')",
        "REFRESH SECURITY TYPE(SSL)", ""])
    argv = ["runmqakm", "-cert", "-list", "-crypto", use.module, "-tokenlabel", use.token_label, "-pw", PIN_PLACEHOLDER]
    check = _script([], argv[:-2], "Lists the token's certificates as GSKit sees them; the label above must "
                    "be there. runmqakm needs -pw PIN (visible to `ps`).")
    expect = f"{label} (marked '-', personal)"
    readme = _readme("IBM MQ for this token", [
        f"Key {use.key_label!r}, certificate label {label!r}, token {use.token_label!r}.", "",
        "mqclient.ini   the SSL stanza for a client (SSLKeyRepository, SSLCryptoHardware, CertificateLabel)",
        "qmgr.mqsc      the queue manager's SSLKEYR, SSLCRYP, CERTLABL (MQSC: qm.ini has no such keys)",
        "mq-check.sh    proves GSKit sees the certificate on the token:", f"               {render_argv(argv)}",
        f"               it works when it lists {expect}", "",
        "The key database (stash note): SSLKEYR/SSLKeyRepository name a CMS key database even when every",
        "certificate is on the token; it holds the CA certificates. Create it once with its password stashed:",
        f"  runmqakm -keydb -create -db {MQ_KDB_STEM}.kdb -pw <KDB-PASSWORD> -type cms -stash",
        "The stash file (.sth) holds the key database's password, not the token PIN: the PIN goes in",
        "SSLCRYP / SSLCryptoHardware (for clients protected with runp11cred, MQ 9.2 and later).",
        "Not run here: runmqakm is not installed where these files were made and tested. The GSK_PKCS11",
        "string's four fields (module;token label;password;symmetric cipher setting;) are IBM's MQSCO",
        "CryptoHardware format; the setting's value SYMMETRIC_CIPHER_OFF is not confirmed from IBM's pages.",
    ])
    warn = () if use.cert_label else ("The key has no certificate with its CKA_ID on the token: MQ needs one "
                                      "(receive it with `ikm-tui cert receive`).",)
    return Bundle("mq", (Artefact("mqclient.ini", client, FILE_MODE, "SSL stanza for mqclient.ini"),
                         Artefact("qmgr.mqsc", mqsc, FILE_MODE, "ALTER QMGR SSLKEYR/SSLCRYP/CERTLABL"),
                         Artefact("mq-check.sh", check, SCRIPT_MODE, "proof: runmqakm -cert -list -crypto"),
                         Artefact("README-mq.txt", readme, FILE_MODE, "what the files are, the stash note")),
                  "mq-check.sh", expect, warn)


def bundle(target: str, use: KeyUse) -> Bundle:
    return {"java": java_bundle, "nss": nss_bundle, "openssl": openssl_bundle, "mq": mq_bundle}[target](use)
