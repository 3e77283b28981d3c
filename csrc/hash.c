/*
 * hash.c - the string hashes of Keras's Hashing layer, as TensorFlow
 * computes them: FarmHash's Fingerprint64 (farmhashna::Hash64, the hash of
 * tf.strings.to_hash_bucket_fast) and SipHash-2-4 with a 128-bit key (the
 * hash of tf.strings.to_hash_bucket_strong), and the batched bucketing of
 * a buffer of strings, or of integers by their decimal text, by either.
 *
 * Both read the bytes as little-endian words whatever the host's order,
 * so a value falls in the same bucket on every machine, as the
 * fingerprints promise.
 */
#include "pynn.h"
#include "internal.h"

#include <string.h>

static inline uint64_t load64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static inline uint32_t load32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t rotr64(uint64_t v, int shift)
{
    return shift == 0 ? v : (v >> shift) | (v << (64 - shift));
}

static inline uint64_t rotl64(uint64_t v, int shift)
{
    return (v << shift) | (v >> (64 - shift));
}

/* ------------------------------------------------------------ FarmHash */

static const uint64_t K0 = 0xc3a5c85c97cb3127ULL;
static const uint64_t K1 = 0xb492b66fbe98f273ULL;
static const uint64_t K2 = 0x9ae16a3b2f90404fULL;

static inline uint64_t shift_mix(uint64_t v) { return v ^ (v >> 47); }

static inline uint64_t hash_len16(uint64_t u, uint64_t v, uint64_t mul)
{
    uint64_t a = (u ^ v) * mul;
    a ^= a >> 47;
    uint64_t b = (v ^ a) * mul;
    b ^= b >> 47;
    return b * mul;
}

static uint64_t hash_len0to16(const unsigned char *s, size_t len)
{
    if (len >= 8) {
        uint64_t mul = K2 + len * 2;
        uint64_t a = load64(s) + K2;
        uint64_t b = load64(s + len - 8);
        uint64_t c = rotr64(b, 37) * mul + a;
        uint64_t d = (rotr64(a, 25) + b) * mul;
        return hash_len16(c, d, mul);
    }
    if (len >= 4) {
        uint64_t mul = K2 + len * 2;
        uint64_t a = load32(s);
        return hash_len16(len + (a << 3), load32(s + len - 4), mul);
    }
    if (len > 0) {
        uint32_t y = (uint32_t)s[0] + ((uint32_t)s[len >> 1] << 8);
        uint32_t z = (uint32_t)len + ((uint32_t)s[len - 1] << 2);
        return shift_mix(y * K2 ^ z * K0) * K2;
    }
    return K2;
}

static uint64_t hash_len17to32(const unsigned char *s, size_t len)
{
    uint64_t mul = K2 + len * 2;
    uint64_t a = load64(s) * K1;
    uint64_t b = load64(s + 8);
    uint64_t c = load64(s + len - 8) * mul;
    uint64_t d = load64(s + len - 16) * K2;
    return hash_len16(rotr64(a + b, 43) + rotr64(c, 30) + d, a + rotr64(b + K2, 18) + c, mul);
}

static uint64_t hash_len33to64(const unsigned char *s, size_t len)
{
    uint64_t mul = K2 + len * 2;
    uint64_t a = load64(s) * K2;
    uint64_t b = load64(s + 8);
    uint64_t c = load64(s + len - 8) * mul;
    uint64_t d = load64(s + len - 16) * K2;
    uint64_t y = rotr64(a + b, 43) + rotr64(c, 30) + d;
    uint64_t z = hash_len16(y, a + rotr64(b + K2, 18) + c, mul);
    uint64_t e = load64(s + 16) * mul;
    uint64_t f = load64(s + 24);
    uint64_t g = (y + load64(s + len - 32)) * mul;
    uint64_t h = (z + load64(s + len - 24)) * mul;
    return hash_len16(rotr64(e + f, 43) + rotr64(g, 30) + h, e + rotr64(f + a, 18) + g, mul);
}

/* FarmHash's WeakHashLen32WithSeeds over s[0..31]: the pair (*first,
 * *second) from seeds a and b. */
static inline void weak_hash32(const unsigned char *s, uint64_t a, uint64_t b, uint64_t *first,
                               uint64_t *second)
{
    uint64_t w = load64(s), x = load64(s + 8), y = load64(s + 16), z = load64(s + 24);
    a += w;
    b = rotr64(b + a + z, 21);
    uint64_t c = a;
    a += x;
    a += y;
    b += rotr64(a, 44);
    *first = a + z;
    *second = b + c;
}

uint64_t pynn_fingerprint64(const unsigned char *s, size_t len)
{
    if (len <= 16) return hash_len0to16(s, len);
    if (len <= 32) return hash_len17to32(s, len);
    if (len <= 64) return hash_len33to64(s, len);

    /* Longer strings: 64 bytes a round over the state (v, w, x, y, z),
     * then the last 64 bytes (which may overlap the rounds) once more. */
    const uint64_t seed = 81;
    uint64_t x = seed, y = seed * K1 + 113, z = shift_mix(y * K2 + 113) * K2;
    uint64_t v1 = 0, v2 = 0, w1 = 0, w2 = 0, t;
    x = x * K2 + load64(s);
    const unsigned char *end = s + ((len - 1) / 64) * 64;
    const unsigned char *last64 = end + ((len - 1) & 63) - 63;
    do {
        x = rotr64(x + y + v1 + load64(s + 8), 37) * K1;
        y = rotr64(y + v2 + load64(s + 48), 42) * K1;
        x ^= w2;
        y += v1 + load64(s + 40);
        z = rotr64(z + w1, 33) * K1;
        weak_hash32(s, v2 * K1, x + w1, &v1, &v2);
        weak_hash32(s + 32, z + w2, y + load64(s + 16), &w1, &w2);
        t = z, z = x, x = t;
        s += 64;
    } while (s != end);
    uint64_t mul = K1 + ((z & 0xff) << 1);
    s = last64;
    w1 += (len - 1) & 63;
    v1 += w1;
    w1 += v1;
    x = rotr64(x + y + v1 + load64(s + 8), 37) * mul;
    y = rotr64(y + v2 + load64(s + 48), 42) * mul;
    x ^= w2 * 9;
    y += v1 * 9 + load64(s + 40);
    z = rotr64(z + w1, 33) * mul;
    weak_hash32(s, v2 * mul, x + w1, &v1, &v2);
    weak_hash32(s + 32, z + w2, y + load64(s + 16), &w1, &w2);
    t = z, z = x, x = t;
    return hash_len16(hash_len16(v1, w1, mul) + shift_mix(y) * K0 + z,
                      hash_len16(v2, w2, mul) + x, mul);
}

/* ------------------------------------------------------------- SipHash */

#define SIP_ROUND(v0, v1, v2, v3)                                              \
    do {                                                                       \
        v0 += v1;                                                              \
        v2 += v3;                                                              \
        v1 = rotl64(v1, 13);                                                   \
        v3 = rotl64(v3, 16);                                                   \
        v1 ^= v0;                                                              \
        v3 ^= v2;                                                              \
        v0 = rotl64(v0, 32);                                                   \
        v2 += v1;                                                              \
        v0 += v3;                                                              \
        v1 = rotl64(v1, 17);                                                   \
        v3 = rotl64(v3, 21);                                                   \
        v1 ^= v2;                                                              \
        v3 ^= v0;                                                              \
        v2 = rotl64(v2, 32);                                                   \
    } while (0)

uint64_t pynn_siphash24(uint64_t k0, uint64_t k1, const unsigned char *s, size_t len)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    size_t whole = len - (len & 7);
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = load64(s + i);
        v3 ^= m;
        SIP_ROUND(v0, v1, v2, v3);
        SIP_ROUND(v0, v1, v2, v3);
        v0 ^= m;
    }
    /* The last word: the remaining bytes, and the length's low byte on top. */
    unsigned char last[8] = {0};
    memcpy(last, s + whole, len & 7);
    last[7] = (unsigned char)(len & 0xff);
    uint64_t m = load64(last);
    v3 ^= m;
    SIP_ROUND(v0, v1, v2, v3);
    SIP_ROUND(v0, v1, v2, v3);
    v0 ^= m;
    v2 ^= 0xff;
    for (int r = 0; r < 4; r++) SIP_ROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ----------------------------------------------------------- bucketing */

static void bucket_range(const unsigned char *bytes, const int64_t *offsets, uint64_t buckets,
                         int keyed, uint64_t k0, uint64_t k1, int64_t *out, ptrdiff_t lo,
                         ptrdiff_t hi)
{
    for (ptrdiff_t i = lo; i < hi; i++) {
        const unsigned char *s = bytes + offsets[i];
        size_t len = (size_t)(offsets[i + 1] - offsets[i]);
        uint64_t h = keyed ? pynn_siphash24(k0, k1, s, len) : pynn_fingerprint64(s, len);
        out[i] = (int64_t)(h % buckets);
    }
}

/* The decimal text of v (as TensorFlow's as_string writes an int64) at
 * the end of buf[0..20); returns where it starts. */
static inline unsigned char *decimal(int64_t v, unsigned char buf[20])
{
    uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    unsigned char *p = buf + 20;
    do {
        *--p = (unsigned char)('0' + m % 10);
        m /= 10;
    } while (m);
    if (v < 0) *--p = '-';
    return p;
}

static void int_bucket_range(const int64_t *values, uint64_t buckets, int keyed, uint64_t k0,
                             uint64_t k1, int64_t *out, ptrdiff_t lo, ptrdiff_t hi)
{
    unsigned char buf[20];
    for (ptrdiff_t i = lo; i < hi; i++) {
        const unsigned char *s = decimal(values[i], buf);
        size_t len = (size_t)(buf + 20 - s);
        uint64_t h = keyed ? pynn_siphash24(k0, k1, s, len) : pynn_fingerprint64(s, len);
        out[i] = (int64_t)(h % buckets);
    }
}

int pynn_hash_int64_buckets(const int64_t *values, ptrdiff_t n, int64_t num_buckets, int keyed,
                            uint64_t k0, uint64_t k1, int64_t *out)
{
    PYNN_FTZ_SCOPE;
    if (n < 0 || num_buckets < 1) return PYNN_EINVAL;
    int nt = pynn_threads_for(n * 40);
    PYNN_PARALLEL_RANGE(nt, n, int_bucket_range(values, (uint64_t)num_buckets, keyed, k0, k1,
                                                out, lo, hi));
    return PYNN_OK;
}

int pynn_hash_buckets(const unsigned char *bytes, const int64_t *offsets, ptrdiff_t n,
                      int64_t num_buckets, int keyed, uint64_t k0, uint64_t k1, int64_t *out)
{
    PYNN_FTZ_SCOPE;
    if (n < 0 || num_buckets < 1 || (n > 0 && offsets[0] != 0)) return PYNN_EINVAL;
    for (ptrdiff_t i = 0; i < n; i++)
        if (offsets[i + 1] < offsets[i]) return PYNN_EINVAL;
    /* About 20 instructions a byte and 40 a string. */
    int nt = pynn_threads_for(n > 0 ? (offsets[n] + 2 * n) * 4 : 0);
    PYNN_PARALLEL_RANGE(nt, n, bucket_range(bytes, offsets, (uint64_t)num_buckets, keyed, k0,
                                            k1, out, lo, hi));
    return PYNN_OK;
}

static void fingerprint_range(const unsigned char *bytes, const int64_t *offsets, uint64_t *out,
                              ptrdiff_t lo, ptrdiff_t hi)
{
    for (ptrdiff_t i = lo; i < hi; i++)
        out[i] = pynn_fingerprint64(bytes + offsets[i], (size_t)(offsets[i + 1] - offsets[i]));
}

int pynn_fingerprint64_strings(const unsigned char *bytes, const int64_t *offsets, ptrdiff_t n,
                               uint64_t *out)
{
    if (n < 0 || (n > 0 && offsets[0] != 0)) return PYNN_EINVAL;
    for (ptrdiff_t i = 0; i < n; i++)
        if (offsets[i + 1] < offsets[i]) return PYNN_EINVAL;
    int nt = pynn_threads_for(n > 0 ? (offsets[n] + 2 * n) * 4 : 0);
    PYNN_PARALLEL_RANGE(nt, n, fingerprint_range(bytes, offsets, out, lo, hi));
    return PYNN_OK;
}
