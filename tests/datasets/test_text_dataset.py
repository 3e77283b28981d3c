"""text_dataset_from_directory: Keras 3's arguments and listing order (the
code it shares with image_dataset_from_directory), string batches, labels."""
import numpy as np
import pytest

from pynn.utils import text_dataset_from_directory


@pytest.fixture
def corpus(tmp_path):
    texts = {}
    for cls, n in (("neg", 5), ("pos", 4), ("zzz", 3)):
        (tmp_path / cls).mkdir()
        for i in range(n):
            text = f"{cls} review {i} " + "é" * i
            (tmp_path / cls / f"{i}.txt").write_text(text, encoding="utf-8")
            texts[text] = cls
    (tmp_path / "pos" / "notes.md").write_text("not a sample")
    return tmp_path, texts


def collect(ds):
    xs, ys = [], []
    for x, y in ds:
        x = x.numpy()  # (each entry of the batch tensor is a 0-d tensor, as TensorFlow's)
        # bytes, as TensorFlow's string tensors hold
        assert x.dtype == object and all(isinstance(t, bytes) for t in x)
        xs += [t.decode("utf-8") for t in x]
        ys += list(y)
    return xs, np.array(ys)


def test_labels_from_folders(corpus):
    root, texts = corpus
    ds = text_dataset_from_directory(root, batch_size=4, seed=1, verbose=False)
    assert ds.class_names == ["neg", "pos", "zzz"]
    assert len(ds) == 3
    xs, ys = collect(ds)
    assert sorted(xs) == sorted(texts)
    for x, y in zip(xs, ys):
        assert ds.class_names[y] == texts[x]
    assert ys.dtype == np.int32
    # re-iterable: every pass holds the same samples, in a new order
    xs2, _ = collect(ds)
    assert sorted(xs2) == sorted(xs)


def test_label_modes_and_class_names(corpus):
    root, texts = corpus
    ds = text_dataset_from_directory(root, label_mode="categorical", class_names=["pos", "neg"],
                                     shuffle=False, batch_size=100, verbose=False)
    x, y = next(iter(ds))
    assert y.shape == (9, 2) and y.dtype == np.float32
    assert [texts[t.decode("utf-8")] for t in x.numpy()] == ["pos"] * 4 + ["neg"] * 5
    np.testing.assert_array_equal(y[:4], [[1, 0]] * 4)
    ds = text_dataset_from_directory(root, label_mode="binary", class_names=["neg", "pos"],
                                     batch_size=3, shuffle=False, verbose=False)
    x, y = next(iter(ds))
    assert y.shape == (3, 1) and y.dtype == np.float32
    only = text_dataset_from_directory(root, labels=None, batch_size=None, shuffle=False,
                                       verbose=False)
    first = next(iter(only))
    assert first.numpy().decode("utf-8").startswith("neg review 0")
    with pytest.raises(ValueError, match="exactly 2"):
        text_dataset_from_directory(root, label_mode="binary", verbose=False)


def test_max_length_cuts_bytes(corpus):
    root, _ = corpus
    ds = text_dataset_from_directory(root, max_length=16, shuffle=False, batch_size=100,
                                     verbose=False)
    x, _ = next(iter(ds))
    x = x.numpy()
    for t in x:
        assert len(t) <= 16
    # bytes cut as tf.strings.substr cuts them: inside the second é
    assert "neg review 4 é".encode("utf-8") + "é".encode("utf-8")[:1] in list(x)


def test_validation_split_both(corpus):
    root, texts = corpus
    train, val = text_dataset_from_directory(root, validation_split=0.25, subset="both",
                                             seed=3, batch_size=2, verbose=False)
    tx, _ = collect(train)
    vx, _ = collect(val)
    assert len(vx) == 3 and len(tx) == 9
    assert not set(tx) & set(vx) and set(tx) | set(vx) == set(texts)
    one = text_dataset_from_directory(root, validation_split=0.25, subset="validation",
                                      seed=3, batch_size=2, verbose=False)
    assert sorted(collect(one)[0]) == sorted(vx)
    with pytest.raises(ValueError, match="seed"):
        text_dataset_from_directory(root, validation_split=0.2, subset="training")


def test_explicit_labels_and_errors(corpus, tmp_path):
    root, _ = corpus
    ds = text_dataset_from_directory(root, labels=list(range(12)), shuffle=False,
                                     batch_size=12, verbose=False)
    _, y = next(iter(ds))
    np.testing.assert_array_equal(y, np.arange(12))
    with pytest.raises(FileNotFoundError, match="text_dataset_from_directory"):
        text_dataset_from_directory(tmp_path / "missing")
    with pytest.raises(ValueError, match="max_length"):
        text_dataset_from_directory(root, max_length=0)
    with pytest.raises(ValueError, match="label_mode"):
        text_dataset_from_directory(root, label_mode="sparse")


def test_follow_links(corpus, tmp_path_factory):
    root, _ = corpus
    outside = tmp_path_factory.mktemp("outside")
    (outside / "extra.txt").write_text("linked")
    (root / "zzz" / "more").symlink_to(outside, target_is_directory=True)
    plain = text_dataset_from_directory(root, shuffle=False, batch_size=100, verbose=False)
    linked = text_dataset_from_directory(root, shuffle=False, batch_size=100, verbose=False,
                                         follow_links=True)
    assert b"linked" not in list(next(iter(plain))[0].numpy())
    assert b"linked" in list(next(iter(linked))[0].numpy())
