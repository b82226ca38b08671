"""The Sentinel Hub endpoints (no ``sentinelhub`` import here; from :mod:`features.sources.sentinelhub`): the
service and token URLs and collection of ``cdse`` and ``sinergise``, ``--endpoint profile`` and the profile's name."""

from __future__ import annotations

import os

__all__ = [
    "ENDPOINTS", "PROFILE_ENDPOINT", "_profile_name",
]

ENDPOINTS: dict[str, dict[str, str]] = {
    "cdse": {"base_url": "https://sh.dataspace.copernicus.eu",
             "token_url": "https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/openid-connect/token",
             "collection": "s2l2a-cdse"},
    "sinergise": {"base_url": "https://services.sentinel-hub.com",
                  "token_url": "https://services.sentinel-hub.com/auth/realms/main/protocol/openid-connect/token",
                  "collection": ""},
}


#: ``--endpoint profile``: the sentinelhub profile's own ``sh_base_url`` / ``sh_token_url`` (a self-hosted, mirror or
#: other Sinergise deployment), https only; its client id and secret go there, as the user chose explicitly
PROFILE_ENDPOINT = "profile"


def _profile_name(profile: str | None) -> str:
    return profile or os.environ.get("SH_PROFILE") or "default-profile"
