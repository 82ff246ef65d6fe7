"""One CTC config from start to end, as `vcmref ctc` and `vcmref demo` run it: load and check
the config, run its jobs (with a progress bar), report failures, write the report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vcmref.ctc.config import load_config
from vcmref.ctc.jobs import RunLayout
from vcmref.ctc.runner import RunSummary, run


def progress_bar(label: str):
    """A rich progress bar (jobs done, failures, time left) and its update function."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn(f"{label}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(),
                   TextColumn("left"), TimeRemainingColumn(), transient=False)
    task = bar.add_task(label, total=None, failed=0)

    def update(done: int, total: int, failed: int, job: str) -> None:
        bar.update(task, completed=done, total=total, failed=failed)

    return bar, update


def run_ctc(config: str, run_dir: Path | None, overrides: list[str], workers: int,
            scheduler: str | None, phase: str, report: bool,
            say: Callable[[str], None] = print) -> RunSummary:
    """Load, run and report one config (a file, or the name of a shipped config); returns the
    run summary."""
    cfg = load_config(config, overrides)
    run_dir = run_dir or Path("runs") / cfg.name
    if any(spec.target_bpp for spec in cfg.codecs.values()):
        from vcmref.ctc.search import SEARCH_DIR, resolve_target_rates

        say(f"{cfg.name}: searching the rate points of the target bitrates "
            f"(cached in {run_dir / SEARCH_DIR}/CODEC)")
        cfg, messages = resolve_target_rates(cfg, run_dir)
        for m in messages[:20]:
            say(f"  {m}")
    bar, update = progress_bar(cfg.name)
    with bar:
        summary = run(cfg, run_dir, workers=workers, scheduler=scheduler, phase=phase,
                      progress=update)
    say(f"{cfg.name}: {summary.total} jobs, {summary.skipped} already done, {summary.done} run "
        f"({len(summary.failed)} failed) in {summary.seconds:.1f} s -> {run_dir}")
    for job, error in summary.failed[:20]:
        say(f"  failed: {job}: {error}")
    if len(summary.failed) > 20:
        say(f"  ... and {len(summary.failed) - 20} more (see {RunLayout(run_dir).results})")
    if report and phase != "encode":
        from vcmref.ctc.report import write_report

        paths = write_report(run_dir)
        say(f"report: {paths['report.html']}")
    if cfg.raw.get("loss") is not None and phase != "encode":
        from vcmref.ctc.loss_track import run_loss_track, write_loss_report

        bar, update = progress_bar(f"{cfg.name} (loss)")
        with bar:
            total, skipped, failed = run_loss_track(cfg, run_dir, workers, update)
        say(f"{cfg.name} loss track: {total} bitstreams, {skipped} already done, "
            f"{len(failed)} failed -> {run_dir / 'loss'}")
        for job, error in failed[:20]:
            say(f"  failed: {job.label()}: {error}")
        if report:
            paths = write_loss_report(run_dir)
            say(f"loss report: {', '.join(str(p) for p in paths.values())}")
    return summary
