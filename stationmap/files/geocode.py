"""Geocoding rows that have an address but no coordinates.

The configured geopy geocoder (`geocoder` setting: nominatim or baidu, with `geocoder_key`) is asked
first; with no network, or with `geocoder = offline` (the default), an offline gazetteer over the
official township and district names answers with the township seat, marked approximate.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from geopy.exc import GeopyError
from geopy.geocoders import get_geocoder_for_service

from ..errors import InvalidInput
from ..geo import datums, geography

# Datum of each online service's answers.
SERVICE_DATUM = {"nominatim": "wgs84", "baiduv3": "bd09", "baidu": "bd09"}


@dataclass(frozen=True)
class Hit:
    lat: float  # WGS-84
    lon: float
    source: str  # recorded as the station's location_source


@lru_cache(maxsize=None)
def _gazetteer() -> list[tuple[str, str, str, float, float]]:
    """(name variant, township code, district code, lat, lon), longest names first."""
    out = []
    for code, t in geography.townships().iterrows():
        base = re.sub(r"(街道|镇|乡)$", "", t["name"])
        for variant in {t["name"], base} if len(base) >= 2 else {t["name"]}:
            out.append((variant, code, t["district"], t.geometry.y, t.geometry.x))
    return sorted(out, key=lambda r: -len(r[0]))


def offline(address: str, district: str | None = None) -> Hit:
    """The seat of the township named in `address` (within `district` if given)."""
    for name, code, dcode, lat, lon in _gazetteer():
        if name in address and (district is None or dcode == district):
            t = geography.townships().loc[code]
            return Hit(lat, lon, f"geocoded offline: seat of {t['name']} (approximate, a few km)")
    raise InvalidInput(f"no coordinates, and the address {address!r} names no township of Jieyang; "
                       "add 经度/纬度 or a 街道/镇/乡 name")


AREA_PREFIX = {"jieyang": "广东省揭阳市", "guangdong": "广东省"}  # what an address is asked within, by service area


class Geocoder:
    """Configured geocoder with the offline gazetteer as fallback."""

    def __init__(self, service: str = "offline", key: str = "", user_agent: str = "stationmap", url: str = "",
                 timeout: float = 5):
        self.service = service.lower()
        self._online = None
        if self.service != "offline":
            if self.service not in SERVICE_DATUM:
                raise InvalidInput(f"unknown geocoder {service!r}; use offline, nominatim or baidu")
            cls = get_geocoder_for_service("baiduv3" if self.service == "baidu" else self.service)
            kwargs = {"api_key": key} if self.service.startswith("baidu") else {"user_agent": user_agent}
            if url and self.service == "nominatim":
                parts = urlsplit(url)
                kwargs.update(scheme=parts.scheme or "https", domain=parts.netloc + parts.path.rstrip("/"))
            self._online = cls(timeout=timeout, **kwargs)

    @property
    def is_online(self) -> bool:
        return self._online is not None

    def online(self, address: str) -> Hit | None:
        """The online service's answer inside the service area (WGS-84), or None: offline, unreachable or nothing
        found there. The address is asked within the area's province and city when the area has them."""
        if self._online is None:
            return None
        area = geography.service_area()
        try:
            loc = self._online.geocode(AREA_PREFIX.get(area.key, "") + address)
        except GeopyError:
            return None
        if loc is None:
            return None
        lat, lon = datums.to_wgs84(loc.latitude, loc.longitude, SERVICE_DATUM[self.service])
        return Hit(lat, lon, f"geocoded by {self.service}") if area.covers(lat, lon) else None

    def geocode(self, address: str, district: str | None = None) -> Hit:
        """The online answer when there is one, else the offline gazetteer's township seat."""
        return self.online(address) or offline(address, district)


def from_settings(settings: dict) -> Geocoder:
    return Geocoder(settings["geocoder"], settings["geocoder_key"], settings["geocoder_user_agent"],
                    settings["geocoder_url"])
