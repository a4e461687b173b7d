"""Enrolment store, match rule, enrol and withdraw, with fake detector and embedder (no models)."""

from __future__ import annotations

import json
import os
import stat
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from anonymiser.consent import ConsentLog
from anonymiser.enrol import enrol, reference_face
from anonymiser.errors import ConsentError
from anonymiser.identify.faces import (
    EmbeddingStore,
    FaceEmbeddingMatcher,
    StoreError,
    check_store_location,
    classify,
)
from anonymiser.results import (
    Action,
    Box,
    Detection,
    FaceMatch,
    ImageResult,
    Kind,
    MatchStatus,
    Reason,
    Region,
    Status,
)
from anonymiser.settings import Settings
from anonymiser.withdraw import withdraw

DAY = date(2026, 10, 1)
HEADER = "pupil_id,first_name,last_name,academic_year,images_social_media,biometric_matching,reference_photos"


def vec(value: float) -> np.ndarray:
    v = np.zeros(128, np.float32)
    v[0] = value
    return v


class FakeEmbedder:
    """Embedding = the red value of the image's first pixel / 100 in dimension 0."""

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, rgb: np.ndarray, det: Detection, jitters: int = 0) -> np.ndarray:
        self.calls += 1
        return vec(float(rgb[det.box.y, det.box.x, 0]) / 100)


class FakeDetector:
    name = "fake"

    def __init__(self, boxes: list[Box] | None = None) -> None:
        self.boxes = boxes

    def detect(self, rgb: np.ndarray, threshold: float = 0.35) -> list[Detection]:
        h, w = rgb.shape[:2]
        boxes = self.boxes if self.boxes is not None else [Box(0, 0, w, h)]
        return [Detection(Kind.FACE, b, 0.9, self.name) for b in boxes]


def face(x: int, w: int = 100, score: float = 0.9) -> Detection:
    return Detection(Kind.FACE, Box(x, 0, w, w), score, "fake")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("ANONYMISER_HOME", str(h))
    return h


def photo(folder: Path, name: str, red: int) -> str:
    folder.mkdir(exist_ok=True)
    Image.new("RGB", (120, 120), (red, 0, 0)).save(folder / name)
    return f"refs/{name}"


def consent_csv(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "consent.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


@pytest.fixture
def school(tmp_path: Path) -> Path:
    refs = tmp_path / "refs"
    a1, a2 = photo(refs, "a1.png", 10), photo(refs, "a2.png", 12)
    b1 = photo(refs, "b1.png", 80)
    c1 = photo(refs, "c1.png", 150)
    return consent_csv(
        tmp_path,
        [
            f"P1,Ann,Able,2026/27,yes,yes,{a1};{a2}",
            f"P2,Ben,Bell,2026/27,no,yes,{b1}",
            f"P3,Cat,Cole,2026/27,yes,no,{c1}",  # photo but no biometric consent
            "P4,Dan,Dale,2026/27,yes,yes,",  # biometric consent but no photo
        ],
    )


def settings(home: Path, **kw: object) -> Settings:
    return Settings(on_date=DAY, store=home / "embeddings.sqlite", min_match_face_px=50, **kw)


# ----------------------------------------------------------------------------- the match rule


@pytest.mark.parametrize(
    ("best", "status", "pupil"),
    [
        ({}, MatchStatus.NOT_MATCHED, None),
        ({"P1": 0.30}, MatchStatus.MATCHED, "P1"),
        ({"P1": 0.30, "P2": 0.80}, MatchStatus.MATCHED, "P1"),
        ({"P1": 0.45, "P2": 0.53}, MatchStatus.MATCHED, "P1"),  # exactly threshold and margin
        ({"P1": 0.30, "P2": 0.35}, MatchStatus.AMBIGUOUS, "P1"),  # two pupils close
        ({"P2": 0.36, "P1": 0.30}, MatchStatus.AMBIGUOUS, "P1"),
        ({"P1": 0.48}, MatchStatus.AMBIGUOUS, "P1"),  # just above the threshold
        ({"P1": 0.53}, MatchStatus.AMBIGUOUS, "P1"),
        ({"P1": 0.54}, MatchStatus.UNKNOWN, None),
        ({"P1": 0.9, "P2": 0.95}, MatchStatus.UNKNOWN, None),
    ],
)
def test_classify(best: dict[str, float], status: MatchStatus, pupil: str | None) -> None:
    m = classify(best, threshold=0.45, margin=0.08)
    assert (m.status, m.pupil_id) == (status, pupil)


# ----------------------------------------------------------------------------- the store


def test_store_is_private(home: Path) -> None:
    path = home / "sub" / "embeddings.sqlite"
    old = os.umask(0o022)
    try:
        EmbeddingStore(path, create=True).close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    os.chmod(path, 0o644)
    EmbeddingStore(path).close()  # opening repairs loose permissions
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_store_must_exist_to_read_and_be_a_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="run `anonymiser enrol"):
        EmbeddingStore(tmp_path / "none.sqlite")
    with pytest.raises(StoreError, match="plain file"):
        EmbeddingStore(tmp_path, create=True)


def test_store_outside_output_folders(tmp_path: Path) -> None:
    out = tmp_path / "safe"
    check_store_location(tmp_path / "private" / "e.sqlite", [out])
    for bad in (out / "e.sqlite", out / "deep" / "e.sqlite"):
        with pytest.raises(StoreError, match="must not be inside the output folder"):
            check_store_location(bad, [tmp_path / "other", out])


# ----------------------------------------------------------------------------- reference photos


def test_reference_face_rules() -> None:
    assert reference_face([], 80) == "no face found"
    assert reference_face([face(0, score=0.3)], 80) == "no face found"
    assert "too small (40 px" in str(reference_face([face(0, 40)], 80))
    assert "2 faces" in str(reference_face([face(0), face(300)], 80))
    main = face(0, 200)
    inner = Detection(Kind.FACE, Box(20, 120, 150, 60), 0.8, "fake")  # chin found twice
    tiny = face(500, 30)  # a background face too small to be confused
    assert reference_face([inner, main, tiny], 80) is main


# ----------------------------------------------------------------------------- enrol


def test_enrol_only_pupils_with_biometric_consent(school: Path, home: Path) -> None:
    s = settings(home)
    emb = FakeEmbedder()
    report = enrol(school, s, detector=FakeDetector(), embedder=emb)
    assert report.enrolled == {"P1": 2, "P2": 1}  # not P3 (no biometric consent)
    assert report.without_photos == ["P4"]
    assert report.added == 3 and emb.calls == 3
    assert report.ok
    with EmbeddingStore(s.store_path) as store:
        assert store.enrolled_keys() == {("P1", "2026/27"), ("P2", "2026/27")}
        assert sorted(store.embeddings("2026/27")) == ["P1", "P2"]
        assert store.embeddings("2025/26") == {}
    assert stat.S_IMODE(s.store_path.stat().st_mode) == 0o600
    assert "2 pupils enrolled" in report.format()


def test_enrol_is_incremental_and_purges(school: Path, home: Path, tmp_path: Path) -> None:
    s = settings(home)
    enrol(school, s, detector=FakeDetector(), embedder=FakeEmbedder())
    emb = FakeEmbedder()
    again = enrol(school, s, detector=FakeDetector(), embedder=emb)
    assert (again.added, again.unchanged, emb.calls) == (0, 3, 0)
    # P2 loses biometric consent, P1 drops a reference photo.
    consent_csv(
        tmp_path,
        [
            "P1,Ann,Able,2026/27,yes,yes,refs/a1.png",
            "P2,Ben,Bell,2026/27,no,no,",
        ],
    )
    third = enrol(school, s, detector=FakeDetector(), embedder=FakeEmbedder())
    assert third.purged == ["P2"]
    assert third.removed_photos == 1
    assert third.enrolled == {"P1": 1}
    with EmbeddingStore(s.store_path) as store:
        assert store.enrolled_keys() == {("P1", "2026/27")}


def test_enrol_next_year_purges_last_years_embeddings(school: Path, home: Path) -> None:
    enrol(school, settings(home), detector=FakeDetector(), embedder=FakeEmbedder())
    report = enrol(
        school,
        settings(home).replace(on_date=date(2027, 9, 1)),  # the log has no 2027/28 rows
        detector=FakeDetector(),
        embedder=FakeEmbedder(),
    )
    assert report.purged == ["P1", "P2"]
    assert report.enrolled == {}


def test_enrol_rejects_bad_references(tmp_path: Path, home: Path) -> None:
    refs = tmp_path / "refs"
    good = photo(refs, "a.png", 10)
    (refs / "broken.jpg").write_bytes(b"not a jpeg")
    path = consent_csv(tmp_path, [f"P1,Ann,Able,2026/27,yes,yes,{good};refs/broken.jpg"])
    two = FakeDetector([Box(0, 0, 60, 60), Box(60, 60, 60, 60)])
    report = enrol(path, settings(home), detector=two, embedder=FakeEmbedder())
    assert not report.ok
    assert report.enrolled == {}
    assert report.without_photos == ["P1"]
    text = "\n".join(report.problems)
    assert "line 2 (P1): reference photo a.png: 2 faces" in text
    assert "broken.jpg" in text


def test_invalid_log_enrols_nothing(tmp_path: Path, home: Path) -> None:
    path = consent_csv(tmp_path, ["P1,Ann,Able,2026/27,yes,perhaps,"])
    with pytest.raises(ConsentError, match=r"consent\.csv:2: biometric_matching"):
        enrol(path, settings(home), detector=FakeDetector(), embedder=FakeEmbedder())
    assert not (home / "embeddings.sqlite").exists()


# ----------------------------------------------------------------------------- matching


def test_matcher(school: Path, home: Path) -> None:
    s = settings(home)
    enrol(school, s, detector=FakeDetector(), embedder=FakeEmbedder())
    log = ConsentLog.load(school)
    matcher = FaceEmbeddingMatcher(s.store_path, log, s, embedder=FakeEmbedder())  # type: ignore[arg-type]
    assert sorted(matcher.enrolled) == ["P1", "P2"]
    rgb = np.zeros((200, 400, 3), np.uint8)
    rgb[:, :100, 0] = 11  # near P1 (0.10, 0.12)
    rgb[:, 100:200, 0] = 200  # nobody
    rgb[:, 200:300, 0] = 46  # between P1 and P2 -> far from both? 0.46: 0.34 / 0.34
    got = matcher.match(rgb, [face(0), face(100), face(200), face(300, 20)])
    assert [m.status for m in got] == [
        MatchStatus.MATCHED,
        MatchStatus.UNKNOWN,
        MatchStatus.AMBIGUOUS,
        MatchStatus.TOO_SMALL,
    ]
    assert got[0].pupil_id == "P1"


def test_matcher_ignores_pupils_whose_consent_went_since_enrolment(
    school: Path, home: Path
) -> None:
    s = settings(home)
    enrol(school, s, detector=FakeDetector(), embedder=FakeEmbedder())
    (school.parent / "consent.withdrawals.csv").write_text("pupil_id,withdrawn_on\nP1,2026-09-15\n")
    log = ConsentLog.load(school)
    matcher = FaceEmbeddingMatcher(s.store_path, log, s, embedder=FakeEmbedder())  # type: ignore[arg-type]
    assert sorted(matcher.enrolled) == ["P2"]


def test_no_one_enrolled_means_not_matched(home: Path, school: Path) -> None:
    s = settings(home)
    log = ConsentLog.load(school)
    for consent in (log, None):
        matcher = FaceEmbeddingMatcher(s.store_path, consent, s, embedder=FakeEmbedder())  # type: ignore[arg-type]
        got = matcher.match(np.zeros((100, 100, 3), np.uint8), [face(0)])
        assert got == [FaceMatch(MatchStatus.NOT_MATCHED)]


def test_ambiguous_match_is_blurred_and_flagged_in_the_pipeline(school: Path, home: Path) -> None:
    from anonymiser.pipeline import Anonymiser

    class Ambiguous:
        def match(self, rgb: np.ndarray, faces: list[Detection]) -> list[FaceMatch]:
            return [FaceMatch(MatchStatus.AMBIGUOUS, "P1", 0.46, 0.5) for _ in faces]

    anon = Anonymiser(
        Settings(on_date=DAY, text="off"),
        ConsentLog.load(school),
        face_detector=FakeDetector([Box(10, 10, 60, 60)]),
        face_matcher=Ambiguous(),
    )
    rgb = np.full((100, 100, 3), 128, np.uint8)
    rgb[20:60, 20:60] = 0
    safe, result = anon.process_array(rgb)
    assert result.needs_review
    [region] = result.regions
    assert (region.action, region.reason, region.pupil_id) == (
        Action.BLURRED,
        Reason.AMBIGUOUS_MATCH,
        None,
    )
    assert not np.array_equal(safe[20:60, 20:60], rgb[20:60, 20:60])


# ----------------------------------------------------------------------------- withdraw


def test_withdraw_records_purges_and_lists_outputs(
    school: Path, home: Path, tmp_path: Path
) -> None:
    s = settings(home)
    enrol(school, s, detector=FakeDetector(), embedder=FakeEmbedder())
    reports = tmp_path / "reports"
    reports.mkdir()
    box = Box(1, 1, 9, 9)
    kept = Region(Kind.FACE, box, 0.9, Action.KEPT, Reason.CONSENT, "P1")
    blurred = Region(Kind.FACE, box, 0.9, Action.BLURRED, Reason.NO_CONSENT, "P1")
    images = [
        ImageResult("in/a.jpg", "out/a.jpg", Status.OK, regions=(kept,)),
        ImageResult("in/b.jpg", "out/b.jpg", Status.OK, regions=(blurred,)),
        ImageResult("in/c.jpg", None, Status.FAILED, regions=(kept,)),
    ]
    (reports / "run1.json").write_text(json.dumps({"images": [i.as_report() for i in images]}))
    (reports / "other.json").write_text("[1, 2]")
    report = withdraw(school, "P1", date(2026, 10, 5), s, reports=[reports])
    assert report.purged_embeddings == 2
    assert [o.output for o in report.outputs] == ["out/a.jpg"]
    assert "take them down" in report.format()
    with EmbeddingStore(s.store_path) as store:
        assert store.enrolled_keys() == {("P2", "2026/27")}
    log = ConsentLog.load(school)
    assert log.status("P1", s.media, s.purpose, date(2026, 10, 4)) is Reason.CONSENT
    assert log.status("P1", s.media, s.purpose, date(2026, 10, 5)) is Reason.WITHDRAWN
    # The next enrol does not bring P1 back.
    again = enrol(school, s, detector=FakeDetector(), embedder=FakeEmbedder())
    assert again.enrolled == {"P2": 1}


def test_withdraw_unknown_pupil_is_an_error(school: Path, home: Path) -> None:
    with pytest.raises(ConsentError, match="'P99' is not on the consent log"):
        withdraw(school, "P99", DAY, settings(home))
    assert not (school.parent / "consent.withdrawals.csv").exists()


def test_withdraw_works_even_if_the_log_is_invalid(tmp_path: Path, home: Path) -> None:
    path = consent_csv(tmp_path, ["P1,Ann,Able,2026/27,yes,perhaps,"])
    report = withdraw(path, "P1", DAY, settings(home))
    assert report.warnings and "withdrawal recorded anyway" in report.warnings[0]
    assert (tmp_path / "consent.withdrawals.csv").read_text().startswith("pupil_id,withdrawn_on")


def test_withdraw_lists_each_output_once(
    school: Path, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from anonymiser import audit
    from anonymiser.results import BatchResult, ImageResult, Region, Status

    s = settings(home)
    run = tmp_path / "review"  # where `anonymiser blur in -o out2` ran
    (run / "out2").mkdir(parents=True)
    for name in ("obama_and_biden.jpg", "b.jpg"):
        (run / "out2" / name).write_bytes(b"safe")
    root = tmp_path / "watched"  # a watcher's report: paths relative to ROOT
    (root / "ready" / "reports").mkdir(parents=True)
    (root / "ready" / "photo-00001.jpg").write_bytes(b"safe")
    kept = Region(Kind.FACE, Box(1, 1, 9, 9), 0.9, Action.KEPT, Reason.CONSENT, "P1")

    def report(path: Path, outputs: list[str]) -> None:
        images = [
            ImageResult(f"in/{Path(o).name}", o, Status.OK, regions=(kept,)).as_report()
            for o in outputs
        ]
        path.write_text(json.dumps({"images": images}))

    report(run / "out2.json", ["out2/obama_and_biden.jpg", "out2/b.jpg", "out2/gone.jpg"])
    report(root / "ready" / "reports" / "2026-10-01 files.json", ["ready/photo-00001.jpg"])
    journal_outputs = [
        run / "out2" / "obama_and_biden.jpg",
        run / "out2" / ".." / "out2" / "b.jpg",  # another spelling of the same file
        root / "ready" / "photo-00001.jpg",
        tmp_path / "elsewhere.jpg",  # only in the journal, since deleted
    ]
    batch = BatchResult(
        tuple(
            ImageResult("in.jpg", str(o), Status.OK, 9, 9, regions=(kept,)) for o in journal_outputs
        )
    )
    audit.record_batch(batch, s)
    audit.record_batch(batch, s)  # run twice: recorded twice, listed once

    monkeypatch.chdir(run)
    result = withdraw(
        school, "P1", date(2026, 10, 5), s, reports=[Path("out2.json"), root / "ready" / "reports"]
    )
    assert [o.output for o in result.outputs] == [
        str(run / "out2" / "obama_and_biden.jpg"),
        str(run / "out2" / "b.jpg"),
        "out2/gone.jpg",  # not found anywhere: shown as the report has it
        str(root / "ready" / "photo-00001.jpg"),
        str(tmp_path / "elsewhere.jpg"),
    ]
    assert result.outputs[0].found_in == "out2.json; audit journal"
    assert result.outputs[0].when is not None  # the journal's time
    assert "5 earlier outputs show this pupil" in result.format()
