"""Decision provenance of the imagery: the scenes' fingerprint."""

from __future__ import annotations

from pathlib import Path


def test_scenes_fingerprint_names_content_not_folders(tmp_path: Path) -> None:
    """Decision provenance names the imagery by its scenes (dates, tiles, file names and sizes, radiometry), not
    by the folder: a copied or renamed folder gives the same fingerprint, a scene added, resized or rescaled
    another."""
    import dataclasses
    import datetime as dt

    from features.series import scenes_fingerprint
    from features.sources.local import Scene

    def scene(folder: Path, day: int, data: bytes, scale: float = 1e-4) -> Scene:
        folder.mkdir(exist_ok=True)
        p = folder / f"S2_{day:02d}.tif"
        p.write_bytes(data)
        return Scene(dt.date(2009, 7, day), "43QGU", p, ("B04", "B08", "SCL"), scale, 0.0, 0.0, "SCL", "")

    a = [scene(tmp_path / "scenes", d, b"x" * d) for d in (3, 8)]
    b = [scene(tmp_path / "renamed", d, b"x" * d) for d in (8, 3)]
    assert scenes_fingerprint(a) == scenes_fingerprint(b)
    assert scenes_fingerprint(a) != scenes_fingerprint([*a, scene(tmp_path / "scenes", 13, b"y")])
    assert scenes_fingerprint(a) != scenes_fingerprint([a[0], scene(tmp_path / "other", 8, b"x" * 9)])
    assert scenes_fingerprint(a) != scenes_fingerprint([a[0], dataclasses.replace(a[1], scale=1.0)])


def test_season_window_says_what_is_missing_and_which_options_give_it() -> None:
    """`features series` and `imagery fetch` (which take --start/--end) on fields without a region said "no window for
    region None (known: …); give start and end" — neither the missing column nor the options named. Only a command
    with those options names them (``options=True``): `features build` has none, and said to give them."""
    import pytest

    from features.errors import ImageryError
    from features.series import season_window

    with pytest.raises(ImageryError, match=r"the fields have no region \(add a region column to the fields file — "
                                           r"one of .*in-smallholder.* or give the season's first and last imagery "
                                           r"dates: --start and --end\)$"):
        season_window("2018", None, options=True)
    with pytest.raises(ImageryError, match=r"no season window for region 'us-iowa' \(known: .*us-nebraska; a bank adds "
                                           r"its own region's season_windows\.csv row in the folder AGCREDIT_REGIONS_DIR "
                                           r"names; or give the season's first and last imagery dates: --start and "
                                           r"--end\)$"):
        season_window("2018", "us-iowa", options=True)
    with pytest.raises(ImageryError, match=r"the fields have no region \(add a region column to the fields file — "
                                           r"one of in-smallholder, us-nebraska\)$"):
        season_window("2018", None)
    with pytest.raises(ImageryError, match=r"no season window for region 'us-iowa' \(known: .*us-nebraska; a bank adds "
                                           r"its own region's season_windows\.csv row in the folder AGCREDIT_REGIONS_DIR "
                                           r"names\)$"):
        season_window("2018", "us-iowa")
    assert season_window("2018", "us-nebraska")[0].year in (2017, 2018)
