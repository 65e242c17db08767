"""ObjectTable: keys or certificates of the current token, with runmqakm markers and pairing."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

from ikm_tui.core.model import Listing, ObjClass, ObjectInfo
from ikm_tui.ui import expiry
from ikm_tui.ui.describe import class_name, first_cn, key_kind, short_id
from ikm_tui.ui.text import literal_text as literal


class ObjectTable(DataTable[Text]):
    """Rows keyed by object handle, so other panes can point at a row ("highlight its key").

    Cells are Rich `Text` (never markup), not Textual `Content`: DataTable 8.2.8 cannot measure
    Content and would size every column to its header.
    """

    def __init__(self, kind: str, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.kind = kind  # "keys" | "certs"
        self._handles: list[int] = []
        # What show() was given last: the filter and the expiry order re-show it.
        self._shown: tuple[Listing, Sequence[ObjectInfo], datetime] | None = None
        self.filter_text = ""  # `/`: rows whose label, subject, issuer or id contain it
        self.by_expiry = False  # `o` on the Certificates tab: soonest expiry first

    def on_mount(self) -> None:
        if self.kind == "certs":
            # Pairing and days left first: on a narrow terminal they must not scroll out of view.
            self.add_columns(" ", "Label", "Key", "Left", "Not after", "Subject CN", "ID")
        else:
            self.add_columns(" ", "Class", "Label", "Type", "Certificate", "ID")

    @property
    def handles(self) -> list[int]:
        return list(self._handles)

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._reshow()

    def toggle_expiry_order(self) -> None:
        self.by_expiry = not self.by_expiry
        self._reshow()

    def _reshow(self) -> None:
        if self._shown is not None:
            self.show(*self._shown)

    def show(self, listing: Listing, objects: Sequence[ObjectInfo], now: datetime) -> None:
        """Replace the rows, keeping the cursor on the same object when it is still there."""
        self._shown = (listing, objects, now)
        if self.filter_text:
            objects = [o for o in objects if matches(o, self.filter_text)]
        if self.by_expiry:
            objects = sorted(objects, key=lambda o: expiry.sort_key(o, now))
        keep = self.current_handle()
        self.clear()
        self._handles = []
        # One Text per distinct (value, style): classes, key kinds, dates and markers repeat on
        # most rows. DataTable only reads its cells, so rows can share them.
        memo: dict[tuple[str, str], Text] = {}

        def lit(value: str, style: str = "") -> Text:
            cell = memo.get((value, style))
            if cell is None:
                cell = memo[(value, style)] = literal(value, style)
            return cell

        for obj in objects:
            self.add_row(*self._cells(listing, obj, now, lit), key=str(obj.handle))
            self._handles.append(obj.handle)
        if keep is not None and keep in self._handles:
            self.move_cursor(row=self._handles.index(keep))
        self._measure_now()

    def _measure_now(self) -> None:
        """Column widths and virtual size now, not when the table is next idle.

        Why: DataTable measures new rows on its Idle event, which comes after the screen has
        been laid out and drawn once with the old sizes; the new sizes then force a second full
        layout and draw (~50 ms for a 1,000-row table). Measured here, the first frame after a
        listing is already the right one. This is what DataTable._on_idle does.
        """
        if self._require_update_dimensions:
            self._require_update_dimensions = False
            new_rows = self._new_rows.copy()
            self._new_rows.clear()
            self._update_dimensions(new_rows)

    def current_handle(self) -> int | None:
        if not self._handles or self.cursor_row < 0 or self.cursor_row >= len(self._handles):
            return None
        return self._handles[self.cursor_row]

    def select_handle(self, handle: int) -> bool:
        """Put the cursor on an object's row; False when this table does not show it."""
        if handle not in self._handles:
            return False
        self.move_cursor(row=self._handles.index(handle), scroll=True)
        return True

    def _cells(self, listing: Listing, obj: ObjectInfo, now: datetime,
               literal: Callable[..., Text] = literal) -> list[Text]:
        p = listing.pairing
        marker = literal(p.markers.get(obj.handle, ""), "bold")
        if self.kind == "certs":
            cert = obj.cert
            cn = first_cn(cert.subject) if cert and not cert.error else (cert.error if cert else "")
            not_after = cert.not_after if cert else None
            expired = not_after is not None and not_after < now
            when = literal(not_after.strftime("%Y-%m-%d") if not_after else "-",
                           expiry.EXPIRED_STYLE if expired else "")
            key_h = p.cert_to_key.get(obj.handle)
            key = listing.by_handle(key_h) if key_h is not None else None
            pub_h = p.cert_to_public.get(obj.handle)
            pub = listing.by_handle(pub_h) if key is None and pub_h is not None else None
            if key is None and pub is not None and not listing.logged_in:
                # Private keys are hidden before login; the public-key object (what NSS relies on
                # then) says which key this is ("no key" would be false); dim until the login shows it.
                key_cell = literal(pub.label, "dim")
            elif key is None:
                key_cell = literal("no key", "dim")
            elif obj.handle in p.id_mismatch:
                key_cell = literal(f"{key.label} ID MISMATCH", "bold yellow")
            else:
                key_cell = literal(key.label)
            return [marker, literal(obj.label), key_cell, literal(*expiry.cell(obj, now)), when, literal(cn),
                    literal(short_id(obj.id))]
        cert_cell: Text
        if obj.cls is ObjClass.PRIVATE_KEY:
            certs = [c.label for h in p.key_to_cert.get(obj.handle, []) if (c := listing.by_handle(h))]
            cert_cell = literal(", ".join(certs)) if certs else literal("orphan: no cert", "yellow")
        elif obj.cls is ObjClass.PUBLIC_KEY:
            cert_cell = literal("(public half)" if obj.handle in p.public_to_private else "", "dim")
        elif "unreadable" in obj.flags:
            cert_cell = literal(f"UNREADABLE ({' '.join(obj.flags[1:])})", "bold red")
        else:
            cert_cell = literal("")
        return [marker, literal(class_name(obj)), literal(obj.label), literal(key_kind(obj)), cert_cell,
                literal(short_id(obj.id))]

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """Column widths of new rows, measured the cheap way first.

        Why: Textual measures every cell through `console.options` (a new ConsoleOptions and
        three os.get_terminal_size calls per cell): ~70 ms for 1,000 rows × 6 columns, the
        largest single cost between the listing and the first drawn table. Our cells are
        sanitised `Text` (printable, so one line), whose width is its cell length: those are
        measured here, and only other rows go through Textual's pass (which also sets the
        virtual size, so it always runs). tests/tui/test_ui_table_widths.py checks both agree.
        """
        rest: list[RowKey] = []
        columns = self.ordered_columns
        data, rows = self._data, self.rows
        for key in new_rows:
            cells, row = data.get(key), rows.get(key)
            if cells is None or row is None:
                continue  # removed before the table was idle: Textual skips it too
            if row.label is not None or row.auto_height or not all(
                    isinstance(c, Text) and c.plain.isprintable() for c in cells.values()):
                rest.append(key)
                continue
            for column in columns:
                cell = cells.get(column.key)
                if cell is not None and cell.cell_len > column.content_width:
                    column.content_width = cell.cell_len
        super()._update_dimensions(rest)

    def clear_objects(self) -> None:
        """No rows and no current object (the token went away: nothing stale stays selected)."""
        self.clear()
        self._handles = []
        self._shown = None


def matches(obj: ObjectInfo, text: str) -> bool:
    """The filter: case-insensitive substring of the label, subject, issuer or id (hex)."""
    needle = text.casefold()
    cert = obj.cert
    fields = [obj.label, obj.id.hex()] + ([cert.subject, cert.issuer] if cert is not None else [])
    return any(needle in f.casefold() for f in fields if f)


def select_partner(keys: ObjectTable, certs: ObjectTable, listing: Listing, obj: ObjectInfo) -> None:
    """Put the other table's cursor on the partner: cert → its key, key → its (first) cert."""
    p = listing.pairing
    if obj.cls is ObjClass.CERTIFICATE and obj.handle in p.cert_to_key:
        keys.select_handle(p.cert_to_key[obj.handle])
    elif obj.cls is ObjClass.PRIVATE_KEY and p.key_to_cert.get(obj.handle):
        certs.select_handle(p.key_to_cert[obj.handle][0])
    elif obj.cls is ObjClass.PUBLIC_KEY and obj.handle in p.public_to_private:
        priv = p.public_to_private[obj.handle]
        if p.key_to_cert.get(priv):
            certs.select_handle(p.key_to_cert[priv][0])
