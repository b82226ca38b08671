"""The Sentinel Hub configuration (private to features.sources._sh_api, one of the modules allowed to import
``sentinelhub``; ruff ``banned-api``): the credentials (environment or a sentinelhub profile, never saved, logged or
shown), a profile's service URLs checked against the endpoint's, the endpoint's service URLs and its collection."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sentinelhub import DataCollection, SHConfig

from features.errors import UserInputError
from features.sources._sh_endpoints import ENDPOINTS, PROFILE_ENDPOINT, _profile_name
from features.sources._sh_io import SentinelHubCredentialsError


def _load_profile(profile: str, *, no_file: str, not_found: str) -> SHConfig:
    """A sentinelhub profile of the config file (read only), or a credentials error saying ``no_file`` (there is no
    config file) or ``not_found`` (no such profile in it)."""
    source = f"sentinelhub profile {profile!r}"
    if not Path(SHConfig.get_config_location()).is_file():
        raise SentinelHubCredentialsError(source=source, problem=no_file)
    try:
        return SHConfig.load(profile=profile)  # reads only: the file exists
    except KeyError:
        raise SentinelHubCredentialsError(source=source, problem=not_found) from None


def _credentials(profile: str | None, ep: dict[str, str] | None = None) -> tuple[str, str, str]:
    """(client id, client secret, where they came from) — never saved, never shown. ``ep``: the endpoint the
    credentials are for (a profile configured for other service URLs is refused)."""
    cfg_path = Path(SHConfig.get_config_location())
    if profile is None and not (os.environ.get("SH_CLIENT_ID") or os.environ.get("SH_CLIENT_SECRET")):
        env_profile = os.environ.get("SH_PROFILE")
        if env_profile or cfg_path.is_file():
            profile = env_profile or "default-profile"
    if profile is None:
        cid, secret = os.environ.get("SH_CLIENT_ID", ""), os.environ.get("SH_CLIENT_SECRET", "")
        missing = [n for n, v in (("SH_CLIENT_ID", cid), ("SH_CLIENT_SECRET", secret)) if not v]
        if missing:
            raise SentinelHubCredentialsError(source="environment", problem=(
                f"{' and '.join(missing)} not set; set SH_CLIENT_ID and SH_CLIENT_SECRET to an OAuth client of "
                f"your Sentinel Hub / CDSE account, or name a profile in {cfg_path} (--profile NAME of `imagery "
                f"fetch` and `features series|build`; SH_PROFILE=NAME for the others, whose --profile is the "
                f"policy's)"))
        return cid, secret, "SH_CLIENT_ID/SH_CLIENT_SECRET"
    source = f"sentinelhub profile {profile!r}"
    loaded = _load_profile(profile, no_file=(
        f"no sentinelhub config file at {cfg_path}; create the profile with "
        f"`sentinelhub.config --profile {profile} --sh_client_id ... --sh_client_secret ...` "
        f"or set SH_CLIENT_ID and SH_CLIENT_SECRET"),
        not_found=f"profile not found in {cfg_path}; name another (--profile NAME, or SH_PROFILE=NAME where "
                  f"--profile is the policy's) or set SH_CLIENT_ID and SH_CLIENT_SECRET")
    missing = [n for n, v in (("sh_client_id", loaded.sh_client_id), ("sh_client_secret", loaded.sh_client_secret))
               if not v]
    if missing:
        raise SentinelHubCredentialsError(source=source, problem=f"{' and '.join(missing)} empty in {cfg_path}; "
                                                                 "or set SH_CLIENT_ID and SH_CLIENT_SECRET")
    if ep is not None:
        _check_profile_urls(loaded, ep, source)
    return loaded.sh_client_id, loaded.sh_client_secret, source


def _check_profile_urls(loaded: SHConfig, ep: dict[str, str], source: str) -> None:
    """A profile that names its own service URLs holds credentials for that deployment: refuse to send them to the
    endpoint's hosts instead (they were sent to CDSE whatever the profile said). URLs left at the sentinelhub
    defaults say nothing and are not compared."""
    defaults = SHConfig(use_defaults=True)
    for key, where in (("sh_base_url", "base_url"), ("sh_token_url", "token_url")):
        given = str(getattr(loaded, key) or "").rstrip("/")
        if given and given != str(getattr(defaults, key)).rstrip("/") and given != ep[where].rstrip("/"):
            raise SentinelHubCredentialsError(source=source, problem=(
                f"its {key} is {given}, but this endpoint uses {ep[where]}: its credentials are not sent to another "
                f"host; pass the --endpoint (cdse|sinergise) the profile is for, --endpoint profile to use the "
                f"profile's own URLs, or a profile of this endpoint (`underwrite`, `reunderwrite` and `monitor` "
                f"reach cdse only: fetch with `agcredit imagery fetch --endpoint profile` and give them the folder)"))


def _endpoint(endpoint: str, profile: str | None = None) -> dict[str, str]:
    name = str(endpoint).lower()
    if name == PROFILE_ENDPOINT:
        return _profile_endpoint(_profile_name(profile))
    ep = ENDPOINTS.get(name)
    if ep is None:
        raise UserInputError(f"endpoint: expected one of {', '.join([*ENDPOINTS, PROFILE_ENDPOINT])}, "
                             f"found {endpoint!r}")
    return ep


def resolve_endpoint(endpoint: str, profile: str | None = None) -> dict[str, str]:
    """The service URLs of ``endpoint`` (``cdse``, ``sinergise``, or ``profile``: the profile's own): a one-line
    :class:`UserInputError` for a name not known, a :class:`SentinelHubCredentialsError` for a profile not usable."""
    return _endpoint(endpoint, profile)


def endpoint_credentials(ep: dict[str, str], profile: str | None) -> tuple[str, str, str]:
    """(client id, client secret, where they came from) for the endpoint ``ep`` (:func:`resolve_endpoint`): the
    profile's own for ``--endpoint profile``, else the environment's or ``profile``'s, checked to be for ``ep``'s
    hosts. Never saved, never shown; a :class:`SentinelHubCredentialsError` names where it looked."""
    if "profile" in ep:  # --endpoint profile: the profile's credentials, sent to its own URLs
        return _credentials(ep["profile"], None)
    return _credentials(profile, ep)


def _profile_endpoint(profile: str) -> dict[str, str]:
    """The service URLs of a sentinelhub profile (``--endpoint profile``): both must be https."""
    cfg_path = Path(SHConfig.get_config_location())
    source = f"sentinelhub profile {profile!r}"
    loaded = _load_profile(profile, no_file=(
        f"--endpoint profile uses the profile's service URLs, but there is no sentinelhub config file at "
        f"{cfg_path}; pass --profile NAME of a profile there"),
        not_found=f"profile not found in {cfg_path} (--endpoint profile needs one: pass --profile NAME)")
    urls = {"base_url": str(loaded.sh_base_url or "").rstrip("/"), "token_url": str(loaded.sh_token_url or "")}
    unnamed = [k for k in ("sh_base_url", "sh_token_url") if k not in _profile_keys(cfg_path, profile)]
    if unnamed:  # sentinelhub fills them with Sinergise's hosts: the credentials would go where the profile never said
        raise UserInputError(f"endpoint profile: {source} names no {' and no '.join(unnamed)} in {cfg_path} (the "
                             "sentinelhub defaults, Sinergise's hosts, are no choice of the profile's): set both for "
                             "the deployment its credentials are for, or pass --endpoint cdse or sinergise")
    for key, url in (("sh_base_url", urls["base_url"]), ("sh_token_url", urls["token_url"])):
        if not url.lower().startswith("https://"):
            raise UserInputError(f"endpoint profile: {source} {key} is {url or 'empty'!r}; credentials are sent "
                                 f"only over https (set an https:// {key} in {cfg_path})")
    known = {e["base_url"]: e["collection"] for e in ENDPOINTS.values()}
    # Sentinel-2 L2A served by that deployment (the standard collection names Sinergise's host as its service URL)
    collection = known.get(urls["base_url"], "s2l2a-" + hashlib.sha256(urls["base_url"].encode()).hexdigest()[:12])
    return {**urls, "collection": collection, "profile": profile}


def _profile_keys(cfg_path: Path, profile: str) -> set[str]:
    """The keys a profile of the sentinelhub config file sets itself (``SHConfig.load`` fills the rest with the
    package's defaults, which cannot be told from a value the user wrote)."""
    import tomllib

    try:
        section = tomllib.loads(cfg_path.read_text(encoding="utf-8")).get(profile)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return set()
    return set(section) if isinstance(section, dict) else set()


def _collection(ep: dict[str, str]) -> DataCollection:
    if ep["collection"]:
        return DataCollection.SENTINEL2_L2A.define_from(ep["collection"], service_url=ep["base_url"])
    return DataCollection.SENTINEL2_L2A
