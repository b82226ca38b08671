"""Every released policy decides a fixed set of applications byte for byte as it did when it was released.

A policy version is immutable: its records replay with its archived file, so a code change may never move the body a
released version decides (a review caught a rule revised three times under one version and one file hash: the
file's hash pins the parameters, not the code reading them). Each archived version decides the scenarios below —
a plain line, a cut to the advance rate, a field declared and seen fallow, one declared fallow explicitly, an unsure
fallow call, a declared crop not planted, a crop mismatch, an area the imagery does not verify, a pre-season
application, a line with a Book and a price dated after the decision — and the sha256 of each canonical body is pinned.
A NEW version adds its row here when it is released (``PINNED`` missing a version fails, naming the digests to pin).

Since body schema /2 (2026-12-06, ninth: each field's model P90 recorded) the bodies are pinned twice: written under
schema /1 (:func:`underwriting.decisions.as_schema`, what a replay of a record of that schema compares) they are the
digests each version was released with (``PINNED``), and as this release writes them, ``PINNED_V2``.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

import pandas as pd
import pytest

from tests.underwriting.test_decisions import (
    PROFILE,
    application,
    book_frame,
    feature_row,
    features_frame,
    prices_frame,
    valuation_row,
    valuations_frame,
)
from underwriting.decisions import BODY_SCHEMA, BODY_SCHEMAS, as_schema, decide
from underwriting.policy import ARCHIVE_DIR, load_policy
from underwriting.records import canonical_json

AS_OF = date(2025, 7, 15)
_FALLOW = dict(declared_crop=None, declared_crop_prob=None, crop_type="fallow", crop_type_prob=0.93,
               planted_area_ha=0.0, declared_area_ha=50.0)
_FALLOW_VAL = dict(crop="fallow", p10=0.0, p50=0.0, p90=0.0, price=0, in_scope=False)


def _scenarios() -> dict[str, tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]]:
    early = date(2025, 4, 1)
    two_prices = pd.concat([prices_frame(price=18000), prices_frame(price=20000)], ignore_index=True)
    two_prices.loc[0, ["season", "source", "price_date"]] = ["2024", "test table 2024", "2025-06-30"]
    two_prices.loc[1, "price_date"] = "2026-08-31"
    book = book_frame([{"line_id": "L1", "application_id": "A0", "farmer_token": "tok-a", "currency": "USD",
                        "limit": 2_000_000, "drawn": 1_500_000, "outstanding": 1_600_000, "start_date": "2025-04-01",
                        "maturity_date": "2025-12-31", "crop": "maize", "region": "us-nebraska"}])
    return {
        "plain": (application(), [feature_row("F1")], [valuation_row("F1")], {}),
        "advance_cut": (application(requested_amount=9_000_000, other_income=100_000, living_costs=300_000,
                                    unfinanced_costs=200_000, debt_due_this_cycle=1_000_000),
                        [feature_row("F1")], [valuation_row("F1")], {}),
        "fallow_blank": (application(), [feature_row("F1"), feature_row("F2", **_FALLOW)],
                         [valuation_row("F1"), valuation_row("F2", **_FALLOW_VAL)], {}),
        "fallow_said": (application(), [feature_row("F1"), feature_row("F2", **dict(_FALLOW, declared_crop="fallow"))],
                        [valuation_row("F1"), valuation_row("F2", **_FALLOW_VAL)], {}),
        "fallow_unsure": (application(), [feature_row("F1"), feature_row("F2", **dict(_FALLOW, crop_type_prob=0.3))],
                          [valuation_row("F1"), valuation_row("F2", **_FALLOW_VAL)], {}),
        "not_planted": (application(), [feature_row("F1"), feature_row("F2", planted_area_ha=0.0)],
                        [valuation_row("F1"), valuation_row("F2")], {}),
        "mismatch": (application(), [feature_row("F1", declared_crop_prob=0.05, crop_type="soybean")],
                     [valuation_row("F1")], {}),
        "area": (application(), [feature_row("F1", planted_area_ha=30.0)], [valuation_row("F1")], {}),
        "preseason": (application(), [feature_row("F1", as_of=early, growth_stage="not_sown", emergence_date=None,
                                                  planted_area_ha=None, n_clear_obs=0, crop_type=None,
                                                  crop_type_prob=None, declared_crop_prob=None)],
                      [valuation_row("F1", as_of=early)], {"as_of": early}),
        "book_and_late_price": (application(), [feature_row("F1")], [valuation_row("F1")],
                                {"book": book, "prices": two_prices}),
    }


def _digests(version: str, schema: str = BODY_SCHEMAS[0]) -> dict[str, str]:
    policy = load_policy(ARCHIVE_DIR / f"agcredit-default-{version}.yaml")
    out = {}
    for name, (app, feats, vals, kw) in _scenarios().items():
        item = decide(app, features_frame(feats), valuations_frame(vals),
                      kw.get("prices", prices_frame()), kw.get("book", book_frame()), policy, PROFILE,
                      kw.get("as_of", AS_OF))
        out[name] = hashlib.sha256(canonical_json(as_schema(item.body, schema)).encode()).hexdigest()[:16]
    return out


#: version -> scenario -> sha256[:16] of the canonical body, as released (2026.11.1-2026.12.9 computed with this
#: release's code and with the code before it, 86237ed: the same digests)
PINNED: dict[str, dict[str, str]] = {
    "2026.11.1": {
        "plain": "32ef60f3d771083a", "advance_cut": "89a81117e940034a", "fallow_blank": "9e236a025f5b2700",
        "fallow_said": "d48e3488d0ed3afb", "fallow_unsure": "a8a04c6d2d43a888", "not_planted": "d8e73ff1bbf15cf5",
        "mismatch": "7c993975673e6018", "area": "c57f87bae20843b8", "preseason": "dc027d5e343c0193",
        "book_and_late_price": "8db9f6542ad05b6f",
    },
    "2026.12.1": {
        "plain": "157f66dd1f45872f", "advance_cut": "7be0d9de49b8f798", "fallow_blank": "01401a9cd5b289df",
        "fallow_said": "56e0efc2ae244a28", "fallow_unsure": "5d8587b1650f4249", "not_planted": "c72fff00f4a105e4",
        "mismatch": "6457351d1e577e70", "area": "133a26a760e409ac", "preseason": "a2ce361e39958742",
        "book_and_late_price": "91e10baed77759eb",
    },
    "2026.12.2": {
        "plain": "a38ea42b62b68c89", "advance_cut": "2959f467989192d6", "fallow_blank": "b632dc1dddf0987e",
        "fallow_said": "1aa3176a88779403", "fallow_unsure": "de3f9983428d7ce0", "not_planted": "b8fe1c13aacd9e2e",
        "mismatch": "2e8376c304079412", "area": "3e44ce6cc0fc6648", "preseason": "ff774620df594e32",
        "book_and_late_price": "3b5e7e0746b7f206",
    },
    "2026.12.3": {
        "plain": "afe90ec70433e61c", "advance_cut": "943baed1be3caa91", "fallow_blank": "f9b9a286e195f300",
        "fallow_said": "940a35dd211f6f01", "fallow_unsure": "0a34fb06a9549e03", "not_planted": "574b47c88e228875",
        "mismatch": "62c3950c462f8348", "area": "de1f842f532da9bb", "preseason": "281fa908ab05443a",
        "book_and_late_price": "fa23992eb8e7ab6f",
    },
    "2026.12.4": {
        "plain": "50f84b9d093d64a9", "advance_cut": "be311fa55b728c27", "fallow_blank": "905a54043c6063dd",
        "fallow_said": "d779e237cd3d3c71", "fallow_unsure": "4e56d017816356f6", "not_planted": "95458a1980bb6455",
        "mismatch": "0d8c1a5c1563f5be", "area": "f06f233df813eafa", "preseason": "0139588cc320ccd0",
        "book_and_late_price": "7a1f26c342af666a",
    },
    "2026.12.5": {
        "plain": "42a7a4bd47b01457", "advance_cut": "b3b20adb591fb13a", "fallow_blank": "da70392b3bd9d9a5",
        "fallow_said": "2d1330d76916d099", "fallow_unsure": "d949169f515d1304", "not_planted": "92407473e4a618f4",
        "mismatch": "6e56f0ad2999cd31", "area": "e288b1b998848c0d", "preseason": "e57f6a686b7b54b9",
        "book_and_late_price": "bb7d39d4046ab1d4",
    },
    "2026.12.6": {
        "plain": "e88274e79411d6f3", "advance_cut": "73911f5aece9323e", "fallow_blank": "b3590a9dd542a898",
        "fallow_said": "e672c9794aa6d4da", "fallow_unsure": "2479075b7fb387e1", "not_planted": "7baf30734adc3181",
        "mismatch": "24923845f60eb107", "area": "6b2e761a04868536", "preseason": "be54c61e10a07ebd",
        "book_and_late_price": "52512910a2e79ab5",
    },
    "2026.12.7": {
        "plain": "9a6771b03a1bed4f", "advance_cut": "4c3a5bafdf2ee052", "fallow_blank": "558549ab17587240",
        "fallow_said": "a2be2fedfdd99bcc", "fallow_unsure": "ff59a81f8cc3f44f", "not_planted": "52bd955d375a0429",
        "mismatch": "5f973cf385339508", "area": "f2b0c44148b42734", "preseason": "e15097cbbda96982",
        "book_and_late_price": "1597acddf12d8448",
    },
    "2026.12.8": {
        "plain": "5e7bde6af8393e3c", "advance_cut": "8ebcd1fc8f2fd3ef", "fallow_blank": "4dcac5f9bbc850f7",
        "fallow_said": "f50a6740206c9d4e", "fallow_unsure": "e432357e9aaab002", "not_planted": "9a90c096ba78dab7",
        "mismatch": "e4407434790c9320", "area": "d204d45d217be317", "preseason": "ae391a0fedc6162c",
        "book_and_late_price": "4920611e1eed5ec9",
    },
    "2026.12.9": {
        "plain": "61cdef9f99e83d07", "advance_cut": "70fa9dc5c51a2dfa", "fallow_blank": "e719bb5764daed97",
        "fallow_said": "83969ac453ea7037", "fallow_unsure": "77c3325a8009913c", "not_planted": "42ec489f240589c5",
        "mismatch": "422a2aa3a811dc06", "area": "0915b0e7eb0a25c2", "preseason": "f7e560b13a8259e3",
        "book_and_late_price": "90d745d0f7fd48bd",
    },
    "2026.12.10": {
        "plain": "5ad8121bf610383c", "advance_cut": "ab05eac2ac85b407", "fallow_blank": "4dc0b65fc4fe91a9",
        "fallow_said": "6e81c3e89b234bfc", "fallow_unsure": "897eee2dabaf2ec2", "not_planted": "769937f314b1ac1c",
        "mismatch": "19b8b0bf7038576b", "area": "dabfe758a17d01b6", "preseason": "6251d96240bb660f",
        "book_and_late_price": "9e886c0c15d4417e",
    },
}


#: version -> scenario -> sha256[:16] of the canonical body under body schema /2 (computed 2026-12-06, ninth; each
#: body is its PINNED one with the fields' model_yield_p90_t_ha added and the schema named)
PINNED_V2: dict[str, dict[str, str]] = {
    "2026.11.1": {
        "plain": "3ea40e5a8466c13a", "advance_cut": "3aab9152a906336a", "fallow_blank": "2b1181b52662e3df",
        "fallow_said": "d8a75688e2bdd002", "fallow_unsure": "bca1a5472dd85b84", "not_planted": "52bbf714e23afd81",
        "mismatch": "2314fd9cfa0a92d9", "area": "0577a05092935a62", "preseason": "b48e6e3a7c48055a",
        "book_and_late_price": "37b2955f5e77dcbb",
    },
    "2026.12.1": {
        "plain": "575e81bf43011469", "advance_cut": "ae3e9419e4137c18", "fallow_blank": "ad70ae3aef5bb697",
        "fallow_said": "59b68fc8593f26f6", "fallow_unsure": "eb56148fd2617948", "not_planted": "30185646933cf056",
        "mismatch": "12411e268e62d8c4", "area": "7c7eb427dcfd1549", "preseason": "72c6a53b6bf7ce09",
        "book_and_late_price": "35c86f9acd529367",
    },
    "2026.12.2": {
        "plain": "b1e45244c59474af", "advance_cut": "0267c42d0fcd9eba", "fallow_blank": "33ab1527ff45d2d6",
        "fallow_said": "f6079c076ac123c1", "fallow_unsure": "d8ba6248b58f1fe7", "not_planted": "adb75d60c506e893",
        "mismatch": "fd5c2c55027f93de", "area": "5fcdc6c35bec65c5", "preseason": "de6c2a04a2927052",
        "book_and_late_price": "53a3a5ad36e3a622",
    },
    "2026.12.3": {
        "plain": "029661e14b02eadd", "advance_cut": "f46d632a303a3b05", "fallow_blank": "99755c22a350b599",
        "fallow_said": "98d9eff6b04c0778", "fallow_unsure": "e1cbcc170d558e8e", "not_planted": "2f9033ed4a9477c3",
        "mismatch": "2dead626f975850d", "area": "78ab1a7a66acea08", "preseason": "0041be5a9a7d9f87",
        "book_and_late_price": "dc919d535f623d27",
    },
    "2026.12.4": {
        "plain": "8f3561b7150b6c28", "advance_cut": "67a68cf66bd5f1da", "fallow_blank": "a954f9b534d15fd5",
        "fallow_said": "d466637f70234262", "fallow_unsure": "bd68973d15e625ed", "not_planted": "8c6153121d093c08",
        "mismatch": "7886fa4d5391e7ec", "area": "900e51e25cccf1e8", "preseason": "0e217fca995caca3",
        "book_and_late_price": "c6d03a057e365841",
    },
    "2026.12.5": {
        "plain": "f1410b57e4db5e03", "advance_cut": "e455b5f7a0d90b8b", "fallow_blank": "3fe4f1fce3626045",
        "fallow_said": "8a04ff00465b6745", "fallow_unsure": "4a373f51734b7d25", "not_planted": "fe86cfb50654c33c",
        "mismatch": "da889f894ca24fc1", "area": "ae04343245e17583", "preseason": "d6eba318a1a9d19f",
        "book_and_late_price": "f4aafc2d8f25a70d",
    },
    "2026.12.6": {
        "plain": "f9cc233fcfa085e5", "advance_cut": "c07dd90bde7237a0", "fallow_blank": "868dd2b2dbda8a44",
        "fallow_said": "b5d53f87c832fb9e", "fallow_unsure": "52cad590b9b97fd4", "not_planted": "4a3d65f387a97878",
        "mismatch": "b25e13ffcb28643e", "area": "34a9fb84af57f6c0", "preseason": "8a562ab1be28de10",
        "book_and_late_price": "d870d8f210196950",
    },
    "2026.12.7": {
        "plain": "ad79459b2408e3d4", "advance_cut": "06f7f62a985c8627", "fallow_blank": "ba1ede3012309d8b",
        "fallow_said": "cddb153766b52709", "fallow_unsure": "e548d5c88b321bec", "not_planted": "79829903bfdef241",
        "mismatch": "69f605b26be35ce3", "area": "3f249db879f73944", "preseason": "3363618916fc9de7",
        "book_and_late_price": "54034539b464dd78",
    },
    "2026.12.8": {
        "plain": "d291ff5e2d8d89ee", "advance_cut": "d905031d3c634f8f", "fallow_blank": "f0a7a8e80abd8cc5",
        "fallow_said": "8e6dace00b8ed698", "fallow_unsure": "5558895f7d86e80d", "not_planted": "4caac58c85176ea6",
        "mismatch": "1a78d65b0c845731", "area": "a91a1d420e21c713", "preseason": "7930bfc643d69560",
        "book_and_late_price": "58807ffd1fc07910",
    },
    "2026.12.9": {
        "plain": "b9c798d61f0ff47c", "advance_cut": "b746b7623a3d808e", "fallow_blank": "85fe39ef658f1490",
        "fallow_said": "83ec2d99d8706a9e", "fallow_unsure": "c2d3d3c4c03599b4", "not_planted": "d52b6bbbe8ba0e62",
        "mismatch": "c034b76262a7b9f9", "area": "c099d9a87d6bba79", "preseason": "efb1aaf9dee37cb6",
        "book_and_late_price": "aa288abc19fa0efa",
    },
    "2026.12.10": {
        "plain": "8c38769a6c63fe4b", "advance_cut": "031f6358788bbe0f", "fallow_blank": "fd06806996b840aa",
        "fallow_said": "b210e1b68e0fe73d", "fallow_unsure": "70ca29d742e59efb", "not_planted": "8e19c3abb6a449d8",
        "mismatch": "d067e9dc3c4ce1cd", "area": "752ea987ab819bbc", "preseason": "fbc21734e4df366c",
        "book_and_late_price": "5fb4bc136b7b5e17",
    },
}


def _versions() -> list[str]:
    names = [p.name.removeprefix("agcredit-default-").removesuffix(".yaml") for p in ARCHIVE_DIR.glob("*.yaml")]
    return sorted(names, key=lambda v: tuple(int(x) for x in v.split(".")))


@pytest.mark.parametrize("version", _versions())
def test_a_released_policy_decides_as_it_did_when_released(version: str) -> None:
    got = _digests(version)
    assert version in PINNED, f"policy {version} is released but its decisions are not pinned: add {got!r}"
    assert got == PINNED[version]


@pytest.mark.parametrize("version", _versions())
def test_a_released_policy_decides_under_body_schema_2_as_pinned(version: str) -> None:
    got = _digests(version, BODY_SCHEMA)
    assert version in PINNED_V2, f"policy {version} is released but its /2 bodies are not pinned: add {got!r}"
    assert got == PINNED_V2[version]
    assert got != PINNED[version]  # the schemas differ in every body: each records a field
