"""Choosing the metrics backend: direct scraping, PROMETHEUS_URL, or --prometheus local."""

from __future__ import annotations

import shutil

import pytest

from chaos.errors import InfrastructureError, InvalidInput
from chaos.metrics.backend import PrometheusChoice, choose_prometheus, prometheus_backend
from chaos.metrics.prometheus_server import LocalPrometheus, free_port, scrape_config
from chaos.metrics.scraper import Target


def test_no_flag_and_no_env_means_direct_scraping() -> None:
    assert choose_prometheus(None, {}) is None
    assert choose_prometheus(None, {"PROMETHEUS_URL": ""}) is None


def test_flag_wins_over_the_environment() -> None:
    env = {"PROMETHEUS_URL": "http://prom:9090"}
    assert choose_prometheus(None, env) == PrometheusChoice(url="http://prom:9090")
    assert choose_prometheus("local", env) == PrometheusChoice(local=True)
    assert choose_prometheus("https://p.example", env) == PrometheusChoice(url="https://p.example")


@pytest.mark.parametrize(
    ("flag", "env", "where"),
    [("lokal", {}, "--prometheus"), (None, {"PROMETHEUS_URL": "prom:9090"}, "PROMETHEUS_URL")],
)
def test_bad_choices_name_their_source(flag: str | None, env: dict[str, str], where: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        choose_prometheus(flag, env)
    assert caught.value.where == where


async def test_an_unreachable_prometheus_stops_the_run_at_its_start() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(InfrastructureError, match=url):
        async with prometheus_backend(PrometheusChoice(url=url), []):
            pass


async def test_a_missing_binary_is_an_infrastructure_error_with_the_fix() -> None:
    server = LocalPrometheus([], binary="no-such-prometheus-binary")
    with pytest.raises(InfrastructureError) as caught:
        async with server:
            pass
    assert "apt-get install prometheus" in (caught.value.fix or "")


def test_scrape_config_keeps_each_targets_scheme_and_path() -> None:
    config = scrape_config(
        [
            Target.http("edge", "http://127.0.0.1:9001/metrics"),
            Target.http("edge", "https://127.0.0.1:9002/stats/prom"),
            Target.http("api", "http://127.0.0.1:9003/metrics"),
        ],
        interval=0.5,
    )
    assert config["global"] == {"scrape_interval": "500ms", "scrape_timeout": "500ms"}
    jobs = {job["job_name"]: job["static_configs"] for job in config["scrape_configs"]}
    assert sorted(jobs) == ["api", "edge"]
    assert jobs["edge"][1] == {
        "targets": ["127.0.0.1:9002"],
        "labels": {"__scheme__": "https", "__metrics_path__": "/stats/prom"},
    }


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs `prometheus` on PATH")
async def test_a_local_prometheus_leaves_no_process_or_directory_behind() -> None:
    server = LocalPrometheus([Target.http("x", f"http://127.0.0.1:{free_port()}/metrics")])
    async with server:
        process, workdir = server._process, server._dir
        assert process is not None and workdir is not None and workdir.exists()
        assert server.url.startswith("http://127.0.0.1:")
    assert process.returncode is not None
    assert not workdir.exists()
