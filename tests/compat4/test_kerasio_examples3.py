"""keras.io's example programs, third sweep (structured data, time series,
vision, text, reinforcement learning), run with only their imports
changed: the patterns that broke, reproduced in a few lines, against
Keras 3 where it runs the same thing, else a property that could fail."""
import re
import string

import numpy as np
import pytest

import pynn

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# ---- text_classification_from_scratch.py: the texts of a folder, as bytes

def test_texts_from_a_folder_are_bytes_as_tensorflow_gives(tmp_path):
    for cls, words in (("neg", "awful dull"), ("pos", "great fun")):
        (tmp_path / cls).mkdir()
        (tmp_path / cls / "a.txt").write_text(f"A <br />{words}, café!", encoding="utf-8")
    ds = pynn.utils.text_dataset_from_directory(tmp_path, batch_size=2, shuffle=False)
    texts, labels = next(iter(ds))
    first = texts.numpy()[0]
    assert isinstance(first, bytes)
    assert first.decode("utf-8") == "A <br />awful dull, café!"
    assert texts[1].numpy().decode("utf-8") == "A <br />great fun, café!"

    # and they go through the example's standardization and vectorizer
    def custom_standardization(input_data):
        lowercase = pynn.strings.lower(input_data)
        stripped_html = pynn.strings.regex_replace(lowercase, "<br />", " ")
        return pynn.strings.regex_replace(stripped_html,
                                          f"[{re.escape(string.punctuation)}]", "")

    vectorize = pynn.layers.TextVectorization(standardize=custom_standardization,
                                              output_sequence_length=4)
    vectorize.adapt(ds.map(lambda x, y: x))
    assert sorted(vectorize.get_vocabulary()[2:]) == ["a", "awful", "café", "dull", "fun",
                                                      "great"]
    ids = np.asarray(vectorize(pynn.expand_dims(texts, -1)))
    vocab = vectorize.get_vocabulary()
    assert [vocab[i] for i in ids[0]] == ["a", "awful", "dull", "café"]
    # one text at a time (batch_size=None): a 0-d string tensor
    one = next(iter(pynn.utils.text_dataset_from_directory(tmp_path, batch_size=None,
                                                           shuffle=False, labels=None)))
    assert one.numpy().decode("utf-8").startswith("A <br />awful")
