"""Video identity-switch guard: safety and cost with the real detector and the real face matcher.

    .venv/bin/python benchmarks/video_identity.py [--out benchmarks/results/video_identity.json]

Two real faces (tests/data: Obama, enrolled with video consent as P1; Biden, enrolled without
video consent as P2) walk towards each other, pass through each other and walk on. Runs the video
pipeline (CenterFace video setting + dlib matcher) twice:

* ``guard``: the shipped rule (a consented track is matched on every detection and kept sharp only
  where matched; links the tracker cannot vouch for break the chain);
* ``sparse_votes``: the same but matching a consented track only every ``MATCH_EVERY`` frames, the
  old schedule, to show what the per-frame matching costs and buys.

For each: matcher calls and seconds, frames where Biden's face is unchanged from the input (must be
0), and the share of frames where Obama is alone (>= 2.5 face widths from Biden) kept sharp.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from videogen import decoded, make_crossing_pair  # noqa: E402

import anonymiser.video as video  # noqa: E402
from anonymiser.consent import ConsentLog  # noqa: E402
from anonymiser.enrol import enrol  # noqa: E402
from anonymiser.pipeline import Anonymiser  # noqa: E402
from anonymiser.settings import Settings  # noqa: E402

DAY = date(2026, 10, 1)
CSV = (
    "pupil_id,first_name,last_name,academic_year,video_social_media,biometric_matching,"
    "reference_photos\n"
    "P1,Sam,Hartley,2026/27,yes,yes,obama.jpg\n"
    "P2,Olly,Pemberton,2026/27,no,yes,biden.jpg\n"
)


class Counting:
    """Wraps the real matcher: counts faces and time."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.faces, self.seconds = inner, 0, 0.0

    def match(self, rgb: np.ndarray, faces: list[Any]) -> list[Any]:
        start = time.perf_counter()
        out = self.inner.match(rgb, faces)
        self.seconds += time.perf_counter() - start
        self.faces += len(faces)
        return list(out)


def _change(a: np.ndarray, b: np.ndarray, rect: tuple[int, int, int, int]) -> float:
    x, y, w, h = rect
    x1, x2 = max(x + w // 5, 0), min(x + w - w // 5, a.shape[1])
    y1, y2 = y + h // 6, y + h * 3 // 4
    return float(np.abs(a[y1:y2, x1:x2].astype(np.float32) - b[y1:y2, x1:x2]).mean())


def run(name: str, src: Path, rects: tuple[list[Any], list[Any]], work: Path) -> dict[str, Any]:
    from anonymiser.identify.faces import FaceEmbeddingMatcher

    settings = Settings(workers=1, on_date=DAY, text="off", store=work / "embeddings.sqlite")
    consent = ConsentLog.load(work / "consent.csv")
    matcher = Counting(FaceEmbeddingMatcher(settings.store_path, consent, settings))
    anon = Anonymiser(settings, consent, face_matcher=matcher, threads=os.cpu_count())
    anon.video_engines()
    dst = work / f"{name}.mp4"
    start = time.perf_counter()
    result = anon.process_file(src, dst)
    seconds = time.perf_counter() - start
    assert result.status.value == "ok", result.error
    before, after = decoded(src), decoded(dst)
    rects_a, rects_b = rects
    n = len(before)
    b_visible = [i for i in range(n) if _change(before[i], after[i], rects_b[i]) < 10]
    alone = [i for i in range(n) if abs(rects_a[i][0] - rects_b[i][0]) >= 2.5 * rects_a[i][2]]
    a_sharp = [i for i in alone if _change(before[i], after[i], rects_a[i]) <= 4]
    out = {
        "frames": n,
        "seconds": round(seconds, 2),
        "matcher_faces": matcher.faces,
        "matcher_seconds": round(matcher.seconds, 2),
        "matcher_ms_per_face": round(1000 * matcher.seconds / max(1, matcher.faces), 1),
        "non_consented_face_visible_frames": b_visible,
        "consented_alone_frames": len(alone),
        "consented_alone_sharp": len(a_sharp),
        "tracks": result.as_report()["video"]["tracks"],
    }
    print(name, {k: v for k, v in out.items() if k != "tracks"}, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/anonymiser-video-identity"))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/video_identity.json")
    args = ap.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    for photo in ("obama.jpg", "biden.jpg"):
        (work / photo).write_bytes((ROOT / "tests/data/identities" / photo).read_bytes())
    (work / "consent.csv").write_text(CSV)
    settings = Settings(on_date=DAY, text="off", store=work / "embeddings.sqlite")
    report = enrol(work / "consent.csv", settings)
    assert report.enrolled == {"P1": 1, "P2": 1}, report.format()
    src, rects_a, rects_b = make_crossing_pair(
        work / "pair.mp4", frames=72, meet=44, size=(800, 360), face_px=170, speed=8
    )
    results: dict[str, Any] = {"load_average_at_start": os.getloadavg()}
    results["guard"] = run("guard", src, (rects_a, rects_b), work)
    every = video.MATCH_EVERY_MATCHED
    video.MATCH_EVERY_MATCHED = video.MATCH_EVERY
    try:
        results["sparse_votes"] = run("sparse_votes", src, (rects_a, rects_b), work)
    finally:
        video.MATCH_EVERY_MATCHED = every
    results["load_average_at_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"results in {args.out}")


if __name__ == "__main__":
    main()
