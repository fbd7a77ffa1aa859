"""The same linkage settings on a local Spark session give the same clusters as on DuckDB.

Slow (a JVM starts): own CI group. Needs pyspark and Java 17+; skipped with the reason when
either is missing.
"""

from __future__ import annotations

import logging
import shutil

import pytest

from tnr.methods.linkage import incident_frame, link, pairwise_scores, spark_session
from tnr.methods.simulate import SimulationConfig, simulate

pytestmark = pytest.mark.slow
logging.getLogger("splink").setLevel(logging.ERROR)
logging.getLogger("py4j").setLevel(logging.ERROR)


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java (java not found on PATH)")
    session = spark_session("local[2]")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def simulated():
    sim = simulate(SimulationConfig(seed=21, n_incidents=400))
    incidents = [i for ds in sim.documented.values() for i in ds.incidents]
    persons = [p for ds in sim.documented.values() for p in ds.persons]
    truth = {rid: tid for (_org, rid), tid in sim.links.items()}
    return incident_frame(incidents, persons), truth


def partition(result) -> set[frozenset[str]]:
    return {frozenset(g) for _, g in result.clusters.groupby("cluster_id")["unique_id"]}


def test_a_model_trained_on_duckdb_gives_the_same_pairs_and_clusters_on_spark(spark, simulated):
    frame, _truth = simulated
    duck = link(frame)
    on_spark = link(frame, duck.settings, backend="spark", spark=spark, model=duck.model)
    assert on_spark.backend == "spark"
    assert partition(on_spark) == partition(duck)
    merged = duck.pairs.merge(on_spark.pairs, on=["unique_id_l", "unique_id_r"], suffixes=("", "_spark"))
    assert len(merged) == len(duck.pairs) == len(on_spark.pairs)
    assert (merged["match_probability"] - merged["match_probability_spark"]).abs().max() < 1e-6


def test_training_on_spark_finds_the_same_clusters_as_on_duckdb(spark, simulated):
    frame, truth = simulated
    duck = link(frame)
    on_spark = link(frame, backend="spark", spark=spark)
    assert partition(on_spark) == partition(duck)
    assert pairwise_scores(on_spark.clusters, truth)["recall"] >= 0.95
