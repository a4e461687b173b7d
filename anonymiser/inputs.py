"""Inputs: which files we handle, walking the inputs, and where each safe copy goes.

The one place for

* the registry of media suffixes (``IMAGE_SUFFIXES``, ``VIDEO_SUFFIXES``), the one wording
  for a file we do not handle (``unsupported_reason``) and the one rule for temporary and
  system files that are never inputs (``is_ignored``) -- the same for ``blur`` and the watcher;
* the folder walk (``walk_folders``, ``expand_inputs``): nothing found is left out silently.
  Photos and videos are processed; any other file is an item ``skipped`` with its reason; a
  folder that cannot be listed is an item with an error; hidden, temporary and system files
  (and hidden or linked folders, never entered) are items marked ``ignored``, counted;
* the one rule for names that carry a pupil's name (``safe_part``): such a file becomes
  ``photo-NNNN``, such a folder ``folder-NNNN``, numbered by the caller (``blur``: the place in
  the batch; the watcher: the journal row of the file, or of the first file planned into the
  folder) -- never derived from the name itself, which anyone with the roster could recompute;
* output planning (``plan_outputs``): the tree mirrored, no two outputs on one path, never an
  output onto (or an output folder inside) an input.

``blur`` (through ``Anonymiser.process_batch``), the watcher and ``check`` all use it.
"""

from __future__ import annotations

import fnmatch
import itertools
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Literal, Protocol

from anonymiser import media
from anonymiser.errors import SettingsError

IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".heic", ".heif"}
)
VIDEO_SUFFIXES: frozenset[str] = frozenset({".mp4", ".mov", ".m4v", ".avi", ".webm", ".mkv"})
VIDEO_OUTPUT_SUFFIX = ".mp4"  # every video is written as H.264 MP4

NAME_HIDDEN = "[name hidden]"  # stands in for a path part or word that carries a pupil's name
_WORD = re.compile(r"[^\s/\\'\"`()\[\]{},;]+")  # a word of a message, for NameHider.text


# -- what we handle ---------------------------------------------------------------------------
def is_image(path: str | PurePath) -> bool:
    """A file name with an image suffix we accept (macOS ``._`` resource files excluded)."""
    p = PurePath(path)
    return p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("._")


def is_video(path: str | PurePath) -> bool:
    """A file name with a video suffix we accept."""
    return PurePath(path).suffix.lower() in VIDEO_SUFFIXES


def is_media(path: str | PurePath) -> bool:
    """A photo or a video we process (by its name; the content is checked on loading)."""
    return is_image(path) or is_video(path)


# Kinds people drop in by mistake, with what to do instead (after the one wording below).
_HINTS = {
    ".gif": "GIFs are not processed, animated or not: save a still as PNG, "
    "or convert an animation to MP4",
}


def unsupported_reason(path: str | PurePath) -> str | None:
    """Why ``path`` is not a photo or video we handle (one line), or None when it is one.

    The one wording for such files, e.g. ``not a photo or video the anonymiser can process
    (.pdf)``: the watcher's ``failed/`` note and the report's ``skipped`` entry use it.
    Animated GIFs are not supported: anonymising every frame safely needs the video path's
    tracking, and its output would not be a GIF; the hint says how to convert one.
    """
    if is_media(path):
        return None
    kind = PurePath(path).suffix.lower() or "no extension"
    hint = _HINTS.get(kind)
    return f"not a photo or video the anonymiser can process ({kind})" + (
        f"; {hint}" if hint else ""
    )


# Temp, partial and system files that are never inputs (matched on the file name).
IGNORED_PATTERNS = (
    "~$*",  # Office owner/lock files
    "*.part",  # Firefox, rsync --partial, many copy tools
    "*.crdownload",  # Chrome
    "*.tmp",
    "*.temp",
    "*.download",  # Safari
    "*.partial",
    "*.swp",
    "*~",
    ".*",  # dotfiles: .DS_Store, ._AppleDouble, .~lock.*#, rsync's .name.XXXXXX
    "Thumbs.db",
    "ehthumbs.db",
    "desktop.ini",
    "Icon\r",
)


def is_ignored(name: str) -> bool:
    """True for temp, partial and system files (and dotfiles) that must never be processed."""
    lower = name.lower()
    return any(fnmatch.fnmatchcase(lower, pattern.lower()) for pattern in IGNORED_PATTERNS)


def output_suffix(src: str | PurePath) -> str:
    """The suffix of the safe copy of ``src``: ``.mp4`` for a video, else what ``media`` writes
    (HEIC becomes ``.jpg``)."""
    return VIDEO_OUTPUT_SUFFIX if is_video(src) else media.output_suffix(Path(src))


# -- walking ----------------------------------------------------------------------------------
def walk_folders(root: Path) -> Iterator[tuple[Path, list[os.DirEntry[str]] | OSError]]:
    """Each folder under ``root`` (``root`` too) with its entries, or the error listing it.

    Never enters hidden (dot) folders or symlinked ones (they could lead anywhere); the caller
    decides what to do with the entries, including symlinks. Not sorted.
    """
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as err:
            yield folder, err
            continue
        for entry in entries:
            try:
                if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
            except OSError:
                continue  # vanished
        yield folder, entries


@dataclass(frozen=True, slots=True)
class InputFile:
    """A file named as an input or found in a folder, or a folder that could not be read.

    Exactly one of these holds: it is to be processed (``processable``); it failed already
    (``error``: a folder that could not be listed); it is ``skipped`` (the reason: a file of a
    kind we do not handle); or it is ``ignored`` (a hidden, temporary or system file, or a
    hidden or linked folder, which is not entered).
    """

    path: Path
    rel: Path  # relative to its input root: where it goes under the output folder
    error: str | None = None  # a failed item of the batch
    skipped: str | None = None  # why a file found is not processed (listed in the report)
    ignored: bool = False

    @property
    def processable(self) -> bool:
        return self.error is None and self.skipped is None and not self.ignored


def expand_inputs(inputs: Iterable[str | Path]) -> list[InputFile]:
    """Every file named or found (recursively) in a folder, in order: nothing is left out.

    A folder that cannot be listed (e.g. permission denied) is an item with ``error`` set, so
    the batch reports it as failed. A file that is not a photo or video is ``skipped`` with
    ``unsupported_reason``. A named file that is missing or unreadable is kept as it is: it
    fails later with a clear error, like any bad file.
    """
    found: list[InputFile] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found += _walk(p)
        elif p.is_file() and not is_media(p):  # named, so listed even if a system file
            found.append(InputFile(p, Path(p.name), skipped=unsupported_reason(p)))
        else:
            found.append(InputFile(p, Path(p.name)))
    return found


def _walk(root: Path) -> list[InputFile]:
    """Everything under ``root``, sorted by path (see ``InputFile``)."""
    found: list[InputFile] = []
    for folder, entries in walk_folders(root):
        if isinstance(entries, OSError):
            error = f"{folder}: cannot read folder ({entries.strerror or entries})"
            found.append(InputFile(folder, folder.relative_to(root), error))
            continue
        for entry in entries:
            path = folder / entry.name
            rel = path.relative_to(root)
            try:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name.startswith("."):  # .git, .Trashes: not entered
                        found.append(InputFile(path, rel, ignored=True))
                    continue
                if is_ignored(entry.name) or (entry.is_symlink() and entry.is_dir()):
                    found.append(InputFile(path, rel, ignored=True))  # linked folder: not entered
                elif not is_media(path):
                    found.append(InputFile(path, rel, skipped=unsupported_reason(path)))
                else:  # a photo or video (or an odd entry: it fails on loading, with its reason)
                    found.append(InputFile(path, rel))
            except OSError as err:
                found.append(InputFile(path, rel, f"{path}: cannot read ({err.strerror or err})"))
    found.sort(key=lambda f: f.path)
    return found


# -- names that carry a pupil's name ----------------------------------------------------------
class NameFinder(Protocol):
    """Says whether a file or folder name carries a roster name (``RosterNameMatcher`` does)."""

    def contains_name(self, name: str) -> bool:
        """True when ``name`` carries any roster pupil's name."""
        ...


Pseudonym = Literal["photo", "folder"]


def carries_name(part: str, names: NameFinder | None) -> bool:
    """Whether one path part (a folder name, or a file name without its suffix) carries a
    roster name. Without a roster nothing does."""
    return names is not None and bool(part) and names.contains_name(part)


def pseudonym(kind: Pseudonym, number: int) -> str:
    """``photo-0007`` / ``folder-0007``: what a name carrying a pupil's name becomes."""
    return f"{kind}-{number:04d}"


def safe_part(part: str, names: NameFinder | None, kind: Pseudonym, number: int) -> str:
    """``part`` itself, or ``pseudonym(kind, number)`` when it carries a roster name."""
    return pseudonym(kind, number) if carries_name(part, names) else part


def name_parts(rel: PurePath) -> list[str]:
    """The parts of a relative output path a name may hide in: its folders and its stem."""
    return [*rel.parts[:-1], PurePath(rel.name).stem]


class NameHider:
    """Replaces path parts and words that carry a roster name by ``NAME_HIDDEN``: for records
    kept beside the outputs (audit journal, review page) that must not name a pupil."""

    def __init__(self, names: NameFinder | None) -> None:
        self._names = names
        self._seen: dict[str, bool] = {}

    def _named(self, text: str) -> bool:
        if self._names is None or not text.strip() or text == NAME_HIDDEN:
            return False
        if text not in self._seen:
            self._seen[text] = self._names.contains_name(text)
        return self._seen[text]

    def part(self, part: str) -> str:
        """One path part or word, or ``NAME_HIDDEN`` (its suffix kept when harmless)."""
        if not self._named(part):
            return part
        suffix = PurePath(part).suffix
        keep = len(suffix) <= 6 and suffix[1:].isalnum() and not self._named(suffix[1:])
        return NAME_HIDDEN + (suffix if keep else "")

    def path(self, path: str | None) -> str | None:
        """``path`` with every part that carries a name replaced (the anchor kept)."""
        if path is None or self._names is None:
            return path
        p = PurePath(path)
        parts = [part if part == p.anchor else self.part(part) for part in p.parts]
        return str(PurePath(*parts)) if parts else path

    def text(self, text: str | None, paths: Iterable[str | None] = ()) -> str | None:
        """A message with ``paths`` (as written) replaced by their hidden form, then every
        remaining word that carries a name replaced."""
        if text is None or self._names is None:
            return text
        for path in sorted({p for p in paths if p}, key=len, reverse=True):
            hidden = self.path(path)
            if hidden != path:
                text = text.replace(path, hidden or "")
        return _WORD.sub(lambda m: self.part(m.group()), text)


# -- planning outputs -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PlannedOutput:
    """Where one input's safe copy goes; ``output`` is None if nowhere, and then ``error``
    says why it failed, or ``skipped`` why it is not processed, or it is ``ignored``."""

    source: Path
    output: Path | None
    error: str | None = None
    skipped: str | None = None
    ignored: bool = False


def plan_outputs(
    inputs: Iterable[str | Path], outdir: Path, names: NameFinder | None = None
) -> list[PlannedOutput]:
    """Map inputs to output paths: the tree mirrored, names with a pupil's name replaced, no
    two outputs on one path, and never an output onto (or an output folder inside) an input.

    One entry per item of ``expand_inputs``, in order. A folder with a pupil's name becomes
    ``folder-NNNN`` (one per source folder, numbered in the batch), a file ``photo-NNNN`` (its
    place among the files to process). An item that cannot be planned (an unreadable folder, an output that
    would land on an input) has ``error`` set and no output: only that item fails.

    Raises
    ------
    SettingsError
        The output folder is an input folder or inside one (a usage error for the whole run).
    """
    inputs = list(inputs)
    files = expand_inputs(inputs)
    out_root = outdir.resolve()
    for item in inputs:
        p = Path(item).resolve()
        if p.is_dir() and (out_root == p or p in out_root.parents):
            raise SettingsError(
                f"{outdir}: the output folder must not be inside the input folder {item}"
            )
    sources = {f.path.resolve() for f in files if f.error is None and f.path.exists()}
    numbers = itertools.count(1)  # photo-NNNN: the place among the files to process
    folder_names: dict[Path, str] = {}
    folder_numbers = itertools.count(1)

    def folder_name(folder: Path, part: str) -> str:
        if folder not in folder_names:
            renamed = carries_name(part, names)
            folder_names[folder] = pseudonym("folder", next(folder_numbers)) if renamed else part
        return folder_names[folder]

    used: set[Path] = set()
    plan = []
    for f in files:
        src, rel = f.path, f.rel
        if not f.processable:
            plan.append(PlannedOutput(src, None, f.error, f.skipped, f.ignored))
            continue
        n = next(numbers)
        depth = len(rel.parts)  # rel.parts[i] (a folder) is src.parents[depth - 2 - i]
        parts = [folder_name(src.parents[depth - 2 - i], d) for i, d in enumerate(rel.parts[:-1])]
        stem = safe_part(rel.stem, names, "photo", n)
        suffix = output_suffix(src)
        dst = outdir.joinpath(*parts, stem + suffix)
        k = 1
        while dst.resolve() in used:
            dst = outdir.joinpath(*parts, f"{stem}-{k}{suffix}")
            k += 1
        target = dst.resolve()
        if target in sources:
            same = target == src.resolve()
            problem = "the input" if same else f"another input ({dst})"
            plan.append(PlannedOutput(src, None, f"{src}: output would overwrite {problem}"))
            continue
        used.add(target)
        plan.append(PlannedOutput(src, dst))
    return plan


__all__ = [
    "IGNORED_PATTERNS",
    "IMAGE_SUFFIXES",
    "NAME_HIDDEN",
    "VIDEO_SUFFIXES",
    "InputFile",
    "NameFinder",
    "NameHider",
    "PlannedOutput",
    "carries_name",
    "expand_inputs",
    "is_ignored",
    "is_image",
    "is_media",
    "is_video",
    "name_parts",
    "output_suffix",
    "plan_outputs",
    "pseudonym",
    "safe_part",
    "unsupported_reason",
    "walk_folders",
]
