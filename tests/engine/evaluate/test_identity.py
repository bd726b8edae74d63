"""Identity distances: two photos of one person vs different people; the source centroid."""

from __future__ import annotations

import shutil

import pytest

from engine.errors import FacesetError
from engine.evaluate.identity import SAME_PERSON, distance, source_identity
from engine.faceset.store import Faceset


def _descriptor(analyzer, photo_srgb, name):
    img = photo_srgb(name)
    faces = analyzer.analyze_srgb(img)
    assert faces, name
    return faces[0].descriptor


def test_two_photos_of_one_person_are_closer_than_two_people(analyzer, photo_srgb):
    a = _descriptor(analyzer, photo_srgb, "obama.jpg")
    b = _descriptor(analyzer, photo_srgb, "obama2.jpg")
    c = _descriptor(analyzer, photo_srgb, "biden.jpg")
    assert distance(a, a) == 0.0
    assert distance(a, b) < SAME_PERSON < distance(a, c)


@pytest.fixture(scope="module")
def obama_faceset(tmp_path_factory, samples):
    from engine.faceset.extract import ExtractSettings, extract
    from engine.io import open_source

    photos = tmp_path_factory.mktemp("photos")
    for n in ("obama.jpg", "obama3.jpg"):
        shutil.copy(samples / "photos" / n, photos / n)
    out = tmp_path_factory.mktemp("fs") / "faceset"
    extract(open_source(str(photos)), out, ExtractSettings(size=128))
    from engine.faceset.store import load_faceset

    return load_faceset(out)


def test_source_centroid_recognises_the_person_and_rejects_another(obama_faceset, analyzer,
                                                                  photo_srgb):
    ident = source_identity(obama_faceset, analyzer.describer)
    assert ident.count == 2 and not ident.outliers
    # obama2.jpg is not in the faceset: another photo of the same person.
    assert distance(ident.centroid, _descriptor(analyzer, photo_srgb, "obama2.jpg")) < SAME_PERSON
    assert distance(ident.centroid, _descriptor(analyzer, photo_srgb, "biden.jpg")) > SAME_PERSON


def test_a_faceset_without_faces_has_no_identity(tmp_path, analyzer):
    empty = Faceset(tmp_path, "full", 128)
    with pytest.raises(FacesetError, match="no faces"):
        source_identity(empty, analyzer.describer)
