"""Text preprocessing, as Keras 2's ``keras.preprocessing.text``: splitting
text into words, hashing words to indices, and the ``Tokenizer`` that ranks
a corpus's words and turns texts into index sequences or count matrices.
Results match Keras's, index for index."""
import hashlib
import json
import warnings
from collections import OrderedDict, defaultdict

import numpy as np

from ..utils.arguments import check_int

FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
MODES = ("binary", "count", "tfidf", "freq")


def _check_text(text, who):
    if not isinstance(text, str):
        raise TypeError(f"{who}: the text must be a str, got {type(text).__name__}")


def text_to_word_sequence(input_text, filters=FILTERS, lower=True, split=" "):
    """The words of ``input_text``: lower-cased (if ``lower``), every
    character of ``filters`` turned into ``split``, split on ``split``,
    empty strings dropped."""
    _check_text(input_text, "text_to_word_sequence")
    if not isinstance(split, str) or not split:
        raise ValueError(f"text_to_word_sequence: split must be a non-empty str, got {split!r}")
    if lower:
        input_text = input_text.lower()
    input_text = input_text.translate(str.maketrans({c: split for c in filters}))
    return [w for w in input_text.split(split) if w]


def one_hot(input_text, n, filters=FILTERS, lower=True, split=" ", analyzer=None):
    """Each word of the text as an index in [1, n), by Python's ``hash``
    (so the indices change from one process to the next unless
    PYTHONHASHSEED is fixed; ``hashing_trick(..., hash_function='md5')`` is
    stable).  Two words may share an index."""
    return hashing_trick(input_text, n, hash_function=hash, filters=filters, lower=lower,
                         split=split, analyzer=analyzer)


def _md5(word):
    return int(hashlib.md5(word.encode()).hexdigest(), 16)


def hashing_trick(text, n, hash_function=None, filters=FILTERS, lower=True, split=" ",
                  analyzer=None):
    """Each word of the text as ``hash_function(word) % (n - 1) + 1``, an
    index in [1, n) (0 is left for padding).  ``hash_function`` is Python's
    ``hash`` by default, ``'md5'`` for indices stable across processes, or
    any function of a str to an int.  ``analyzer`` replaces the splitting."""
    check_int(n, "n", "hashing_trick", minimum=2)
    if hash_function is None:
        hash_function = hash
    elif hash_function == "md5":
        hash_function = _md5
    elif not callable(hash_function):
        raise TypeError(f"hashing_trick: hash_function must be None, 'md5' or a function, "
                        f"got {hash_function!r}")
    if analyzer is None:
        words = text_to_word_sequence(text, filters=filters, lower=lower, split=split)
    else:
        words = analyzer(text)
    return [hash_function(w) % (n - 1) + 1 for w in words]


class Tokenizer:
    """Ranks the words of a corpus by frequency and turns texts into
    sequences of word indices or into vectors.

    ``fit_on_texts`` counts the words; the most frequent gets index 1 (0 is
    never a word), ties keep the order words were first seen.  With
    ``oov_token`` that token takes index 1 and stands in for unknown words.
    ``num_words`` keeps only the indices below it when converting (the
    word index itself keeps every word).  ``char_level=True`` makes every
    character a token; a text given as a list is taken as its tokens.
    """

    def __init__(self, num_words=None, filters=FILTERS, lower=True, split=" ",
                 char_level=False, oov_token=None, analyzer=None, **kwargs):
        if "nb_words" in kwargs:
            warnings.warn("The `nb_words` argument in `Tokenizer` has been renamed "
                          "`num_words`.", stacklevel=2)
            num_words = kwargs.pop("nb_words")
        document_count = kwargs.pop("document_count", 0)
        if kwargs:
            raise TypeError(f"Tokenizer: unexpected argument(s) {', '.join(sorted(kwargs))}")
        if num_words is not None and (isinstance(num_words, (bool, np.bool_))
                                      or not isinstance(num_words, (int, np.integer))
                                      or num_words < 0):
            raise ValueError(f"Tokenizer: num_words must be None or an integer >= 0, "
                             f"got {num_words!r}")
        if not isinstance(split, str) or not split:
            raise ValueError(f"Tokenizer: split must be a non-empty str, got {split!r}")
        self.word_counts = OrderedDict()
        self.word_docs = defaultdict(int)
        self.filters = filters
        self.split = split
        self.lower = lower
        self.num_words = num_words
        self.document_count = document_count
        self.char_level = char_level
        self.oov_token = oov_token
        self.index_docs = defaultdict(int)
        self.word_index = {}
        self.index_word = {}
        self.analyzer = analyzer

    def _tokens(self, text, who, position):
        """The tokens of one text, as Keras's Tokenizer splits it."""
        if isinstance(text, list):
            if not all(isinstance(t, str) for t in text):
                raise TypeError(f"Tokenizer.{who}: text {position} is a list whose items are "
                                f"not all str")
            return [t.lower() for t in text] if self.lower else text
        if not isinstance(text, str):
            raise TypeError(f"Tokenizer.{who}: text {position} is a {type(text).__name__}; "
                            f"texts are str or lists of str tokens")
        if self.char_level:
            return text.lower() if self.lower else text
        if self.analyzer is not None:
            return self.analyzer(text)
        return text_to_word_sequence(text, filters=self.filters, lower=self.lower,
                                     split=self.split)

    @staticmethod
    def _check_texts(texts, who, what="texts"):
        if isinstance(texts, (str, bytes)):
            raise TypeError(f"Tokenizer.{who}: {what} must be a list of {what}, got one "
                            f"{type(texts).__name__} (wrap it in a list)")

    def fit_on_texts(self, texts):
        """Count the words of ``texts`` (str, or lists of tokens; any
        iterable, a generator too) and rebuild ``word_index``."""
        self._check_texts(texts, "fit_on_texts")
        for position, text in enumerate(texts):
            self.document_count += 1
            tokens = self._tokens(text, "fit_on_texts", position)
            for w in tokens:
                self.word_counts[w] = self.word_counts.get(w, 0) + 1
            for w in set(tokens):
                self.word_docs[w] += 1
        ranked = sorted(self.word_counts.items(), key=lambda wc: wc[1], reverse=True)
        vocabulary = ([] if self.oov_token is None else [self.oov_token]) + [w for w, _ in ranked]
        self.word_index = {w: i for i, w in enumerate(vocabulary, start=1)}
        self.index_word = {i: w for w, i in self.word_index.items()}
        for w, c in list(self.word_docs.items()):
            self.index_docs[self.word_index[w]] = c

    def fit_on_sequences(self, sequences):
        """Count, from index sequences, how many documents hold each index
        (what ``sequences_to_matrix(mode='tfidf')`` needs)."""
        self.document_count += len(sequences)
        for seq in sequences:
            for i in set(seq):
                self.index_docs[i] += 1

    def texts_to_sequences(self, texts):
        """Each text as a list of word indices: unknown words, and words of
        index ``num_words`` or more, become the oov token's index, or are
        dropped without one."""
        return list(self.texts_to_sequences_generator(texts))

    def texts_to_sequences_generator(self, texts):
        """``texts_to_sequences`` one text at a time."""
        self._check_texts(texts, "texts_to_sequences")
        num_words = self.num_words
        oov = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        for position, text in enumerate(texts):
            seq = []
            for w in self._tokens(text, "texts_to_sequences", position):
                i = self.word_index.get(w)
                if i is not None and not (num_words and i >= num_words):
                    seq.append(i)
                elif oov is not None:
                    seq.append(oov)
            yield seq

    def sequences_to_texts(self, sequences):
        """Each index sequence as its words joined by spaces (indices out
        of range as the oov token, or dropped without one)."""
        return list(self.sequences_to_texts_generator(sequences))

    def sequences_to_texts_generator(self, sequences):
        """``sequences_to_texts`` one sequence at a time."""
        num_words = self.num_words
        oov = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        for seq in sequences:
            words = []
            for i in seq:
                word = self.index_word.get(i)
                if word is not None and not (num_words and i >= num_words):
                    words.append(word)
                elif oov is not None:
                    words.append(self.index_word[oov])
            yield " ".join(words)

    def texts_to_matrix(self, texts, mode="binary"):
        """``sequences_to_matrix(texts_to_sequences(texts), mode)``."""
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    def sequences_to_matrix(self, sequences, mode="binary"):
        """A float64 matrix with a row per sequence and a column per index
        (``num_words`` columns, or one more than the word index holds):
        'binary' 1 where the index occurs, 'count' its count, 'freq' its
        count over the sequence's length, 'tfidf' (1 + log count) *
        log(1 + documents / (1 + documents holding it))."""
        if mode not in MODES:
            raise ValueError(f"Tokenizer.sequences_to_matrix: unknown vectorization mode "
                             f"{mode!r}; use one of {', '.join(MODES)}")
        if self.num_words:
            num_words = self.num_words
        elif self.word_index:
            num_words = len(self.word_index) + 1
        else:
            raise ValueError("Specify a dimension (`num_words` argument), or fit on some text "
                             "data first.")
        if mode == "tfidf" and not self.document_count:
            raise ValueError("Fit the Tokenizer on some data before using tfidf mode.")
        self._check_texts(sequences, "sequences_to_matrix", "sequences")
        sequences = list(sequences)
        x = np.zeros((len(sequences), num_words))
        for row, seq in enumerate(sequences):
            counts = defaultdict(int)
            for j in seq:
                if isinstance(j, (bool, np.bool_)) or not isinstance(j, (int, np.integer)):
                    raise TypeError(f"Tokenizer.sequences_to_matrix: sequence {row} holds "
                                    f"{j!r}; indices are integers")
                if j < 0:
                    raise ValueError(f"Tokenizer.sequences_to_matrix: sequence {row} holds "
                                     f"the negative index {j}")
                if j < num_words:
                    counts[int(j)] += 1
            for j, c in counts.items():
                if mode == "count":
                    x[row, j] = c
                elif mode == "freq":
                    x[row, j] = c / len(seq)
                elif mode == "binary":
                    x[row, j] = 1
                else:
                    tf = 1 + np.log(c)
                    idf = np.log(1 + self.document_count / (1 + self.index_docs.get(j, 0)))
                    x[row, j] = tf * idf
        return x

    def get_config(self):
        """The settings and the counts, the counts as JSON strings (Keras's
        layout, so either library reads the other's)."""
        return {
            "num_words": self.num_words,
            "filters": self.filters,
            "lower": self.lower,
            "split": self.split,
            "char_level": self.char_level,
            "oov_token": self.oov_token,
            "document_count": self.document_count,
            "word_counts": json.dumps(self.word_counts),
            "word_docs": json.dumps(self.word_docs),
            "index_docs": json.dumps(self.index_docs),
            "index_word": json.dumps(self.index_word),
            "word_index": json.dumps(self.word_index),
        }

    def to_json(self, **kwargs):
        """The tokenizer as a JSON string (``kwargs`` go to ``json.dumps``);
        ``tokenizer_from_json`` reads it back.  A custom ``analyzer`` is not
        saved."""
        return json.dumps({"class_name": type(self).__name__, "config": self.get_config()},
                          **kwargs)


def tokenizer_from_json(json_string):
    """The Tokenizer that ``to_json`` (pynn's or Keras's) wrote."""
    try:
        data = json.loads(json_string)
        config = dict(data["config"])
        counts = {key: json.loads(config.pop(key))
                  for key in ("word_counts", "word_docs", "index_docs", "index_word",
                              "word_index")}
    except (TypeError, KeyError, ValueError) as e:
        raise ValueError(f"tokenizer_from_json: not a Tokenizer's JSON ({e!r})") from None
    tokenizer = Tokenizer(**config)
    tokenizer.word_counts = OrderedDict(counts["word_counts"])
    tokenizer.word_docs = defaultdict(int, counts["word_docs"])
    # JSON turned the integer keys into strings.
    tokenizer.index_docs = defaultdict(int, {int(k): v for k, v in counts["index_docs"].items()})
    tokenizer.index_word = {int(k): v for k, v in counts["index_word"].items()}
    tokenizer.word_index = counts["word_index"]
    return tokenizer
