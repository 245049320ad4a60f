"""One selection of the tasks a run keeps (``filter_views.select``): analysis, export,
answering and translating see the same instructions under the same ids."""


import pytest

from dashboard.tables import run_summary
from selfinstruct.config import RunConfig
from selfinstruct.filter_views import save_view, select, view_tasks
from selfinstruct.lm.fake import FakeLM
from selfinstruct.pipeline import Pipeline, start_run
from selfinstruct.records import Instance, Task
from selfinstruct.responses import run_items, run_records
from selfinstruct.seeds import load_tasks
from selfinstruct.store import Store

from conftest import OUR_SEEDS


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("sel") / "w.sqlite")
    run = start_run(store, "r", load_tasks(OUR_SEEDS), RunConfig(target=40))
    list(Pipeline(store, run, FakeLM()).events())
    run = store.run(run.id)
    save_view(store, run, "same", RunConfig.from_dict(run.config).filters)  # the run's own settings
    return store, run


@pytest.mark.parametrize("include_seeds", [False, True])
@pytest.mark.parametrize("view", [None, "same"])
def test_every_consumer_gives_the_selected_ids(generated, view, include_seeds):
    store, run = generated
    sel = select(store, run, view, include_seeds=include_seeds)
    ids = [s.row.id for s in sel]
    assert [r.instruction_id for r in run_records(store, run, view, include_seeds=include_seeds)] == ids
    assert {i.instruction_id for i in run_items(store, run, view, include_seeds=include_seeds)} \
        == {s.row.id for s in sel if s.instances}
    # a task is named by its external id (a seed's id in the seed file) else its row id, with or without a view
    assert [t.id for t in view_tasks(store, run, view, include_seeds=include_seeds)] \
        == [s.row.external_id or str(s.row.id) for s in sel]
    seeds = [t for t in view_tasks(store, run, view, include_seeds=include_seeds) if t.origin == "seed"]
    assert bool(seeds) == include_seeds and all(t.id.startswith("seed_task_") for t in seeds)


def test_a_view_with_the_runs_own_settings_selects_what_the_run_kept(generated):
    store, run = generated
    for include_seeds in (False, True):
        assert view_tasks(store, run, "same", include_seeds=include_seeds) \
            == view_tasks(store, run, include_seeds=include_seeds)
    assert len(select(store, run)) == store.counts(run.id)["kept"]


def test_an_imported_data_set_keeps_its_records_under_their_ids(tmp_path):
    store = Store(tmp_path / "w.sqlite")
    tasks = [Task(f"rec-{i}", f"Do {i}.", (Instance("", f"o{i}"), Instance("x", f"p{i}")), origin="import")
             for i in range(3)]
    run = store.create_run("imp", kind="import", tasks=tasks)
    with store.tx() as c:  # as if filters had dropped a record and an instance of each
        c.execute("UPDATE instances SET verdict = 'drop' WHERE position = 1")
        c.execute("UPDATE instructions SET verdict = 'drop' WHERE external_id = 'rec-2'")
    assert [t.id for t in view_tasks(store, run)] == ["rec-0", "rec-1"]
    assert [len(s.instances) for s in select(store, run, include_seeds=True)] == [1, 1]
    row = run_summary(store, run)
    assert (row["kept"], row["instances"]) == (2, 2)
    with pytest.raises(ValueError, match="filtered views apply to generation runs"):
        select(store, run, "any")
