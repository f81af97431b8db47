"""The protocol's build-dependent sizes (hw.spec.protocol) and the geometry a host rebuilds from
INFO: what the driver derives must be what the hardware was built with."""

import json

import pytest

from hw.spec.layout import CoreGeometry, with_depth
from hw.spec.protocol import COUNTER_BYTES, INFO_LIMIT, MAX_PAYLOAD, Wire, info_document
from sw.hwimage import image_from_params
from tests.random_models import random_config, random_params


@pytest.mark.parametrize("seed", range(6))
def test_geometry_from_sizes_equals_the_geometry_of_the_image(seed):
    cfg = random_config(seed, lanes=1 + seed % 3)
    image = image_from_params(cfg, random_params(cfg, seed))
    image = with_depth(image, image.weights.depth + seed)  # a build with room to spare
    built = CoreGeometry(image)
    rebuilt = CoreGeometry.of_sizes(cfg, built.columns, built.depth)
    assert vars(rebuilt) == vars(built)


def test_with_depth_pads_with_null_words_and_refuses_to_cut():
    cfg = random_config(1, lanes=2)
    image = image_from_params(cfg, random_params(cfg, 1))
    deeper = with_depth(image, image.weights.depth + 5)
    assert all(words[:image.weights.depth] == old and set(words[image.weights.depth:]) == {(0, 0, 0, 0)}
               for words, old in zip(deeper.weights.lane_words, image.weights.lane_words, strict=True))
    with pytest.raises(ValueError, match=f"at least {image.weights.depth} words"):
        with_depth(image, image.weights.depth - 1)


def test_the_largest_step_response_and_the_info_document_fit_the_response_buffer():
    cfg = random_config(2, lanes=2, layers=2)
    g = CoreGeometry(image_from_params(cfg, random_params(cfg, 2)))
    w = Wire(g, max_payload=64)
    everything = w.events_at(True) + g.L * g.H * w.event_bytes
    assert everything <= w.max_response
    assert w.events_at(True) == 1 + COUNTER_BYTES + 2 + 4 + g.C * w.logit_bytes + 2
    doc = info_document(w, divisor=8, version="x")
    assert len(doc) <= INFO_LIMIT < w.max_response
    assert json.loads(doc)["config"] == cfg.to_dict()
    assert w.max_payload >= w.step_request and w.max_read() * w.word_bytes + 1 <= w.max_response


def test_a_build_whose_step_response_exceeds_the_protocol_is_refused():
    cfg = random_config(3, hidden_size=2000, input_size=4, layers=1)
    g = CoreGeometry.of_sizes(cfg, columns=2004, depth=8)
    with pytest.raises(ValueError, match=f"exceeds the protocol's {MAX_PAYLOAD}"):
        Wire(g)
