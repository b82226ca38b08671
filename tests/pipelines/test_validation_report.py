"""``agcredit evaluate report``: the model-validation report of the evaluations' JSONs.

The inputs are real outputs of ``agcredit evaluate … --json`` (tests/pipelines/data/validation/): the synthetic
sh-demo county's five evaluations (fields resampled), trimmed of what the report does not read (the crop-type
per-season sets and the declared-crop diagnostics, the growth-stage diagnosis, the yield's per-season rows other
than the model's at end of season), and ne-eval's alerts with intervals by condition. The verdicts expected below
are worked out by hand from the figures and intervals in those files.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from pipelines.cli import app
from pipelines.validation_report import (
    MET,
    NOT_MET,
    NOT_REPORTED,
    POINT_MET,
    STRADDLES,
    UNGATED,
    Evaluation,
    gates,
    load_evaluation,
    load_targets,
    verdict,
)
from tests.conftest import REPO
from tests.pipelines.test_report import headless_chromium

DATA = Path(__file__).parent / "data" / "validation"
KIND_FILES = {"alerts": "sh-demo-alerts.json", "growth-stage": "sh-demo-growth-stage.json",
              "area": "sh-demo-area.json", "crop-type": "sh-demo-crop-type.json", "yield": "sh-demo-yield.json"}
FIXED = "2026-12-05T12:00:00Z"


def _run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["evaluate", "report", *args], env=env)


def _report(tmp_path: Path, *names: str, out: str = "report.html") -> str:
    r = _run(*(str(DATA / n) for n in names), "--out", str(tmp_path / out), "--fixed-time", FIXED)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    return (tmp_path / out).read_text(encoding="utf-8")


# -- kinds and verdicts ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "name"), [*KIND_FILES.items(), ("alerts", "ne-eval-alerts-by-condition.json")])
def test_kind_told_by_keys(kind: str, name: str) -> None:
    ev = load_evaluation(DATA / name)
    assert ev.kind == kind
    assert ev.synthetic is True
    assert len(ev.sha256) == 64


def test_verdict_rule() -> None:
    assert verdict(0.97, (0.951, 0.99), ">=", 0.95) == MET
    assert verdict(0.97, (0.91, 0.99), ">=", 0.95) == STRADDLES
    assert verdict(0.68, (0.60, 0.83), ">=", 0.90) == NOT_MET
    assert verdict(4.9, (4.2, 5.5), "<=", 7.0) == MET
    assert verdict(1.0, (1.0, 3.0), "<=", 2.0) == STRADDLES
    assert verdict(0.10, None, "in", (0.07, 0.13)) == POINT_MET  # no interval: met on the point, never "met"
    assert verdict(0.16, None, "in", (0.07, 0.13)) == NOT_MET
    assert verdict(0.14, (0.12, 0.16), "in", (0.07, 0.13)) == STRADDLES
    assert verdict(0.20, (0.14, 0.26), "in", (0.07, 0.13)) == NOT_MET
    assert verdict(0.95, None, ">=", 0.95) == POINT_MET  # on the target meets it


#: the verdicts worked out by hand from the files' figures, intervals and the README's targets
EXPECTED = {
    "alerts": {  # precision 0.982 (0.941-1.0) vs 0.95; recall 0.714 (0.600-0.826) vs 0.90; delay 1 (1-2) vs 2
        "precision (all high alerts)": STRADDLES, "recall (adverse events caught)": NOT_MET,
        "median delay after onset": MET},
    "growth-stage": {  # summer: MAE 5.6 (5.2-5.9) / 4.7 (4.4-5.0) / 4.3 (4.0-4.6) d; 94.8% (92.7-96.7%); 74.4% (70.4-78.1%)
        "emergence MAE (summer crops)": MET, "maturity MAE (summer crops)": MET, "harvest MAE (summer crops)": MET,
        "maturity within 10 days (summer crops)": MET, "stage right at mid-season (summer crops)": NOT_MET},
    "area": {  # 0.5-2 ha p90 2.8% (0.1-19.1%) vs 7%; partly planted p90 19.9% (8.5-28.2%) vs 25%; 2-10 ha: 1 field
        "< 0.5 ha: median error": MET, "< 0.5 ha: p90 error": MET, "0.5-2 ha: median error": MET,
        "0.5-2 ha: p90 error": STRADDLES, "2-10 ha: median error": UNGATED, "2-10 ha: p90 error": UNGATED,
        "> 10 ha: median error": UNGATED, "> 10 ha: p90 error": UNGATED, "partly planted: median error": MET,
        "partly planted: p90 error": STRADDLES, "county total error": MET,
        # 50 of 50 at 1.000-1.000 (a bootstrap of no width): the exact interval 0.929-1.000 straddles 0.95
        "never-planted recall": STRADDLES},
    "crop-type": {  # in-smallholder; ECE current mid 0.045 (0.034-0.077), block end 0.066 (0.044-0.118),
        # block mid 0.118 (0.080-0.192) against 0.05; LOSO means without intervals
        "ECE, leave-one-season-out mean, end": POINT_MET, "ECE, leave-one-season-out mean, mid": POINT_MET,
        "ECE, current season, end": MET, "ECE, current season, mid": STRADDLES,
        "ECE, held-out conditions (spatial block), end": STRADDLES,
        "ECE, held-out conditions (spatial block), mid": NOT_MET,
        "accuracy, leave-one-season-out mean, end": MET, "accuracy, leave-one-season-out mean, mid": MET,
        # worst season 0.93 (2003; no interval) against 0.88; rice vs non-rice mid 0.988 (0.985-0.991) against 0.85
        "accuracy, worst held-out season, end": POINT_MET,
        "rice vs non-rice accuracy, leave-one-season-out mean, mid": MET},
    "yield": {  # cotton R² 0.147 (0.027-0.216) against 80% of the oracle's 0.199 = 0.159; maize -0.106
        # (-0.168 to -0.067), oracle negative: 0.45 stands; rice 0.441 (0.359-0.501) vs 0.30
        "within-crop R², maize, end": NOT_MET, "within-crop R², rice, end": MET,
        "within-crop R², cotton, end": STRADDLES, "RMSE, maize, end (% of mean yield)": NOT_MET,
        "RMSE, rice, end (% of mean yield)": NOT_MET, "RMSE, cotton, end (% of mean yield)": NOT_MET,
        "true yields below P10, the held-out season furthest from 10%": NOT_MET,
        "true yields above P90, the held-out season furthest from 10%": NOT_MET},
}


@pytest.mark.parametrize("kind", list(KIND_FILES))
def test_verdicts_against_hand_computed(kind: str) -> None:
    ev = load_evaluation(DATA / KIND_FILES[kind])
    got, notes = gates(ev, load_targets(), "in-smallholder")
    assert {g.label: g.verdict for g in got} == EXPECTED[kind]
    assert notes == []


def test_yield_target_relaxed_to_the_oracle() -> None:
    ev = load_evaluation(DATA / KIND_FILES["yield"])
    cotton = next(g for g in gates(ev, load_targets(), None)[0] if g.label == "within-crop R², cotton, end")
    assert cotton.target == pytest.approx(0.8 * 0.19898289249535905, abs=1e-6)
    assert "80% of the oracle's 0.199" in cotton.note
    assert cotton.baselines["oracle"] == pytest.approx(0.199, abs=1e-3)
    assert cotton.baselines["crop mean"] is not None and cotton.baselines["farmer average"] is not None


def test_baselines_beside_the_figures() -> None:
    al = load_evaluation(DATA / KIND_FILES["alerts"])
    prec = gates(al, load_targets(), None)[0][0]
    assert prec.baselines == {"naive": 0.1287}
    area = load_evaluation(DATA / KIND_FILES["area"])
    total = next(g for g in gates(area, load_targets(), None)[0] if g.label == "county total error")
    # the polygon baseline (the field's polygon as planted, since 2026-12-05, tenth): absent from an earlier JSON
    assert total.baselines == {"declared": 0.14259, "polygon": None}
    d = json.loads((DATA / KIND_FILES["area"]).read_text())
    d["county_total"]["polygon_error"] = 0.0123
    ev = Evaluation("x.json", "0" * 64, "area", d)
    total = next(g for g in gates(ev, load_targets(), None)[0] if g.label == "county total error")
    assert total.baselines == {"declared": 0.14259, "polygon": 0.0123}


def test_region_specific_targets_need_the_region(tmp_path: Path) -> None:
    d = json.loads((DATA / KIND_FILES["crop-type"]).read_text())
    ev = Evaluation("x.json", "0" * 64, "crop-type", {k: v for k, v in d.items() if k != "region"})
    got, notes = gates(ev, load_targets(), None)
    assert len(got) == 6 and all(g.label.startswith("ECE") for g in got)
    assert notes == ["the region is not stated: the targets of in-smallholder, us-nebraska not applied"]
    # us-nebraska's rows on a smallholder county: its figures (macro-F1) are there, its classes (soybean) are not
    got_ne = {g.label: g.verdict for g in gates(ev, load_targets(), "us-nebraska")[0]}
    assert got_ne["F1 soybean, leave-one-season-out mean, end"] == NOT_REPORTED
    assert got_ne["macro-F1, leave-one-season-out mean, end"] == MET


# -- the page -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(KIND_FILES))
def test_each_kind_renders(tmp_path: Path, kind: str) -> None:
    html = _report(tmp_path, KIND_FILES[kind])
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert '<div class="banner">SYNTHETIC' in html
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html
    assert html.count('<section class="ev"') == 1
    assert "<h3>Targets</h3>" in html
    n_verdicts = sum(html.count(f">{v}</span>") for v in (MET, NOT_MET, STRADDLES, POINT_MET, UNGATED, NOT_REPORTED))
    assert n_verdicts == len(EXPECTED[kind])
    assert html.count("<svg") >= 2
    sha = load_evaluation(DATA / KIND_FILES[kind]).sha256
    assert f"<td>{KIND_FILES[kind]}</td><td>{kind}</td><td><code>{sha}</code></td>" in html
    assert "generated 2026-12-05 12:00:00 UTC" in html
    # the county by its folder's name, never its path; no field or farmer ids
    assert "sh-demo" in html and "/work/" not in html and "/data/county" not in html
    assert not re.search(r"\bF\d{3,}\b", html)


def test_kind_specific_content(tmp_path: Path) -> None:
    html = _report(tmp_path, *KIND_FILES.values(), "ne-eval-alerts-by-condition.json")
    assert html.count('<section class="ev"') == 6
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="reliability"') == 4  # current, block x end, mid
    assert "recall by event type" in html and "precision by alert type" in html
    assert "R² by crop" in html and "emergence MAE (days)" in html and "p90 error by group" in html
    assert "thresholds tuned on the diaries of 2007, 2008" in html  # alerts: tuned_on
    assert "trained on the declared crops of 2003, 2004, 2005, 2006, 2007, 2008" in html  # crop type
    # 27 conditions held out of training, 4 of them in the season tested (a walkthrough: "4 … held out of training")
    assert "spatial block: 27 conditions held out of training, 4 of them in the current season's test" in html
    assert "phenology calibrated on the declared dates of 2006, 2007, 2008" in html
    assert "interval_by: <b>condition</b>" in html  # ne-eval alerts, by condition (inside its metrics)
    assert "clustered by simulated condition (65 groups drawn whole)" in html
    # the yield and alerts JSONs name no region: the same county's other inputs do
    assert html.count("in-smallholder (from another input of the same county)") == 2
    assert "not stated in the JSON" in html  # ne-eval alerts: no other ne-eval input
    # counties in the order given, each evaluation's kind in the report's order
    assert html.index("Crop type — sh-demo") < html.index("Yield — sh-demo") < html.index(
        "Early warning (alerts) — sh-demo") < html.index("Early warning (alerts) — ne-eval-7")


def test_a_figure_without_a_naive_baseline_says_so(tmp_path: Path) -> None:
    """A model-risk audit: the page promised every figure "beside its naive baseline", but the calibration error's
    gates (and a class's F1, the rice-vs-non-rice accuracy, the yield coverage) have none in the evaluation (the
    declared crop gives no probabilities): the sentence says where, the cell says "no baseline", nothing invented."""
    html = _report(tmp_path, KIND_FILES["crop-type"])
    assert "beside its naive baseline where the evaluation holds one (<i>no baseline</i> where it holds none" in html
    rows = re.findall(r"<tr><td>(ECE[^<]*|rice vs non-rice[^<]*)</td><td>#8</td><td class=num>[^<]*</td><td>([^<]*)"
                      r"</td>", html)
    assert len(rows) == 7 and {base for _, base in rows} == {"no baseline"}, rows
    assert "<td>declared crop 0.927</td>" in html  # a baseline the JSON holds: printed as before


def test_negative_bounds_joined_by_to(tmp_path: Path) -> None:
    """sh-demo maize R² -0.106 (-0.168 to -0.067): a negative bound's interval reads "lo to hi", never "-0.168–-0.067"
    (a subtraction), in the targets table, the tables and the charts alike; positive ones keep the dash."""
    html = _report(tmp_path, KIND_FILES["yield"])
    assert "(-0.168 to -0.067)" in html and "–-" not in html
    assert re.search(r"0\.441 \(0\.\d{3}–0\.\d{3}\)", html)  # rice, positive bounds


def test_banner_follows_the_label(tmp_path: Path) -> None:
    d = json.loads((DATA / KIND_FILES["area"]).read_text())
    (tmp_path / "real.json").write_text(json.dumps({**d, "label": "real"}))
    (tmp_path / "unsaid.json").write_text(json.dumps({k: v for k, v in d.items() if k != "label"}))
    for name, banner, absent in (("real.json", "as labelled: real", "SYNTHETIC"),
                                 ("unsaid.json", 'class="banner unknown"', "SYNTHETIC")):
        r = _run(str(tmp_path / name), "--out", str(tmp_path / f"{name}.html"), "--fixed-time", FIXED)
        assert r.exit_code == 0, r.stderr
        html = (tmp_path / f"{name}.html").read_text()
        assert banner in html and absent not in html
    # yield and crop type say it in ``data``, not ``label``
    assert 'the JSON\'s data: "synthetic"' in _report(tmp_path, KIND_FILES["yield"])


def test_byte_identical_with_a_fixed_time(tmp_path: Path) -> None:
    names = [str(DATA / n) for n in KIND_FILES.values()]
    a, b, c, e = (tmp_path / f"{x}.html" for x in "abce")
    assert _run(*names, "--out", str(a), "--fixed-time", FIXED).exit_code == 0
    assert _run(*names, "--out", str(b), "--fixed-time", FIXED).exit_code == 0
    assert a.read_bytes() == b.read_bytes()
    # SOURCE_DATE_EPOCH: the same instant, the same bytes
    assert _run(*names, "--out", str(e), env={"SOURCE_DATE_EPOCH": "1796472000"}).exit_code == 0
    assert e.read_bytes() == a.read_bytes()
    # another time: only the stated time differs
    assert _run(*names, "--out", str(c), "--fixed-time", "2027-01-01T00:00:00+00:00").exit_code == 0
    assert c.read_bytes() != a.read_bytes()
    assert c.read_text().replace("2027-01-01 00:00:00 UTC", "2026-12-05 12:00:00 UTC") == a.read_text()


def test_time_is_now_without_a_fixed_one(tmp_path: Path) -> None:
    r = _run(str(DATA / KIND_FILES["area"]), "--out", str(tmp_path / "now.html"), env={"SOURCE_DATE_EPOCH": ""})
    assert r.exit_code == 0 and "wrote " in r.stdout
    assert "generated 2026-12-05 12:00:00 UTC" not in (tmp_path / "now.html").read_text()


# -- errors: one line, exit 2, no file left ------------------------------------------------------------------------------

def _bad_inputs(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """case -> (arguments before --out, text the one-line error holds)."""
    (tmp_path / "notjson.json").write_text("{'not': json")
    (tmp_path / "empty.json").write_bytes(b"")
    (tmp_path / "list.json").write_text("[1, 2, 3]")
    (tmp_path / "other.json").write_text(json.dumps({"name": "Asha Devi", "phone": "9876543210"}))
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "folder.json").mkdir()
    shaped = json.loads((DATA / KIND_FILES["growth-stage"]).read_text())
    shaped["groups"] = {"summer": [0.9, 0.8]}  # a list where a group's table of figures belongs
    (tmp_path / "shape.json").write_text(json.dumps(shaped))
    good = str(DATA / KIND_FILES["area"])
    return {"missing": ([good, str(tmp_path / "nope.json")], "nope.json: no such file"),
            "not JSON": ([str(tmp_path / "notjson.json")], "notjson.json: is not JSON (Expecting property name"),
            "empty": ([good, str(tmp_path / "empty.json")], "empty.json: is empty"),
            "not UTF-8": ([str(tmp_path / "binary.json")], "binary.json: is not JSON (not UTF-8 text)"),
            "a list": ([str(tmp_path / "list.json")], "list.json: is not an evaluation's JSON"),
            "another JSON": ([str(tmp_path / "other.json")], "other.json: is not an evaluation's JSON (expected the "
                                                              "output of `agcredit evaluate"),
            "a folder": ([str(tmp_path / "folder.json")], "folder.json: is a folder"),
            "twice": ([good, good], "given twice"),
            "odd shape": ([str(tmp_path / "shape.json")], "shape.json: is an evaluate growth-stage JSON of an unexpected "
                                                          "shape")}


def _one_line_error(r: Result, *needles: str) -> None:
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.mark.parametrize("case", ["missing", "not JSON", "empty", "not UTF-8", "a list", "another JSON", "a folder",
                                  "twice", "odd shape"])
def test_bad_input_is_one_line(tmp_path: Path, case: str) -> None:
    args, needle = _bad_inputs(tmp_path)[case]
    out = tmp_path / "out" / "report.html"
    out.parent.mkdir()
    r = _run(*args, "--out", str(out), "--fixed-time", FIXED)
    _one_line_error(r, needle)
    assert list(out.parent.iterdir()) == []  # no report, no temporary file
    assert "Asha" not in r.stderr and "9876543210" not in r.stderr


#: a real output hand-edited into another shape: kind -> (edit, the key path and shapes the error names)
MISSHAPEN = {
    "crop-type": [(lambda d: d.update(loso="abc"), "loso is text, not an object"),
                  (lambda d: d["loso"]["end"].update(mean_ece="0.014"), "loso/end/mean_ece is text, not a number"),
                  (lambda d: d["current"]["mid"]["calibration"].update(ece_ci=[0.03]),
                   "current/mid/calibration/ece_ci is a list, not a [low, high] pair of numbers"),
                  (lambda d: d.update(spatial_block=[1, 2]), "spatial_block is a list, not an object")],
    "alerts": [(lambda d: d.update(metrics=[]), "metrics is a list, not an object"),
               (lambda d: d["metrics"].update(precision="0.98"), "metrics/precision is text, not a number"),
               (lambda d: d.update(by_event=5), "by_event is a number, not a list")],
    "area": [(lambda d: d["groups"][1].update(p90="2.8%"), "groups[1]/p90 is text, not a number"),
             (lambda d: d.update(county_total=0.011), "county_total is a number, not an object"),
             (lambda d: d.update(never_planted=None), "never_planted is null")],
    "growth-stage": [(lambda d: d["groups"]["summer"]["calibrated"].update(stage_accuracy_mid="74%"),
                      "groups/summer/calibrated/stage_accuracy_mid is text, not a number"),
                     (lambda d: d.update(targets=[]), "targets is a list, not an object")],
    "yield": [(lambda d: d.update(targets="r2 0.44"), "targets is text, not a list"),
              (lambda d: d["summary"].__setitem__(0, 5), "summary[0] is a number, not an object"),
              (lambda d: d["targets"][0].update(value_ci={"low": 0.0, "high": 0.2}),
               "targets[0]/value_ci is an object, not a [low, high] pair of numbers")],
}


@pytest.mark.parametrize(("kind", "case"), [(k, i) for k, cases in MISSHAPEN.items() for i in range(len(cases))])
def test_a_json_of_its_kind_but_another_shape_is_refused_naming_the_key(tmp_path: Path, kind: str, case: int) -> None:
    """A model-risk audit: a hand-edited JSON with its kind's keys but of another shape rendered a page ("loso": "abc"
    or "metrics": [] read as missing: blank tables and "not reported" verdicts; a gated figure given as text was "not
    reported") or stopped on a traceback-like error without saying where: it is now refused before anything is
    written, naming the file and the key path."""
    edit, needle = MISSHAPEN[kind][case]
    d = json.loads((DATA / KIND_FILES[kind]).read_text())
    edit(d)
    bad = tmp_path / f"edited-{kind}.json"
    bad.write_text(json.dumps(d))
    out = tmp_path / "out" / "report.html"
    out.parent.mkdir()
    r = _run(str(DATA / KIND_FILES["area"]), str(bad), "--out", str(out), "--fixed-time", FIXED)
    _one_line_error(r, f"edited-{kind}.json: is an evaluate {kind} JSON of an unexpected shape: {needle} (was it "
                       "edited or written by another release?)")
    assert list(out.parent.iterdir()) == []  # no report, no temporary file
    out.write_text("earlier")
    _one_line_error(_run(str(bad), "--out", str(out), "--fixed-time", FIXED), needle)
    assert out.read_text() == "earlier" and [p.name for p in out.parent.iterdir()] == ["report.html"]


def test_bad_input_leaves_an_earlier_report_untouched(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    out.write_text("earlier")
    r = _run(str(DATA / KIND_FILES["area"]), str(tmp_path / "nope.json"), "--out", str(out))
    _one_line_error(r, "nope.json")
    assert out.read_text() == "earlier" and sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_bad_out_and_time(tmp_path: Path) -> None:
    good = str(DATA / KIND_FILES["area"])
    r = _run(good, "--out", str(tmp_path / "no-such-folder" / "r.html"))
    _one_line_error(r, "r.html", "no-such-folder does not exist")
    assert not (tmp_path / "no-such-folder").exists()
    (tmp_path / "plainfile").write_text("x")  # a file where the folder belongs: said so (it read "does not exist")
    _one_line_error(_run(good, "--out", str(tmp_path / "plainfile" / "r.html")), "plainfile is a file, not a folder")
    # no JSON given: the argument by the name --help shows (it read "missing argument 'INPUTS'")
    _one_line_error(_run("--out", str(tmp_path / "r.html")), "missing argument 'JSON_FILE'")
    (tmp_path / "isdir.html").mkdir()
    _one_line_error(_run(good, "--out", str(tmp_path / "isdir.html")), "isdir.html: the report is a folder")
    _one_line_error(_run(good, "--out", str(tmp_path / "r.html"), "--fixed-time", "yesterday"),
                    "--fixed-time 'yesterday': expected an ISO 8601 time")
    _one_line_error(_run(good, "--out", str(tmp_path / "r.html"), env={"SOURCE_DATE_EPOCH": "soon"}),
                    "SOURCE_DATE_EPOCH='soon'")
    copy = tmp_path / "area.json"
    shutil.copy(good, copy)
    _one_line_error(_run(str(copy), "--out", str(copy)), "is one of the input files")
    assert copy.read_bytes() == Path(good).read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["area.json", "isdir.html", "plainfile"]


# -- in a real browser --------------------------------------------------------------------------------------------------

def test_renders_in_headless_chromium(tmp_path: Path) -> None:
    """The page opens in headless Chromium with no console error and no request beyond the file; its charts have
    size; the screenshot is not blank (saved under test-artifacts/)."""
    from PIL import Image

    _report(tmp_path, *KIND_FILES.values(), out="validation.html")
    page = tmp_path / "validation.html"
    drv = headless_chromium(tmp_path, size="1200,1600")
    try:
        drv.get_log("performance")
        drv.get(page.as_uri())
        assert [e for e in drv.get_log("browser") if e["level"] in ("SEVERE", "WARNING")] == []
        events = [json.loads(e["message"])["message"] for e in drv.get_log("performance")]
        urls = [m["params"]["request"]["url"] for m in events if m.get("method") == "Network.requestWillBeSent"
                and m["params"].get("documentURL") == page.as_uri()]
        assert urls and all(u.startswith(("file:", "data:")) for u in urls), urls
        sizes = drv.execute_script("return [...document.querySelectorAll('svg')].map(s => {"
                                   "const r = s.getBoundingClientRect(); return [r.width, r.height]})")
        assert len(sizes) >= 12 and all(w > 200 and h > 60 for w, h in sizes), sizes
        assert drv.execute_script("return document.querySelectorAll('svg.ibars path.whisker').length") >= 10
        assert drv.execute_script("return document.querySelectorAll('svg.reliability circle.bin').length") >= 8
        assert drv.execute_script("return document.querySelectorAll('.banner').length") == 5
        art = REPO / "test-artifacts"
        art.mkdir(exist_ok=True)
        png = art / "validation-report.png"
        drv.save_screenshot(str(png))
        assert np.asarray(Image.open(png).convert("L")).std() > 10
    finally:
        drv.quit()


def test_a_share_all_right_with_an_interval_of_no_width_is_judged_on_the_exact_interval(tmp_path: Path) -> None:
    """A review: an evaluation JSON whose never-planted recall was 50 of 50 with the bootstrap's 1.000-1.000 was
    judged met on the report. The row's count (`of`) gives the exact binomial interval; without a count, the verdict
    is never met on a point."""
    data = json.loads((DATA / KIND_FILES["area"]).read_text())
    got = {g.label: g for g in gates(load_evaluation(DATA / KIND_FILES["area"]), load_targets(), "in-smallholder")[0]}
    g = got["never-planted recall"]
    assert g.verdict == STRADDLES and g.ci == (0.928878, 1.0) and "exact binomial interval of 50" in g.note
    del data["never_planted"]["n"]
    (tmp_path / "area.json").write_text(json.dumps(data))
    g = {g.label: g for g in gates(load_evaluation(tmp_path / "area.json"), load_targets(), "in-smallholder")[0]}[
        "never-planted recall"]
    assert g.verdict == STRADDLES and "the count is not given" in g.note


def test_a_value_printed_onto_its_target_gets_more_decimals(tmp_path: Path) -> None:
    """A us-nebraska review: "ECE, leave-one-season-out mean, mid 0.050 (no interval) … ≤ 0.050 not met" for 0.05036
    — the value read as meeting the target it missed. A value (or an interval bound) printed onto its target, or across
    it, is printed with more decimals, the target with it, until they differ; the others as before."""
    d = json.loads((DATA / KIND_FILES["crop-type"]).read_text(encoding="utf-8"))
    d["loso"]["mid"]["mean_ece"] = 0.05036
    (tmp_path / "ct.json").write_text(json.dumps(d), encoding="utf-8")
    r = _run(str(tmp_path / "ct.json"), "--out", str(tmp_path / "r.html"), "--fixed-time", FIXED)
    assert r.exit_code == 0, r.stderr
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    row = re.search(r"<tr><td>ECE, leave-one-season-out mean, mid</td>.*?</tr>", html)
    assert row is not None
    assert "0.0504 (no interval)" in row.group(0) and "≤ 0.0500" in row.group(0) and NOT_MET in row.group(0)
    end = re.search(r"<tr><td>ECE, leave-one-season-out mean, end</td>.*?</tr>", html)
    assert end is not None and "≤ 0.050<" in end.group(0)  # 0.0xx against 0.050: three decimals, as before
    from pipelines.validation_report import digits_apart

    assert digits_apart([0.05036], 0.05, "share") == 1
    assert digits_apart([0.050004], 0.05, "share") == 3
    assert digits_apart([0.0499, 0.0512], 0.05, "share") == 1  # an interval bound printed onto the target too
    assert digits_apart([0.05], 0.05, "share") == 0  # on its target: nothing to tell apart
    assert digits_apart([0.0296], (0.01, 0.03), "percent") == 1  # 3.0% against 3.0%
    assert digits_apart([None, 0.2], 0.05, "share") == 0


@pytest.mark.parametrize("ci", [None, [float("nan"), float("nan")], "absent"])
def test_a_gate_without_an_interval_is_met_on_the_point_shown_and_counted_apart(tmp_path: Path, ci: object) -> None:
    """A review: 3 of 7 "met" crop-type gates had no interval (ECE LOSO means, the worst season), and a JSON whose
    interval is null or [NaN, NaN] was judged "met" on the point too — while the page defines met as the whole
    interval meeting the target. Such a gate reads "met on the point; no interval", counted in its own column."""
    from pipelines._validation_sections import summary_html

    data = json.loads((DATA / KIND_FILES["alerts"]).read_text())
    if ci == "absent":
        data["metrics"].pop("median_delay_obs_ci")
    else:
        data["metrics"]["median_delay_obs_ci"] = ci
    (tmp_path / "a.json").write_text(json.dumps(data))
    ev = load_evaluation(tmp_path / "a.json")
    got = {g.label: g.verdict for g in gates(ev, load_targets(), None)[0]}
    assert got["median delay after onset"] == POINT_MET == "met on the point; no interval"
    table = summary_html([(ev, gates(ev, load_targets(), None)[0], [])])
    head = re.findall(r"<th>([^<]*)</th>", table)
    row = re.findall(r"<td[^>]*>([^<]*)</td>", table.split("</tr>")[1])
    counts = dict(zip(head[3:], row[-6:], strict=True))
    assert counts == {"gated figures": "3", "met": "0", "not met": "1", "interval straddles the target": "1",
                      "met on the point; no interval": "1", "not gated / not reported": "0"}, counts
    html = _report(tmp_path, str(tmp_path / "a.json"))
    assert '<span class="v-point">met on the point; no interval</span>' in html


def test_counties_sharing_a_folder_name_are_told_apart_by_their_path(tmp_path: Path) -> None:
    """A review: an area JSON of ``/data/runA/county`` (region us-nebraska) and an alerts JSON of ``/data/runB/county``
    read as "2 evaluations of 1 county (county)", the alerts lent "us-nebraska (from another input of the same
    county)"; two area JSONs of ``…/demo/x`` and ``…/other-run/x`` gave two identical section titles. Counties are
    keyed by their whole path, named by the fewest last components that tell them apart; a yield JSON's bare folder
    name joins the one county whose path ends in it."""
    area = json.loads((DATA / KIND_FILES["area"]).read_text())
    alerts = json.loads((DATA / KIND_FILES["alerts"]).read_text())
    yld = json.loads((DATA / KIND_FILES["yield"]).read_text())
    (tmp_path / "ar.json").write_text(json.dumps({**area, "county": "/data/runA/county", "region": "us-nebraska"}))
    (tmp_path / "al.json").write_text(json.dumps({**alerts, "county": "/data/runB/county"}))
    (tmp_path / "y.json").write_text(json.dumps({**yld, "county": "county"}))
    html = _report(tmp_path, *(str(tmp_path / n) for n in ("ar.json", "al.json")))
    assert "2 evaluations of 2 counties (runA/county, runB/county)" in html
    assert "from another input of the same county" not in html
    assert "<h2>Planted area — runA/county</h2>" in html and "<h2>Early warning (alerts) — runB/county</h2>" in html
    (tmp_path / "al.json").write_text(json.dumps({**alerts, "county": "/data/runA/county/"}))
    html = _report(tmp_path, *(str(tmp_path / n) for n in ("ar.json", "al.json", "y.json")))
    assert "3 evaluations of 1 county (county)" in html
    assert html.count("us-nebraska (from another input of the same county)") == 2  # alerts and yield


def test_the_same_content_under_two_names_is_given_twice(tmp_path: Path) -> None:
    shutil.copy(DATA / KIND_FILES["area"], tmp_path / "copy.json")
    r = _run(str(DATA / KIND_FILES["area"]), str(tmp_path / "copy.json"), "--out", str(tmp_path / "r.html"))
    assert r.exit_code == 2 and not (tmp_path / "r.html").exists()
    assert "copy.json: given twice (the same content as " in r.stderr and "Traceback" not in r.stderr
