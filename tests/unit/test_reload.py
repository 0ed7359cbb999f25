"""Hot reload: real files in tmp_path, a real SIGHUP, bounded waits on apply events."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from proxy.config.schema import Rule
from proxy.policy.reload import Reloader, file_stamp

FAST = 0.02  # poll interval for tests that rely on polling
NEVER = 3600.0  # poll interval for tests where only trigger() may reload
WAIT = 5.0  # upper bound on any wait for an apply/error event


def load_rule(path: Path, data: bytes) -> Rule:
    """A small loader of our own: YAML, then the real rule model."""
    return Rule.model_validate(yaml.safe_load(data))


@dataclass
class Sink:
    """Records what the reloader applied and reported; events to await them."""

    applied: list[Rule] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)
    on_apply: asyncio.Event = field(default_factory=asyncio.Event)
    on_fail: asyncio.Event = field(default_factory=asyncio.Event)

    def apply(self, value: Rule) -> None:
        self.applied.append(value)
        self.on_apply.set()

    def error(self, exc: Exception) -> None:
        self.errors.append(exc)
        self.on_fail.set()

    async def next_apply(self) -> Rule:
        await asyncio.wait_for(self.on_apply.wait(), WAIT)
        self.on_apply.clear()
        return self.applied[-1]

    async def next_error(self) -> Exception:
        await asyncio.wait_for(self.on_fail.wait(), WAIT)
        self.on_fail.clear()
        return self.errors[-1]


def write(path: Path, data: Any) -> None:
    """Replace atomically, as deploy tools do, so a poll never sees a half-written file."""
    staged = path.with_suffix(".staged")
    staged.write_text(yaml.safe_dump(data))
    os.replace(staged, path)


def write_in_place(path: Path, data: Any) -> None:
    """Truncate and rewrite the same inode, as most editors do."""
    path.write_text(yaml.safe_dump(data))


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    write(path, {"groups": ["staff"]})
    return path


@pytest.fixture
def sink() -> Sink:
    return Sink()


@contextlib.asynccontextmanager
async def running(reloader: Reloader[Rule]) -> AsyncIterator[None]:
    task = asyncio.create_task(reloader.run())
    try:
        yield
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, WAIT)


def reloader_for(path: Path, sink: Sink, interval: float, settle: float = 0) -> Reloader[Rule]:
    return Reloader(path, load_rule, sink.apply, sink.error, interval=interval, settle=settle)


async def test_changed_file_is_applied(config: Path, sink: Sink) -> None:
    reloader = reloader_for(config, sink, FAST)
    async with running(reloader):
        # A poll may catch the truncated file in between (reported, then retried).
        write_in_place(config, {"groups": ["staff", "admins"]})
        rule = await sink.next_apply()
    assert rule.groups == ("staff", "admins")


async def test_broken_file_reports_and_keeps_the_old_value(config: Path, sink: Sink) -> None:
    current = load_rule(config, config.read_bytes())

    def apply(value: Rule) -> None:
        nonlocal current
        current = value
        sink.apply(value)

    reloader = Reloader(config, load_rule, apply, sink.error, interval=FAST, settle=0)
    async with running(reloader):
        write(config, {"grups": ["staff"]})  # typo: unknown key
        error = await sink.next_error()
        assert "grups" in str(error)
        assert current.groups == ("staff",)
        assert sink.applied == []
        write(config, {"groups": ["fixed"]})
        assert (await sink.next_apply()).groups == ("fixed",)
    assert current.groups == ("fixed",)


async def test_sighup_forces_a_reload(config: Path, sink: Sink) -> None:
    reloader = reloader_for(config, sink, NEVER)
    loop = asyncio.get_running_loop()
    reloader.install_sighup(loop)
    try:
        async with running(reloader):
            os.kill(os.getpid(), signal.SIGHUP)
            rule = await sink.next_apply()
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
    assert rule.groups == ("staff",)


async def test_trigger_before_run_is_not_lost(config: Path, sink: Sink) -> None:
    reloader = reloader_for(config, sink, NEVER)
    reloader.trigger()
    async with running(reloader):
        await sink.next_apply()
    assert len(sink.applied) == 1


async def test_atomic_rename_is_detected_even_with_same_size_and_mtime(
    config: Path, sink: Sink, tmp_path: Path
) -> None:
    before = os.stat(config)
    replacement = tmp_path / "policy.yaml.new"
    replacement.write_text(yaml.safe_dump({"groups": ["admin"]}))  # same size as "staff"
    os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(replacement).st_size == before.st_size
    reloader = reloader_for(config, sink, FAST)
    async with running(reloader):
        os.replace(replacement, config)
        rule = await sink.next_apply()
    assert rule.groups == ("admin",)


async def test_check_reloads_only_on_change(config: Path, sink: Sink) -> None:
    reloader = reloader_for(config, sink, NEVER)
    assert await reloader.check() is False
    write_in_place(config, {"groups": ["staff", "x"]})
    assert await reloader.check() is True
    assert await reloader.check() is False
    assert await reloader.check(force=True) is True
    assert [r.groups for r in sink.applied] == [("staff", "x"), ("staff", "x")]


async def test_broken_file_is_reported_once_not_every_poll(config: Path, sink: Sink) -> None:
    reloader = reloader_for(config, sink, NEVER)
    config.write_text("groups: [unclosed\n")
    assert await reloader.check() is False
    assert await reloader.check() is False
    assert len(sink.errors) == 1
    assert isinstance(sink.errors[0], yaml.YAMLError)


async def test_missing_file_is_reported_and_its_return_applied(config: Path, sink: Sink) -> None:
    reloader = reloader_for(config, sink, NEVER)
    config.unlink()
    assert file_stamp(config) is None
    assert await reloader.check() is False
    assert isinstance(sink.errors[0], FileNotFoundError)
    write(config, {"groups": ["back"]})
    assert await reloader.check() is True
    assert sink.applied[-1].groups == ("back",)


async def test_failing_apply_is_reported(config: Path) -> None:
    errors: list[Exception] = []

    def apply(value: Rule) -> None:
        raise RuntimeError("cannot apply")

    reloader = Reloader(config, load_rule, apply, errors.append, interval=NEVER, settle=0)
    assert await reloader.check(force=True) is False
    assert [str(e) for e in errors] == ["cannot apply"]


def test_interval_must_be_positive(config: Path, sink: Sink) -> None:
    with pytest.raises(ValueError, match="interval"):
        reloader_for(config, sink, 0)


HALF = "groups:\n- first\n"  # a valid rule on its own: loading it would be a wrong value
REST = "- second\n- third\n"
SETTLE = 0.3  # the settle delay of these tests (the proxy uses 1 s)


async def test_a_half_written_file_is_never_loaded(config: Path, sink: Sink) -> None:
    reloader = reloader_for(config, sink, FAST, settle=SETTLE)
    async with running(reloader):
        with config.open("w") as f:  # truncate, write half, pause, write the rest
            f.write(HALF)
            f.flush()
            await asyncio.sleep(SETTLE / 3)  # the writer's pause, shorter than the settle
            f.write(REST)
        rule = await sink.next_apply()
    assert rule.groups == ("first", "second", "third")
    assert sink.errors == []
    assert [r.groups for r in sink.applied] == [("first", "second", "third")]


async def test_a_forced_reload_waits_for_the_file_to_settle(config: Path, sink: Sink) -> None:
    reloader = reloader_for(config, sink, NEVER, settle=SETTLE)
    async with running(reloader):
        with config.open("w") as f:
            f.write(HALF)
            f.flush()
            reloader.trigger()  # SIGHUP in the middle of a write
            await asyncio.sleep(SETTLE / 3)
            f.write(REST)
        rule = await sink.next_apply()
    assert rule.groups == ("first", "second", "third")
    assert sink.errors == []


async def test_a_symlink_swap_during_the_settle_is_read_again(tmp_path: Path, sink: Sink) -> None:
    # The Kubernetes ConfigMap layout: policy.yaml -> ..data/policy.yaml, ..data -> v1/.
    for version, groups in (("v1", ["one"]), ("v2", ["two"])):
        (tmp_path / version).mkdir()
        (tmp_path / version / "policy.yaml").write_text(yaml.safe_dump({"groups": groups}))
    (tmp_path / "..data").symlink_to("v1")
    config = tmp_path / "policy.yaml"
    config.symlink_to("..data/policy.yaml")
    reloader = reloader_for(config, sink, NEVER, settle=SETTLE)
    check = asyncio.create_task(reloader.check(force=True))
    await asyncio.sleep(0)  # the check has read v1 and waits for it to settle
    (tmp_path / "..data_tmp").symlink_to("v2")
    os.replace(tmp_path / "..data_tmp", tmp_path / "..data")  # the atomic swap
    shutil.rmtree(tmp_path / "v1")
    assert await asyncio.wait_for(check, WAIT) is True
    assert [r.groups for r in sink.applied] == [("two",)]
    assert sink.errors == []


async def test_a_file_missing_only_for_a_moment_is_not_reported(config: Path, sink: Sink) -> None:
    reloader = reloader_for(config, sink, NEVER, settle=SETTLE)
    check = asyncio.create_task(reloader.check(force=True))
    await asyncio.sleep(0)  # first read done
    config.unlink()
    await asyncio.sleep(SETTLE * 1.5)  # the second read finds no file (a delete, then a create)
    write(config, {"groups": ["back"]})
    assert await asyncio.wait_for(check, WAIT) is True
    assert [r.groups for r in sink.applied] == [("back",)]
    assert sink.errors == []


def test_settle_must_not_be_negative(config: Path, sink: Sink) -> None:
    with pytest.raises(ValueError, match="settle"):
        reloader_for(config, sink, FAST, settle=-1)


async def test_a_changed_dependency_reloads(config: Path, sink: Sink, tmp_path: Path) -> None:
    secret = tmp_path / "groups.secret"
    secret.write_text("one")

    def load(path: Path, data: bytes) -> Rule:  # a value built from a second file
        return Rule(groups=(secret.read_text(),))

    reloader = Reloader(
        config, load, sink.apply, sink.error, interval=FAST, settle=0, depends=lambda _: [secret]
    )
    reloader.watch([secret])
    async with running(reloader):
        staged = tmp_path / "groups.staged"
        staged.write_text("two")
        os.replace(staged, secret)  # the config file itself is untouched
        assert (await sink.next_apply()).groups == ("two",)
        secret.write_text("three")  # still watched after the reload
        assert (await sink.next_apply()).groups == ("three",)
    assert sink.errors == []
