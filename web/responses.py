"""HTTP responses of the web layer's download formats: GeoJSON and CSV (UTF-8 with BOM, opens in Excel).

Any cell a spreadsheet would run as a formula is quoted (stationmap.files.sheets).
"""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from stationmap.files.sheets import records_csv, safe_csv_text


def geojson_response(doc: dict[str, Any], filename: str | None = None) -> Response:
    resp = jsonify(doc)
    resp.mimetype = "application/geo+json"
    if filename:
        resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return resp


def csv_text_response(text: str, filename: str) -> Response:
    """A CSV download, with a UTF-8 BOM (added if missing) so that Excel shows the Chinese names."""
    text = safe_csv_text(text)
    resp = Response(text if text.startswith("\ufeff") else "\ufeff" + text, mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return resp


def csv_response(rows: list[dict[str, Any]], filename: str) -> Response:
    """Rows as a CSV download (columns in first-seen order; lists and dicts as JSON text)."""
    import json

    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns and k != "geometry"]
    flat = ({k: json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v for k, v in r.items()}
            for r in rows)
    return csv_text_response(records_csv(columns, flat, extrasaction="ignore"), filename)
