"""HTTP calls for "deploy one release to one environment" with the ``puppet-enterprise`` target.

``trainmaster deploy`` (a subprocess) against a fresh Puppet Enterprise fake (tests/fakes/puppet.py),
counted from the fake's request log: calls before the job starts (job list for adoption, Code
Manager), the start, and the reads per poll interval while the job runs (the fake's job advances one
step per read; ``hold`` keeps it running for a number of reads). The bar: one request per interval.
There is no official PE client library to compare with (Puppet's ``puppet-job`` CLI needs a PE
installation), so trainmaster's calls per interval are compared with that bar (bench/_intervals.py).

Run: ``python bench/bench_puppet_calls.py``. Takes a few seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "plugins"), str(ROOT / "bench")]

from _intervals import Flow, report, split  # noqa: E402
from tests.fakes.puppet import PuppetFake  # noqa: E402

CONFIG = """\
project: bench
packages:
  app: app.bin
puppet-enterprise:
  server: {url}
  ports: {{code_manager: {port}, orchestrator: {port}, classifier: {port}}}
  nodes: [web1.example.com, web2.example.com]
  poll_interval: 0.05
defaults: {{target: puppet-enterprise}}
train:
  - name: dev
"""


def main(held_reads: int = 20) -> int:
    fake = PuppetFake().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "app.bin").write_bytes(b"bench")
            (work / "trainmaster.yaml").write_text(CONFIG.format(url=fake.url, port=fake.port))
            env = {**os.environ, "PE_TOKEN": fake.token}
            env.pop("TRAINMASTER_LOAD_PLUGINS", None)
            run = [sys.executable, "-m", "trainmaster"]
            subprocess.run([*run, "release", "create", "1.0.0"], cwd=work, env=env, check=True, capture_output=True)
            fake.hold_next_job()

            def release_after_reads() -> None:  # let the job finish after `held_reads` status reads
                while fake.count("get-job") < held_reads:
                    time.sleep(0.01)
                with fake.lock:
                    for job in fake.jobs.values():
                        job["behaviour"] = {}

            threading.Thread(target=release_after_reads, daemon=True).start()
            subprocess.run([*run, "deploy", "1.0.0", "--to", "dev"], cwd=work, env=env, check=True,
                           capture_output=True)
        ops = [str(c.operation_id) for c in fake.calls]
        print(f"before the start: {ops[:ops.index('command-deploy')]}")
        status = report(f"Puppet orchestrator job, {held_reads}+ intervals", [
            Flow("trainmaster", *split(ops, "command-deploy", {"get-job"}))], None,
            "get-job each interval; get-job-nodes only on failure")
        print(f"contract violations: {len(fake.violations)}")
        return status | (1 if fake.violations else 0)
    finally:
        fake.stop()


if __name__ == "__main__":
    sys.exit(main())
