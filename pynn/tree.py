"""Nested structures of lists, tuples, namedtuples, dicts and deques, as
``keras.tree`` handles them: flatten to leaves, map over leaves, pack
leaves back.

The nodes are ``list``, ``tuple`` (namedtuples included), ``dict`` (with
``OrderedDict`` and ``defaultdict``) and ``collections.deque``; everything
else, ``None`` included, is a leaf.  A dict's children come in the order of
its sorted keys (an OrderedDict's in its own order), and a rebuilt dict keeps
the key order of the dict it was built from.
"""
import collections

__all__ = ["MAP_TO_NONE", "assert_same_paths", "assert_same_structure", "flatten",
           "flatten_with_path", "is_nested", "lists_to_tuples", "map_shape_structure",
           "map_structure", "map_structure_up_to", "pack_sequence_as", "traverse"]


class MAP_TO_NONE:
    """Returned by a :func:`traverse` function to put None in place of a
    sub-structure."""


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _keys(x):
    """A node's child keys in flattening order (None for a leaf)."""
    if isinstance(x, dict):
        if isinstance(x, collections.OrderedDict):
            return list(x)
        try:
            return sorted(x)
        except TypeError:
            raise TypeError(f"pynn.tree: the keys of a dict must be sortable, got "
                            f"{list(x)!r}") from None
    if isinstance(x, (list, tuple, collections.deque)):
        return list(range(len(x)))
    return None


def _node(x, none_is_leaf=True):
    """(keys, children) of a node; None for a leaf."""
    if x is None and not none_is_leaf:
        return [], []
    keys = _keys(x)
    if keys is None:
        return None
    if isinstance(x, dict):
        return keys, [x[k] for k in keys]
    return keys, list(x)


def _rebuild(x, children):
    """A node like ``x`` holding ``children`` (in flattening order)."""
    if x is None:
        return None
    if isinstance(x, dict):
        by_key = dict(zip(_keys(x), children))
        items = [(k, by_key[k]) for k in x]
        if isinstance(x, collections.defaultdict):
            return collections.defaultdict(x.default_factory, items)
        return type(x)(items)
    if _is_namedtuple(x):
        return type(x)(*children)
    if isinstance(x, collections.deque):
        return collections.deque(children, maxlen=x.maxlen)
    if isinstance(x, tuple):
        return tuple(children)
    return list(children)


def _kind(x):
    """What must match for two nodes to be the same structure (dicts of
    any kind match on their keys)."""
    if isinstance(x, dict):
        return dict, sorted(x, key=repr)
    return type(x), len(x)


def _mismatch(a, b):
    raise ValueError(f"The two structures don't have the same nested structure: "
                     f"{_short(a)} and {_short(b)}")


def _short(x):
    text = repr(x)
    return text if len(text) <= 100 else text[:100] + "..."


def is_nested(structure):
    """Whether ``structure`` is a list, tuple, dict or deque (not a leaf)."""
    return _keys(structure) is not None


def flatten(structure):
    """The leaves of ``structure``, depth first (a dict's by sorted key)."""
    out = []

    def walk(x):
        node = _node(x)
        if node is None:
            out.append(x)
        else:
            for child in node[1]:
                walk(child)
    walk(structure)
    return out


def flatten_with_path(structure):
    """[(path, leaf)]: each leaf with the tuple of indices and keys that
    leads to it."""
    out = []

    def walk(x, path):
        node = _node(x)
        if node is None:
            out.append((path, x))
        else:
            for key, child in zip(*node):
                walk(child, path + (key,))
    walk(structure, ())
    return out


def _map(func, structures, none_is_leaf, check_leaves):
    first = structures[0]
    node = _node(first, none_is_leaf)
    if node is None:
        if check_leaves and any(_node(s, none_is_leaf) is not None for s in structures[1:]):
            raise ValueError("Structures don't have the same nested structure.")
        return func(*structures)
    for other in structures[1:]:
        other_node = _node(other, none_is_leaf)
        if other_node is None or (first is None) != (other is None) or \
                (first is not None and _kind(first) != _kind(other)):
            _mismatch(first, other)
    columns = [_node(s, none_is_leaf)[1] for s in structures]
    return _rebuild(first, [_map(func, list(args), none_is_leaf, check_leaves)
                            for args in zip(*columns)])


def map_structure(func, *structures, none_is_leaf=True):
    """``func`` of the matching leaves of ``structures`` (all the same
    structure), in a structure like the first.  ``none_is_leaf=False``
    leaves None where it stands without calling ``func``."""
    if not callable(func):
        raise TypeError(f"map_structure: func must be callable, got {func!r}")
    if not structures:
        raise ValueError("Must provide at least one structure")
    return _map(func, list(structures), none_is_leaf, check_leaves=len(structures) > 1)


def map_structure_up_to(shallow_structure, func, *structures):
    """``func`` of the sub-structures of ``structures`` found at the leaves
    of ``shallow_structure`` (which each structure must contain)."""
    if not callable(func):
        raise TypeError(f"map_structure_up_to: func must be callable, got {func!r}")
    if not structures:
        raise ValueError("Must provide at least one structure")
    return _map(lambda shallow, *args: func(*args), [shallow_structure, *structures],
                True, check_leaves=False)


def assert_same_structure(a, b, check_types=None):
    """Raise ValueError unless ``a`` and ``b`` nest the same way (the same
    node types, lengths and keys; the leaves may differ).  ``check_types``
    is accepted and ignored, as in Keras 3."""
    _map(lambda *leaves: None, [a, b], True, check_leaves=True)


def assert_same_paths(a, b):
    """Raise ValueError unless ``a`` and ``b`` have the same leaf paths
    (lists, tuples and deques alike)."""
    a_paths = {p for p, _ in flatten_with_path(a)}
    b_paths = {p for p, _ in flatten_with_path(b)}
    if a_paths != b_paths:
        msg = "`a` and `b` don't have the same paths."
        if a_paths - b_paths:
            msg += f"\nPaths in `a` missing in `b`:\n{a_paths - b_paths}"
        if b_paths - a_paths:
            msg += f"\nPaths in `b` missing in `a`:\n{b_paths - a_paths}"
        raise ValueError(msg)


def pack_sequence_as(structure, flat_sequence):
    """``flat_sequence``'s items in the nesting of ``structure`` (the
    inverse of :func:`flatten`)."""
    try:
        items = list(flat_sequence)
    except TypeError:
        raise TypeError(f"pack_sequence_as: flat_sequence must be iterable, got "
                        f"{type(flat_sequence).__name__}") from None
    want = len(flatten(structure))
    if len(items) != want:
        raise ValueError(f"pack_sequence_as: the structure has {want} leaves, "
                         f"flat_sequence {len(items)} items")
    it = iter(items)
    return _map(lambda leaf: next(it), [structure], True, check_leaves=False)


def traverse(func, structure, top_down=True):
    """Depth-first over every sub-structure.  Top down, a non-None result of
    ``func`` replaces the sub-structure (and it is not entered); bottom up,
    ``func`` sees the already traversed sub-structure and a non-None result
    replaces it.  :class:`MAP_TO_NONE` puts None in its place."""
    if not callable(func):
        raise TypeError(f"traverse: func must be callable, got {func!r}")

    def children(x):
        node = _node(x)
        if node is None:
            return x
        return _rebuild(x, [traverse(func, c, top_down) for c in node[1]])

    if top_down:
        result = func(structure)
        if result is None:
            return children(structure)
    else:
        done = children(structure)
        result = func(done)
        if result is None:
            return done
    return None if result is MAP_TO_NONE else result


def lists_to_tuples(structure):
    """``structure`` with every list turned into a tuple."""
    return traverse(lambda x: tuple(x) if isinstance(x, list) else None, structure,
                    top_down=False)


def map_shape_structure(func, structure):
    """``func`` over the shapes in ``structure``: lists and tuples of ints
    and Nones are leaves here."""
    def is_shape(x):
        return isinstance(x, (list, tuple)) and all(
            isinstance(e, (int, type(None))) for e in x)

    def walk(x):
        if is_shape(x):
            return func(x)
        node = _node(x)
        if node is None:
            return func(x)
        return _rebuild(x, [walk(c) for c in node[1]])
    return walk(structure)
