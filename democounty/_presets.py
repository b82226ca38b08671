"""Region presets of the demo county: crops, weather, AquaCrop settings, sizes, trap rates, money.

Every number that shapes the synthetic county lives here, so a reader can see what was
assumed. Yields from AquaCrop are dry matter; ``MOISTURE_PCT`` converts to the market basis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CropSpec", "Preset", "PRESETS", "SIZES", "TRAP_RATES", "MOISTURE_PCT", "REGIONS", "GENERATOR_VERSION"]

GENERATOR_VERSION = "democounty-1.0"

#: market moisture basis (% wet basis) of each crop's reported/traded yield
MOISTURE_PCT: dict[str, float] = {
    "maize": 15.5, "soybean": 13.0, "winter_wheat": 13.5, "sorghum": 14.0, "rice": 14.0, "cotton": 8.0,
}

#: planted traps, each the probability per planted-crop field-season (``overlap``: per field, all seasons)
TRAP_RATES: dict[str, float] = {
    "partly_planted": 0.06,
    "crop_mismatch": 0.05,
    "overlap": 0.04,
    "never_planted": 0.03,
    "failure": 0.04,
}

#: stress the canopy cannot show (fixed here, never tuned to flatter the models):
#: every planted field-season's yield is multiplied by lognormal(0, HIDDEN_SD) and,
#: with probability HAIL_RATE, by (1 - U(HAIL_LOSS)) for hail just before harvest.
HIDDEN_SD = 0.10
HAIL_RATE = 0.03
HAIL_LOSS = (0.25, 0.70)


@dataclass(frozen=True)
class CropSpec:
    """One crop of a preset and how AquaCrop grows it."""

    name: str                      # agcredit crop name
    aquacrop: str                  # AquaCrop preset
    share: float                   # share of field-seasons
    sow_window: tuple[str, str]    # MM-DD earliest, latest
    sow_year_offset: int           # 0 = sown in the season year, -1 = year before
    end_mmdd: str                  # end of the AquaCrop run (MM-DD)
    end_year_offset: int           # year offset of the end relative to the season
    soils: tuple[str, ...]
    irrigated_share: float         # share of this crop's conditions that are irrigated
    params: dict[str, float] = field(default_factory=dict)   # AquaCrop overrides
    gdd_scale: float = 1.0         # initial scaling of GDD stages (variety)
    ccx_range: tuple[float, float] = (0.70, 1.0)   # management: multiplier of CCx
    harvest_delay: tuple[int, int] = (7, 21)       # days from maturity to harvest
    bunds_m: float = 0.0           # bund height (paddy)
    price: float = 0.0             # reference price per tonne at market moisture (major units)
    cost_per_ha: float = 0.0       # production cost per ha (major units)


@dataclass(frozen=True)
class Preset:
    """A region preset."""

    region: str
    weather_file: str
    crs: str
    origin: tuple[float, float]            # UTM x, y of the county's south-west corner
    current_season: int
    first_weather_season: int              # earliest season the bundled weather supports
    crops: tuple[CropSpec, ...]
    fallow_share: float
    irrigated_fields: float                # share of fields equipped for irrigation
    field_ha: tuple[float, float]          # field sizes (ha): min, max
    fields_per_farmer: tuple[int, int]
    block_m: tuple[float, float]           # block size range (m) between roads
    road_m: float
    margin_m: float                        # field edge margin (tree lines, bunds, headlands)
    currency: str
    policy_profile: str
    area_round_ha: float                   # declared areas are rounded to this
    living_costs: tuple[float, float]      # household living costs per season
    other_income: tuple[float, float]
    sizes: dict[str, int]                  # number of fields per size
    pool_per_crop: dict[str, int]          # conditions per crop and season per size


SIZES = ("tiny", "demo", "eval")

_NE_CROPS = (
    CropSpec("maize", "MaizeGDD", 0.42, ("04-25", "05-15"), 0, "11-15", 0,
             ("SiltLoam", "SiltClayLoam", "Loam", "SandyLoam"), 0.5,
             params={"HI0": 0.37}, ccx_range=(0.78, 1.0), harvest_delay=(14, 35), price=150.0, cost_per_ha=1600.0),
    CropSpec("soybean", "SoybeanGDD", 0.30, ("05-05", "05-28"), 0, "11-15", 0,
             ("SiltLoam", "SiltClayLoam", "Loam", "SandyLoam"), 0.4,
             params={"HI0": 0.36}, gdd_scale=0.80, ccx_range=(0.78, 1.0), harvest_delay=(5, 18),
             price=340.0, cost_per_ha=900.0),
    CropSpec("winter_wheat", "WheatGDD", 0.15, ("09-15", "10-08"), -1, "08-31", 0,
             ("SiltLoam", "Loam", "SandyLoam"), 0.0,
             params={"HI0": 0.37}, ccx_range=(0.75, 1.0), harvest_delay=(3, 12), price=180.0, cost_per_ha=650.0),
    CropSpec("sorghum", "SorghumGDD", 0.08, ("05-20", "06-08"), 0, "11-15", 0,
             ("SiltLoam", "Loam", "SandyLoam"), 0.0,
             params={"HI0": 0.36}, ccx_range=(0.75, 1.0), harvest_delay=(10, 30), price=140.0, cost_per_ha=700.0),
)

_IN_CROPS = (
    CropSpec("rice", "PaddyRiceGDD", 0.40, ("07-01", "07-25"), 0, "12-31", 0, ("Paddy",), 1.0,
             params={"CCx": 0.90, "WP": 13.5}, ccx_range=(0.62, 1.0), harvest_delay=(3, 12), bunds_m=0.2,
             price=17500.0, cost_per_ha=45000.0),
    CropSpec("maize", "MaizeGDD", 0.25, ("06-20", "07-12"), 0, "12-31", 0, ("SandyLoam", "Loam", "Clay"), 0.25,
             params={"CCx": 0.80, "WP": 22.0, "HI0": 0.39}, ccx_range=(0.55, 1.0), harvest_delay=(7, 20),
             price=17000.0, cost_per_ha=35000.0),
    CropSpec("cotton", "CottonGDD", 0.30, ("06-25", "07-20"), 0, "03-31", 1, ("Clay", "Loam", "SandyLoam"), 0.0,
             params={"CCx": 0.85, "WP": 11.0, "HI0": 0.28}, ccx_range=(0.55, 1.0), harvest_delay=(0, 15),
             price=52000.0, cost_per_ha=50000.0),
)

PRESETS: dict[str, Preset] = {
    "us-nebraska": Preset(
        region="us-nebraska", weather_file="champion_climate.txt", crs="EPSG:32614",
        origin=(268000.0, 4480000.0), current_season=2018, first_weather_season=1983,
        crops=_NE_CROPS, fallow_share=0.05, irrigated_fields=0.5, field_ha=(5.0, 60.0), fields_per_farmer=(2, 5),
        block_m=(700.0, 1200.0), road_m=15.0, margin_m=12.0, currency="USD", policy_profile="us-operating",
        area_round_ha=0.5, living_costs=(20000.0, 45000.0), other_income=(5000.0, 40000.0),
        sizes={"tiny": 12, "demo": 150, "eval": 1400},
        pool_per_crop={"tiny": 1, "demo": 6, "eval": 16},
    ),
    "in-smallholder": Preset(
        region="in-smallholder", weather_file="hyderabad_climate.txt", crs="EPSG:32644",
        origin=(230000.0, 1930000.0), current_season=2009, first_weather_season=2000,
        crops=_IN_CROPS, fallow_share=0.05, irrigated_fields=0.35, field_ha=(0.1, 2.0), fields_per_farmer=(2, 5),
        block_m=(160.0, 260.0), road_m=6.0, margin_m=2.0, currency="INR", policy_profile="in-kcc",
        area_round_ha=0.05, living_costs=(40000.0, 90000.0), other_income=(20000.0, 90000.0),
        sizes={"tiny": 12, "demo": 600, "eval": 2600},
        pool_per_crop={"tiny": 1, "demo": 6, "eval": 16},
    ),
}

REGIONS: tuple[str, ...] = tuple(PRESETS)
