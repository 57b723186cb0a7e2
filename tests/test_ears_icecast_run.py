"""`gameday run` against a real Icecast MP3 mount (the built-in `icecast` stack): the ears
decode the MP3 and the run reports the programme's dead air and feedback from what they heard."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from runner_support import gameday

from chaos.report.journal import read_journal

EXPERIMENT = Path(__file__).resolve().parent.parent / "experiments/icecast-feedback.yaml"


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_a_run_on_an_icecast_mp3_mount_reports_howling_and_silence_from_decoded_audio(
    tmp_path: Path,
) -> None:
    if shutil.which("icecast2") is None or shutil.which("ffmpeg") is None:
        pytest.skip("needs Debian packages icecast2 and ffmpeg (`make apt` as root)")
    done = gameday("run", EXPERIMENT, "--out", tmp_path / "run", timeout=190)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    journal = read_journal(tmp_path / "run" / "journal.jsonl")
    verdicts = {e["name"]: e["status"] for e in journal.of_kind("slo")}
    assert verdicts == {
        "launch-delay": "pass",
        "join-success": "pass",
        "stalls": "pass",
        "ears-heard": "pass",
        "no-feedback": "fail",
        "no-dead-air": "fail",
    }
    silences = list(journal.of_kind("ear.silence_end"))
    howls = list(journal.of_kind("ear.howl"))
    ears = {e["listener"] for e in silences}
    assert len(ears) == 3 and {e["listener"] for e in howls} == ears  # every ear heard both
    # the programme's 3 s gap, heard whole at least once in 45 s of listening; one that the
    # listening's start or end cuts is shorter (1.46 s seen), never longer
    assert any(s["seconds"] == pytest.approx(3.0, abs=0.2) for s in silences), silences
    assert all(s["seconds"] <= 3.2 for s in silences), silences
    assert all(h["frequency_hz"] == pytest.approx(1000, abs=50) for h in howls)
    assert "fail     no-feedback" in done.stdout and "fail     no-dead-air" in done.stdout
