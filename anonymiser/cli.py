"""Command line: thin click commands over the library: each parses its options, calls one
library function (``run.run`` for ``blur``) and prints. No business logic here.

Exit codes come from ``anonymiser.ExitCode``. Data goes to stdout; progress and messages to stderr.
"""

from __future__ import annotations

import functools
import logging
import sys
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

import anonymiser
from anonymiser import AnonymiserError, ConsentError, ExitCode, Settings, SettingsError

if TYPE_CHECKING:
    from anonymiser.audit import FileRecord
    from anonymiser.consent import ConsentLog

F = Callable[..., Any]


def _fail(err: AnonymiserError) -> None:
    click.echo(f"error: {err}", err=True)
    sys.exit(int(err.exit_code))


def _internal_error(err: Exception) -> None:
    """A bug: one line asking for a report; the traceback only with ``-v``."""
    ctx = click.get_current_context(silent=True)
    verbose = ctx.find_root().params.get("verbose", 0) if ctx else 0
    if verbose:
        traceback.print_exc(file=sys.stderr)
    where = "" if verbose else " (run again with -v for the details)"
    click.echo(
        f"error: internal error, please report it{where}: {type(err).__name__}: {err}", err=True
    )
    sys.exit(int(ExitCode.INTERNAL))


def handle_errors(func: F) -> F:
    """Turn library errors into a one-line message and their exit code; anything unexpected
    (a bug) into exit code 70."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AnonymiserError as err:
            _fail(err)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(int(ExitCode.INTERRUPTED))
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # usage errors and clean exits: click reports them
        except Exception as err:
            _internal_error(err)

    return wrapper


class _Group(click.Group):
    """Every command, sub-groups included, runs under ``handle_errors``."""

    def invoke(self, ctx: click.Context) -> Any:
        return handle_errors(super().invoke)(ctx)


def _readable_consent(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A consent log that is missing or unreadable exits 5 (like ``consent validate``), not 2."""
    if value is None:
        return None
    path = Path(value)
    try:
        with path.open("rb"):
            pass
    except OSError as err:
        _fail(ConsentError(f"{path}: cannot read consent log: {err.strerror or err}"))
    return path


def _at_least_one(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """``--workers N``: N >= 1, else a one-line error (exit 2)."""
    if value is not None and value < 1:
        _fail(SettingsError(f"--{param.name} {value}: must be at least 1"))
    return value


def _stacked(*options: Callable[[F], F]) -> Callable[[F], F]:
    """One decorator applying ``options`` as if written one above the other, in this order."""

    def apply(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return apply


def consent_option(
    help: str = "Consent log CSV. Without it nobody is identified and every face is blurred.",
    *,
    required: bool = False,
    checked: bool = True,
) -> Callable[[F], F]:
    """``--consent CSV``, with ``help`` for the command using it. ``checked``: a log that
    cannot be read exits 5 before the command runs (``doctor`` reports it instead)."""
    return click.option(
        "--consent",
        "consent_path",
        required=required,
        type=click.Path(path_type=Path),
        callback=_readable_consent if checked else None,
        help=help,
    )


required_consent_option = consent_option("Consent log CSV.", required=True)


def output_option(help: str, *, required: bool = False) -> Callable[[F], F]:
    """``-o/--output DIR``: a folder of safe copies (it need not exist yet)."""
    return click.option(
        "-o",
        "--output",
        "outdir",
        required=required,
        type=click.Path(file_okay=False, path_type=Path),
        help=help,
    )


def file_option(*decls: str, help: str) -> Callable[[F], F]:
    """An option naming one file (it need not exist yet)."""
    return click.option(*decls, type=click.Path(dir_okay=False, path_type=Path), help=help)


def json_option(help: str) -> Callable[[F], F]:
    """``--json``: print JSON on stdout instead of lines."""
    return click.option("--json", "as_json", is_flag=True, help=help)


# ROOT of a watched folder that the watcher has already set up (the review commands).
root_argument = click.argument(
    "root", type=click.Path(exists=True, file_okay=False, path_type=Path)
)


DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y")


def date_option(help_text: str) -> Callable[[F], F]:
    """``--date``: ISO 2026-09-01 or UK 01/09/2026, the same for every command."""
    return click.option(
        "--date",
        "on_date",
        type=click.DateTime(formats=list(DATE_FORMATS)),
        metavar="DATE",
        help=f"{help_text} Give YYYY-MM-DD or DD/MM/YYYY (e.g. 2026-09-01 or 01/09/2026).",
    )


config_option = click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Settings TOML file ([anonymiser] table); options given here override it.",
)


# Options shared by every command that processes media.
settings_options = _stacked(
    config_option,
    click.option("--purpose", type=click.Choice([p.value for p in anonymiser.Purpose]),
                 help="Where the photos will be published (default social-media)."),
    click.option("--media", type=click.Choice([m.value for m in anonymiser.Media]),
                 help="Consent column family to use (default: images for photos)."),
    click.option("--method", type=click.Choice([m.value for m in anonymiser.Method]),
                 help="How faces are redacted (default blur: pixelate then heavy blur)."),
    click.option("--text", "text", type=click.Choice([t.value for t in anonymiser.TextMode]),
                 help="names (default): redact text matching a roster name, keep other text "
                      "(needs --consent for the roster; without it no text is redacted unless "
                      "you ask for 'all'); all: redact all legible text; off: no OCR."),
    click.option("--device", type=click.Choice([d.value for d in anonymiser.Device]),
                 help="Where the detectors run: auto (default: a CUDA GPU when "
                      "onnxruntime-gpu can use one, else the CPU), cpu, cuda (falls back to "
                      "the CPU with a warning)."),
    date_option("Judge consent as on this date (default today)."),
    consent_option(),
)  # fmt: skip


def build_settings(
    config: Path | None, on_date: datetime | None = None, **overrides: Any
) -> Settings:
    base = Settings.from_toml(config) if config else Settings()
    if on_date is not None:
        overrides["on_date"] = on_date.date()
    return base.replace(**overrides)


def load_consent(path: Path | None) -> ConsentLog | None:
    if path is None:
        return None
    from anonymiser import ConsentLog

    return ConsentLog.load(path)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="anonymiser", prog_name="anonymiser")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
def main(verbose: int) -> None:
    """Make school photos safe to publish: blur every face and pupil name not covered by consent.

    \b
    Example:
      anonymiser blur photos/ -o safe/ --consent consent.csv --report report.json
    """
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(
        level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s"
    )


@main.command()
@click.argument(
    "inputs", nargs=-1, required=True, type=click.Path(readable=False, path_type=Path)
)  # not checked here: a missing or unreadable input fails on its own, the rest are processed
@output_option(
    "Folder for the safe copies (mirrors the input folders). Inputs are never changed.",
    required=True,
)
@settings_options
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    help="Worker processes (default: one per core).",
)
@file_option(
    "--report",
    "report_path",
    help="Write the JSON audit report here (default OUTPUT-report.json beside the output folder: "
    "it maps outputs to source file names, so it is kept out of what gets published).",
)
@file_option("--review", "review_path", help="Write the HTML review page for the Headteacher here.")
@click.option(
    "--verify",
    is_flag=True,
    help="Re-check each output with `anonymiser check` before accepting it.",
)
@click.option(
    "--strip-audio",
    is_flag=True,
    default=None,
    help="Videos: drop the audio track (kept by default; it is not checked for spoken names).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary.")
@handle_errors
def blur(
    inputs: tuple[Path, ...],
    outdir: Path,
    config: Path | None,
    consent_path: Path | None,
    report_path: Path | None,
    review_path: Path | None,
    verify: bool,
    quiet: bool,
    on_date: datetime | None = None,
    **overrides: Any,
) -> None:
    """Blur every face and pupil name not covered by consent in INPUT files and folders.

    An input that cannot be read (a missing or unreadable file, a folder that cannot be listed)
    fails on its own with a one-line error; the rest are processed (exit 1; 3 if none could be).

    \b
    Example:
      anonymiser blur photos/ -o safe/ --consent consent.csv --purpose website
    """  # fmt: skip
    from anonymiser.inputs import expand_inputs
    from anonymiser.pipeline import Anonymiser
    from anonymiser.run import RunOptions, run

    settings = build_settings(config, on_date, **overrides)
    if quiet:
        settings = settings.replace(quiet=True)  # also hides the per-video bars
    anon = Anonymiser(settings, load_consent(consent_path))
    anon.check_models()  # a broken install stops here, before any input is read
    for warning in anon.warnings():
        click.echo(f"warning: {warning}", err=True)
    show_bar = not quiet and sys.stderr.isatty()
    total = sum(1 for f in expand_inputs(inputs) if not f.ignored)
    with click.progressbar(
        length=total, label="anonymising", file=sys.stderr, hidden=not show_bar
    ) as bar:

        def progress(result: anonymiser.ImageResult) -> None:
            bar.update(1)
            if result.status is anonymiser.Status.SKIPPED:
                line = f"skipped: {result.source}: {result.error}"
            elif result.error:
                line = f"error: {result.error}"
            else:
                return
            click.echo(f"\n{line}" if show_bar else line, err=True)

        options = RunOptions(report=report_path, review=review_path, verify=verify)
        done = run(anon, inputs, outdir, options, progress=progress)
    for warning in done.warnings:
        click.echo(f"warning: {warning}", err=True)
    batch = done.batch
    if not quiet:
        click.echo(batch.summary(), err=True)
        click.echo(
            f"outputs in {outdir}/, report {done.report}"
            + (f", review {done.review}" if done.review else ""),
            err=True,
        )
    sys.exit(int(batch.exit_code))


@main.command()
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@settings_options
@click.option(
    "--poll",
    type=click.FloatRange(min=0.1),
    help="Scan every SECONDS instead of using file system events (use on SMB/NFS shares; "
    "chosen automatically where events do not work).",
)
@click.option(
    "--settle",
    type=click.FloatRange(min=0.0),
    default=5.0,
    show_default=True,
    help="A file is processed once its size and time have not changed for SECONDS.",
)
@click.option(
    "--workers",
    type=int,
    callback=_at_least_one,
    help="Files processed at once, each in its own process with its own models "
    "(default: one per core; 1: in the watcher's process).",
)
@click.option("--once", is_flag=True, help="Process what is in incoming/, then exit (for cron).")
@click.option("--status", "show_status", is_flag=True, help="Show queue, done, failed, last error.")
@handle_errors
def watch(
    root: Path,
    config: Path | None,
    consent_path: Path | None,
    poll: float | None,
    settle: float,
    once: bool,
    show_status: bool,
    on_date: datetime | None = None,
    **overrides: Any,
) -> None:
    """Watch ROOT/incoming and put safe copies in ROOT/ready (see docs/watch.md).

    Creates ROOT/incoming, ready, review, failed and originals. Runs until stopped with
    Ctrl-C or SIGTERM (the files in progress are finished first).

    \b
    Example:
      anonymiser watch /srv/photos --consent consent.csv --purpose website
      anonymiser watch /srv/photos --consent consent.csv --workers 2
      anonymiser watch /srv/photos --status
    """  # fmt: skip
    from anonymiser.watch import Layout, Watcher, WatchOptions, format_status, setup_logging
    from anonymiser.watch import status as watch_status

    if show_status:
        for line in format_status(watch_status(root)):
            click.echo(line)
        return
    verbose = click.get_current_context().find_root().params.get("verbose", 0)
    settings = build_settings(config, on_date, **overrides)
    setup_logging(Layout.at(root), verbose)
    options = WatchOptions(root, settings, consent_path, poll=poll, settle=settle, once=once)
    sys.exit(int(Watcher(options).run()))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@consent_option(help="Consent log CSV: its roster is what legible names and file names are checked "
                "against (without it they are not checked).")  # fmt: skip
@click.option(
    "--report",
    "report_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The run's report JSON: faces it kept with consent are not findings. Without it, "
    "every sharp face is a finding (strict).",
)
@config_option
@click.option(
    "--strict",
    is_flag=True,
    help="Count every sharp face detection at the processing threshold, confirmed or not (more false alarms).",
)
@date_option("Judge the roster as on this date (default today).")
@handle_errors
def check(
    paths: tuple[Path, ...],
    consent_path: Path | None,
    report_path: Path | None,
    config: Path | None,
    strict: bool,
    on_date: datetime | None = None,
) -> None:
    """Re-check outputs for any face, pupil name, metadata or name in a file name left.

    Prints one finding per line on stdout; exits 6 if anything is found, 0 if not.
    Give the run's report (blur writes OUTDIR-report.json beside OUTDIR), or every face
    kept with consent is a finding.

    \b
    Example:
      anonymiser check safe/ --consent consent.csv --report safe-report.json
    """  # fmt: skip
    from anonymiser.check import check_paths, kept_from_report

    settings = build_settings(config, on_date)
    consent = load_consent(consent_path)
    kept = kept_from_report(report_path) if report_path else None
    findings = check_paths(paths, settings=settings, consent=consent, kept=kept, strict=strict)
    for finding in findings:
        click.echo(str(finding))
    click.echo(f"{len(findings)} finding(s)", err=True)
    if report_path is None and any(f.kind == "face" for f in findings):
        click.echo(
            "hint: without --report every sharp face is a finding, also faces kept with "
            "consent; give the run's report (e.g. --report safe-report.json)",
            err=True,
        )
    sys.exit(int(ExitCode.FINDINGS if findings else ExitCode.OK))


@main.group()
def audit() -> None:
    """Query the audit journal of every processed file (no names in it, only pupil ids).

    \b
    Example:
      anonymiser audit pupil P0042
      anonymiser audit file safe/photo-0001.jpg
    """  # fmt: skip


journal_option = file_option(
    "--journal",
    help="The journal file (default: audit.sqlite next to the embeddings store, "
    "or in $ANONYMISER_HOME).",
)


def _print_records(records: list[FileRecord], as_json: bool) -> None:
    import json

    if as_json:
        click.echo(json.dumps([r.as_dict() for r in records], indent=2))
        return
    for r in records:
        regions = ", ".join(
            f"{x.kind} {x.action} {x.reason}" + (f" {x.pupil_id}" if x.pupil_id else "")
            for x in r.regions
        )
        click.echo(f"{r.time}\t{r.status}\t{r.output or '-'}\t{r.source}\t[{regions}]")
        for d in getattr(r, "decisions", ()):
            what = f"{d.action} by {d.by}" + (f" ({d.reason})" if d.reason else "")
            where = f" -> {d.output}" if d.output else ""
            click.echo(f"  {d.time}\t{what}{where}")


@audit.command("pupil")
@click.argument("pupil_id")
@journal_option
@json_option("Print JSON records.")
@handle_errors
def audit_pupil(pupil_id: str, journal: Path | None, as_json: bool) -> None:
    """List every output in which PUPIL_ID was kept sharp (e.g. to remove after withdrawal).

    \b
    Example:
      anonymiser audit pupil P0042 --json
    """  # fmt: skip
    from anonymiser.audit import pupil_outputs

    records = pupil_outputs(pupil_id, journal)
    _print_records(records, as_json)
    click.echo(f"{len(records)} output(s) with {pupil_id} kept sharp", err=True)


@audit.command("file")
@click.argument("path", type=click.Path(path_type=Path))
@journal_option
@json_option("Print JSON records.")
@handle_errors
def audit_file(path: Path, journal: Path | None, as_json: bool) -> None:
    """Show the journal's records for PATH (an input or an output, by path or by content), and
    who approved, rejected or re-rendered it and when (the review app).

    Path parts that carry a pupil's name are recorded as "[name hidden]", so such an input
    is found by its content: give the file itself.

    \b
    Example:
      anonymiser audit file safe/photo-0001.jpg
    """  # fmt: skip
    from anonymiser.audit import file_history

    records = file_history(path, journal)
    _print_records(records, as_json)
    click.echo(f"{len(records)} record(s) for {path}", err=True)


# -- consent, enrolment, withdrawal ------------------------------------------------------------
_store_option = file_option(
    "--store",
    help="Embeddings store (default $ANONYMISER_HOME/embeddings.sqlite or "
    "~/.local/share/anonymiser/embeddings.sqlite).",
)


@main.group()
def consent() -> None:
    """Check and inspect the consent log (CSV exported from the MIS)."""


@consent.command("validate")
@click.argument("csv_path", metavar="CSV", type=click.Path(path_type=Path))
@handle_errors
def consent_validate(csv_path: Path) -> None:
    """Report every problem in CSV with its line number, and a summary; exit 5 if invalid.

    \b
    Example:
      anonymiser consent validate consent.csv
    """  # fmt: skip
    from anonymiser.consent import ConsentLog

    report = ConsentLog.validate(csv_path)
    click.echo(report.format())
    sys.exit(int(ExitCode.OK if report.ok else ExitCode.CONSENT_INVALID))


@consent.command("show")
@click.argument("pupil_id")
@required_consent_option
@date_option("Answer as on this date (default today).")
@json_option("Print JSON.")
@handle_errors
def consent_show(
    pupil_id: str, consent_path: Path, on_date: datetime | None, as_json: bool
) -> None:
    """Show PUPIL_ID's consent rows, withdrawals and what is allowed on the date.

    \b
    Example:
      anonymiser consent show P0042 --consent consent.csv
    """  # fmt: skip
    import json
    from datetime import date

    from anonymiser.consent import ConsentLog, academic_year_of

    day = on_date.date() if on_date else date.today()
    log = ConsentLog.load(consent_path, day)
    rows = log.rows_for(pupil_id)
    if not rows:
        raise anonymiser.ConsentError(
            f"{consent_path}: pupil {pupil_id!r} is not on the consent log"
        )
    allowed = {
        f"{m.value}/{p.value}": str(log.status(pupil_id, m, p, day))
        for m in anonymiser.Media
        for p in anonymiser.Purpose
    }
    data: dict[str, Any] = {
        "pupil_id": pupil_id,
        "date": day.isoformat(),
        "academic_year": academic_year_of(day),
        "allowed": allowed,
        "biometric_matching": log.biometric_allowed(pupil_id, day),
        "withdrawals": [
            w.withdrawn_on.isoformat() for w in log.withdrawals if w.pupil_id == pupil_id
        ],
        "rows": [r.summary() for r in rows],
    }
    if as_json:
        click.echo(json.dumps(data, indent=1))
        return
    click.echo(f"{pupil_id} on {day:%d/%m/%Y} (academic year {data['academic_year']}):")
    for use, reason in allowed.items():
        click.echo(f"  {use:20s} {'KEEP' if reason == 'consent' else 'blur'}  ({reason})")
    click.echo(f"  biometric matching   {'yes' if data['biometric_matching'] else 'no'}")
    if data["withdrawals"]:
        click.echo(f"  withdrawals recorded: {', '.join(data['withdrawals'])}")
    for r in data["rows"]:
        yes = [k for k, v in r["consents"].items() if v]
        given = ", ".join(yes) or "no consent"
        gone = f"; withdrawn {r['withdrawn_on']}" if r["withdrawn_on"] else ""
        click.echo(f"  line {r['line']}: {r['academic_year']} {r['name']}: {given}{gone}")


@main.command()
@click.argument(
    "csv_path", metavar="CSV", type=click.Path(path_type=Path), callback=_readable_consent
)
@_store_option
@config_option
@date_option("Enrol for the academic year of this date (default today).")
@handle_errors
def enrol(
    csv_path: Path, store: Path | None, config: Path | None, on_date: datetime | None
) -> None:
    """Build or update the face embeddings store from CSV's reference photos.

    Only pupils with biometric_matching consent for the academic year are enrolled; everyone
    whose biometric consent is gone is purged. Exit 1 if a reference photo was rejected.

    \b
    Example:
      anonymiser enrol consent.csv
    """  # fmt: skip
    from anonymiser.enrol import enrol as run_enrol

    settings = build_settings(config, on_date, store=store)
    report = run_enrol(
        csv_path, settings, progress=lambda pupil: click.echo(f"enrolling {pupil}", err=True)
    )
    click.echo(report.format())
    sys.exit(int(ExitCode.OK if report.ok else ExitCode.SOME_FAILED))


@main.command()
@click.argument("pupil_id")
@required_consent_option
@date_option("Withdrawn from this date (default today).")
@click.option(
    "--reports",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Run report JSON files or folders to search for earlier outputs (repeatable).",
)
@_store_option
@config_option
@handle_errors
def withdraw(
    pupil_id: str,
    consent_path: Path,
    on_date: datetime | None,
    reports: tuple[Path, ...],
    store: Path | None,
    config: Path | None,
) -> None:
    """Record that PUPIL_ID's consent is withdrawn, delete their face embeddings at once, and
    list earlier outputs in which they were kept sharp (from reports and the audit journal).

    \b
    Example:
      anonymiser withdraw P0042 --consent consent.csv --reports reports/
    """  # fmt: skip
    from datetime import date

    from anonymiser.withdraw import withdraw as run_withdraw

    settings = build_settings(config, None, store=store)
    day = on_date.date() if on_date else date.today()
    report = run_withdraw(consent_path, pupil_id, day, settings, reports=reports)
    click.echo(report.format())


# -- the review app (Headteacher approval) -----------------------------------------------------
@main.group()
def review() -> None:
    """Headteacher approval over a watched folder: nothing is published until a named person
    approves it (see docs/review.md).

    \b
    Example:
      anonymiser review add-user /srv/photos head --role approver
      anonymiser review serve /srv/photos --consent consent.csv
    """  # fmt: skip


def _desk(root: Path, config: Path | None, consent_path: Path | None, journal: Path | None,
          on_date: Any = None, **overrides: Any) -> Any:  # fmt: skip
    from anonymiser.approval import ReviewDesk

    settings = build_settings(config, on_date, **overrides)
    return ReviewDesk(root, settings, consent_path, journal=journal)


@review.command("serve")
@root_argument
@settings_options
@journal_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but 127.0.0.1 serves the network: put it "
                   "behind an HTTPS reverse proxy (docs/review.md).")  # fmt: skip
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True)
@click.option("--behind-proxy", is_flag=True,
              help="Behind an HTTPS reverse proxy on this machine: Secure cookies, and the "
                   "client address from X-Forwarded-For.")  # fmt: skip
@handle_errors
def review_serve(root: Path, host: str, port: int, behind_proxy: bool, **options: Any) -> None:
    """Serve the approval app for the watched folder ROOT (give it the watcher's options).

    \b
    Example:
      anonymiser review serve /srv/photos --consent /srv/consent/consent.csv --purpose website
    """  # fmt: skip
    from anonymiser.approval.web import is_loopback, serve

    desk = _desk(root, **options)
    if not desk.users.users():
        click.echo("warning: no users yet: add one with `anonymiser review add-user`", err=True)
    if not is_loopback(host):
        click.echo(f"warning: serving on {host}:{port} to the network; passwords and photos "
                   "travel in clear unless it is behind HTTPS (docs/review.md)", err=True)  # fmt: skip
    logging.getLogger("anonymiser").setLevel(logging.INFO)
    click.echo(f"review app for {desk.layout.root} on http://{host}:{port}/ (Ctrl-C stops)",
               err=True)  # fmt: skip
    serve(desk, host, port, behind_proxy=behind_proxy)


@review.command("add-user")
@root_argument
@click.argument("name")
@click.option("--role", type=click.Choice(["approver", "viewer"]), default="viewer",
              show_default=True, help="approver: may approve, reject, blur more; viewer: looks.")  # fmt: skip
@handle_errors
def review_add_user(root: Path, name: str, role: str) -> None:
    """Add a user NAME (or set a new password), reading the password from stdin (asked twice
    on a terminal). Stored only as an argon2 hash in ROOT/.anonymiser/ (0600).

    \b
    Example:
      anonymiser review add-user /srv/photos head --role approver
      printf '%s\\n' "$PASSWORD" | anonymiser review add-user /srv/photos office
    """  # fmt: skip
    from anonymiser.approval import UserStore

    if sys.stdin.isatty():
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    user = UserStore.for_root(root).add(name, password, role)
    click.echo(f"{user.name}: {user.role} for {root}", err=True)


_review_item_options = _stacked(
    root_argument,
    config_option,
    consent_option(help="The watcher's consent log: pupils kept sharp who no longer "
                   "consent block approval, and withdrawals list take-downs."),
    journal_option,
)  # fmt: skip


@review.command("list")
@_review_item_options
@json_option("Print JSON (take-downs, pending, decided).")
@handle_errors
def review_list(as_json: bool, **options: Any) -> None:
    """List take-downs, the photos waiting for approval (needs review first) and decisions.

    \b
    Example:
      anonymiser review list /srv/photos --json
    """  # fmt: skip
    import json

    queue = _desk(**options).queue()
    if as_json:
        click.echo(json.dumps(queue.as_dict(), indent=1))
        return
    for t in queue.takedowns:
        click.echo(f"TAKE DOWN\t{t.decision.target}\t{t.pupil_id} withdrew from {t.withdrawn_on}")
    for item in queue.pending:
        flag = "needs review" if item.needs_review else "ready"
        click.echo(f"pending\t{item.key}\t{flag}\tfaces blurred {item.result.faces_blurred}, "
                   f"kept {item.result.faces_kept}")  # fmt: skip
    for item in queue.decided:
        d = item.decision
        click.echo(f"{item.state}\t{item.key}\tby {d.by}\t-> {d.target}")
    click.echo(f"{len(queue.pending)} waiting, {len(queue.takedowns)} to take down", err=True)


@review.command("approve")
@_review_item_options
@click.argument("item")
@click.option("--by", "by", required=True, help="The approver's user name (see add-user).")
@handle_errors
def review_approve(item: str, by: str, **options: Any) -> None:
    """Approve ITEM (its path under ready/ or review/, e.g. "ready/Sports Day/IMG 001.jpg"):
    copy it to ROOT/approved/ and record who, when and its sha256.

    \b
    Example:
      anonymiser review approve /srv/photos "ready/Sports Day/IMG 001.jpg" --by head
    """  # fmt: skip
    desk = _desk(**options)
    done = desk.approve(desk.find(item).id, by)
    click.echo(f"approved {done.key} -> {done.decision.target} (sha256 {done.decision.sha256})")


@review.command("reject")
@_review_item_options
@click.argument("item")
@click.option("--by", "by", required=True, help="The approver's user name.")
@click.option("--reason", required=True, help="Why it must not be published.")
@handle_errors
def review_reject(item: str, by: str, reason: str, **options: Any) -> None:
    """Reject ITEM (its path under ready/ or review/): move it to ROOT/rejected/.

    \b
    Example:
      anonymiser review reject /srv/photos "review/IMG 002.jpg" --by head --reason "name on a bag"
    """  # fmt: skip
    desk = _desk(**options)
    done = desk.reject(desk.find(item).id, by, reason)
    click.echo(f"rejected {done.key} -> {done.decision.target}")


@main.command()
@consent_option("Also check this consent log (as `consent validate` does).", checked=False)
@click.option(
    "--watch",
    "watch_root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also check this watched folder: events or polling, file completeness, free space.",
)
@output_option(
    "Also check this output folder: free space, and that the embeddings store is not in it."
)
@_store_option
@config_option
@handle_errors
def doctor(
    consent_path: Path | None,
    watch_root: Path | None,
    outdir: Path | None,
    store: Path | None,
    config: Path | None,
) -> None:
    """Check that everything a run needs is present and intact, one line per check.

    Models (present, sha256 right), onnxruntime, the Python packages, the optional tools
    (exiftool, chromium, ffmpeg), the consent log and the embeddings store's permissions, the
    watched folder's file system and free disk space. Every problem says what to do about it.
    Changes nothing. Exit 0 when ready, 4 if a model is missing or altered, 5 if the consent
    log is invalid, 1 for any other problem.

    \b
    Example:
      anonymiser doctor --consent consent.csv --watch /srv/photos
    """  # fmt: skip
    from anonymiser.doctor import diagnose

    settings = build_settings(config, store=store)
    report = diagnose(settings, consent=consent_path, watch_root=watch_root, output=outdir)
    click.echo(report.format())
    problems = len(report.problems)
    click.echo("ready" if not problems else f"{problems} problem(s): see above", err=True)
    sys.exit(int(report.exit_code))
