"""The data-size scaling kit: nested, seeded, reproducible subsets in every export format with
their manifests (``export --subsets``), and the scaling chart from a metrics file or computed
on the subsets (``scaling``)."""

from __future__ import annotations

import json

import pytest

from selfinstruct import filter_views, scaling
from selfinstruct.cli import main
from selfinstruct.config import RunConfig
from selfinstruct.formats import FORMATS, ExportRefused, detect_format, read_file
from selfinstruct.formats.subsets import export_subsets, nested_order, subset_sizes
from selfinstruct.lm.fake import FakeLM
from selfinstruct.pipeline import Pipeline, start_run
from selfinstruct.seeds import load_tasks
from selfinstruct.store import Store

from conftest import OUR_SEEDS


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A fake-LM run from 8 seeds keeping 40 machine instructions: doubling gives 8, 16, 32, 40."""
    path = tmp_path_factory.mktemp("gen") / "ws.sqlite"
    store = Store(path)
    cfg = RunConfig(target=40)
    cfg.lm.backend = "fake"
    run = start_run(store, "gen", load_tasks(OUR_SEEDS)[:8], cfg)
    list(Pipeline(store, run, FakeLM()).events())
    store.close()
    return path


def kept(path) -> list:
    with Store(path) as store:
        return [t for t in filter_views.view_tasks(store, store.run("gen")) if t.instances]


def test_sizes_doubling_from_the_seed_count_or_given() -> None:
    assert subset_sizes("doubling", 40, 8) == [8, 16, 32, 40]
    assert subset_sizes("Doubling", 175, 175) == [175]
    assert subset_sizes("400, 100,200,100", 500, 0) == [100, 200, 400]
    for spec, why in (("0,10", "between 1 and 40"), ("10,41", "between 1 and 40"), ("ten", "whole numbers"),
                      ("", "between 1 and 40")):
        with pytest.raises(ExportRefused, match=why):
            subset_sizes(spec, 40, 8)
    with pytest.raises(ExportRefused, match="no seed task"):
        subset_sizes("doubling", 40, 0)


def test_the_order_depends_on_the_seed_and_the_tasks_not_on_how_they_came(generated) -> None:
    tasks = kept(generated)
    order = nested_order(tasks, 3)
    assert sorted(t.id for t in order) == sorted(t.id for t in tasks)
    assert [t.id for t in nested_order(tasks[::-1], 3)] == [t.id for t in order]
    assert [t.id for t in nested_order(tasks, 4)] != [t.id for t in order]


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_subsets_are_nested_seeded_and_reproducible_in_every_format(generated, tmp_path, fmt: str) -> None:
    with Store(generated) as store:
        first = export_subsets(store, "gen", fmt=fmt, out=tmp_path / "a", sizes="doubling", seed=7)
        again = export_subsets(store, "gen", fmt=fmt, out=tmp_path / "b", sizes="doubling", seed=7)
        other = export_subsets(store, "gen", fmt=fmt, out=tmp_path / "c", sizes="8", seed=8)
    assert first.sizes == [8, 16, 32, 40]
    ids = [r.manifest["subset"]["ids"] for r in first.results]
    assert [len(i) for i in ids] == first.sizes
    assert all(small == big[:len(small)] for small, big in zip(ids, ids[1:]))  # prefixes of one order
    assert sorted(ids[-1]) == sorted(t.id for t in kept(generated))
    assert other.results[0].manifest["subset"]["ids"] != ids[0]
    for a, b in zip(first.results, again.results):  # the same seed gives the same files
        if FORMATS[fmt].folder:
            pa, pb = a.path / "data" / "train-00000-of-00001.parquet", b.path / "data" / "train-00000-of-00001.parquet"
        else:
            pa, pb = a.path, b.path
        assert pa.read_bytes() == pb.read_bytes()
        assert a.manifest["subset"] == b.manifest["subset"]
    m = first.results[1].manifest
    assert m["format"] == fmt and m["run"] == "gen"
    assert {k: m["subset"][k] for k in ("size", "seed", "of", "sizes", "source_run")} == {
        "size": 16, "seed": 7, "of": 40, "sizes": [8, 16, 32, 40], "source_run": "gen"}
    assert m["subset"]["fingerprint"].startswith("sha256:") and m["counts"]["instructions_selected"] == 16
    index = json.loads(first.index_path.read_text())
    assert index["sizes"] == first.sizes and index["seed"] == 7 and index["format"] == fmt
    assert [s["path"] for s in index["subsets"]] == [r.path.name for r in first.results]
    if fmt in ("alpaca", "seeds", "csv", "hf"):  # read back: each file holds exactly its subset's instructions
        by_id = {t.id: t.instruction for t in kept(generated)}
        for r, want in zip(first.results, ids):
            got = read_file(r.path, detect_format(r.path, hint="") if fmt != "seeds" else "seeds").tasks
            assert sorted(t.instruction for t in got) == sorted(by_id[i] for i in want)


def test_export_subsets_from_the_command_line(generated, tmp_path, capsys) -> None:
    out = tmp_path / "subs"
    args = ["export", "-w", str(generated), "-f", "chat", "-o", str(out), "--subsets", "10,20", "--subset-seed", "5"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "wrote 2 nested chat subset(s) of run 'gen' (seed 5)" in printed and "subset-000010.jsonl" in printed
    manifest = json.loads((out / "subset-000020.jsonl.manifest.json").read_text())
    assert manifest["subset"]["size"] == 20 and manifest["subset"]["seed"] == 5
    assert main(args + ["--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sizes"] == [10, 20]
    assert main(["export", "-w", str(generated), "-f", "chat", "-o", str(out), "--subsets", "10,99"]) == 2
    assert "sizes must be between 1 and 40" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["export", "-w", str(generated), "-f", "chat", "-o", str(tmp_path / "file"), "--subsets", "10"]) == 2
    assert "writes a folder" in capsys.readouterr().err


def test_metrics_files_in_csv_and_json(tmp_path) -> None:
    csv_file = tmp_path / "m.csv"
    csv_file.write_text("size,rougeL,judge\n400,0.31,\n100,0.25,6.1\n200,0.28,6.4\n")
    assert scaling.read_metrics(csv_file) == {"rougeL": [(100, 0.25), (200, 0.28), (400, 0.31)],
                                              "judge": [(100, 6.1), (200, 6.4)]}
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps([{"n": 100, "score": 1}, {"n": 200, "score": 2}]))
    assert scaling.read_metrics(rows) == {"score": [(100, 1.0), (200, 2.0)]}
    one = tmp_path / "rougeL.json"
    one.write_text(json.dumps({"200": 0.3, "100": 0.2}))
    assert scaling.read_metrics(one) == {"rougeL": [(100, 0.2), (200, 0.3)]}
    many = tmp_path / "many.json"
    many.write_text(json.dumps({"a": {"100": 1}, "b": {"100": 2, "50": 3}}))
    assert scaling.read_metrics(many) == {"a": [(100, 1.0)], "b": [(50, 3.0), (100, 2.0)]}
    for text, why in (("metric\n1\n", "no size column"), ("size,x\n10,abc\n", "not a number"),
                      ("size,x\n10,1\n10,2\n", "appears twice"), ("size,x\n0,1\n", "at least 1"),
                      ("size,x\n10,\n", "no metric value")):
        csv_file.write_text(text)
        with pytest.raises(ValueError, match=why):
            scaling.read_metrics(csv_file)


def test_the_chart_puts_size_on_a_log_axis_with_a_panel_per_metric() -> None:
    fig = scaling.scaling_chart({"rougeL": [(100, 0.25), (200, 0.28)], "judge": [(100, 6.1)]})
    assert [list(t.x) for t in fig.data] == [[100, 200], [100]]
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis2.type == "log"
    assert list(fig.layout.xaxis.tickvals) == [100, 200]
    assert len(scaling.scaling_chart({"a": [(1, 1.0)], "b": [(1, 2.0)]}, metrics=["b"]).data) == 1


def test_scaling_from_a_file_and_computed_on_the_subsets(generated, tmp_path, capsys) -> None:
    metrics = tmp_path / "metrics.csv"
    metrics.write_text("size,rougeL\n100,0.25\n200,0.28\n")
    chart = tmp_path / "out" / "scaling.html"
    chart.parent.mkdir()
    assert main(["scaling", str(metrics), "--chart", str(chart)]) == 0
    assert "rougeL: 100 → 0.25, 200 → 0.28" in capsys.readouterr().out and chart.stat().st_size > 10_000
    assert main(["scaling", "-w", str(generated), "--subsets", "doubling", "--subset-seed", "7", "--json",
                 "--metric", "vendi_score", "--metric", "distinct_2"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert list(got) == ["vendi_score", "distinct_2"] and [p["size"] for p in got["vendi_score"]] == [8, 16, 32, 40]
    vendi = [p["value"] for p in got["vendi_score"]]
    assert all(a < b for a, b in zip(vendi, vendi[1:]))
    order = [t.instruction for t in nested_order(kept(generated), 7)]  # the subsets export --subsets writes
    from selfinstruct.diversity import vendi_score

    assert vendi[1] == pytest.approx(vendi_score(order[:16])["score"])
    assert main(["scaling", str(metrics), "-w", str(generated)]) == 2
    assert main(["scaling", str(metrics), "--metric", "nope"]) == 2
    assert "no metric 'nope'" in capsys.readouterr().err
