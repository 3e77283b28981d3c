/*
 * gemm_tile.cuh - the tiled float32 matrix product that the dense layers and
 * the convolutions share.
 *
 * C (M x N) = alpha * A (M x K) * B (K x N), where A and B are not arrays
 * but loaders: functors returning element (i, j) of the operand.  A plain
 * matrix, a transposed one, and the implicit unrolled image of a
 * convolution (conv.cu) are all loaders, so the convolution is this same
 * kernel reading its A operand straight from the image.
 *
 * Each block computes a 128 x 128 tile of C with 256 threads, each thread
 * an 8 x 8 block of registers (rows ty*4 + {0..3} and 64 + ty*4 + {0..3},
 * likewise for columns, so the threads of a warp read consecutive shared
 * memory).  K advances 8 at a time through shared memory; the next slice
 * is loaded into registers while the current one is multiplied.
 *
 * blockIdx.z enumerates batch x splits: with splits > 1 the K range is cut
 * into that many pieces and each block adds its partial product into C
 * (zeroed first) atomically, so a product with few output tiles and a long
 * K (a convolution's kernel gradient) still fills the GPU.
 */
#ifndef PYNN_GEMM_TILE_CUH
#define PYNN_GEMM_TILE_CUH

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
     * coalesce. */
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
    float ra[4], rb[4];
    auto fetch = [&](ptrdiff_t k0) {
        PYNN_UNROLL
        for (int i = 0; i < 4; i++) {
            ptrdiff_t m = m0 + a_row[i], k = k0 + a_col[i];
            ra[i] = (m < M && k < k_end) ? load_a(z, m, k) : 0.0f;
            ptrdiff_t kb = k0 + b_row[i], n = n0 + b_col[i];
            rb[i] = (kb < k_end && n < N) ? load_b(z, kb, n) : 0.0f;
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
    PYNN_LAUNCH(kernel, grid, kTileThreads, stream)(M, N, K, splits, k_chunk, load_a, load_b,
                                                    epi);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}

/* Splits of K for a product with few output tiles and a long K: enough
 * blocks for about two per multiprocessor of a large GPU, each piece at
 * least 512 long. */
inline int split_k_for(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K)
{
    ptrdiff_t tiles = ((M + kTileM - 1) / kTileM) * ((N + kTileN - 1) / kTileN);
    ptrdiff_t want = 264 / (tiles > 0 ? tiles : 1);
    ptrdiff_t most = K / 512;
    ptrdiff_t s = want < most ? want : most;
    if (s > 64) s = 64;
    return s > 1 ? (int)s : 1;
}

}  // namespace pynn_cuda

#endif
