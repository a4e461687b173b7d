"""The Headteacher's review page: one self-contained HTML file per batch.

Each photo is shown as a downscaled copy of its safe OUTPUT (never the original), embedded as a
``data:`` URI, with an SVG overlay outlining and numbering every region: faces blurred, text
blurred, faces kept sharp with the pupil id and why. Photos that need review come first. No
names appear (pupil ids only), no script runs, nothing is fetched: a strict Content Security
Policy in the page says so to the browser. Print and keyboard/screen-reader friendly.
"""

from __future__ import annotations

import base64
import io
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anonymiser._version import __version__
from anonymiser.consent import academic_year_of
from anonymiser.errors import MediaError
from anonymiser.files import write_text_atomic
from anonymiser.inputs import NameHider, is_video
from anonymiser.results import Action, BatchResult, Box, ImageResult, Kind, Reason, Region, Status
from anonymiser.settings import Settings

if TYPE_CHECKING:
    from jinja2 import Environment

    from anonymiser.consent import ConsentLog

log = logging.getLogger(__name__)

THUMB_SIDE = 1024  # long side of the embedded copy: sharp enough to enlarge, small enough to embed
THUMB_QUALITY = 78

REASON_TEXT: dict[str, str] = {
    Reason.CONSENT: "consent covers this use",
    Reason.NOT_IDENTIFIED: "not identified",
    Reason.NO_CONSENT: "no consent for this use",
    Reason.WITHDRAWN: "consent withdrawn",
    Reason.CONSENT_OTHER_YEAR: "consent is for another academic year",
    Reason.NOT_ON_LOG: "not on the consent log",
    Reason.NO_BIOMETRIC_CONSENT: "no consent to face matching",
    Reason.AMBIGUOUS_MATCH: "could be more than one pupil",
    Reason.TOO_SMALL: "too small to identify",
    Reason.NO_CONSENT_LOG: "no consent log given",
    Reason.PUPIL_NAME: "a pupil's name",
    Reason.PERSONAL_NAME: "a person's name (not a pupil on the roster)",
    Reason.DOUBTFUL_TEXT: "text that may be a name (not read clearly)",
    Reason.ALL_TEXT: "all text is redacted",
    Reason.NOT_A_NAME: "not a person's name",
    Reason.ADDED_BY_REVIEWER: "added by a reviewer",
}


@dataclass(frozen=True, slots=True)
class Marker:
    """One numbered region as drawn on a thumbnail and listed under it."""

    number: int
    anchor: str
    css: str  # face-blurred, text-blurred, face-kept, text-kept
    label: str  # one line for screen readers and the list
    x: int
    y: int
    w: int
    h: int
    cx: float  # marker circle centre
    cy: float
    r: float  # marker circle radius


@dataclass(slots=True)
class Item:
    """One image on the page."""

    index: int
    anchor: str
    title: str
    status: str
    needs_review: bool
    width: int
    height: int
    thumbnail: str | None  # data: URI
    alt: str
    markers: list[Marker] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    note: str | None = None


def _region_css(region: Region) -> str:
    kept = "kept" if region.action is Action.KEPT else "blurred"
    return f"{region.kind}-{kept}"


def _region_label(number: int, region: Region) -> str:
    if region.kind is Kind.MANUAL:
        return f"{number}. Area blurred: {REASON_TEXT[Reason.ADDED_BY_REVIEWER]}"
    what = "Face" if region.kind is Kind.FACE else "Text"
    reason = REASON_TEXT.get(region.reason, str(region.reason))
    if region.action is Action.KEPT:
        if region.kind is Kind.FACE:
            who = region.pupil_id or "unknown pupil"
            return f"{number}. {what} kept sharp: pupil {who}, {reason}"
        return f"{number}. {what} kept: {reason}"
    who = f" (pupil {region.pupil_id})" if region.pupil_id else ""
    return f"{number}. {what} blurred: {reason}{who}"


def marker_radius(width: int, height: int, box: Box | None = None) -> float:
    """Marker circle radius in image pixels: 1/40 of the long side, smaller (down to 1/75) for
    small boxes so that markers in a crowded class photo overlap less."""
    side = max(width, height)
    big = max(3.0, 0.025 * side)
    if box is None:
        return big
    return min(big, max(0.0135 * side, 3.0, 0.5 * max(box.w, box.h)))


def markers(anchor: str, regions: tuple[Region, ...], width: int, height: int) -> list[Marker]:
    """The numbered markers of ``regions`` (numbered from 1 in their order)."""
    out = []
    for n, region in enumerate(regions, start=1):
        b = region.box.clipped(width, height) if width and height else region.box
        radius = marker_radius(width, height, b)
        # The numbered circle sits on the box's top-left corner, kept inside the picture.
        cx = min(max(b.x, radius), max(radius, width - radius))
        cy = min(max(b.y, radius), max(radius, height - radius))
        out.append(
            Marker(n, f"{anchor}-r{n}", _region_css(region), _region_label(n, region),
                   b.x, b.y, b.w, b.h, cx, cy, radius)
        )  # fmt: skip
    return out


def preview_jpeg(
    path: Path, settings: Settings, side: int = THUMB_SIDE, quality: int = THUMB_QUALITY
) -> tuple[bytes, int, int]:
    """A JPEG copy of an output (long side at most ``side``, no metadata) and the output's size.

    Raises MediaError or OSError when the file cannot be read as an image.
    """
    from PIL import Image

    from anonymiser import media

    image = media.load_image(path, max_pixels=settings.max_pixels)
    im = Image.fromarray(image.rgb)
    width, height = im.size
    im.thumbnail((side, side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, optimize=True)  # no metadata is written
    return buf.getvalue(), width, height


def _thumbnail(path: Path, settings: Settings) -> tuple[str, int, int]:
    """A JPEG data URI of the output, long side at most THUMB_SIDE; and the output's size."""
    data, width, height = preview_jpeg(path, settings)
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii"), width, height


def _roster_hider(consent: ConsentLog | None, settings: Settings) -> NameHider:
    """Hides path parts and words carrying a roster name (the review page shows no names)."""
    from anonymiser.identify.names import RosterNameMatcher

    pupils = list(consent.roster(settings.consent_date)) if consent is not None else []
    return NameHider(RosterNameMatcher(pupils) if pupils else None)


def _item(index: int, result: ImageResult, settings: Settings, hider: NameHider) -> Item:
    anchor = f"photo-{index}"
    held = result.held_for_review
    shown = result.output or held
    title = Path(shown).name if shown else hider.part(Path(result.source).name)
    item = Item(
        index=index,
        anchor=anchor,
        title=title,
        status=str(result.status),
        needs_review=result.needs_review,
        width=result.width,
        height=result.height,
        thumbnail=None,
        alt="",
        error=hider.text(result.error, (result.source,)) or None,
    )
    if held:
        item.note = f"Held back, not published: copy kept in {held} for you to look at."
    if shown and is_video(shown):
        item.note = "Video: no preview here; see the report for its regions."
    elif shown:
        try:
            item.thumbnail, w, h = _thumbnail(Path(shown), settings)
            item.width, item.height = item.width or w, item.height or h
        except (MediaError, OSError) as err:
            item.note = f"No preview: {hider.text(str(err), (shown,))}"
    item.counts = {
        "Faces blurred": result.faces_blurred,
        "Faces kept sharp": result.faces_kept,
        "Text blurred": result.texts_blurred,
    }
    item.markers = markers(anchor, result.regions, item.width, item.height)
    kept = [
        r.pupil_id or "unknown"
        for r in result.regions
        if r.action is Action.KEPT and r.kind is Kind.FACE
    ]
    desc = (
        f"Anonymised photo {item.title}: {result.faces_blurred} faces blurred, "
        f"{result.texts_blurred} text regions blurred, {result.faces_kept} faces kept sharp"
    )
    item.alt = desc + (f" ({', '.join(kept)})" if kept else "") + "."
    return item


def _consent_info(consent: Any, settings: Settings) -> dict[str, Any] | None:
    if consent is None:
        return None
    return {
        "path": str(getattr(consent, "path", "")),
        "sha256": getattr(consent, "sha256", ""),
        "date": settings.consent_date.isoformat(),
        "academic_year": academic_year_of(settings.consent_date),
    }


def template_environment() -> Environment:
    """Jinja environment over ``anonymiser/templates`` (autoescaped), shared with the review app."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(
        loader=PackageLoader("anonymiser", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_review(batch: BatchResult, settings: Settings, consent: ConsentLog | None = None) -> str:
    """The review page as an HTML string."""
    from anonymiser.report import summarise

    hider = _roster_hider(consent, settings)
    items = [_item(i, r, settings, hider) for i, r in enumerate(batch.images, start=1)]
    review = [i for i in items if i.needs_review and i.status == Status.OK]
    failed = [i for i in items if i.status != Status.OK]  # failed or skipped: nothing published
    done = [i for i in items if not i.needs_review and i.status == Status.OK]
    sections = [
        (
            "review",
            "Needs your review",
            "Check these photos closely before they are posted.",
            review,
        ),
        ("held", "Not published", "These could not be made safe; no output was published.", failed),
        ("ready", "Anonymised, nothing flagged", "Please still look at each before posting.", done),
    ]
    template = template_environment().get_template("review.html.j2")
    return template.render(
        tool=f"anonymiser {__version__}",
        generated=datetime.now().astimezone().strftime("%Y-%m-%d %H:%M"),
        summary=summarise(batch),
        settings=settings,
        consent=_consent_info(consent, settings),
        sections=[s for s in sections if s[3]],
        total=len(items),
    )


def write_review(
    path: str | Path, batch: BatchResult, settings: Settings, consent: ConsentLog | None = None
) -> None:
    """Write the review page for ``batch`` to ``path`` (atomically)."""
    path = Path(path)
    write_text_atomic(path, render_review(batch, settings, consent), what="review page")


__all__ = [
    "REASON_TEXT",
    "Marker",
    "markers",
    "preview_jpeg",
    "render_review",
    "template_environment",
    "write_review",
]
