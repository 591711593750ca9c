"""SIGTERM is handled like Ctrl-C only while a CLI command runs: installed by `main`, restored after."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from mlscale.cli import main


def _main(args: list[str]) -> int:
    environ = dict(os.environ)
    try:
        with pytest.raises(SystemExit) as exited:
            main(args)
    finally:
        os.environ.clear()
        os.environ.update(environ)
    return int(exited.value.code or 0)


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text("name: t\ndata: {source: sklearn, dataset: iris}\n")
    return path


def test_sigterm_during_a_command_is_an_interrupt_and_the_handler_is_restored(
    recipe: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import mlscale.recipe

    def sent_sigterm(*args: object, **kwargs: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # handled (raised) before kill returns
        raise AssertionError("SIGTERM did not interrupt the command")

    previous = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(mlscale.recipe, "load_recipe", sent_sigterm)
    assert _main(["validate", str(recipe)]) == 143
    assert capsys.readouterr().err.splitlines()[-1] == "terminated"
    assert signal.getsignal(signal.SIGTERM) is previous


def test_the_handler_is_restored_after_a_command_that_succeeds_or_fails(recipe: Path) -> None:
    previous = signal.getsignal(signal.SIGTERM)
    assert _main(["validate", str(recipe)]) == 0
    assert signal.getsignal(signal.SIGTERM) is previous
    assert _main(["validate", str(recipe), "--set", "train.eta=fast"]) == 2
    assert signal.getsignal(signal.SIGTERM) is previous


def test_a_sigterm_is_remembered_when_something_replaces_the_exception() -> None:
    """Ray's core turns the Terminated a handler raises inside ray.get into a plain KeyboardInterrupt:
    the CLI must still exit 143 (it exited 130 on the cluster)."""
    import os
    import signal

    from mlscale.util.interrupts import sigterm_as_interrupt, terminated

    with sigterm_as_interrupt():
        try:
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                signal.pause() if hasattr(signal, "pause") else None
            except KeyboardInterrupt:
                raise KeyboardInterrupt() from None  # what Ray's check_signals does
        except KeyboardInterrupt as exc:
            assert type(exc) is KeyboardInterrupt
            assert terminated(exc)
    assert not terminated(KeyboardInterrupt())  # reset after the command


def test_stop_requested_sets_its_event_on_the_first_ctrl_c_and_interrupts_on_the_second() -> None:
    from mlscale.util.interrupts import stop_requested

    outer = signal.signal(signal.SIGINT, signal.default_int_handler)  # Python's own, whatever ran before
    try:
        with stop_requested() as stop:
            os.kill(os.getpid(), signal.SIGINT)
            assert stop.event.wait(5) and stop.signum == signal.SIGINT
            assert type(stop.interrupt()) is KeyboardInterrupt
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)
                stop.event.wait(5)  # the signal arrives at the next bytecode: never reached
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, outer)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the swallowed raise itself
def test_a_sigterm_whose_raise_python_swallowed_still_stops_the_next_step() -> None:
    """Python ignores an exception raised in a `__del__` (or a weakref callback, where a thread pool's
    swallowed it mid-predict): the next step's check raises it."""
    import time

    from mlscale.util.interrupts import Terminated, raise_if_terminated, sigterm_as_interrupt

    class Victim:
        def __del__(self) -> None:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.5)  # the handler runs here; its Terminated is "ignored in __del__"

    with sigterm_as_interrupt():
        raise_if_terminated()  # nothing received: no-op
        victim = Victim()
        del victim
        with pytest.raises(Terminated):
            raise_if_terminated()
    raise_if_terminated()  # outside the CLI's block: nothing to raise
