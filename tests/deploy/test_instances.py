"""scripts/instances in its short form: nginx, three gateways on one PostgreSQL and Redis, one SIGKILLed mid-run."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.engine_independent  # its own PostgreSQL server, Redis and gateways


@pytest.mark.timeout(900)  # three gateways start on a loaded machine, then the sweeper's HOLD_TTL passes
@pytest.mark.skipif(not (shutil.which("nginx") and shutil.which("wrk")), reason="scripts/test installs nginx and wrk")
def test_three_instances_behind_nginx_keep_rows_budgets_limits_and_revocations(tmp_path: Path):
    out = tmp_path / "instances.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.instances", "--short", "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, stderr = process.communicate(timeout=840)
    except subprocess.TimeoutExpired:
        process.terminate()  # SIGTERM: the script stops everything it started (bench.processes.Children)
        _, stderr = process.communicate(timeout=60)
    assert out.exists(), stderr[-4000:]
    result = json.loads(out.read_text())
    assert result["rows"]["missing"] == 0 and result["rows"]["answered"] > 100, result["rows"]
    budget = result["budget"]
    assert budget["ok"] and budget["spent"] == budget["rows_sum"] and budget["holds"] == 0, budget
    statuses = result["load"]["statuses"]
    assert statuses.get("budget 402"), "the shared budget never ran out"
    # 503 would mean a ledger write failed with the database up (two instances' settlements deadlocked
    # on PostgreSQL until budget_settle took accounts in one order): rows spooled, budgeted calls refused.
    assert not any(status.endswith(" 503") for status in statuses), statuses
    assert result["rate_limit"]["admitted"] == result["rate_limit"]["rpm"], result["rate_limit"]
    revocation = result["revocation"]
    assert revocation["ok"] and all(s < 30 for s in revocation["refused_after_s"].values()), revocation
    assert [row["instances"] for row in result["throughput"]] == [1, 2, 3]
    assert all(row["rps"] > 0 for row in result["throughput"])
    assert process.returncode == 0, stderr[-4000:]
