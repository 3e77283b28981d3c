"""ops.hash_buckets, the hashes of Keras's Hashing layer, against their
published values: FarmHash's Fingerprint64 (farmhashna::Hash64) against
FarmHash's own self-test and TensorFlow's to_hash_bucket_fast test,
SipHash-2-4 against its authors' 64 test vectors and TensorFlow's
to_hash_bucket_strong test.  A 64-bit hash h is pinned by its buckets
modulo 2**62 (its low 62 bits) and modulo the prime 1000003 (which tells
apart the four values those bits leave)."""
import numpy as np
import pytest

from pynn import ops

MASK62 = 2 ** 62 - 1


def check(values, expected, key=None):
    low = ops.hash_buckets(values, 2 ** 62, key)
    np.testing.assert_array_equal(low.ravel(), [e & MASK62 for e in expected])
    np.testing.assert_array_equal(ops.hash_buckets(values, 1000003, key).ravel(),
                                  [e % 1000003 for e in expected])


def farmhash_test_data(size):
    """The first ``size`` bytes of FarmHash's self-test data (Setup())."""
    mask, k0 = 2 ** 64 - 1, 0xc3a5c85c97cb3127
    a, b = 9, 777
    out = bytearray(size)
    for i in range(size):
        a = (a + b) & mask
        b = (b + a) & mask
        a = ((a ^ (a >> 41)) * k0) & mask
        b = (((b ^ (b >> 41)) * k0) + i) & mask
        out[i] = (b >> 37) & 0xff
    return bytes(out)


# FarmHash's self-test (farmhash.cc, farmhashnaTest): Hash64 of data[i * i:][:i] for
# i < 299, then of data[:n] for the longer lengths, data being the self-test's
# pseudorandom bytes (farmhash_test_data below).
FARMHASH_SQUARE_OFFSETS = (
    0x9ae16a3b2f90404f, 0x541150e87f415e96, 0x0f3786a4b25827c1,
    0xef923a7a1af78eab, 0x11df592596f41d88, 0x831f448bdc5600b3,
    0x3eca803e70304894, 0x1b5a063fb4c7f9f1, 0xa0f10149a0e538d6,
    0xfb8d9c70660b910b, 0x236827beae282a46, 0xc385e435136ecf7c,
    0xe3f6828b6017086d, 0x851fff285561dca0, 0x61152a63595a96d9,
    0x44473e03be306c88, 0x03ead5f21d344056, 0x6abbfde37ee03b5b,
    0x0943e7ed63b3c080, 0xd72ce05171ef8a1a, 0x4182832b52d63735,
    0xd6cdae892584a2cb, 0x5c8e90bc267c5ee4, 0xbbd7f30ac310a6f3,
    0x36a097aa49519d97, 0x0dc78cb032c49217, 0x441593e0da922dfe,
    0x2ba3883d71cc2133, 0xf2b6d2adf8423600, 0x38fffe7f3680d63c,
    0xb7477bf0b9ce37c6, 0x55bdb0e71e3edebd, 0x0782fa1b08b475e7,
    0x09deb3da5e16b5b8, 0x0ee347d647f95396, 0x02ccf9db44ffcadc,
    0xd76f044822fad20b, 0x4565c9a1f6cf7563, 0xde0ec95b0dd50728,
    0x1e916689df731452, 0x01596fbb269fb44e, 0x3d0cc12df012fdc6,
    0x18871267759f9e9e, 0xcf1fd8413d56223a, 0x2324170a136a5d06,
    0x0f5a57eadc6c581d, 0x896893fc0b705345, 0xc59c4e1a7f4fe221,
    0x01601bbbc1db4a56, 0x2784c6a7cd48179e, 0x7e1714daf34531b9,
    0x52364482fbd72b69, 0xda99dc3d65ec5ea5, 0xa26c6862d8f398cf,
    0x9340980e344ed13a, 0xed560843e0444b29, 0x434da74b2ba4e026,
    0xc0a50b576285052c, 0x84bf2c6955012dda, 0x52a098bd016ec185,
    0x5f4a05c2bb909857, 0x2c1aa859228c620a, 0xe8a86180173c94bd,
    0xa8edbff858475437, 0xdef74bf4c9f1bc1b, 0x3cceab392bc39b3f,
    0x9b97f76002f66a94, 0x546d5de7a7d7751b, 0x37da9fddb4f01efe,
    0xdd3551cc9c9ab11e, 0xdabb0d9d0fb2a854, 0xd47e7c1f46fcdf8a,
    0xa3c3d1c8f623c250, 0x875e2c13b2660e08, 0x2f70bfc44293f142,
    0x37df2a50500cd289, 0x4587b6d460c6a7e8, 0xa23934f5737eac9d,
    0x06d4e97f38e8852f, 0x68b80257af01bc8f, 0x93ffa56c72e1911a,
    0x63b3f14a80122fe7, 0x9d215fcb4fc187c3, 0x4f94edba7c40f003,
    0xa3ba25f225f1fd77, 0x7bbd7dbb185c99dc, 0x8930e3bea0728443,
    0x9bcfd4da75c02684, 0xd25f7d5d58d4a1fb, 0xfe9e6f6e71de6b5a,
    0xded448f29841dad8, 0x85628801a71635fe, 0x7702ef00320a3339,
    0xd3463da3e9055e34, 0xd9eb18e531eadb52, 0x1a1ccdba1ce27666,
    0x1262318f0fffe11e, 0xfcf0dc0da9df5e16, 0xafbacd177d4af13b,
    0x677366425bbd9874, 0x05ad36f677825ce0, 0x557388ca06f3e5e4,
    0x3488c3fe80b25222, 0x14077c2e7841d062, 0x384fa4dc64ff2808,
    0x0f81ff041e23cacb, 0xdde4877c5a1136c1, 0x41caf1407c857f51,
    0x93860b2842c21cda, 0xa967a32bf028cacb, 0xe6da7d91081d01ce,
    0x654b958a53a7cffe, 0x6b9d5fac98b5ffd2, 0xfe9f80a8b710e6b2,
    0x1b638d942dfd90d5, 0x0b0a6d75f06216c7, 0xd16349711264a197,
    0xfd5405d898ed2c27, 0x0251eff2e0bd17e6, 0xb8c5b1d44acf10e6,
    0x8cdf28220346651c, 0x97173f7590fbe61b, 0xa3693d5d4c5949c0,
    0x4c5b2ceb42d743c5, 0x7ecff84a2a815e39, 0x7da8621937411360,
    0xf672649174c36ae1, 0x99096f55f2e75eb0, 0xf4a9a248b462909d,
    0xd4f7c858d78153b6, 0x5be83a9fb802c999, 0x3321995895ed07e1,
    0xa77a9d501b6eaae6, 0x74454dd17b5dee37, 0x41f355151543772f,
    0xda4f403068577213, 0x3b237c5bc9b4077e, 0x060130be1aebbc74,
    0xd99408e78e772416, 0x7c80110a09cc95b8, 0xa3f9bcb8695ea709,
    0xcd1b9114c616cec1, 0xa45476a60c5d19bd, 0x9ddbccff8cb0dc04,
    0x533c6ba7521f04de, 0x558a6b37418dc38b, 0xc922fb4fd321fefc,
    0xf348d9e714174892, 0x266fa1e24de39868, 0x4a114282f4ee38fa,
    0xc9504fb06a97dc38, 0x62dca9b1ad8a25c7, 0x15e051deb7113a86,
    0xfeb2d313e8654393, 0x6ecde27579a058da, 0xf3095d4ad48818cc,
    0x0fdabb4c6f2311fe, 0x370422e41d3e165d, 0xe47c9ee1c3ef66ec,
    0x9deb67341dcf3aac, 0xa785317e5d12e3cf, 0xc02b580ea55a3330,
    0x7d96716705bfdab6, 0x49ab9d3ffc91fbe2, 0x1081e8e8f46dd949,
    0x197ae4cafd223bf7, 0x6ecab227cf34a715, 0x155722f995ab3a2f,
    0x5b8578c8213008f8, 0x5800a84cada208d8, 0xb5e288e4f130595a,
    0x6b68f3f03b086b09, 0xf192b850ae703a07, 0xfe3a022b04e46731,
    0x1bae4d46f9cb1db7, 0x2bb8767b5e66e564, 0x6fed858ce932d9ca,
    0x0085a8a5976826bd, 0x785de4d7f17e4664, 0x29c5e93963df0602,
    0xba96a19c1827a663, 0x84903b30f2af686a, 0x877259502fe5981d,
    0xef8f547ee4f85592, 0xcc1b9b9f2e7539bc, 0xb63673f4883d092e,
    0x6a48bf603112a5b6, 0xb4bb81fdf7f038fd, 0xcbe7b570beab5943,
    0xb32f6363f9fcd740, 0x69daeee766778578, 0x28c657f61fab27a7,
    0xb91cf320c999a8a1, 0x2e52ba77c133f42b, 0x9deef859534c3406,
    0xbe5b865b306253c4, 0xcad7bfde976e4252, 0x2ec96e6b3842fe72,
    0xed879fb271ea6dbb, 0x1efdc709bda0b3a0, 0x40f32eb90e5caa01,
    0xb3ddcf97e4306889, 0x125bfd33fe0ecf41, 0xbe0542cbf1796033,
    0xf2e2d6286459e2a9, 0x0c5326bd8821d4e9, 0x8425a93914df07e5,
    0x000226b470bee2af, 0x1936427e13b4efce, 0x36c28690166f43b6,
    0xcc1b5a91be020cde, 0xe5c7361072f2de62, 0xb657b2d87db106ee,
    0x50145d8785ee996b, 0x251aee6536aa2a42, 0xc4ae6490aab5af84,
    0x9e9bfc35779f33f3, 0x49bf088acd94932c, 0xc3dad9832ede538a,
    0x4a31864fc27f7ddd, 0x3add60cebf1ba980, 0x6ce7dea06a3651aa,
    0x93f4b06b421cae73, 0xf9c9553043523ac7, 0x60c8e04eca001811,
    0x621d0e524565f58d, 0x3afbc2bad828d5f3, 0x5a693d7dd9ea397b,
    0xdc7727b1bc10d1e7, 0x49c168336e90d6fa, 0xeacaa55f345e81e8,
    0x914c2434bc938c11, 0x49a130134ae4712f, 0x70418de07c33d518,
    0xb6c46967a527c5f0, 0x23d5e96aedf9fddb, 0x986925e835b0396e,
    0x0563048411e67e18, 0xc1f2977b2052655f, 0x4bec2a224880c794,
    0x136969eed9b76a41, 0x416bcddac2720631, 0xdcccf3e91883604b,
    0xce44e3f9754730f4, 0x35b5d7f99fe567ed, 0x2f829f48c3de0f66,
    0x84506f60d7f8287d, 0xb6770e806048add8, 0xa10c94bef7174647,
    0x1ace8010a020d7ed, 0x499de2f3803fcdfb, 0x7cada474463dca99,
    0xbf8e9bee9b0e773a, 0xeeb4ee690e3d215d, 0x0b1673a38d1e3e7e,
    0x74fbce74d2fe60f8, 0x7fd20f1452dfbc03, 0xd66e58c6be0bb6f5,
    0xc8ed9b3b7ab60e79, 0x45b681723322c1da, 0x370653e1f282b7f3,
    0xe303a81022a4d335, 0x7bd4badf32c2109c, 0xa68aa3a27cd5a3fa,
    0xba1ac8058cfdb3c1, 0x78a3316389d20f04, 0x247bd40c5cb683a9,
    0xc5108b8165773fc1, 0x45d166fb79c7c999, 0xdf3262333d4db4a9,
    0x005d4d41c837dd5a, 0x3d11bd2872e494f2, 0xca374e26504c25b9,
    0x7bae863efa81e690, 0x29c8c794585501a8, 0x4f8fae11ab149012,
    0x3c345c932a87767d, 0xf3ba6d9fc095cd6c, 0x922ec7bd5017c305,
    0x22fceef9724c5cb0, 0xd08d8a2a0eb43abf, 0xa916f7888a1e6b29,
    0x2e2c44354ca22282, 0x17a9ec77665f6489, 0xad1e8f0ee811626c,
    0x5d4abe0923d10d72, 0x439cb274c0c66080, 0x149903cb87963e0a,
    0x40536db57e881d60, 0x4a143dceeda4cd43, 0xb6b24e56b9733b9f,
    0x3d04be29e04c183d, 0x82f29a9d9d95d2fc, 0xfa6c1ed6fbba1f2b,
    0x1172c3eb54e402e1, 0xae78bb983e7ba6ff, 0x946f7a74f44805c0,
    0xeb5dead213fea974, 0x2031c84bc57a1a9f,
)
FARMHASH_PREFIXES = (
    (299, 0xcc79d4ba95da7979), (341, 0x902d34061d0c9b0d),
    (389, 0x43b6d221b3111645), (444, 0xf4edef10db556f29),
    (507, 0xd23a1f4d446476b6), (579, 0xc537780b6fc3a700),
    (661, 0xfb687f7817e37c58), (755, 0x098ecbed8fd618bd),
    (862, 0x6e771631bed6b1bd), (985, 0xdb5d1814fec5e834),
    (1125, 0x436a00a70b9c1ffb), (1285, 0xcd0b9e228116aad2),
    (1468, 0xb9283aba3478a00f), (1677, 0x553997940f08b9ba),
    (1916, 0xd7fc9e2ce6a87ccf), (2189, 0x9570d22d62e5b76a),
    (2501, 0xba108e8ee785d862), (2858, 0x9b94c379263d7fe1),
    (3266, 0x139e088b074371ea), (3732, 0x387e353d76c492eb),
    (4265, 0xb5d71307a4ed9c93), (4874, 0x25635f216bb32ec7),
    (5570, 0x22cfe733f6eabdf4), (6365, 0xc24bd5b02665493b),
    (7274, 0xb5fa553ba950da75), (8313, 0x85cf1e78f1d848e8),
    (9500, 0x340f5b7791e4548f), (10857, 0x4987ca0380f3d80f),
    (12408, 0x95edf617b8cd85fc), (14180, 0x1c08973b9ade51d4),
    (16205, 0x32b4281dd7eaa585), (18520, 0xa5d0883f38405227),
    (21165, 0x71565ae438045cf9), (24188, 0xc264c50383da6de5),
    (27643, 0xc7a19295a6b002c6), (31592, 0xc9098cdae4a2f20c),
    (36105, 0xa4cd94704fc2e100), (41262, 0x968a9827fa1d723a),
    (47156, 0x888136b86aece8d5), (53892, 0x5ca68e8c674ced20),
    (61590, 0x40a732d5c0c1f5e2), (70388, 0x55284b90c2e6ca4a),
    (80443, 0xc77f596870d355b7), (91934, 0x3fee66f3d37192c5),
    (105067, 0x5ef86ac236cd271a), (120076, 0xeb9e167f344ca480),
)


def test_fingerprint64_matches_farmhash_self_test():
    data = farmhash_test_data(FARMHASH_PREFIXES[-1][0])
    values = [data[i * i:i * i + i] for i in range(len(FARMHASH_SQUARE_OFFSETS))]
    values += [data[:n] for n, _ in FARMHASH_PREFIXES]
    expected = list(FARMHASH_SQUARE_OFFSETS) + [h for _, h in FARMHASH_PREFIXES]
    check(np.array(values, dtype=object), expected)


def test_fingerprint64_matches_tensorflow():
    # tensorflow/python/kernel_tests/strings_ops/string_to_hash_bucket_op_test.py
    check(["a", "b", "c", "d"], [12917804110809363939, 11795596070477164822,
                                 11430444447143000872, 4470636696479570465])
    np.testing.assert_array_equal(ops.hash_buckets(["a", "b", "c", "d"], 10), [9, 2, 2, 5])
    np.testing.assert_array_equal(ops.hash_buckets(["a", "b", "c"], 1), [0, 0, 0])


# SipHash-2-4 of bytes 0, 1, ..., n-1 with the key bytes 0..15 (Aumasson and
# Bernstein's vectors, as highwayhash's sip_hash_test.cc lists them).
SIPHASH_VECTORS = (
    0x726FDB47DD0E0E31, 0x74F839C593DC67FD, 0x0D6C8009D9A94F5A, 0x85676696D7FB7E2D,
    0xCF2794E0277187B7, 0x18765564CD99A68D, 0xCBC9466E58FEE3CE, 0xAB0200F58B01D137,
    0x93F5F5799A932462, 0x9E0082DF0BA9E4B0, 0x7A5DBBC594DDB9F3, 0xF4B32F46226BADA7,
    0x751E8FBC860EE5FB, 0x14EA5627C0843D90, 0xF723CA908E7AF2EE, 0xA129CA6149BE45E5,
    0x3F2ACC7F57C29BDB, 0x699AE9F52CBE4794, 0x4BC1B3F0968DD39C, 0xBB6DC91DA77961BD,
    0xBED65CF21AA2EE98, 0xD0F2CBB02E3B67C7, 0x93536795E3A33E88, 0xA80C038CCD5CCEC8,
    0xB8AD50C6F649AF94, 0xBCE192DE8A85B8EA, 0x17D835B85BBB15F3, 0x2F2E6163076BCFAD,
    0xDE4DAAACA71DC9A5, 0xA6A2506687956571, 0xAD87A3535C49EF28, 0x32D892FAD841C342,
    0x7127512F72F27CCE, 0xA7F32346F95978E3, 0x12E0B01ABB051238, 0x15E034D40FA197AE,
    0x314DFFBE0815A3B4, 0x027990F029623981, 0xCADCD4E59EF40C4D, 0x9ABFD8766A33735C,
    0x0E3EA96B5304A7D0, 0xAD0C42D6FC585992, 0x187306C89BC215A9, 0xD4A60ABCF3792B95,
    0xF935451DE4F21DF2, 0xA9538F0419755787, 0xDB9ACDDFF56CA510, 0xD06C98CD5C0975EB,
    0xE612A3CB9ECBA951, 0xC766E62CFCADAF96, 0xEE64435A9752FE72, 0xA192D576B245165A,
    0x0A8787BF8ECB74B2, 0x81B3E73D20B49B6F, 0x7FA8220BA3B2ECEA, 0x245731C13CA42499,
    0xB78DBFAF3A8D83BD, 0xEA1AD565322A1A0B, 0x60E61C23A3795013, 0x6606D7E446282B93,
    0x6CA4ECB15C5F91E1, 0x9F626DA15C9625F3, 0xE51B38608EF25F57, 0x958A324CEB064572,
)


def test_siphash24_matches_reference_vectors():
    key = (0x0706050403020100, 0x0F0E0D0C0B0A0908)
    values = np.array([bytes(range(n)) for n in range(64)], dtype=object)
    check(values, SIPHASH_VECTORS, key)


def test_siphash24_matches_tensorflow():
    # StrongKeyedHash([98765, 132], s) in TensorFlow's string_to_hash_bucket_op_test.py
    check(["a", "b", "c"], [7157389809176466784, 15805638358933211562,
                            18100027895074076528], key=[98765, 132])
    np.testing.assert_array_equal(ops.hash_buckets(["a", "b", "c"], 10, [98765, 132]),
                                  [4, 2, 8])


def test_inputs_hash_as_tensorflow_writes_them():
    words = ["omar", "stringer", "", "naïve", "x" * 100]
    want = ops.hash_buckets(np.array([w.encode() for w in words], dtype=object), 97)
    for form in (words, np.array(words), np.array(words, dtype=object),
                 np.array([w.encode() for w in words]), [w.encode() for w in words]):
        np.testing.assert_array_equal(ops.hash_buckets(form, 97), want)
    ascii_words = ["omar", "", "x" * 100, "a\x00b"]  # NumPy's str arrays, ASCII or not
    np.testing.assert_array_equal(
        ops.hash_buckets(np.array(ascii_words), 97),
        ops.hash_buckets(np.array([w.encode() for w in ascii_words], dtype=object), 97))
    # integers hash as their decimal text, in every integer dtype
    ints = [0, 7, -12, 123456789012, -2 ** 63, 2 ** 63 - 1, -1000000000000000000]
    for key in (None, [3, 4]):
        text = ops.hash_buckets([str(i) for i in ints], 1009, key)
        for dtype in (np.int64, object):
            np.testing.assert_array_equal(ops.hash_buckets(np.array(ints, dtype), 1009, key),
                                          text)
        np.testing.assert_array_equal(
            ops.hash_buckets(np.array([2 ** 64 - 1, 5], np.uint64), 1009, key),
            ops.hash_buckets(["18446744073709551615", "5"], 1009, key))
        np.testing.assert_array_equal(ops.hash_buckets(np.array([-5, 7], np.int8), 1009, key),
                                      ops.hash_buckets(["-5", "7"], 1009, key))
    np.testing.assert_array_equal(ops.hash_buckets(np.array([3, 250], np.uint8), 1009),
                                  ops.hash_buckets(["3", "250"], 1009))
    np.testing.assert_array_equal(ops.hash_buckets(np.array([True, False]), 1009),
                                  ops.hash_buckets(["true", "false"], 1009))
    # the shape is kept; an empty batch gives an empty one
    assert ops.hash_buckets(np.array([["a", "b", "c"]] * 2), 5).shape == (2, 3)
    assert ops.hash_buckets(np.zeros((0, 3), np.int64), 5).shape == (0, 3)
    assert ops.hash_buckets("a", 10) == 9


def test_large_batches_hash_like_single_values():
    rng = np.random.default_rng(0)
    ints = rng.integers(-10 ** 12, 10 ** 12, 20001)
    batch = ops.hash_buckets(ints, 1 << 40, [5, 7])
    single = [int(ops.hash_buckets([int(i)], 1 << 40, [5, 7])[0]) for i in ints[:50]]
    np.testing.assert_array_equal(batch[:50], single)
    words = np.array(["w%d" % i for i in range(30001)])
    np.testing.assert_array_equal(ops.hash_buckets(words, 12345)[-3:],
                                  [ops.hash_buckets([w], 12345)[0] for w in words[-3:]])


@pytest.mark.parametrize("args, error, match", [
    ((["a"], 0), ValueError, "num_buckets must be a positive integer below 2\\*\\*63, got 0"),
    ((["a"], 2.5), ValueError, "num_buckets"),
    ((["a"], 2 ** 63), ValueError, r"num_buckets must be a positive integer below 2\*\*63"),
    ((["a"], 3, [1]), ValueError, "key must be two integers"),
    ((["a"], 3, [1, 2 ** 64]), ValueError, "key must be two integers"),
    ((np.array([1.5]), 3), TypeError, "values must be strings, bytes or integers"),
    ((np.array([None], dtype=object), 3), TypeError, "got NoneType"),
])
def test_bad_arguments_are_refused(args, error, match):
    with pytest.raises(error, match=match):
        ops.hash_buckets(*args)


def test_bridge_refuses_offsets_outside_the_data_or_out_of_order():
    from pynn import _kernels
    out = np.empty(2, np.int64)
    with pytest.raises(ValueError, match="offsets must run from 0 to at most the 3 bytes"):
        _kernels.hash_buckets(b"abc", np.array([0, 1, 4], np.int64), 5, None, out)
    with pytest.raises(ValueError, match="offsets must not decrease"):
        _kernels.hash_buckets(b"abc", np.array([0, 2, 1], np.int64), 5, None, out)
    with pytest.raises(ValueError, match="expected 3 elements"):
        _kernels.hash_buckets(b"abc", np.array([0, 3], np.int64), 5, None, out)
    with pytest.raises(TypeError, match="int64"):
        _kernels.hash_buckets(b"abc", np.array([0, 1, 3], np.int32), 5, None, out)
