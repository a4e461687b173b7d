"""A real watched folder for the review app's tests: the real watcher and the real Anonymiser
(real redaction, real safe save, real audit journal) with fake engines, so no model loads.

Each synthetic photo has two "faces" the fake detector always finds. The top-left corner's
grey level tells the fake matcher who they are:

* ``KEPT``: face A is pupil P1 (consents), face B unknown -> A kept sharp, B blurred;
* ``AMBIGUOUS``: face A could be P1 or P2 -> blurred, the photo needs review;
* ``NOBODY``: both unknown -> both blurred.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from argon2 import PasswordHasher
from PIL import Image, ImageDraw

from anonymiser import Anonymiser, Box, Settings
from anonymiser.approval import ReviewDesk, UserStore
from anonymiser.consent import academic_year_of
from anonymiser.results import Detection, FaceMatch, Kind, MatchStatus
from anonymiser.watch import Watcher, WatchOptions

FACE_A = Box(40, 50, 70, 80)
FACE_B = Box(220, 60, 60, 70)
MISSED = Box(150, 150, 60, 60)  # a "face" the detector misses: the reviewer blurs it
WIDTH, HEIGHT = 360, 260
KEPT, AMBIGUOUS, NOBODY = 40, 120, 200
PASSWORD = "correct horse battery"
# argon2id still, with cheap parameters: the production cost (~0.2 CPU s a hash) adds up in tests
FAST_HASH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


class FakeFaces:
    name = "fake-faces"

    def detect(self, rgb: np.ndarray, threshold: float) -> list[Detection]:
        return [
            Detection(Kind.FACE, FACE_A, 0.95, self.name),
            Detection(Kind.FACE, FACE_B, 0.9, self.name),
        ]


class FakeMatcher:
    def match(self, rgb: np.ndarray, faces: list[Detection]) -> list[FaceMatch]:
        level = float(rgb[:16, :16].mean())
        code = min((KEPT, AMBIGUOUS, NOBODY), key=lambda v: abs(v - level))
        out = [FaceMatch(MatchStatus.UNKNOWN) for _ in faces]
        if code == KEPT:
            out[0] = FaceMatch(MatchStatus.MATCHED, "P1", 0.3, 0.6)
        elif code == AMBIGUOUS:
            out[0] = FaceMatch(MatchStatus.AMBIGUOUS, None, 0.4, 0.42)
        return out


def factory(settings: Settings, consent: Any, previous: Any) -> Anonymiser:
    return Anonymiser(settings, consent, face_detector=FakeFaces(), face_matcher=FakeMatcher())


def photo(path: Path, code: int, seed: int = 0) -> Path:
    """A busy synthetic photo with bright 'faces' (so blurring them shows) and a code corner."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    rgb = np.stack([(x * 255 // WIDTH), (y * 255 // HEIGHT), np.full_like(x, 90)], -1)
    rgb = rgb.astype(np.uint8)
    im = Image.fromarray(rgb)
    draw = ImageDraw.Draw(im)
    for b in (FACE_A, FACE_B, MISSED):
        draw.ellipse((b.x, b.y, b.x2, b.y2), fill=(250, 210, 170))
        for _ in range(40):  # freckles: detail that blurring removes
            px, py = int(rng.integers(b.x + 8, b.x2 - 8)), int(rng.integers(b.y + 8, b.y2 - 8))
            draw.rectangle((px, py, px + 2, py + 2), fill=(20, 20, 20))
    draw.rectangle((0, 0, 23, 23), fill=(code, code, code))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, "JPEG", quality=95)
    return path


@dataclass
class Folder:
    root: Path
    consent: Path
    settings: Settings

    def desk(self, **kw: Any) -> ReviewDesk:
        return ReviewDesk(self.root, self.settings, self.consent, factory=factory, **kw)


def consent_log(path: Path) -> Path:
    year = academic_year_of(date.today())
    path.write_text(
        "pupil_id,first_name,last_name,academic_year,images_social_media,biometric_matching\n"
        f"P1,Ann,Able,{year},yes,yes\nP2,Ben,Bell,{year},yes,yes\nP3,Cat,Cole,{year},no,no\n",
        encoding="utf-8",
    )
    return path


def watched_folder(tmp: Path, photos: dict[str, int]) -> Folder:
    """Run the watcher once over ``photos`` (relative name -> code) and add two users."""
    root = tmp / "photos"
    consent = consent_log(tmp / "consent.csv")
    settings = Settings(text="off", workers=1)  # in this process: two cycles finish every file
    watcher = Watcher(WatchOptions(root, settings, consent, settle=0.0), factory=factory)
    watcher.start()
    try:
        for i, (name, code) in enumerate(photos.items()):
            photo(root / "incoming" / name, code, seed=i)
        watcher.cycle()
        watcher.cycle()
    finally:
        watcher.close()
    users = UserStore.for_root(root, FAST_HASH)
    users.add("head", PASSWORD, "approver")
    users.add("office", PASSWORD, "viewer")
    return Folder(root, consent, settings)
