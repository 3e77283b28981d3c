"""pynn.tree against keras.tree (Keras 3 on its NumPy backend, optree
underneath) on the same structures."""
import collections

import numpy as np
import pytest

import pynn
from pynn import tree

Point = collections.namedtuple("Point", ["x", "y"])
OtherPoint = collections.namedtuple("Point", ["x", "y"])

STRUCTURES = [
    1, None, "text", np.arange(3), [], (), {},
    [1, 2, 3], (1, (2, 3), [4, [5], [[6]]]),
    {"b": 1, "a": [2, 3], "c": {"z": 4, "y": (5, None)}},
    collections.OrderedDict([("b", 1), ("a", 2)]),
    collections.defaultdict(list, {"k": [1, 2], "j": 3}),
    Point(1, [2, 3]), [Point((1, 2), {"q": 3})],
    collections.deque([1, (2, 3)]), {100: "world!", 6: "Hello"}, [None, [None, 1]],
]


def _same(a, b):
    """Equal values and container types, all the way down."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple, collections.deque)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


@pytest.mark.parametrize("structure", STRUCTURES, ids=repr)
def test_flatten_pack_map_match_keras(keras, structure):
    kt = keras.tree
    assert tree.is_nested(structure) == kt.is_nested(structure)
    _same(tree.flatten(structure), kt.flatten(structure))
    _same(tree.flatten_with_path(structure), kt.flatten_with_path(structure))
    leaves = list(range(len(kt.flatten(structure))))
    _same(tree.pack_sequence_as(structure, leaves), kt.pack_sequence_as(structure, leaves))

    def f(x):
        return ("leaf", repr(x))
    _same(tree.map_structure(f, structure), kt.map_structure(f, structure))
    _same(tree.map_structure(f, structure, none_is_leaf=False),
          kt.map_structure(f, structure, none_is_leaf=False))
    _same(tree.map_structure(lambda a, b: (a, b), structure, structure),
          kt.map_structure(lambda a, b: (a, b), structure, structure))
    _same(tree.lists_to_tuples(structure), kt.lists_to_tuples(structure))
    tree.assert_same_structure(structure, structure)
    for top_down in (True, False):
        seen, kseen = [], []
        _same(tree.traverse(lambda x: seen.append(repr(x)), structure, top_down=top_down),
              kt.traverse(lambda x: kseen.append(repr(x)), structure, top_down=top_down))
        assert seen == kseen


def test_traverse_replaces_and_maps_to_none(keras):
    s = [(1, 2), [3], {"a": 4}]
    for fn in (lambda x: tree.MAP_TO_NONE if x == [3] else None,
               lambda x: "T" if isinstance(x, tuple) else None):
        kfn = (lambda x: keras.tree.MAP_TO_NONE if x == [3] else None) \
            if fn(([3])) is tree.MAP_TO_NONE else fn
        for top_down in (True, False):
            _same(tree.traverse(fn, s, top_down=top_down),
                  keras.tree.traverse(kfn, s, top_down=top_down))


@pytest.mark.parametrize("a,b", [
    ([1, 2], (1, 2)), ([1, [2]], [1, 2]), ({"a": 1}, {"b": 1}), (Point(1, 2), OtherPoint(1, 2)),
    ([1, 2], [1, 2, 3]), (None, [1]), ([None], [[1]]),
])
def test_mismatches_raise_as_in_keras(keras, a, b):
    with pytest.raises(ValueError):
        keras.tree.assert_same_structure(a, b)
    with pytest.raises(ValueError):
        tree.assert_same_structure(a, b)
    with pytest.raises(ValueError):
        keras.tree.map_structure(lambda x, y: x, a, b)
    with pytest.raises(ValueError):
        tree.map_structure(lambda x, y: x, a, b)


def test_dict_kinds_match_and_paths(keras):
    a = {"a": 1, "b": 2}
    b = collections.OrderedDict([("b", 3), ("a", 4)])
    keras.tree.assert_same_structure(a, b)
    tree.assert_same_structure(a, b)
    tree.assert_same_paths([0, 1], (2, 3))
    keras.tree.assert_same_paths([0, 1], (2, 3))
    with pytest.raises(ValueError, match="missing in `b`"):
        tree.assert_same_paths({"a": 1, "c": 2}, {"a": 1})


def test_map_structure_up_to_and_shapes(keras):
    # (Keras's own tree refuses None as a leaf of the shallow structure)
    shallow, s = [0, [0, 0]], [[1, 1], [2, 2]]
    _same(tree.map_structure_up_to(shallow, str, s),
          keras.tree.map_structure_up_to(shallow, str, s))
    _same(tree.map_structure_up_to([0, 0], len, s),
          keras.tree.map_structure_up_to([0, 0], len, s))
    _same(tree.map_structure_up_to([None, None], len, s), [2, 2])
    with pytest.raises(ValueError):
        keras.tree.map_structure_up_to([0, [0]], str, [1, 2])
    with pytest.raises(ValueError):
        tree.map_structure_up_to([0, [0]], str, [1, 2])
    shapes = {"a": (None, 3), "b": [(2,), [4, None]]}
    _same(tree.map_shape_structure(lambda s: ("S", tuple(s)), shapes),
          keras.tree.map_shape_structure(lambda s: ("S", tuple(s)), shapes))


def test_errors():
    with pytest.raises(ValueError, match="2 leaves"):
        tree.pack_sequence_as([1, 2], [1])
    with pytest.raises(TypeError, match="iterable"):
        tree.pack_sequence_as([1], 5)
    with pytest.raises(ValueError, match="at least one"):
        tree.map_structure(len)
    with pytest.raises(TypeError, match="callable"):
        tree.map_structure(3, [1])
    assert pynn.tree is tree
