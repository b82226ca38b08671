"""compare_bodies: which parts of a decision body differ, field by field, apart from the run's provenance."""

from __future__ import annotations

import copy

from pipelines.replay import compare_bodies


def test_compare_bodies_names_parts_fields_and_provenance() -> None:
    a = {"schema": 1, "limit": 100, "provenance": {"run": "underwrite 2009 2009-09-15", "features_sha256": "f1"},
         "fields": [{"field_id": "F1", "crop_type_prob": 0.9, "planted_area_ha": 1.0}, {"field_id": "F2"}],
         "input_hashes": {"features": "h", "provenance": "p1", "snapshot": "s1"}}
    b = copy.deepcopy(a)
    assert compare_bodies(a, b) == ([], [])
    b["provenance"]["run"] = "replay"
    b["input_hashes"].update(provenance="p2", snapshot="s2")  # derived from the provenance: not a decision input
    assert compare_bodies(a, b) == ([], ["run"])
    b["fields"][0]["crop_type_prob"] = 0.8
    del b["fields"][1]
    b["fields"].append({"field_id": "F3"})
    b["limit"] = 50
    b["input_hashes"]["features"] = "h2"
    parts, prov = compare_bodies(a, b)
    assert parts == ["fields[F1].crop_type_prob", "fields[F2] missing", "fields[F3] added", "input_hashes", "limit"]
    assert prov == ["run"]
