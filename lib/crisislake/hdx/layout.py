"""What a raw HDX CSV is, decided in plain Python before Spark parses it.

Per file we read the first bytes (and, for the encoding, up to the whole file in bounded chunks)
to decide: the encoding (UTF-8 with or without BOM, else Windows-1252), the header names, whether
row 2 is an HXL hashtag row, which kind of table it is (ACLED events, HDX HAPI monthly
aggregates, the P-code list) and how each column position maps to the curated column name.
No Spark imports here.
"""
from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from crisislake.errors import CrisislakeError

UTF8_BOM = codecs.BOM_UTF8

# Today's ACLED event columns, in the order of curated/conflict_events.
ACLED_COLUMNS: Tuple[str, ...] = (
    "event_id_cnty", "event_date", "year", "time_precision", "disorder_type", "event_type",
    "sub_event_type", "actor1", "assoc_actor_1", "inter1", "actor2", "assoc_actor_2", "inter2",
    "interaction", "civilian_targeting", "iso", "region", "country", "admin1", "admin2", "admin3",
    "location", "latitude", "longitude", "geo_precision", "source", "source_scale", "notes",
    "fatalities", "tags", "timestamp",
)

# The old upper-case ACLED schema (HDX exports until ~2017), mapped explicitly. GWNO (Gleditsch-Ward
# country number) and EVENT_ID_NO_CNTY have no counterpart today and are not carried over.
LEGACY_ACLED_COLUMNS: Dict[str, str] = {
    "EVENT_ID_CNTY": "event_id_cnty",
    "EVENT_DATE": "event_date",
    "YEAR": "year",
    "TIME_PRECISION": "time_precision",
    "EVENT_TYPE": "event_type",
    "SUB_EVENT_TYPE": "sub_event_type",
    "ACTOR1": "actor1",
    "ALLY_ACTOR_1": "assoc_actor_1",
    "INTER1": "inter1",
    "ACTOR2": "actor2",
    "ALLY_ACTOR_2": "assoc_actor_2",
    "INTER2": "inter2",
    "INTERACTION": "interaction",
    "COUNTRY": "country",
    "ADMIN1": "admin1",
    "ADMIN2": "admin2",
    "ADMIN3": "admin3",
    "LOCATION": "location",
    "LATITUDE": "latitude",
    "LONGITUDE": "longitude",
    "GEO_PRECISION": "geo_precision",
    "SOURCE": "source",
    "NOTES": "notes",
    "FATALITIES": "fatalities",
}

# HXL hashtags used on HDX for ACLED-style event files (used only when a column name is unknown).
EVENT_HXL: Dict[str, str] = {
    "#event+code": "event_id_cnty",
    "#event+id": "event_id_cnty",
    "#date+occurred": "event_date",
    "#date": "event_date",
    "#date+year": "year",
    "#event+type": "event_type",
    "#event+subtype": "sub_event_type",
    "#event+type+sub": "sub_event_type",
    "#group+first+name": "actor1",
    "#group+name+second": "actor2",
    "#region+name": "region",
    "#country+name": "country",
    "#adm1+name": "admin1",
    "#adm2+name": "admin2",
    "#adm3+name": "admin3",
    "#loc+name": "location",
    "#geo+lat": "latitude",
    "#geo+lon": "longitude",
    "#meta+source": "source",
    "#description": "notes",
    "#affected+killed": "fatalities",
}

MONTHLY_COLUMNS: Tuple[str, ...] = (
    "location_code", "has_hrp", "in_gho", "provider_admin1_name", "provider_admin2_name",
    "admin1_code", "admin1_name", "admin2_code", "admin2_name", "admin_level", "event_type",
    "events", "fatalities", "reference_period_start", "reference_period_end", "dataset_hdx_id",
    "resource_hdx_id", "warning", "error",
)

# HXL hashtags of the HDX HAPI conflict-event file and of the older "conflict events and
# fatalities" file (whose column names differ: "Country ISO3", "Admin 1 PCode", ...).
MONTHLY_HXL: Dict[str, str] = {
    "#country+code": "location_code",
    "#meta+has_hrp": "has_hrp",
    "#meta+in_gho": "in_gho",
    "#adm1+name+provider": "provider_admin1_name",
    "#adm2+name+provider": "provider_admin2_name",
    "#adm1+code": "admin1_code",
    "#adm1+name": "admin1_name",
    "#adm2+code": "admin2_code",
    "#adm2+name": "admin2_name",
    "#adm+level": "admin_level",
    "#event+type": "event_type",
    "#event+num": "events",
    "#indicator+event+num": "events",
    "#affected+killed": "fatalities",
    "#fatality+num": "fatalities",
    "#date+start": "reference_period_start",
    "#date+end": "reference_period_end",
    "#meta+dataset_id": "dataset_hdx_id",
    "#meta+resource_id": "resource_hdx_id",
    "#meta+warning": "warning",
    "#meta+error": "error",
}

PCODE_COLUMNS: Dict[str, str] = {
    "Location": "location_code",
    "Admin Level": "admin_level",
    "P-Code": "p_code",
    "Name": "name",
    "Parent P-Code": "parent_p_code",
    "Valid from date": "valid_from",
}

EVENTS, MONTHLY, PCODES = "conflict_events", "conflict_monthly", "admin_pcodes"


class LayoutError(CrisislakeError, ValueError):
    """A file whose layout no ingestion path recognises (goes to quarantine as a whole file)."""


@dataclass
class FileLayout:
    """How Spark must read one CSV and what each column position becomes."""

    kind: str
    encoding: str
    n_columns: int
    header: List[str]
    has_hxl: bool
    mapping: Dict[int, str] = field(default_factory=dict)  # column position -> curated name
    unmapped: List[str] = field(default_factory=list)

    @property
    def data_starts_at(self) -> int:
        """0-based record index of the first data record (after header and HXL row)."""
        return 2 if self.has_hxl else 1


def detect_encoding(chunks: Iterable[bytes]) -> str:
    """``UTF-8`` if every byte decodes as UTF-8 (with or without BOM), else ``windows-1252``.

    The chunks are decoded incrementally, so a whole file can be checked with bounded memory;
    scanning stops at the first invalid byte.

    >>> detect_encoding([b"\\xef\\xbb\\xbfa,b\\r\\n", b"caf\\xc3\\xa9"])
    'UTF-8'
    >>> detect_encoding([b"a,b\\n", b"Lom\\xe9"])
    'windows-1252'
    """
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        for chunk in chunks:
            decoder.decode(chunk, final=False)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "windows-1252"
    return "UTF-8"


def python_codec(encoding: str) -> str:
    return "utf-8-sig" if encoding.upper() == "UTF-8" else "cp1252"


def normalise_hxl(tag: str) -> str:
    """Canonical HXL hashtag: lower case, no spaces, attributes sorted.

    >>> normalise_hxl(" #Adm1 +Name +provider")
    '#adm1+name+provider'
    >>> normalise_hxl("#affected+killed")
    '#affected+killed'
    """
    parts = [p for p in tag.strip().lower().replace(" ", "").split("+") if p]
    if not parts:
        return ""
    return "+".join([parts[0]] + sorted(parts[1:]))


def is_hxl_row(cells: List[str]) -> bool:
    """True for an HXL hashtag row: every non-empty cell starts with ``#`` and one at least does.

    >>> is_hxl_row(["#country+code", "", "#date+start"])
    True
    >>> is_hxl_row(["DZA", "#1"])
    False
    """
    filled = [c.strip() for c in cells if c.strip()]
    return bool(filled) and all(c.startswith("#") for c in filled)


def _map_columns(
    header: List[str], hxl: Optional[List[str]], by_name: Callable[[str], Optional[str]], by_tag: Dict[str, str]
) -> Tuple[Dict[int, str], List[str]]:
    mapping: Dict[int, str] = {}
    unmapped: List[str] = []
    tags = {normalise_hxl(k): v for k, v in by_tag.items()}
    for i, name in enumerate(header):
        target = by_name(name)
        if target is None and hxl is not None and i < len(hxl) and hxl[i].strip():
            target = tags.get(normalise_hxl(hxl[i]))
        if target is None or target in mapping.values():
            if name:
                unmapped.append(name)
            continue
        mapping[i] = target
    return mapping, unmapped


# Header names match whatever their case (exports edited in a spreadsheet change it).
_LEGACY_FOLDED = {k.casefold(): v for k, v in LEGACY_ACLED_COLUMNS.items()}
_PCODE_FOLDED = {k.casefold(): v for k, v in PCODE_COLUMNS.items()}


def _event_name(name: str) -> Optional[str]:
    folded = name.casefold()
    if folded in _LEGACY_FOLDED:
        return _LEGACY_FOLDED[folded]
    return folded if folded in ACLED_COLUMNS else None


def _monthly_name(name: str) -> Optional[str]:
    folded = name.casefold()
    return folded if folded in MONTHLY_COLUMNS else None


def _pcode_name(name: str) -> Optional[str]:
    return _PCODE_FOLDED.get(name.casefold())


def layout_from_head(head_text: str, encoding: str) -> FileLayout:
    """Decide the layout of a CSV from its decoded beginning (at least the first two records).

    Raises :class:`LayoutError` for an empty file or one no ingestion path recognises.
    """
    reader = csv.reader(io.StringIO(head_text, newline=""))  # "": \r, \n and \r\n all end a record
    try:
        header = [c.strip().lstrip("\ufeff").strip() for c in next(reader)]
    except StopIteration:
        raise LayoutError("empty file: no header row") from None
    except csv.Error as exc:
        raise LayoutError(f"unreadable CSV header row: {exc}") from None
    try:
        second: Optional[List[str]] = next(reader)
    except (StopIteration, csv.Error):
        second = None
    hxl = second if second is not None and is_hxl_row(second) else None
    candidates = [
        (EVENTS, _event_name, EVENT_HXL, ("event_id_cnty", "event_date")),
        (MONTHLY, _monthly_name, MONTHLY_HXL, ("location_code", "event_type", "events", "reference_period_start")),
        (PCODES, _pcode_name, {}, ("location_code", "admin_level", "p_code", "name")),
    ]
    for kind, by_name, by_tag, required in candidates:
        mapping, unmapped = _map_columns(header, hxl, by_name, by_tag)
        if all(r in mapping.values() for r in required):
            return FileLayout(
                kind=kind, encoding=encoding, n_columns=len(header), header=header,
                has_hxl=hxl is not None, mapping=mapping, unmapped=unmapped,
            )
    shown = ", ".join(header[:8]) + (" ..." if len(header) > 8 else "")
    raise LayoutError(f"unrecognised CSV layout (header: {shown})")


def decode_head(head: bytes, encoding: str) -> str:
    """Decode the first bytes of a file, tolerating a multi-byte character cut at the end.

    A UTF-8 byte-order mark is dropped whatever the encoding: a spreadsheet that saves Windows-1252
    text can still start the file with one, and it must not become part of the first column's name.

    >>> decode_head(b"\\xef\\xbb\\xbfevent_id_cnty,x", "windows-1252")
    'event_id_cnty,x'
    """
    if head.startswith(UTF8_BOM):
        head = head[len(UTF8_BOM):]
    return codecs.getincrementaldecoder(python_codec(encoding))("replace").decode(head, final=False)
