"""`--workers 0` means the cores this process may use: its CPU affinity, capped by a cgroup CPU quota
(a container limited to 2 CPUs on a big host must not start one worker per host core)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from veil.pipeline.pool import cgroup_cpu_quota, resolve_workers, usable_cores


def _v2(tmp_path, path: str, limits: dict[str, str]):
    tmp_path.mkdir(parents=True, exist_ok=True)
    proc = tmp_path / "cgroup"
    proc.write_text(f"0::{path}\n")
    root = tmp_path / "fs"
    for folder, value in limits.items():
        d = root / folder.lstrip("/")
        d.mkdir(parents=True, exist_ok=True)
        (d / "cpu.max").write_text(value + "\n")
    return proc, root


def test_cgroup_v2_quota_is_the_smallest_along_the_path(tmp_path):
    proc, root = _v2(tmp_path, "/kubepods/pod1/box", {"/": "max 100000", "/kubepods": "max 100000",
                                                      "/kubepods/pod1": "250000 100000",
                                                      "/kubepods/pod1/box": "400000 100000"})
    assert cgroup_cpu_quota(proc, root) == 2.5
    proc, root = _v2(tmp_path / "none", "/user.slice", {"/": "max 100000", "/user.slice": "max 100000"})
    assert cgroup_cpu_quota(proc, root) is None
    proc, root = _v2(tmp_path / "own", "/", {"/": "50000 100000"})  # a container's own root
    assert cgroup_cpu_quota(proc, root) == 0.5


def test_cgroup_v1_quota_and_a_host_path_not_mounted_here(tmp_path):
    proc = tmp_path / "cgroup"
    proc.write_text("12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n")
    root = tmp_path / "fs"
    cpu = root / "cpu,cpuacct"
    cpu.mkdir(parents=True)
    (cpu / "cpu.cfs_quota_us").write_text("300000\n")  # the container's own cgroup is the mount's root
    (cpu / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_quota(proc, root) == 3.0
    (cpu / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_quota(proc, root) is None
    assert cgroup_cpu_quota(tmp_path / "missing", root) is None


def test_the_default_is_every_usable_core_and_a_number_is_kept():
    assert resolve_workers(3) == 3
    assert resolve_workers(0) == usable_cores() >= 1
    assert usable_cores() <= len(os.sched_getaffinity(0))


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores to pin to one")
def test_a_process_pinned_to_one_core_runs_one_worker(tmp_path):
    """taskset -c 0: os.cpu_count() still says every core; the default worker count follows the pin."""
    code = ("import json, os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "from veil.pipeline.pool import resolve_workers; "
            "print(json.dumps([os.cpu_count(), resolve_workers(0)]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    host, workers = json.loads(done.stdout)
    assert host >= 2 and workers == 1
