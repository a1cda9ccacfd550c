#!/usr/bin/env python3
"""Cut the small real HDX/ACLED slices shipped in ``data/sample/raw/hdx`` from ``../shared/data``.

    python scripts/make_sample_hdx.py [--shared ../shared/data] [--out data/sample]

Each slice keeps its source file's quirks byte for byte where they matter: the ACLED 2016 export
stays Windows-1252 with CRLF, the old upper-case header, dd/mm/yyyy dates, trailing empty columns
and quoted newlines; the HDX files keep their UTF-8 BOM and HXL hashtag row. Files land as the
scraper would write them: ``raw/hdx/<dataset>/<resource_id>/<retrieved_at>/<file>`` plus
``_sidecar.json``. Deterministic: re-running produces the same bytes.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import uuid
from pathlib import Path
from typing import List, Sequence, Set

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = uuid.UUID("6b1d3c52-8a3e-4c59-9a59-8f0f4c1d2b7a")
ATTRIBUTION = (
    "ACLED data: Armed Conflict Location & Event Data Project (ACLED), acleddata.com, used under the "
    "ACLED Terms of Use and Attribution Policy; distributed via the Humanitarian Data Exchange (HDX, "
    "data.humdata.org). Small slice for crisislake's sample pipeline."
)


def _write(out: Path, dataset: str, filename: str, data: bytes, source: str, fmt: str = "CSV",
           retrieved_at: str = "20250115T083151Z", last_modified: str = "2025-01-15T08:31:51") -> Path:
    resource_id = str(uuid.uuid5(NAMESPACE, f"{dataset}/{filename}"))
    folder = out / "raw" / "hdx" / dataset / resource_id / retrieved_at
    folder.mkdir(parents=True, exist_ok=True)
    (folder / filename).write_bytes(data)
    sidecar = {
        "dataset": dataset,
        "resource_id": resource_id,
        "resource_name": filename,
        "filename": filename,
        "url": f"https://data.humdata.org/dataset/{dataset}/resource/{resource_id}/download/{filename}",
        "format": fmt,
        "last_modified": last_modified,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "http_status": 200,
        "retrieved_at": retrieved_at,
        "full_export": True,
        "sample_slice_of": source,
        "attribution": ATTRIBUTION,
    }
    (folder / "_sidecar.json").write_text(json.dumps(sidecar, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return folder / filename


def acled_slice(shared: Path) -> bytes:
    """~300 events of the 2016 Africa export: every 25th row, all rows with quoted newlines, and
    the first rows carrying non-ASCII (cp1252) text."""
    src = shared / "acled" / "ACLED_All_Africa_20160101_to_20160528.cp1252.csv"
    rows = list(csv.reader(io.StringIO(src.read_bytes().decode("cp1252"), newline="")))
    header, body = rows[0], rows[1:]
    keep: Set[int] = {i for i in range(0, len(body), 25)}
    keep |= {i for i, r in enumerate(body) if any("\n" in c for c in r)}
    keep |= set([i for i, r in enumerate(body) if any(ord(ch) > 127 for ch in ",".join(r))][:25])
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    for i in sorted(keep):
        writer.writerow(body[i])
    return buf.getvalue().encode("cp1252")


def _hdx_lines(path: Path) -> List[bytes]:
    return path.read_bytes().split(b"\r\n")


def hxl_slice(path: Path, pick, limit: int) -> bytes:
    """Header (with BOM) + HXL row + the first ``limit`` data lines ``pick(cells)`` accepts."""
    lines = _hdx_lines(path)
    out = lines[:2]
    for line in lines[2:]:
        if not line:
            continue
        cells = next(csv.reader([line.decode("utf-8")]))
        if pick(cells):
            out.append(line)
            if len(out) - 2 >= limit:
                break
    return b"\r\n".join(out) + b"\r\n"


def codes_in(data: bytes, columns: Sequence[int]) -> Set[str]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[2:]
    return {r[c] for r in rows for c in columns if c < len(r) and r[c]}


def pcode_slice(path: Path, codes: Set[str]) -> bytes:
    """The P-code rows for ``codes`` and their parents, header kept (with BOM)."""
    lines = _hdx_lines(path)
    rows = [(line, next(csv.reader([line.decode("utf-8-sig")]))) for line in lines[1:] if line]
    wanted = set(codes) | {cells[4] for _, cells in rows if cells[2] in codes}
    out = [lines[0]] + [line for line, cells in rows if cells[2] in wanted]
    return b"\r\n".join(out) + b"\r\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(ROOT / "data" / "sample"))
    args = parser.parse_args(argv)
    shared, out = Path(args.shared), Path(args.out)

    written = []
    written.append(_write(out, "acled-conflict-data-for-africa-2016", "ACLED_All_Africa_20160101_to_20160528.csv",
                          acled_slice(shared), "acled/ACLED_All_Africa_20160101_to_20160528.cp1252.csv",
                          retrieved_at="20160530T120000Z", last_modified="2016-05-28T00:00:00"))
    hapi_src = shared / "hdx" / "hdx_hapi_conflict_event_global_1995-1999.hxl.csv"
    hapi = hxl_slice(hapi_src, lambda c: c[0] in ("MLI", "SDN", "DZA", "ETH") and
                     (c[9] == "0" or c[0] != "ETH" or c[5] in ("ET05", "ET04")), 180)
    written.append(_write(out, "hdx-hapi-conflict-event", "hdx_hapi_conflict_event_global_1995-1999.csv",
                          hapi, "hdx/hdx_hapi_conflict_event_global_1995-1999.hxl.csv"))
    older_src = shared / "hdx" / "conflict_events_and_fatalities_2025-2029.hxl.csv"
    seen = {"MMR": 0, "UKR": 0, "ALB": 0}

    def pick_older(cells: List[str]) -> bool:
        if cells[0] not in seen or seen[cells[0]] >= 50:
            return False
        seen[cells[0]] += 1
        return True

    older = hxl_slice(older_src, pick_older, 150)
    written.append(_write(out, "conflict-events-and-fatalities", "conflict_events_and_fatalities_2025-2029.csv",
                          older, "hdx/conflict_events_and_fatalities_2025-2029.hxl.csv"))
    codes = codes_in(hapi, (5, 7)) | codes_in(older, (1, 3))
    pcodes = pcode_slice(shared / "hdx" / "global-pcodes-adm-1-2.csv", codes)
    written.append(_write(out, "global-pcodes", "global-pcodes-adm-1-2.csv", pcodes, "hdx/global-pcodes-adm-1-2.csv"))
    for path in written:
        print(f"{path.relative_to(out)}  {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
