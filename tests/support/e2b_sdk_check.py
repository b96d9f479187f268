#!/usr/bin/env python3
"""Drives tests/support/e2b_server.py (the E2B stand-in) with E2B's official
Python SDK, the e2b package scripts/test.sh pins, and checks that every call
gives what the SDK's users get from E2B.

The environment names the stand-in (E2B_API_URL, E2B_SANDBOX_URL) and the
key (E2B_API_KEY). Prints one line per step; the first failing step raises,
and the traceback shows the SDK's own error.

Usage: e2b_sdk_check.py
"""

import io
import tarfile
import time

import e2b
from e2b import CommandExitException, NotFoundException, Sandbox, TimeoutException


def step(name):
    print("step:", name, flush=True)


def expect(condition, what):
    if not condition:
        raise AssertionError(what)


def main():
    step("create")
    sandbox = Sandbox.create(
        template="base", timeout=120, metadata={"suite": "sdk-check"}, envs={"FROM_CREATE": "yes"}
    )
    expect(sandbox.sandbox_id, "a sandbox id")

    step("run: output, the sandbox's envs and the command's own")
    result = sandbox.commands.run(
        "echo out; echo err >&2; echo $FROM_CREATE $OWN $USER; basename $PWD", envs={"OWN": "mine"}
    )
    expect(result.exit_code == 0, "exit code 0, got %r" % result.exit_code)
    expect(result.stdout == "out\nyes mine user\nuser\n", "stdout %r" % result.stdout)
    expect(result.stderr == "err\n", "stderr %r" % result.stderr)

    step("run: a failing command raises with its exit code")
    try:
        sandbox.commands.run("echo before; exit 7")
        raise AssertionError("exit 7 did not raise")
    except CommandExitException as err:
        expect(err.exit_code == 7, "exit code 7, got %r" % err.exit_code)
        expect(err.stdout == "before\n", "stdout %r" % err.stdout)

    step("run: output streams while the command runs")
    seen = []
    started = time.monotonic()
    sandbox.commands.run(
        "echo one; sleep 1; echo two",
        on_stdout=lambda line: seen.append((line, time.monotonic() - started)),
    )
    expect([line for line, _ in seen] == ["one\n", "two\n"], "streamed %r" % seen)
    expect(seen[1][1] - seen[0][1] >= 0.8, "the lines came together: %r" % seen)

    step("run: a timeout ends the command (Connect-Timeout-Ms)")
    try:
        sandbox.commands.run("sleep 30", timeout=1)
        raise AssertionError("a timed out command did not raise")
    except TimeoutException:
        pass
    deadline = time.monotonic() + 5
    while sandbox.commands.list() and time.monotonic() < deadline:
        time.sleep(0.1)
    expect(sandbox.commands.list() == [], "the timed out command is gone")

    step("run: in the background, listed, then killed")
    handle = sandbox.commands.run("sleep 60", background=True)
    expect(handle.pid > 0, "a pid")
    expect(handle.pid in [p.pid for p in sandbox.commands.list()], "listed")
    expect(sandbox.commands.kill(handle.pid), "killed")
    try:
        handle.wait()
        raise AssertionError("a killed command did not raise")
    except CommandExitException as err:
        expect(err.exit_code != 0, "a killed command's exit code %r" % err.exit_code)
    expect(not sandbox.commands.kill(handle.pid), "a second kill finds nothing")

    step("files: write, read, list, exists, remove")
    info = sandbox.files.write("notes/a.txt", "hello\n")
    expect(info.path == "/home/user/notes/a.txt", "written to %r" % info.path)
    expect(sandbox.files.read("notes/a.txt") == "hello\n", "read back")
    expect(bytes(sandbox.files.read("notes/a.txt", format="bytes")) == b"hello\n", "read as bytes")
    entries = sandbox.files.list("notes")
    expect([(e.name, e.type.value) for e in entries] == [("a.txt", "file")], "listed %r" % entries)
    expect(sandbox.files.exists("notes/a.txt"), "exists")
    expect(not sandbox.files.exists("notes/missing.txt"), "does not exist")
    expect(sandbox.files.make_dir("notes/sub"), "made a directory")
    expect(not sandbox.files.make_dir("notes/sub"), "the directory was there")
    sandbox.files.remove("notes/a.txt")
    expect(not sandbox.files.exists("notes/a.txt"), "removed")
    try:
        sandbox.files.read("notes/a.txt")
        raise AssertionError("reading a removed file did not raise")
    except NotFoundException:
        pass

    step("files: several at once, then a tar.gz unpacked")
    written = sandbox.files.write_files([
        {"path": "many/one.txt", "data": "1"},
        {"path": "many/two.txt", "data": b"2"},
    ])
    expect(sorted(w.name for w in written) == ["one.txt", "two.txt"], "wrote %r" % written)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        data = b"packed\n"
        member = tarfile.TarInfo("project/inside.txt")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    archive.seek(0)
    sandbox.files.write("upload.tar.gz", archive)
    sandbox.commands.run("mkdir -p unpacked && tar -xzf upload.tar.gz -C unpacked")
    expect(sandbox.files.read("unpacked/project/inside.txt") == "packed\n", "unpacked")

    step("set_timeout and get_info")
    before = sandbox.get_info()
    sandbox.set_timeout(300)
    after = sandbox.get_info()
    expect(after.sandbox_id == sandbox.sandbox_id, "the same sandbox")
    expect(after.state.value == "running", "running, got %r" % after.state)
    expect(after.metadata == {"suite": "sdk-check"}, "metadata %r" % after.metadata)
    expect(after.end_at > before.end_at, "the end moved: %r -> %r" % (before.end_at, after.end_at))
    expect(after.started_at <= after.end_at, "started before it ends")
    expect(after.envd_version, "an envd version")

    step("connect from elsewhere")
    again = Sandbox.connect(sandbox.sandbox_id)
    expect(again.commands.run("cat many/one.txt").stdout == "1", "the same files")
    expect(again.is_running(), "running")

    step("list")
    listed = Sandbox.list(query=e2b.SandboxQuery(metadata={"suite": "sdk-check"})).next_items()
    expect([s.sandbox_id for s in listed] == [sandbox.sandbox_id], "listed %r" % listed)
    expect(Sandbox.list(query=e2b.SandboxQuery(metadata={"suite": "other"})).next_items() == [],
           "a filter that matches nothing")

    step("kill")
    expect(sandbox.kill(), "killed")
    expect(not Sandbox.kill(sandbox.sandbox_id), "a second kill finds nothing")
    try:
        Sandbox.get_info(sandbox.sandbox_id)
        raise AssertionError("a killed sandbox still has info")
    except NotFoundException:
        pass
    expect(not again.is_running(), "not running after the kill")
    print("all steps passed", flush=True)


if __name__ == "__main__":
    main()
