"""The same action as a pkcs11-tool, openssl, p11tool or runmqakm command line ("show me the command")."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from urllib.parse import quote

from ikm_tui.core.hexid import parse_hex_id
from ikm_tui.core.sanitize import safe_text
from ikm_tui.core.text.shell import openssl_subject, render_argv, rfc4514_subject
from ikm_tui.core.uri import object_uri, token_uri
from ikm_tui.core.x509 import names

# Every option below was checked against the tools on Debian 12: OpenSC pkcs11-tool 0.23.0,
# GnuTLS p11tool/certtool 3.7.9, OpenSSL 3.0 with the libp11 0.4.12 pkcs11 engine, and run
# against SoftHSM 2.6.1 (see tests/token/test_equivalents.py for the ones the suite runs).
# runmqakm is not installed here: its -crypto forms follow IBM's "Commands for cryptographic
# device operations" page (https://ibm.com/docs/SSFKSJ_9.3.0/secure/q083850_.html) and the
# options table (https://www.ibm.com/support/knowledgecenter/SSFKSJ_8.0.0/com.ibm.mq.ref.adm.doc/q083860_.htm).

TOOLS: tuple[str, ...] = ("pkcs11-tool", "openssl", "p11tool", "runmqakm")

# The PIN is never put into a command: pkcs11-tool reads `--pin env:PIN` from the environment,
# openssl reads `-passin env:PIN`, p11tool prompts (or reads $GNUTLS_PIN). runmqakm only takes
# -pw on argv, so it gets a visible placeholder.
PIN_PLACEHOLDER = "<PIN>"
NEW_PIN_PLACEHOLDER = "<NEW-PIN>"
PIN_ENV = "env:PIN"


@dataclass(frozen=True)
class Equivalent:
    """One command line of another tool; `argv == []` means the tool has no equivalent (see note)."""

    tool: str
    argv: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def available(self) -> bool:
        return bool(self.argv)

    def render(self) -> str:
        """The command as one shell line, safe to print on a terminal."""
        return render_argv(self.argv)


@dataclass(frozen=True)
class CommandContext:
    """What the commands need to know. There is deliberately no PIN field."""

    module: str = "<MODULE>"
    token_label: str = "<TOKEN>"
    token_serial: str = ""
    label: str = "<LABEL>"
    new_label: str = "<NEW-LABEL>"
    key_id: str = ""  # CKA_ID as hex; empty = unknown
    key_spec: str = "rsa:2048"  # rsa:N, ec:p256|p384|p521, ed25519
    subject: str = "CN=<name>"  # RFC 4514 / runmqakm style, or openssl /C=../CN=.. style
    days: int = 365
    in_file: str = "<FILE>"
    out_file: str = "<FILE>"
    object_type: str = "cert"  # for delete: cert, private, public, request
    login: bool = True  # list objects: with or without a login

    @classmethod
    def from_values(cls, **values: object) -> CommandContext:
        """Build from loose keyword values; unknown keys (a `pin` above all) are dropped, None means default."""
        known = {f.name for f in fields(cls)}
        kept = {k: v for k, v in values.items() if k in known and v is not None and v != ""}
        return cls(**kept)  # type: ignore[arg-type]


# --- helpers -------------------------------------------------------------------------------------

_EC_CURVES = {c.name: c for c in names.generated_ec_curves()}
_TYPE_OPENSC = {"cert": "cert", "private": "privkey", "public": "pubkey", "request": "data"}
_TYPE_URI = {"cert": "certificate", "private": "private_key", "public": "public_key", "request": "data"}


def _key_kind(spec: str) -> tuple[str, str]:
    """('rsa', '2048') / ('ec', 'p256') / ('ed25519', '') from a --key-type value."""
    kind, _, param = spec.lower().partition(":")
    if kind not in ("rsa", "ec", "ed25519"):
        raise ValueError(f"unknown key type {spec!r}: use rsa:N, ec:{'|'.join(_EC_CURVES)} or ed25519")
    if kind == "ec" and param not in _EC_CURVES:
        raise ValueError(f"unknown curve {param!r}: use {', '.join(_EC_CURVES)}")
    if kind == "rsa" and not param.isdigit():
        raise ValueError(f"RSA key size must be a number of bits, got {param!r}")
    return kind, param


def _id_bytes(ctx: CommandContext) -> bytes:
    try:
        return parse_hex_id(ctx.key_id)
    except ValueError:
        return b""


_PLACEHOLDER = re.compile(r"<[A-Z][A-Z-]*>")


def _keep_placeholders(uri: str, *values: str) -> str:
    # `<TOKEN>` percent-encoded reads as `%3CTOKEN%3E`: keep placeholders readable in `howto`.
    for v in values:
        if _PLACEHOLDER.fullmatch(v):
            uri = uri.replace(quote(v, safe=""), v)
    return uri


def _tok_uri(ctx: CommandContext) -> str:
    return _keep_placeholders(token_uri(ctx.token_label, serial=ctx.token_serial), ctx.token_label)


def _obj_uri(ctx: CommandContext, kind: str) -> str:
    """RFC 7512 URI of one object; kind is cert/private/public/request."""
    uri = object_uri(ctx.token_label, ctx.token_serial, _TYPE_URI[kind], ctx.label, _id_bytes(ctx))
    return _keep_placeholders(uri, ctx.token_label, ctx.label)


def _p11t(ctx: CommandContext, *args: str, login: bool = False) -> list[str]:
    argv = ["pkcs11-tool", "--module", ctx.module, "--token-label", ctx.token_label]
    if login:
        argv += ["--login", "--pin", PIN_ENV]
    return argv + list(args)


def _p11t_select(ctx: CommandContext) -> list[str]:
    # pkcs11-tool acts on the first match: give the ID as well as the label when we know it.
    sel = ["--label", ctx.label]
    if ctx.key_id:
        sel += ["--id", ctx.key_id]
    return sel


def _gnutls(ctx: CommandContext, *args: str, login: bool = False) -> list[str]:
    argv = ["p11tool", f"--provider={ctx.module}"]
    if login:
        argv.append("--login")
    return argv + list(args)


def _openssl(ctx: CommandContext, *args: str) -> list[str]:
    # `env` instead of a bare VAR=value word: shlex.join would quote an assignment containing a
    # space, and the shell would then run it as a command name.
    return ["env", f"PKCS11_MODULE_PATH={ctx.module}", "openssl", *args]


def _akm(ctx: CommandContext, *verb: str) -> list[str]:
    return ["runmqakm", *verb, "-crypto", ctx.module, "-tokenlabel", ctx.token_label, "-pw", PIN_PLACEHOLDER]


def _none(tool: str, why: str) -> Equivalent:
    return Equivalent(tool, [], "no equivalent: " + why)


_PIN_NOTE = "reads the PIN from $PIN (`read -rs PIN; export PIN`): it never goes on the command line"
_AKM_PIN_NOTE = "runmqakm takes the PIN on the command line (-pw), where `ps` shows it to every user"
_GNUTLS_PIN_NOTE = "prompts for the PIN (or reads $GNUTLS_PIN)"


# --- actions -------------------------------------------------------------------------------------

def _tokens(ctx: CommandContext) -> list[Equivalent]:
    return [
        Equivalent("pkcs11-tool", ["pkcs11-tool", "--module", ctx.module, "--list-token-slots"]),
        _none("openssl", "the pkcs11 engine does not list slots or tokens"),
        Equivalent("p11tool", _gnutls(ctx, "--list-tokens"), "prints each token's RFC 7512 URI"),
        _none("runmqakm", "-keydb -list lists the supported key database types, not tokens; "
                          "-tokenlabel must already be known"),
    ]


def _list(ctx: CommandContext) -> list[Equivalent]:
    return [
        Equivalent("pkcs11-tool", _p11t(ctx, "--list-objects", login=ctx.login),
                   (_PIN_NOTE + "; " if ctx.login else "without --login only public objects; ")
                   + "objects are listed one by one, not paired"),
        _none("openssl", "OpenSSL 3.0 with the libp11 engine cannot list token objects"),
        Equivalent("p11tool", _gnutls(ctx, "--list-all", _tok_uri(ctx), login=ctx.login),
                   (_GNUTLS_PIN_NOTE + "; " if ctx.login else "") + "slow with many certificates"),
        Equivalent("runmqakm", _akm(ctx, "-cert", "-list"),
                   "pending requests: -certreq -list with the same options; " + _AKM_PIN_NOTE),
    ]


def _login(ctx: CommandContext) -> list[Equivalent]:
    return [
        Equivalent("pkcs11-tool", _p11t(ctx, "--list-objects", "--type", "privkey", login=True),
                   "logs in and lists the private keys, which proves the PIN; " + _PIN_NOTE),
        _none("openssl", "the engine logs in when a key is used (-passin env:PIN)"),
        Equivalent("p11tool", _gnutls(ctx, "--list-all-privkeys", _tok_uri(ctx), login=True), _GNUTLS_PIN_NOTE),
        _none("runmqakm", "no session to log in to: every -crypto command takes -pw"),
    ]


def _keygen(ctx: CommandContext) -> tuple[Equivalent, Equivalent]:
    """(pkcs11-tool keygen, p11tool keygen or its 'no equivalent') for the context's key spec."""
    kind, param = _key_kind(ctx.key_spec)
    if kind == "rsa":
        kt, gnutls = f"rsa:{param}", ["--generate-privkey=RSA", f"--bits={param}"]
    elif kind == "ec":
        curve = _EC_CURVES[param]
        kt, gnutls = f"EC:{curve.openssl}", ["--generate-privkey=ECDSA", f"--curve={curve.sec}"]
    else:
        # OpenSC 0.23's help says EC:ed25519, but only EC:edwards25519 is accepted.
        kt, gnutls = "EC:edwards25519", []
    p11 = _p11t(ctx, "--keypairgen", "--key-type", kt, *_p11t_select(ctx), "--usage-sign", login=True)
    p11_eq = Equivalent("pkcs11-tool", p11, "generates the key pair on the token; it cannot make a request "
                                            "or a certificate. " + _PIN_NOTE)
    if gnutls:
        args = [*gnutls, f"--label={ctx.label}"] + ([f"--id={ctx.key_id}"] if ctx.key_id else [])
        gt_eq = Equivalent("p11tool", _gnutls(ctx, *args, _tok_uri(ctx), login=True), _GNUTLS_PIN_NOTE)
    else:
        gt_eq = _none("p11tool", "GnuTLS 3.7 stops with 'PKCS #11 unsupported feature' for Ed25519")
    return p11_eq, gt_eq


def _ed25519_openssl(kind: str) -> Equivalent | None:
    if kind == "ed25519":
        return _none("openssl", "the libp11 0.4.12 engine cannot use Ed25519 keys, and any Ed25519 key on "
                                "the token stops it from finding every other key")
    return None


def _certtool(ctx: CommandContext, verb: str) -> Equivalent:
    argv = ["certtool", verb, f"--provider={ctx.module}", f"--load-privkey={_obj_uri(ctx, 'private')}",
            "--template=TEMPLATE", f"--outfile={ctx.out_file}"]
    return Equivalent("p11tool", argv, f'GnuTLS certtool signs on the token; TEMPLATE holds: dn = '
                                       f'"{rfc4514_subject(ctx.subject)}"' +
                      (f" and expiration_days = {ctx.days}" if verb == "--generate-self-signed" else ""))


def _certreq_create(ctx: CommandContext) -> list[Equivalent]:
    kind, param = _key_kind(ctx.key_spec)
    p11_eq, gt_eq = _keygen(ctx)
    out = [p11_eq]
    out.append(_ed25519_openssl(kind) or Equivalent("openssl", _openssl(
        ctx, "req", "-new", "-engine", "pkcs11", "-keyform", "engine", "-key", _obj_uri(ctx, "private"),
        "-passin", PIN_ENV, "-subj", openssl_subject(ctx.subject), "-sha256", "-out", ctx.out_file),
        "signs the request with the key made by pkcs11-tool; the request is a file only, not kept on the token"))
    out.append(gt_eq)
    if gt_eq.available:
        out.append(_certtool(ctx, "--generate-request"))
    if kind == "rsa":
        out.append(Equivalent("runmqakm", _akm(ctx, "-certreq", "-create") + [
            "-label", ctx.label, "-dn", rfc4514_subject(ctx.subject), "-size", param, "-file", ctx.out_file],
            "RSA only; " + _AKM_PIN_NOTE))
    else:
        out.append(_none("runmqakm", f"runmqakm -crypto makes RSA key pairs only, no {ctx.key_spec}"))
    return out


def _cert_create(ctx: CommandContext) -> list[Equivalent]:
    kind, param = _key_kind(ctx.key_spec)
    p11_eq, gt_eq = _keygen(ctx)
    out = [p11_eq]
    sel = _p11t_select(ctx)
    out.append(_ed25519_openssl(kind) or Equivalent("openssl", _openssl(
        ctx, "req", "-new", "-x509", "-days", str(ctx.days), "-engine", "pkcs11", "-keyform", "engine",
        "-key", _obj_uri(ctx, "private"), "-passin", PIN_ENV, "-subj", openssl_subject(ctx.subject),
        "-sha256", "-out", ctx.out_file),
        "self-signs with the token key; the certificate is a file until written back"))
    if kind != "ed25519":
        out.append(Equivalent("pkcs11-tool", _p11t(ctx, "--write-object", ctx.out_file, "--type", "cert", *sel,
                                                   login=True),
                              "writes the certificate back next to its key (same label and ID)"))
    out.append(gt_eq)
    if gt_eq.available:
        out.append(_certtool(ctx, "--generate-self-signed"))
    if kind == "rsa":
        out.append(Equivalent("runmqakm", _akm(ctx, "-cert", "-create") + [
            "-label", ctx.label, "-dn", rfc4514_subject(ctx.subject), "-size", param, "-expire", str(ctx.days)],
            "RSA only; " + _AKM_PIN_NOTE))
    else:
        out.append(_none("runmqakm", f"runmqakm -crypto makes RSA key pairs only, no {ctx.key_spec}"))
    return out


def _cert_receive(ctx: CommandContext) -> list[Equivalent]:
    sel = _p11t_select(ctx)
    args = [f"--load-certificate={ctx.in_file}", f"--label={ctx.label}"]
    if ctx.key_id:
        args.append(f"--id={ctx.key_id}")
    return [
        Equivalent("pkcs11-tool", _p11t(ctx, "--write-object", ctx.in_file, "--type", "cert", *sel, login=True),
                   "you must give the key's label and CKA_ID yourself, or Java and NSS will not pair them; "
                   "no check that the certificate matches the key"),
        _none("openssl", "openssl cannot write objects to a token"),
        Equivalent("p11tool", _gnutls(ctx, "--write", *args, _tok_uri(ctx), login=True),
                   "give the key's label and ID yourself; no check that the certificate matches the key"),
        _none("runmqakm", "-cert -receive with -crypto stops with CTGSK3034W: it looks for the request in a "
                          "key database and cannot put the certificate on the token "
                          "(`ikm-tui explain CTGSK3034W`)"),
    ]


def _cert_add(ctx: CommandContext) -> list[Equivalent]:
    return [
        Equivalent("pkcs11-tool", _p11t(ctx, "--write-object", ctx.in_file, "--type", "cert", "--label", ctx.label,
                                        login=True), "stored without CKA_CERTIFICATE_CATEGORY (not marked as a CA)"),
        _none("openssl", "openssl cannot write objects to a token"),
        Equivalent("p11tool", _gnutls(ctx, "--write", f"--load-certificate={ctx.in_file}", f"--label={ctx.label}",
                                      "--mark-ca", _tok_uri(ctx), login=True),
                   "--mark-ca sets category 'authority'; --mark-trusted needs the SO PIN"),
        Equivalent("runmqakm", _akm(ctx, "-cert", "-add") + ["-label", ctx.label, "-file", ctx.in_file],
                   _AKM_PIN_NOTE),
    ]


def _cert_extract(ctx: CommandContext) -> list[Equivalent]:
    return [
        Equivalent("pkcs11-tool", _p11t(ctx, "--read-object", "--type", "cert", *_p11t_select(ctx),
                                        "--output-file", ctx.out_file),
                   "writes DER; `openssl x509 -inform DER -in FILE` turns it into PEM"),
        _none("openssl", "the engine loads keys, not certificates, from a token"),
        Equivalent("p11tool", _gnutls(ctx, "--export", _obj_uri(ctx, "cert"), f"--outfile={ctx.out_file}"),
                   "writes PEM"),
        Equivalent("runmqakm", _akm(ctx, "-cert", "-extract") + ["-label", ctx.label, "-target", ctx.out_file,
                                                                 "-format", "ascii"], _AKM_PIN_NOTE),
    ]


def _key_export_public(ctx: CommandContext) -> list[Equivalent]:
    return [
        Equivalent("pkcs11-tool", _p11t(ctx, "--read-object", "--type", "pubkey", *_p11t_select(ctx),
                                        "--output-file", ctx.out_file),
                   "needs the public-key object; writes DER SubjectPublicKeyInfo"),
        Equivalent("openssl", _openssl(ctx, "pkey", "-engine", "pkcs11", "-inform", "ENGINE", "-pubin",
                                       "-in", _obj_uri(ctx, "public"), "-pubout", "-out", ctx.out_file),
                   "needs the public-key object; writes PEM"),
        Equivalent("p11tool", _gnutls(ctx, "--export-pubkey", _obj_uri(ctx, "private"), f"--outfile={ctx.out_file}",
                                      login=True), "derived from the private key; " + _GNUTLS_PIN_NOTE),
        _none("runmqakm", "no public-key export; -cert -extract gives the certificate, which holds it"),
    ]


def _delete(ctx: CommandContext) -> list[Equivalent]:
    kind = ctx.object_type
    if kind not in _TYPE_OPENSC:
        raise ValueError(f"unknown object type {kind!r}: use cert, private, public or request")
    p11 = Equivalent("pkcs11-tool", _p11t(ctx, "--delete-object", "--type", _TYPE_OPENSC[kind], *_p11t_select(ctx),
                                          login=True),
                     "deletes the first object that matches: with duplicates, check --id first; " + _PIN_NOTE)
    gnutls = Equivalent("p11tool", _gnutls(ctx, "--batch", "--delete", _obj_uri(ctx, kind), login=True),
                        "deletes EVERY object matching the URI")
    if kind == "request":
        akm = Equivalent("runmqakm", _akm(ctx, "-certreq", "-delete") + ["-label", ctx.label], _AKM_PIN_NOTE)
    elif kind == "cert":
        akm = Equivalent("runmqakm", _akm(ctx, "-cert", "-delete") + ["-label", ctx.label],
                         "picks by label only; " + _AKM_PIN_NOTE)
    else:
        akm = _none("runmqakm", "it deletes certificates and requests by label, not single key objects")
    return [p11, _none("openssl", "openssl cannot delete token objects"), gnutls, akm]


def _rename(ctx: CommandContext) -> list[Equivalent]:
    out = [_none("pkcs11-tool", "OpenSC 0.23 can change CKA_ID (--set-id) but not CKA_LABEL"),
           _none("openssl", "openssl cannot change token objects")]
    for kind in ("cert", "private", "public"):
        out.append(Equivalent("p11tool", _gnutls(ctx, f"--set-label={ctx.new_label}", _obj_uri(ctx, kind),
                                                 login=True),
                              "one object per call: rename the certificate and both keys, or Java loses the pair"))
    out.append(Equivalent("runmqakm", _akm(ctx, "-cert", "-rename") + ["-label", ctx.label,
                                                                       "-new_label", ctx.new_label],
                          "IBM documents -cert -rename for key databases (-db); not confirmed with -crypto"))
    return out


def _pin_change(ctx: CommandContext) -> list[Equivalent]:
    return [
        Equivalent("pkcs11-tool", _p11t(ctx, "--change-pin"), "prompts for the current PIN and the new one twice"),
        _none("openssl", "openssl cannot change a token PIN"),
        _none("p11tool", "p11tool cannot change the user PIN; --initialize-pin resets it with the SO PIN"),
        Equivalent("runmqakm", _akm(ctx, "-keydb", "-changepw") + ["-new_pw", NEW_PIN_PLACEHOLDER],
                   "both PINs on the command line, visible in `ps`"),
    ]


@dataclass(frozen=True)
class Action:
    name: str
    summary: str
    ikm_command: str


_BUILDERS = {
    "tokens": (_tokens, "list modules, slots and tokens", "ikm-tui tokens"),
    "list": (_list, "list the objects on a token", "ikm-tui list [--login]"),
    "login": (_login, "log in with the user PIN", "ikm-tui list --login"),
    "certreq-create": (_certreq_create, "key pair on the token + PKCS#10 request",
                       "ikm-tui certreq create --label L --key-type T --subject DN --out F"),
    "cert-create": (_cert_create, "key pair on the token + self-signed certificate",
                    "ikm-tui cert create --label L --key-type T --subject DN"),
    "cert-receive": (_cert_receive, "put the CA-signed certificate next to its key", "ikm-tui cert receive FILE"),
    "cert-add": (_cert_add, "add a CA certificate", "ikm-tui cert add FILE --label L"),
    "cert-extract": (_cert_extract, "save a certificate to a file", "ikm-tui cert extract L --out F"),
    "key-export-public": (_key_export_public, "save a public key to a file", "ikm-tui key export-public L --out F"),
    "delete": (_delete, "delete a certificate, key or request", "ikm-tui cert delete L --yes"),
    "rename": (_rename, "rename a certificate with its keys", "ikm-tui cert rename OLD NEW"),
    "pin-change": (_pin_change, "change the user PIN", "ikm-tui pin change"),
}

ACTIONS: dict[str, Action] = {k: Action(k, v[1], v[2]) for k, v in _BUILDERS.items()}

_ALIASES = {
    "list-tokens": "tokens", "list-objects": "list", "objects": "list",
    "certreq": "certreq-create", "request": "certreq-create", "keygen": "certreq-create",
    "self-signed": "cert-create", "receive": "cert-receive", "add": "cert-add", "extract": "cert-extract",
    "export-public": "key-export-public", "cert-delete": "delete", "key-delete": "delete",
    "certreq-delete": "delete", "cert-rename": "rename", "change-pin": "pin-change", "pin": "pin-change",
}


def normalise_action(text: str) -> str:
    """'certreq create', 'certreq_create', 'Receive' -> the canonical action name; ValueError if unknown."""
    key = re.sub(r"[\s_]+", "-", text.strip().lower())
    key = _ALIASES.get(key, key)
    if key not in _BUILDERS:
        raise ValueError(f"unknown action {text!r}; known: {', '.join(ACTIONS)}")
    return key


def equivalent_commands(action: str, ctx: CommandContext) -> list[Equivalent]:
    """The other tools' command lines for `action`, at least one entry (or a 'no equivalent') per tool."""
    return _BUILDERS[normalise_action(action)][0](ctx)


def format_equivalents(equivalents: list[Equivalent], prefix: str = "") -> list[str]:
    """Printable lines: the command, then its note; a tool without equivalent says why."""
    lines: list[str] = []
    for eq in equivalents:
        if eq.available:
            lines.append(prefix + eq.render())
            if eq.note:
                lines.append(prefix + "    # " + safe_text(eq.note))
        else:
            lines.append(prefix + f"{eq.tool}: " + safe_text(eq.note))
    return lines
