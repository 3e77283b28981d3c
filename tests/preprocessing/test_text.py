"""Keras 2's text preprocessing: expectations computed by hand."""
import hashlib
import json
import math

import numpy as np
import pytest

from pynn.preprocessing import text
from pynn.preprocessing.text import (Tokenizer, hashing_trick, one_hot, text_to_word_sequence,
                                     tokenizer_from_json)

CORPUS = ["The cat sat on the mat.", "The dog ate my homework!", "My cat ate."]
# the: 3, cat: 2, ate: 2, my: 2, then in first-seen order: sat, on, mat, dog, homework
INDEX = {"the": 1, "cat": 2, "ate": 3, "my": 4, "sat": 5, "on": 6, "mat": 7, "dog": 8,
         "homework": 9}


def test_text_to_word_sequence():
    assert text_to_word_sequence("Hello, World!  It's\tfine.\n") == ["hello", "world", "it's",
                                                                     "fine"]
    assert text_to_word_sequence("A-b c", lower=False) == ["A", "b", "c"]
    assert text_to_word_sequence("a,b;c", filters=";", split=",") == ["a", "b", "c"]
    assert text_to_word_sequence("") == []
    with pytest.raises(TypeError, match="must be a str"):
        text_to_word_sequence(["a b"])
    with pytest.raises(ValueError, match="split"):
        text_to_word_sequence("a b", split="")


def test_hashing_trick_md5():
    words = ["the", "cat", "the"]
    expected = [int(hashlib.md5(w.encode()).hexdigest(), 16) % 9 + 1 for w in words]
    assert hashing_trick("The cat, the", 10, hash_function="md5") == expected
    assert expected[0] == expected[2]
    assert hashing_trick("a b", 10, hash_function=len) == [2, 2]
    assert hashing_trick("x", 10, hash_function="md5", analyzer=lambda t: ["A", "b"]) == \
        [int(hashlib.md5(w.encode()).hexdigest(), 16) % 9 + 1 for w in ["A", "b"]]


def test_one_hot_uses_python_hash():
    got = one_hot("The cat the Dog", 7)
    assert got == [hash(w) % 6 + 1 for w in ["the", "cat", "the", "dog"]]
    assert all(1 <= i < 7 for i in got)


@pytest.mark.parametrize("n", [1, 0, 2.5, True])
def test_hashing_trick_needs_n_at_least_2(n):
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        hashing_trick("a", n)


def test_hashing_trick_bad_hash_function():
    with pytest.raises(TypeError, match="hash_function"):
        hashing_trick("a", 5, hash_function="sha1")


def fitted(**kwargs):
    t = Tokenizer(**kwargs)
    t.fit_on_texts(CORPUS)
    return t


def test_fit_on_texts():
    t = fitted()
    assert t.word_index == INDEX
    assert t.index_word == {i: w for w, i in INDEX.items()}
    assert list(t.word_counts.items()) == [("the", 3), ("cat", 2), ("sat", 1), ("on", 1),
                                           ("mat", 1), ("dog", 1), ("ate", 2), ("my", 2),
                                           ("homework", 1)]
    assert t.document_count == 3
    assert dict(t.word_docs) == {"the": 2, "cat": 2, "sat": 1, "on": 1, "mat": 1, "dog": 1,
                                 "ate": 2, "my": 2, "homework": 1}
    assert dict(t.index_docs) == {1: 2, 2: 2, 3: 2, 4: 2, 5: 1, 6: 1, 7: 1, 8: 1, 9: 1}


def test_fitting_accumulates():
    t = Tokenizer()
    t.fit_on_texts(CORPUS[:1])
    t.fit_on_texts(iter(CORPUS[1:]))  # a generator works too
    assert t.word_index == INDEX and t.document_count == 3


def test_texts_to_sequences():
    t = fitted()
    assert t.texts_to_sequences(["the cat ate a fish", "", "MAT!"]) == [[1, 2, 3], [], [7]]
    t = fitted(num_words=4)  # only indices 1..3 are kept
    assert t.texts_to_sequences(["the dog ate my cat"]) == [[1, 3, 2]]
    t = fitted(num_words=4, oov_token="<oov>")  # <oov> is 1, so the..ate shift to 2..4
    assert t.word_index["<oov>"] == 1 and t.word_index["the"] == 2
    assert t.texts_to_sequences(["the dog ate my cat unknown"]) == [[2, 1, 1, 1, 3, 1]]
    assert list(t.texts_to_sequences_generator(["cat"])) == [[3]]


def test_sequences_to_texts():
    t = fitted(num_words=4, oov_token="<oov>")
    assert t.sequences_to_texts([[2, 3, 9, 42], []]) == ["the cat <oov> <oov>", ""]
    t = fitted()
    assert t.sequences_to_texts([[1, 2, 42, 9]]) == ["the cat homework"]


def test_char_level_and_token_lists():
    t = Tokenizer(char_level=True)
    t.fit_on_texts(["abA", "b"])
    assert t.word_index == {"a": 1, "b": 2}
    assert t.texts_to_sequences(["Bad"]) == [[2, 1]]
    t = Tokenizer()
    t.fit_on_texts([["New York", "is"], ["new york"]])
    assert t.word_index == {"new york": 1, "is": 2}
    t = Tokenizer(analyzer=lambda s: s.split("|"))
    t.fit_on_texts(["a|b|a"])
    assert t.word_index == {"a": 1, "b": 2}


def test_matrices():
    t = fitted()
    texts = ["the cat the dog", "my my my", ""]
    binary = np.zeros((3, 10))
    binary[0, [1, 2, 8]] = 1
    binary[1, 4] = 1
    np.testing.assert_array_equal(t.texts_to_matrix(texts, mode="binary"), binary)
    count = binary.copy()
    count[0, 1], count[1, 4] = 2, 3
    np.testing.assert_array_equal(t.texts_to_matrix(texts, mode="count"), count)
    freq = count.copy()
    freq[0] /= 4
    freq[1] /= 3
    np.testing.assert_allclose(t.texts_to_matrix(texts, mode="freq"), freq)
    # tf-idf: (1 + ln count) * ln(1 + documents / (1 + documents with the word))
    tfidf = np.zeros((3, 10))
    tfidf[0, 1] = (1 + math.log(2)) * math.log(1 + 3 / 3)   # "the": in 2 documents
    tfidf[0, 2] = math.log(1 + 3 / 3)                      # "cat": in 2
    tfidf[0, 8] = math.log(1 + 3 / 2)                      # "dog": in 1
    tfidf[1, 4] = (1 + math.log(3)) * math.log(1 + 3 / 3)  # "my": in 2
    got = t.texts_to_matrix(texts, mode="tfidf")
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, tfidf, rtol=1e-12)


def test_sequences_to_matrix_num_words_and_fit_on_sequences():
    t = Tokenizer(num_words=4)
    # indices >= num_words are left out, but still count in freq's length
    np.testing.assert_allclose(t.sequences_to_matrix([[1, 3, 7, 3]], mode="freq"),
                               [[0, 0.25, 0, 0.5]])
    with pytest.raises(ValueError, match="tfidf"):
        t.sequences_to_matrix([[1]], mode="tfidf")
    t.fit_on_sequences([[1, 1, 2], [2]])
    assert t.document_count == 2 and dict(t.index_docs) == {1: 1, 2: 2}
    np.testing.assert_allclose(t.sequences_to_matrix([[2]], mode="tfidf"),
                               [[0, 0, math.log(1 + 2 / 3), 0]])


def test_json_round_trip():
    t = fitted(num_words=6, oov_token="?")
    again = tokenizer_from_json(t.to_json())
    for name in ("word_index", "index_word", "num_words", "oov_token", "document_count",
                 "filters", "lower", "split", "char_level"):
        assert getattr(again, name) == getattr(t, name)
    assert dict(again.word_counts) == dict(t.word_counts)
    assert dict(again.index_docs) == dict(t.index_docs)
    texts = ["the dog ate my mat", "unknown cat"]
    assert again.texts_to_sequences(texts) == t.texts_to_sequences(texts)
    np.testing.assert_array_equal(again.texts_to_matrix(texts, "tfidf"),
                                  t.texts_to_matrix(texts, "tfidf"))
    again.fit_on_texts(["more text"])  # the counts stay updatable
    assert again.word_index["more"] > 0
    assert json.loads(t.to_json(indent=2))["class_name"] == "Tokenizer"


def test_reads_keras_json():
    """A tokenizer that Keras wrote: Tokenizer(num_words=5, oov_token='<unk>')
    fit on ['The cat sat.', 'The dog sat down!']."""
    keras_json = (
        '{"class_name": "Tokenizer", "config": {"num_words": 5, "filters": '
        '"!\\"#$%&()*+,-./:;<=>?@[\\\\]^_`{|}~\\t\\n", "lower": true, "split": " ", '
        '"char_level": false, "oov_token": "<unk>", "document_count": 2, "word_counts": '
        '"{\\"the\\": 2, \\"cat\\": 1, \\"sat\\": 2, \\"dog\\": 1, \\"down\\": 1}", "word_docs": '
        '"{\\"cat\\": 1, \\"sat\\": 2, \\"the\\": 2, \\"dog\\": 1, \\"down\\": 1}", '
        '"index_docs": "{\\"4\\": 1, \\"3\\": 2, \\"2\\": 2, \\"5\\": 1, \\"6\\": 1}", '
        '"index_word": "{\\"1\\": \\"<unk>\\", \\"2\\": \\"the\\", \\"3\\": \\"sat\\", '
        '\\"4\\": \\"cat\\", \\"5\\": \\"dog\\", \\"6\\": \\"down\\"}", "word_index": '
        '"{\\"<unk>\\": 1, \\"the\\": 2, \\"sat\\": 3, \\"cat\\": 4, \\"dog\\": 5, '
        '\\"down\\": 6}"}}')
    t = tokenizer_from_json(keras_json)
    assert t.filters == text.FILTERS
    assert t.texts_to_sequences(["the cat ran down"]) == [[2, 4, 1, 1]]
    # What Keras's own tokenizer gives for the same texts:
    np.testing.assert_allclose(
        t.texts_to_matrix(["the cat ran down", "sat sat"], mode="tfidf"),
        [[0.0, 1.860112299086919, 0.5108256237659906, 0.0, 0.6931471805599453],
         [0.0, 0.0, 0.0, 0.8649029646371624, 0.0]], rtol=1e-12)


@pytest.mark.parametrize("bad", ['{"config": 3}', "[]", "not json", '{"config": {}}'])
def test_bad_json(bad):
    with pytest.raises(ValueError, match="tokenizer_from_json"):
        tokenizer_from_json(bad)


def test_bad_input():
    t = Tokenizer()
    with pytest.raises(TypeError, match="wrap it in a list"):
        t.fit_on_texts("one text")
    with pytest.raises(TypeError, match="text 1 is a int"):
        t.fit_on_texts(["a", 5])
    with pytest.raises(TypeError, match="not all str"):
        t.fit_on_texts([["a", 5]])
    with pytest.raises(ValueError, match="fit on some text"):
        t.texts_to_matrix(["a"])
    t.fit_on_texts(CORPUS)
    with pytest.raises(ValueError, match="unknown vectorization mode 'onehot'"):
        t.texts_to_matrix(["a"], mode="onehot")
    with pytest.raises(ValueError, match="negative index -1"):
        t.sequences_to_matrix([[1, -1]])
    with pytest.raises(TypeError, match="indices are integers"):
        t.sequences_to_matrix([[1, "2"]])
    with pytest.raises(TypeError, match="wrap it in a list"):
        t.texts_to_sequences("the cat")
    with pytest.raises(ValueError, match="num_words"):
        Tokenizer(num_words=-3)
    with pytest.raises(TypeError, match="unexpected argument"):
        Tokenizer(numwords=3)


def test_nb_words_is_num_words():
    with pytest.warns(UserWarning, match="renamed"):
        t = Tokenizer(nb_words=3)
    assert t.num_words == 3
