# SPDX-License-Identifier: MIT
"""--async and dump --async on real CPython 3.14 and 3.15 (Debian sid's, and 3.14's Py_DEBUG build).

The workload (tests/workloads/tasks.py) makes tasks in known shapes; a
sample taken while a task runs must be that task's logical stack: the
tasks awaiting it outermost first, each introduced by `task NAME`, the
event loop's frames left out.
"""
import json
import re
import resource
import subprocess

import pytest

from conftest import (BY_ID, WORKLOADS, behaviour_ids, marker_line, require_python, run_pyspy,
                      total)

SCRIPT = "tasks.py"
# Per version: asyncio's task layouts, on every interpreter that has them
# (the tests that use two leave out the debug build: the same layout).
NEW = ["3.14-sid", "3.14d-sid", "3.15-sid"]
LOOP = ("run_forever", "_run_once", "Handle._run", "Task.__step", "run_until_complete")


def frame(name, tag, script=SCRIPT):
    return "%s (%s:%d)" % (name, WORKLOADS / script, marker_line(script, tag))


def new_python(ident):
    return require_python(BY_ID[ident])


def whole(stacks):
    """Stacks not marked [partial] (a walk that faulted part way, the target moving under it)."""
    return [(f, c) for f, c in stacks if f[0] != "[partial]"]


def tasks_of(frames):
    return [f[5:] for f in frames if f.startswith("task ")]


def by_task(stacks):
    """Weight per innermost task (the one that ran, or waited)."""
    out = {}
    for f, c in stacks:
        t = tasks_of(f)
        if t:
            out[t[-1]] = out.get(t[-1], 0) + c
    return out


def async_record(record, w, extra=(), duration=4, rate=499):
    return record(w.pid, duration=duration, rate=rate, extra=["--async"] + list(extra))


@pytest.mark.parametrize("ident", NEW)
def test_gather_split(ident, workload, record, tmp_path):
    """Three workers under gather: 3:2:1 of the CPU, each under main's task, no loop frames."""
    truth = tmp_path / "truth.json"
    w = workload(new_python(ident), SCRIPT, "--shape", "gather", "--truth", truth)
    r = async_record(record, w)
    stacks = r.profile()
    run = frame("run", "RUN-SHAPE")
    gather = frame("gather_main", "MAIN-GATHER")
    burn = frame("burn", "HOT-BURN")
    in_task = [(f, c) for f, c in whole(stacks) if tasks_of(f)]
    assert sum(c for _, c in in_task) > 0.9 * total(stacks), r.text[:3000]
    for f, c in in_task:
        assert f[0] == "task Task-1", f
        assert not any(x.split(" (")[0].endswith(LOOP) for x in f), f
    workers = {}
    for f, c in in_task:
        name = tasks_of(f)[-1]
        if name.startswith("worker-") and f[-1] == burn:
            i = f.index("task " + name)
            # main's task at its await, then the worker's own frames
            assert f[:i] == ["task Task-1", run, gather], f
            assert f[i + 1] == frame("worker", "WORKER-BURN"), f
            workers[name] = workers.get(name, 0) + c
    w.proc.terminate()
    w.proc.wait(timeout=20)
    spent = json.loads(truth.read_text())
    got = sum(workers.values())
    want = sum(spent[k] for k in workers)
    assert set(workers) == {"worker-a", "worker-b", "worker-c"}, workers
    for k in workers:
        assert abs(workers[k] / got - spent[k] / want) < 0.05, (workers, spent)
    assert abs(workers["worker-a"] / got - 0.5) < 0.08, workers


@pytest.mark.parametrize("ident", ["3.14-sid", "3.15-sid"])
def test_taskgroup_nesting(ident, workload, record):
    """main's TaskGroup runs parent, whose TaskGroup runs child: main > parent > child."""
    w = workload(new_python(ident), SCRIPT, "--shape", "group")
    stacks = async_record(record, w).profile()
    burn = frame("burn", "HOT-BURN")
    # A walk that faulted part way (the thread moved under it) says so and is not a task's.
    deep = [(f, c) for f, c in stacks if f[-1] == burn and f[0] != "[partial]"]
    assert deep, stacks[:20]
    for f, c in deep:
        assert tasks_of(f) == ["Task-1", "parent", "child"], f
        p, ch = f.index("task parent"), f.index("task child")
        assert frame("group_main", "MAIN-GROUP") in f[:p], f
        assert frame("parent", "PARENT-GROUP") in f[p:ch], f
        assert f[ch + 1] == frame("child", "CHILD-BURN"), f
        # what TaskGroup's __aexit__ awaits in: the coroutines, as they are
        assert any(x.startswith("TaskGroup.__aexit__") for x in f[p:ch]), f


def test_coroutine_chain_in_one_task(workload, record):
    """outer awaits mid(), which awaits inner(): three coroutines of one task, in order."""
    w = workload(new_python("3.14-sid"), SCRIPT, "--shape", "chain")
    stacks = async_record(record, w).profile()
    want = ["task outer", frame("outer", "OUTER-AWAIT"), frame("mid", "MID-AWAIT"),
            frame("inner", "INNER-BURN"), frame("burn", "HOT-BURN")]
    good = sum(c for f, c in stacks if f[-5:] == want)
    assert good > 0.8 * total(stacks), stacks[:10]


def test_wait_for(workload, record):
    """main awaits wait_for(timed): main's coroutines down to wait_for, then timed's task."""
    w = workload(new_python("3.14-sid"), SCRIPT, "--shape", "waitfor")
    stacks = whole(async_record(record, w).profile())
    burn = frame("burn", "HOT-BURN")
    deep = [f for f, _ in stacks if f[-1] == burn]
    assert deep, stacks[:10]
    for f in deep:
        assert tasks_of(f) == ["Task-1", "timed"], f
        i = f.index("task timed")
        assert f[i - 2] == frame("waitfor_main", "MAIN-WAITFOR"), f
        assert f[i - 1].startswith("wait_for (") and "asyncio/tasks.py:" in f[i - 1], f


@pytest.mark.parametrize("ident", ["3.14-sid", "3.15-sid"])
def test_wall_waiting_task(ident, workload, record):
    """waiter awaits the task sleeper: both charged the whole time they wait, per task."""
    w = workload(new_python(ident), SCRIPT, "--shape", "waiter")
    r = async_record(record, w, ["--mode", "wall"], duration=4, rate=99)
    stacks = r.profile()
    wait = frame("waiter", "WAITER-AWAIT")
    sleep = frame("sleeper", "SLEEPER-SLEEP")
    waiter = sum(c for f, c in stacks if f[-2:] == [wait, "[await task sleeper]"])
    sleeper = sum(c for f, c in stacks if "task sleeper" in f and sleep in f and
                  f[-1] == "[await]")
    shares = by_task(stacks)
    elapsed = 4e9
    assert abs(waiter - elapsed) < 0.1 * elapsed, (waiter, shares)
    assert abs(sleeper - elapsed) < 0.1 * elapsed, (sleeper, shares)
    # sleeper's stack hangs under waiter's, which hangs under main's
    assert any(tasks_of(f) == ["Task-1", "waiter", "sleeper"] for f, _ in stacks), shares
    # every task's share adds up to the elapsed time: running or waiting
    for name in ("Task-1", "waiter", "sleeper", "spinner"):
        assert abs(shares.get(name, 0) - elapsed) < 0.1 * elapsed, (name, shares)
    assert "asyncio:" in r.stderr, r


@pytest.mark.parametrize("ident", NEW)
def test_dump_async(ident, workload, pyspy):
    """dump --async: a tree of who awaits whom, states, where each is suspended; --json too."""
    w = workload(new_python(ident), SCRIPT, "--shape", "waiter")
    r = run_pyspy(pyspy, ["dump", "--pid", w.pid, "--async"])
    assert r.rc == 0, r
    text = r.stdout
    lines = text.splitlines()
    assert re.match(r"Process %d \(.*\): Python 3\.1[45]\.\d+.*, 4 asyncio tasks$" % w.pid,
                    lines[0]), text
    names = {m.group(2): (m.group(1), m.group(3)) for m in
             (re.match(r"^(.*?)task (\S+) \((\w+)\)$", x) for x in lines) if m}
    assert set(names) == {"Task-1", "waiter", "sleeper", "spinner"}, text
    assert names["sleeper"][1] == "suspended" and names["waiter"][1] == "suspended", text
    # deeper in the tree: sleeper under waiter under Task-1
    depth = {k: len(v[0]) for k, v in names.items()}
    assert depth["Task-1"] < depth["waiter"] < depth["sleeper"], text
    assert frame("waiter", "WAITER-AWAIT") in text and "[await task sleeper]" in text, text
    assert frame("sleeper", "SLEEPER-SLEEP") in text, text

    r = run_pyspy(pyspy, ["dump", "--pid", w.pid, "--async", "--json"])
    assert r.rc == 0, r
    doc = json.loads(r.stdout)
    tasks = {t["name"]: t for t in doc["tasks"]}
    assert set(tasks) == {"Task-1", "waiter", "sleeper", "spinner"}, doc
    assert tasks["sleeper"]["awaited_by"] == [tasks["waiter"]["id"]], doc
    assert tasks["waiter"]["awaited_by"] == [tasks["Task-1"]["id"]], doc
    assert tasks["waiter"]["await"] == "[await task sleeper]", doc
    top = tasks["waiter"]["frames"][0]
    assert (top["name"], top["line"]) == ("waiter", marker_line(SCRIPT, "WAITER-AWAIT")), doc
    assert all(t["tid"] == w.pid for t in tasks.values()), doc


@pytest.mark.parametrize("ident", ["3.14-sid", "3.15-sid"])
def test_dump_async_one_running_task(ident, workload, pyspy):
    """20 tasks that each run a moment and yield in turn: the running task
    changes many times while a dump reads the tasks, yet each dump shows at
    most one running task on the thread, the one the thread says it runs
    (read once), and many dumps show that one."""
    w = workload(new_python(ident), SCRIPT, "--shape", "switch", "--idle", 20)
    seen = 0
    for i in range(30):
        r = run_pyspy(pyspy, ["dump", "--pid", w.pid, "--async", "--json"])
        assert r.rc == 0, r
        doc = json.loads(r.stdout)
        assert len(doc["tasks"]) == 21, doc
        running = [t["name"] for t in doc["tasks"] if t["state"] == "running"]
        assert len(running) <= 1, "dump %d: %s all running at once" % (i, running)
        seen += len(running)
    assert seen >= 10, "only %d of 30 dumps showed the running task" % seen


def test_dump_async_many_tasks(workload, pyspy):
    """64 000 tasks, each awaited by the 16 after it (a graph with cycles):
    dump --async lists each task once, awaiting its 16, in CPU time linear in
    the tasks (16 times the tasks of a 4 000-task dump cost well under 16 x 3
    times its time; quadratic would be 256)."""
    cpu = {}
    for n in (4000, 64000):
        w = workload(new_python("3.14-sid"), SCRIPT, "--shape", "flood", "--idle", n)
        best = None
        for _ in range(2 if n == 4000 else 1):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            r = run_pyspy(pyspy, ["dump", "--pid", w.pid, "--async", "--json"], timeout=300)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            used = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            best = used if best is None else min(best, used)
        assert r.rc == 0, r
        doc = json.loads(r.stdout)
        tasks = {t["name"]: t for t in doc["tasks"]}
        assert len(tasks) == len(doc["tasks"]) == n + 1 and not doc["tasks_truncated"], len(tasks)
        for i in (0, n // 2, n - 1):
            t = tasks["flood-%d" % i]
            after = {tasks["flood-%d" % ((i + k) % n)]["id"] for k in range(1, 17)}
            assert set(t["awaited_by"]) == after, t
            assert t["await"] == "[await 16 tasks]", t
        cpu[n] = best
    assert cpu[64000] < 48 * cpu[4000], cpu


def test_idle_tasks_bounded(workload, record):
    """1000 idle tasks and one busy: each read a bounded number per tick, all charged in full."""
    w = workload(new_python("3.14-sid"), SCRIPT, "--shape", "idle", "--idle", 1000)
    r = async_record(record, w, ["--mode", "wall", "--async-tasks", "50"], duration=4,
                     rate=99)
    stacks = r.profile()
    shares = by_task(stacks)
    idle = {k: v for k, v in shares.items() if k.startswith("idle-")}
    assert len(idle) == 1000, len(idle)
    # each waited the whole recording, read every 20 ticks or so
    for k, v in idle.items():
        assert 3.4e9 < v < 4.2e9, (k, v)
    m = re.search(r"asyncio: \d+ samples in a task; (\d+) tasks, read (\d+) times in (\d+) "
                  r"passes \((\d+) left", r.stderr)
    assert m, r
    tasks, reads, passes, left = map(int, m.groups())
    ticks = 4 * 99
    assert tasks == 1002 and reads <= 50 * (ticks + 20), m.group(0)
    assert left > 0 and passes >= 10, m.group(0)
    # the busy task: all of its own CPU under its task
    assert shares["busy"] > 3e9, shares["busy"]


def test_idle_tasks_cpu(workload, record):
    """In CPU mode idle tasks cost nothing: the busy one has the samples, nothing else is read."""
    w = workload(new_python("3.14-sid"), SCRIPT, "--shape", "idle", "--idle", 1000)
    r = async_record(record, w)
    stacks = r.profile()
    shares = by_task(stacks)
    assert shares.get("busy", 0) > 0.9 * total(stacks), shares
    assert "read" not in re.search(r"asyncio: .*", r.stderr).group(0), r


@pytest.mark.parametrize("ident", behaviour_ids(lambda p: p.version < (3, 14)))
def test_older_python_refused(ident, workload, pyspy, tmp_path):
    """Before 3.14: one clear line and a non-zero exit, from record and from dump."""
    py = require_python(BY_ID[ident])
    w = workload(py, "simple.py")
    out = tmp_path / "p.folded"
    r = run_pyspy(pyspy, ["record", "--pid", w.pid, "--async", "--duration", 1, "-o", out])
    want = "--async needs CPython 3.14 or newer; PID %d runs 3.%d" % (w.pid, py.version[1])
    assert r.rc != 0 and want in r.stderr, r
    assert len([x for x in r.stderr.splitlines() if x.strip()]) == 1, r
    assert not out.exists(), r
    r = run_pyspy(pyspy, ["dump", "--pid", w.pid, "--async"])
    assert r.rc != 0 and want in r.stderr and not r.stdout, r


def test_async_hostile(workload, record, pyspy):
    """A task awaiting itself, a name into nowhere, a task list that loops: bounded, counted."""
    w = workload(new_python("3.14-sid"), SCRIPT, "--shape", "hostile")
    r = async_record(record, w, duration=2)
    stacks = r.profile()
    spin = [f for f, _ in whole(stacks) if "task spinner" in f]
    assert spin, r.text[:2000]
    # the cycle ends the chain: spinner once, nothing above it
    assert all(f[0] == "task spinner" and tasks_of(f) == ["spinner"] for f in spin), spin
    assert re.search(r"\d+ await chains that came back to a task", r.stderr), r
    r = async_record(record, w, ["--mode", "wall"], duration=2, rate=99)
    r.profile()
    assert re.search(r"\d+ task lists corrupt or changed while read", r.stderr), r
    d = run_pyspy(pyspy, ["dump", "--pid", w.pid, "--async"])
    assert d.rc == 0 and "[partial]" in d.stdout, d
    d = run_pyspy(pyspy, ["dump", "--pid", w.pid, "--async", "--json"])
    assert d.rc == 0 and json.loads(d.stdout)["list_errors"] >= 1, d


def test_async_pprof_label(workload, pyspy, go_pprof, tmp_path):
    """pprof samples carry the task they ran in as a `task` label, as go tool pprof shows it."""
    w = workload(new_python("3.14-sid"), SCRIPT, "--shape", "gather")
    pb = tmp_path / "p.pb.gz"
    r = run_pyspy(pyspy, ["record", "--pid", w.pid, "--async", "--duration", 3, "--rate", 499,
                          "--format", "pprof", "-o", pb])
    assert r.rc == 0, r
    tags = go_pprof("-tags", pb)
    block = tags[tags.index(" task:"):]
    for name in ("worker-a", "worker-b", "worker-c"):
        assert re.search(r"\S+ \(\s*[\d.]+%\): " + re.escape(name) + "\n", block), tags


def test_async_svg_and_speedscope(workload, pyspy, tmp_path):
    """Task frames in a colour of their own in the SVG; grouped by their file in speedscope."""
    w = workload(new_python("3.14-sid"), SCRIPT, "--shape", "gather")
    svg = tmp_path / "p.svg"
    ss = tmp_path / "p.speedscope.json"
    for out, fmt in ((svg, "svg"), (ss, "speedscope")):
        r = run_pyspy(pyspy, ["record", "--pid", w.pid, "--async", "--duration", 2,
                              "--format", fmt, "-o", out])
        assert r.rc == 0, r
    text = svg.read_text()
    colours = set(re.findall(r'<title>task [^<]*</title><rect [^>]*fill="(rgb\([^)]*\))"', text))
    assert colours == {"rgb(236,128,180)"}, colours
    doc = json.loads(ss.read_text())
    frames = doc["shared"]["frames"]
    tasks = [f for f in frames if f["name"].startswith("task ")]
    assert {f["name"] for f in tasks} >= {"task worker-a", "task Task-1"}, tasks
    assert all(f["file"] == "\u27e8asyncio task\u27e9" for f in tasks), tasks


def test_top_async(workload, pyspy):
    """top --async: one row per task."""
    w = workload(new_python("3.14-sid"), SCRIPT, "--shape", "gather")
    r = run_pyspy(pyspy, ["top", "--pid", w.pid, "--async", "--duration", 2.5])
    assert r.rc == 0, r
    table = r.stdout[r.stdout.rindex("Function (filename:line)"):].splitlines()[1:]
    rows = [x for x in table if x.strip()]
    names = {x.split("  task ")[-1] for x in rows}
    assert {"worker-a", "worker-b", "worker-c", "Task-1"} <= names, r.stdout[-3000:]
    # nothing but tasks: the workers' and main's functions are in their tasks' rows
    assert all(re.search(r"\s\stask \S+$", x) for x in rows), rows


def test_asyncio_imported_later(workload, record):
    """Recording starts before `import asyncio`: tasks are stacks once it is imported."""
    w = workload(new_python("3.14-sid"), "late_asyncio.py")
    r = async_record(record, w, duration=4)
    stacks = r.profile()
    assert any(tasks_of(f) == ["Task-1", "late"] for f, _ in stacks), r.text[:3000]
