"""The harness' conformance kit, through its pytest fixture, is all a plugin needs to test."""

from harness_bigram import Bigram


def test_bigram_conforms(predictor_conformance):
    predictor_conformance(Bigram)


def test_bigram_learns_pairs():
    model = Bigram(alpha=0.01)
    for symbol in b"abababab":
        model.update(symbol)
    assert model.predict()[ord("a")] > 0.5  # after "b" comes "a"
