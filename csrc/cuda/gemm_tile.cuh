/*
 * gemm_tile.cuh - the tiled float32 matrix product that the dense layers and
 * the convolutions share.
 *
 * C (M x N) = alpha * A (M x K) * B (K x N), where A and B are not arrays
 * but loaders.  A plain matrix, a transposed one, and the implicit unrolled
 * image of a convolution (conv.cu) are all loaders, so the convolution is
 * this same kernel reading its A operand straight from the image.  A
 * loader splits an element's address in two: line(z, i) for the operand's
 * other index (a row of A, a column of B: an output pixel's sample and
 * window origin), worked out once per kernel, and tap(k) for k (a kernel
 * tap and channel), worked out once per K slice; at(line, tap) is then a
 * few additions.  A thread holds four lines and one k per slice where the
 * operand is contiguous along k, else one line and four k.
 *
 * Each block computes a 128 x 128 tile of C with 256 threads, each thread
 * an 8 x 8 block of registers (rows ty*4 + {0..3} and 64 + ty*4 + {0..3},
 * likewise for columns, so the threads of a warp read consecutive shared
 * memory).  K advances 8 at a time through shared memory; the next slice
 * is loaded into registers while the current one is multiplied.
 *
 * Two plain matrices whose rows start on 16-byte boundaries take
 * vec_gemm_kernel instead: the same tiles and the same order of the sums
 * (so the same bits), but each thread moves one float4 of each operand per
 * K slice, the slices alternate between two shared buffers (one barrier a
 * slice instead of two), and a thread reads its 8 + 8 operands of a step
 * as four float4s.
 *
 * blockIdx.z enumerates batch x splits: with splits > 1 the K range is cut
 * into that many pieces and each block adds its partial product into C
 * (zeroed first) atomically, so a product with few output tiles and a long
 * K (a convolution's kernel gradient) still fills the GPU.
 */
#ifndef PYNN_GEMM_TILE_CUH
#define PYNN_GEMM_TILE_CUH

#include <type_traits>

#include "cuda_internal.cuh"

namespace pynn_cuda {

constexpr int kTileM = 128, kTileN = 128, kTileK = 8, kTileThreads = 256;

/* op(A) of a row-major matrix: element (m, k) is a[m*ld + k], or a[k*ld + m]
 * when transposed; the i-th of a batch starts stride floats further. */
struct MatA {
    const float *p;
    ptrdiff_t ld, stride;
    int trans;
    __device__ float operator()(ptrdiff_t z, ptrdiff_t m, ptrdiff_t k) const
    {
        const float *q = p + z * stride;
        return trans ? q[k * ld + m] : q[m * ld + k];
    }
    __device__ const float *line(ptrdiff_t z, ptrdiff_t m) const
    {
        return p + z * stride + (trans ? m : m * ld);
    }
    __device__ ptrdiff_t tap(ptrdiff_t k) const { return trans ? k * ld : k; }
    __device__ float at(const float *l, ptrdiff_t t) const { return l[t]; }
    /* whether consecutive k are adjacent in memory (how to coalesce) */
    __device__ bool k_contiguous() const { return !trans; }
};

/* op(B): element (k, n) is b[k*ld + n], or b[n*ld + k] when transposed. */
struct MatB {
    const float *p;
    ptrdiff_t ld, stride;
    int trans;
    __device__ float operator()(ptrdiff_t z, ptrdiff_t k, ptrdiff_t n) const
    {
        const float *q = p + z * stride;
        return trans ? q[n * ld + k] : q[k * ld + n];
    }
    __device__ const float *line(ptrdiff_t z, ptrdiff_t n) const
    {
        return p + z * stride + (trans ? n * ld : n);
    }
    __device__ ptrdiff_t tap(ptrdiff_t k) const { return trans ? k : k * ld; }
    __device__ float at(const float *l, ptrdiff_t t) const { return l[t]; }
    __device__ bool n_contiguous() const { return !trans; }
};

/* Where the tile goes: C = alpha * acc + beta * C (beta == 0 does not read
 * C), then + bias[n] and the activation (not softmax); with atomic, the
 * partial alpha * acc is added into C (split K). */
struct Epilogue {
    float *c;
    ptrdiff_t ldc, stride;
    float alpha, beta;
    const float *bias;
    int act;
    float act_alpha;
    int atomic;
    __device__ void store(ptrdiff_t z, ptrdiff_t m, ptrdiff_t n, float acc) const
    {
        float *dst = c + z * stride + m * ldc + n;
        if (atomic) {
            atomicAdd(dst, alpha * acc);
            return;
        }
        float v = alpha * acc;
        if (beta != 0.0f) v += beta * *dst;
        if (bias) v += bias[n];
        *dst = act_forward(act, act_alpha, v);
    }
};

template <class LoadA, class LoadB>
__global__ void __launch_bounds__(kTileThreads)
tiled_gemm_kernel(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, int splits, ptrdiff_t k_chunk,
                  LoadA load_a, LoadB load_b, Epilogue epi)
{
    /* (rows padded by 4 floats: the threads of a warp that store a column
     * of a tile hit 32 different banks) */
    __shared__ __align__(16) float As[kTileK][kTileM + 4];
    __shared__ __align__(16) float Bs[kTileK][kTileN + 4];

    const int tid = threadIdx.x;
    const int ty = tid / 16, tx = tid % 16;
    const ptrdiff_t m0 = (ptrdiff_t)blockIdx.x * kTileM;
    const ptrdiff_t n0 = (ptrdiff_t)blockIdx.y * kTileN;
    const ptrdiff_t z = blockIdx.z / splits;
    const ptrdiff_t k_begin = (ptrdiff_t)(blockIdx.z % splits) * k_chunk;
    const ptrdiff_t k_end = k_begin + k_chunk < K ? k_begin + k_chunk : K;

    /* Which element of each tile this thread loads (4 of A's 1024, 4 of
     * B's): along the operand's contiguous axis, so a warp's loads
     * coalesce.  Along k that is four rows (of 128) at one k (of 8), else
     * one row at four k. */
    const bool a_kfast = load_a.k_contiguous(), b_nfast = load_b.n_contiguous();
    int a_row[4], a_col[4], b_row[4], b_col[4];
    PYNN_UNROLL
    for (int i = 0; i < 4; i++) {
        int e = tid + i * kTileThreads;
        a_row[i] = a_kfast ? e / kTileK : e % kTileM;  /* m within the tile */
        a_col[i] = a_kfast ? e % kTileK : e / kTileM;  /* k within the slice */
        b_row[i] = b_nfast ? e / kTileN : e % kTileK;  /* k within the slice */
        b_col[i] = b_nfast ? e % kTileN : e / kTileK;  /* n within the tile */
    }
    decltype(load_a.line(0, 0)) a_line[4];
    decltype(load_b.line(0, 0)) b_line[4];
    bool a_in[4], b_in[4];
    PYNN_UNROLL
    for (int i = 0; i < 4; i++) {
        a_line[i] = load_a.line(z, m0 + a_row[i]);
        a_in[i] = m0 + a_row[i] < M;
        b_line[i] = load_b.line(z, n0 + b_col[i]);
        b_in[i] = n0 + b_col[i] < N;
    }
    float ra[4], rb[4];
    auto fetch = [&](ptrdiff_t k0) {
        if (a_kfast) {
            const ptrdiff_t k = k0 + a_col[0];
            const auto t = load_a.tap(k < k_end ? k : k_begin);
            PYNN_UNROLL
            for (int i = 0; i < 4; i++)
                ra[i] = (a_in[i] && k < k_end) ? load_a.at(a_line[i], t) : 0.0f;
        } else {
            PYNN_UNROLL
            for (int i = 0; i < 4; i++) {
                const ptrdiff_t k = k0 + a_col[i];
                ra[i] = (a_in[0] && k < k_end) ? load_a.at(a_line[0], load_a.tap(k)) : 0.0f;
            }
        }
        if (!b_nfast) {
            const ptrdiff_t k = k0 + b_row[0];
            const auto t = load_b.tap(k < k_end ? k : k_begin);
            PYNN_UNROLL
            for (int i = 0; i < 4; i++)
                rb[i] = (b_in[i] && k < k_end) ? load_b.at(b_line[i], t) : 0.0f;
        } else {
            PYNN_UNROLL
            for (int i = 0; i < 4; i++) {
                const ptrdiff_t k = k0 + b_row[i];
                rb[i] = (b_in[0] && k < k_end) ? load_b.at(b_line[0], load_b.tap(k)) : 0.0f;
            }
        }
    };
    auto stash = [&]() {
        PYNN_UNROLL
        for (int i = 0; i < 4; i++) {
            As[a_col[i]][a_row[i]] = ra[i];
            Bs[b_row[i]][b_col[i]] = rb[i];
        }
    };

    float acc[8][8];
    PYNN_UNROLL
    for (int i = 0; i < 8; i++)
        PYNN_UNROLL
        for (int j = 0; j < 8; j++) acc[i][j] = 0.0f;

    if (k_begin < k_end) {
        fetch(k_begin);
        stash();
        __syncthreads();
        for (ptrdiff_t k0 = k_begin; k0 < k_end; k0 += kTileK) {
            const bool more = k0 + kTileK < k_end;
            if (more) fetch(k0 + kTileK);
            PYNN_UNROLL
            for (int kk = 0; kk < kTileK; kk++) {
                float a[8], b[8];
                PYNN_UNROLL
                for (int i = 0; i < 4; i++) {
                    a[i] = As[kk][ty * 4 + i];
                    a[4 + i] = As[kk][64 + ty * 4 + i];
                    b[i] = Bs[kk][tx * 4 + i];
                    b[4 + i] = Bs[kk][64 + tx * 4 + i];
                }
                PYNN_UNROLL
                for (int i = 0; i < 8; i++)
                    PYNN_UNROLL
                    for (int j = 0; j < 8; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
            }
            __syncthreads();
            if (more) {
                stash();
                __syncthreads();
            }
        }
    }

    PYNN_UNROLL
    for (int i = 0; i < 8; i++) {
        ptrdiff_t m = m0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + i - 4);
        if (m >= M) continue;
        PYNN_UNROLL
        for (int j = 0; j < 8; j++) {
            ptrdiff_t n = n0 + (j < 4 ? tx * 4 + j : 64 + tx * 4 + j - 4);
            if (n < N) epi.store(z, m, n, acc[i][j]);
        }
    }
}

/* Four consecutive floats from src, the first `valid` of them (zeros for
 * the rest): one float4 load where all four are there. */
__device__ __forceinline__ float4 load4(const float *src, ptrdiff_t valid)
{
    if (valid >= 4) return *reinterpret_cast<const float4 *>(src);
    return make_float4(valid > 0 ? src[0] : 0.0f, valid > 1 ? src[1] : 0.0f,
                       valid > 2 ? src[2] : 0.0f, 0.0f);
}

/* One operand's float4 of each 128 x 8 slice for this thread, read along
 * the operand's contiguous axis.  Where that axis is k (A as stored, B
 * transposed) the thread takes row tid / 2 (of 128) at k offset
 * tid % 2 * 4; else k row tid / 32 (of 8) at column tid % 32 * 4.  `src`
 * advances Stride k at a time (a kernel whose slices are deeper reads
 * each with several readers); `rows` and `cols` count what is left of the
 * matrix from the thread's row and column (k columns up to k_end). */
template <bool KFast, int Stride = kTileK>
struct SliceReader {
    const float *src;
    ptrdiff_t step;   /* floats from one slice to the next */
    ptrdiff_t rows;   /* KFast: rows left (the tile's M or N axis); else k rows left */
    ptrdiff_t cols;   /* KFast: k left; else columns left (M or N) */
    int r, c;         /* the thread's row and column within the slice's tile */

    __device__ SliceReader(const float *q, ptrdiff_t ld, ptrdiff_t tile0, ptrdiff_t extent,
                           ptrdiff_t k_begin, ptrdiff_t k_end, int tid)
    {
        r = KFast ? tid / 2 : tid / 32;
        c = KFast ? tid % 2 * 4 : tid % 32 * 4;
        if (KFast) {
            src = q + (tile0 + r) * ld + k_begin + c;
            step = Stride;
            rows = extent - (tile0 + r);
            cols = k_end - (k_begin + c);
        } else {
            src = q + (k_begin + r) * ld + tile0 + c;
            step = Stride * ld;
            rows = k_end - (k_begin + r);
            cols = extent - (tile0 + c);
        }
    }
    /* the next slice's float4 (zeros outside), then one slice on */
    __device__ float4 next()
    {
        float4 v = rows > 0 ? load4(src, cols) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        src += step;
        if (KFast) cols -= Stride;
        else rows -= Stride;
        return v;
    }
};

/* Stores a float4 read by a SliceReader into a [kTileK][tile + 4] shared
 * slice, k-major: a k-fast float4 is a column of four k there. */
template <bool KFast, int Width>
__device__ __forceinline__ void stash4(float (*slice)[Width], int r, int c, float4 v)
{
    if (KFast) {
        slice[c][r] = v.x;
        slice[c + 1][r] = v.y;
        slice[c + 2][r] = v.z;
        slice[c + 3][r] = v.w;
    } else {
        *reinterpret_cast<float4 *>(&slice[r][c]) = v;
    }
}

/* TransA / TransB as in MatA / MatB: A as stored is k-fast, B is k-fast
 * when transposed. */
template <bool TransA, bool TransB>
__global__ void __launch_bounds__(kTileThreads, 2)
vec_gemm_kernel(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, int splits, ptrdiff_t k_chunk, MatA A,
                MatB B, Epilogue epi)
{
    __shared__ __align__(16) float As[2][kTileK][kTileM + 4];
    __shared__ __align__(16) float Bs[2][kTileK][kTileN + 4];

    const int tid = threadIdx.x;
    const int ty = tid / 16, tx = tid % 16;
    const ptrdiff_t m0 = (ptrdiff_t)blockIdx.x * kTileM;
    const ptrdiff_t n0 = (ptrdiff_t)blockIdx.y * kTileN;
    const ptrdiff_t z = blockIdx.z / splits;
    const ptrdiff_t k_begin = (ptrdiff_t)(blockIdx.z % splits) * k_chunk;
    const ptrdiff_t k_end = k_begin + k_chunk < K ? k_begin + k_chunk : K;

    float acc[8][8];
    PYNN_UNROLL
    for (int i = 0; i < 8; i++)
        PYNN_UNROLL
        for (int j = 0; j < 8; j++) acc[i][j] = 0.0f;

    if (k_begin < k_end) {
        SliceReader<!TransA> ra(A.p + z * A.stride, A.ld, m0, M, k_begin, k_end, tid);
        SliceReader<TransB> rb(B.p + z * B.stride, B.ld, n0, N, k_begin, k_end, tid);
        float4 va = ra.next(), vb = rb.next();
        stash4<!TransA>(As[0], ra.r, ra.c, va);
        stash4<TransB>(Bs[0], rb.r, rb.c, vb);
        __syncthreads();
        int buf = 0;
        for (ptrdiff_t k0 = k_begin; k0 < k_end; k0 += kTileK) {
            const bool more = k0 + kTileK < k_end;
            if (more) {
                va = ra.next();
                vb = rb.next();
            }
            PYNN_UNROLL
            for (int kk = 0; kk < kTileK; kk++) {
                const float4 a0 = *reinterpret_cast<const float4 *>(&As[buf][kk][ty * 4]);
                const float4 a1 = *reinterpret_cast<const float4 *>(&As[buf][kk][64 + ty * 4]);
                const float4 b0 = *reinterpret_cast<const float4 *>(&Bs[buf][kk][tx * 4]);
                const float4 b1 = *reinterpret_cast<const float4 *>(&Bs[buf][kk][64 + tx * 4]);
                const float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
                const float b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
                PYNN_UNROLL
                for (int i = 0; i < 8; i++)
                    PYNN_UNROLL
                    for (int j = 0; j < 8; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
            }
            /* (the other buffer was last read before the previous barrier) */
            if (more) {
                stash4<!TransA>(As[buf ^ 1], ra.r, ra.c, va);
                stash4<TransB>(Bs[buf ^ 1], rb.r, rb.c, vb);
            }
            __syncthreads();
            buf ^= 1;
        }
    }

    PYNN_UNROLL
    for (int i = 0; i < 8; i++) {
        ptrdiff_t m = m0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + i - 4);
        if (m >= M) continue;
        PYNN_UNROLL
        for (int j = 0; j < 8; j++) {
            ptrdiff_t n = n0 + (j < 4 ? tx * 4 + j : 64 + tx * 4 + j - 4);
            if (n < N) epi.store(z, m, n, acc[i][j]);
        }
    }
}

/* Whether a plain operand can be read a float4 at a time: its base and
 * every matrix of a batch on a 16-byte boundary, and so every row. */
inline bool float4_rows(const float *p, ptrdiff_t ld, ptrdiff_t stride)
{
    return (uintptr_t)p % 16 == 0 && ld % 4 == 0 && stride % 4 == 0;
}

/* Launches the product over `batch` matrices.  splits > 1 needs a C that
 * is contiguous (ldc == N, stride == M * N) and an epilogue without beta,
 * bias or activation: C is zeroed here and the pieces added into it. */
template <class LoadA, class LoadB>
cudaError_t launch_tiled_gemm(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, ptrdiff_t batch,
                              int splits, LoadA load_a, LoadB load_b, Epilogue epi,
                              cudaStream_t stream)
{
    if (bad_size(M) || bad_size(N) || bad_size(K) || bad_size(batch) || splits < 1)
        return cudaErrorInvalidValue;
    if (M == 0 || N == 0 || batch == 0) return cudaSuccess;
    ptrdiff_t gx = (M + kTileM - 1) / kTileM, gy = (N + kTileN - 1) / kTileN;
    if (gx > 0x7FFFFFFF || gy > 65535 || batch * splits > 65535) return cudaErrorInvalidValue;
    ptrdiff_t k_chunk = K > 0 ? K : 1;
    if (splits > 1 && K > 0) {
        /* pieces of whole K slices */
        k_chunk = (K + splits - 1) / splits;
        k_chunk = (k_chunk + kTileK - 1) / kTileK * kTileK;
        splits = (int)((K + k_chunk - 1) / k_chunk);
    } else {
        splits = 1;
    }
    epi.atomic = splits > 1;
    if (epi.atomic)
        PYNN_CHECK(cudaMemsetAsync(epi.c, 0, (size_t)(batch * M * N) * sizeof(float), stream));
    /* (K == 0 runs too: the epilogue still applies beta, the bias and the
     * activation to the empty sum) */
    dim3 grid((unsigned)gx, (unsigned)gy, (unsigned)(batch * splits));
    void (*kernel)(ptrdiff_t, ptrdiff_t, ptrdiff_t, int, ptrdiff_t, LoadA, LoadB, Epilogue) =
        tiled_gemm_kernel<LoadA, LoadB>;
    if constexpr (std::is_same<LoadA, MatA>::value && std::is_same<LoadB, MatB>::value) {
        if (float4_rows(load_a.p, load_a.ld, load_a.stride) &&
            float4_rows(load_b.p, load_b.ld, load_b.stride))
            kernel = load_a.trans ? (load_b.trans ? vec_gemm_kernel<true, true>
                                                  : vec_gemm_kernel<true, false>)
                                  : (load_b.trans ? vec_gemm_kernel<false, true>
                                                  : vec_gemm_kernel<false, false>);
    }
    PYNN_LAUNCH(kernel, grid, kTileThreads, stream)(M, N, K, splits, k_chunk, load_a, load_b,
                                                    epi);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}

/* Splits of K for a product with few output tiles and a long K: enough
 * blocks for about two per multiprocessor of a large GPU, each piece at
 * least 64 long.  A lone block's K slices follow each other at the
 * latency of global memory (about a microsecond each on an H100): a
 * one-image convolution or dense layer is that chain, not its arithmetic. */
inline int split_k_for(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K)
{
    ptrdiff_t tiles = ((M + kTileM - 1) / kTileM) * ((N + kTileN - 1) / kTileN);
    ptrdiff_t want = 264 / (tiles > 0 ? tiles : 1);
    ptrdiff_t most = K / 64;
    ptrdiff_t s = want < most ? want : most;
    if (s > 64) s = 64;
    return s > 1 ? (int)s : 1;
}

}  // namespace pynn_cuda

#endif
