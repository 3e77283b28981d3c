/*
 * gemm.cu - SGEMM (plain, batched, and the dense layer's fused forward).
 *
 * float32 products run the tiled kernel of gemm_tile.cuh.  When the caller
 * allows TF32 (as torch.backends.cuda.matmul.allow_tf32 does) and the GPU
 * has tensor cores for it (sm_80 and later), plain products run a WMMA
 * kernel instead: inputs rounded to TF32, float32 accumulation.
 */
#include "gemm_tile.cuh"

#if defined(__CUDACC__)
#include <mma.h>
#endif

using namespace pynn_cuda;

namespace {

#if defined(__CUDACC__)
/* The TF32 tensor-core product of two plain matrices whose rows start on
 * 16-byte boundaries: 128 x 128 tiles, K 16 at a time through two shared
 * buffers (one barrier a slice), each thread moving four float4s a slice
 * (two 8-deep SliceReaders per operand), rounded to TF32 as they are
 * stored; eight warps of 64 x 32 (4 x 2 fragments of 16 x 16 x 8),
 * float32 accumulation.  Each warp stages its fragments through the
 * shared A buffers for the bounds-checked epilogue. */
constexpr int kTcK = 16, kTcA = kTcK + 4, kTcB = kTileN + 4;

template <bool KFast, int Width>
__device__ __forceinline__ void stash_tf32(float *tile, int row, int col, float4 v)
{
    using nvcuda::wmma::__float_to_tf32;
    v = make_float4(__float_to_tf32(v.x), __float_to_tf32(v.y), __float_to_tf32(v.z),
                    __float_to_tf32(v.w));
    if (KFast) {
        *reinterpret_cast<float4 *>(tile + row * Width + col) = v;
    } else {
        tile[col * Width + row] = v.x;
        tile[(col + 1) * Width + row] = v.y;
        tile[(col + 2) * Width + row] = v.z;
        tile[(col + 3) * Width + row] = v.w;
    }
}

template <bool TransA, bool TransB>
__global__ void __launch_bounds__(256)
tf32_gemm_kernel(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, MatA A, MatB B, Epilogue epi)
{
#if __CUDA_ARCH__ >= 800
    using namespace nvcuda;
    /* A: [2][128][kTcA], m-major (k contiguous); B: [2][kTcK][kTcB], k-major */
    __shared__ __align__(32) float As[2 * kTileM * kTcA];
    __shared__ __align__(32) float Bs[2 * kTcK * kTcB];

    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int wm = warp / 4, wn = warp % 4; /* 2 x 4 warps: 64 rows x 32 columns each */
    const ptrdiff_t m0 = (ptrdiff_t)blockIdx.x * kTileM, n0 = (ptrdiff_t)blockIdx.y * kTileN;
    const ptrdiff_t z = blockIdx.z;
    const float *qa = A.p + z * A.stride, *qb = B.p + z * B.stride;

    /* two readers per operand: k 0-7 and 8-15 of each 16-deep slice */
    SliceReader<!TransA, kTcK> ra0(qa, A.ld, m0, M, 0, K, tid), ra1(qa, A.ld, m0, M, 8, K, tid);
    SliceReader<TransB, kTcK> rb0(qb, B.ld, n0, N, 0, K, tid), rb1(qb, B.ld, n0, N, 8, K, tid);
    /* where each reader's float4 goes: A's in its m-major buffer, B's in
     * its k-major one (the readers' r and c are (m, k) or (k, m) as the
     * operand's contiguous axis says) */
    auto stash = [&](int buf, float4 a0, float4 a1, float4 b0, float4 b1) {
        float *as = As + buf * kTileM * kTcA, *bs = Bs + buf * kTcK * kTcB;
        /* A k-fast: float4 = (m = r, k = c..c+3) -> row r, columns k */
        if (!TransA) {
            stash_tf32<true, kTcA>(as, ra0.r, ra0.c, a0);
            stash_tf32<true, kTcA>(as, ra1.r, 8 + ra1.c, a1);
        } else { /* float4 = (k = r, m = c..c+3) -> rows m, column k */
            stash_tf32<false, kTcA>(as, ra0.r, ra0.c, a0);
            stash_tf32<false, kTcA>(as, 8 + ra1.r, ra1.c, a1);
        }
        if (!TransB) { /* float4 = (k = r, n = c..c+3) -> row k, columns n */
            stash_tf32<true, kTcB>(bs, rb0.r, rb0.c, b0);
            stash_tf32<true, kTcB>(bs, 8 + rb1.r, rb1.c, b1);
        } else { /* float4 = (n = r, k = c..c+3) -> rows k, column n */
            stash_tf32<false, kTcB>(bs, rb0.r, rb0.c, b0);
            stash_tf32<false, kTcB>(bs, rb1.r, 8 + rb1.c, b1);
        }
    };

    wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[4][2];
    PYNN_UNROLL
    for (int i = 0; i < 4; i++)
        PYNN_UNROLL
        for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.0f);

    if (K > 0) {
        float4 a0 = ra0.next(), a1 = ra1.next(), b0 = rb0.next(), b1 = rb1.next();
        stash(0, a0, a1, b0, b1);
        __syncthreads();
        int buf = 0;
        for (ptrdiff_t k0 = 0; k0 < K; k0 += kTcK) {
            const bool more = k0 + kTcK < K;
            if (more) {
                a0 = ra0.next();
                a1 = ra1.next();
                b0 = rb0.next();
                b1 = rb1.next();
            }
            const float *as = As + buf * kTileM * kTcA, *bs = Bs + buf * kTcK * kTcB;
            PYNN_UNROLL
            for (int kk = 0; kk < kTcK; kk += 8) {
                wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major>
                    fa[4];
                wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major>
                    fb[2];
                PYNN_UNROLL
                for (int i = 0; i < 4; i++)
                    wmma::load_matrix_sync(fa[i], as + (wm * 64 + i * 16) * kTcA + kk, kTcA);
                PYNN_UNROLL
                for (int j = 0; j < 2; j++)
                    wmma::load_matrix_sync(fb[j], bs + kk * kTcB + wn * 32 + j * 16, kTcB);
                PYNN_UNROLL
                for (int i = 0; i < 4; i++)
                    PYNN_UNROLL
                    for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
            }
            /* (the other buffers were last read before the previous barrier) */
            if (more) stash(buf ^ 1, a0, a1, b0, b1);
            __syncthreads();
            buf ^= 1;
        }
    }
    /* every warp is past the last barrier: A's buffers hold the staging */
    float *stage = As + warp * 256;
    PYNN_UNROLL
    for (int i = 0; i < 4; i++)
        PYNN_UNROLL
        for (int j = 0; j < 2; j++) {
            wmma::store_matrix_sync(stage, acc[i][j], 16, wmma::mem_row_major);
            __syncwarp();
            for (int e = lane; e < 256; e += 32) {
                ptrdiff_t m = m0 + wm * 64 + i * 16 + e / 16;
                ptrdiff_t n = n0 + wn * 32 + j * 16 + e % 16;
                if (m < M && n < N) epi.store(z, m, n, stage[e]);
            }
            __syncwarp();
        }
#endif
}

/* Whether the current device has TF32 tensor cores (compute capability
 * 8.0 or later), asked once per device. */
bool device_has_tf32()
{
    static int known[64];  /* 0 unknown, 1 no, 2 yes */
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) return false;
    if (!known[dev]) {
        int major = 0;
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
        known[dev] = major >= 8 ? 2 : 1;
    }
    return known[dev] == 2;
}
#endif

cudaError_t gemm(ptrdiff_t count, int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n,
                 ptrdiff_t k, float alpha, const float *a, ptrdiff_t lda, ptrdiff_t stride_a,
                 const float *b, ptrdiff_t ldb, ptrdiff_t stride_b, Epilogue epi,
                 int allow_tf32, cudaStream_t stream)
{
    if (bad_size(count) || bad_size(m) || bad_size(n) || bad_size(k)) return cudaErrorInvalidValue;
    epi.alpha = alpha;
#if defined(__CUDACC__)
    /* TF32 where it is allowed, the GPU has it, and both operands can be
     * read a float4 at a time (else the float32 kernels) */
    if (allow_tf32 && k > 0 && device_has_tf32() && float4_rows(a, lda, stride_a) &&
        float4_rows(b, ldb, stride_b)) {
        if (m == 0 || n == 0 || count == 0) return cudaSuccess;
        ptrdiff_t gx = (m + kTileM - 1) / kTileM, gy = (n + kTileN - 1) / kTileN;
        if (gx > 0x7FFFFFFF || gy > 65535) return cudaErrorInvalidValue;
        void (*kernel)(ptrdiff_t, ptrdiff_t, ptrdiff_t, MatA, MatB, Epilogue) =
            trans_a ? (trans_b ? tf32_gemm_kernel<true, true> : tf32_gemm_kernel<true, false>)
                    : (trans_b ? tf32_gemm_kernel<false, true> : tf32_gemm_kernel<false, false>);
        /* at most 65535 products per launch (the grid's z limit) */
        for (ptrdiff_t z0 = 0; z0 < count; z0 += 65535) {
            ptrdiff_t part = count - z0 < 65535 ? count - z0 : 65535;
            MatA pa{a + z0 * stride_a, lda, stride_a, trans_a};
            MatB pb{b + z0 * stride_b, ldb, stride_b, trans_b};
            Epilogue pe = epi;
            pe.c = epi.c + z0 * epi.stride;
            dim3 grid((unsigned)gx, (unsigned)gy, (unsigned)part);
            PYNN_LAUNCH(kernel, grid, 256, stream)(m, n, k, pa, pb, pe);
            PYNN_CHECK_LAUNCH();
        }
        return cudaSuccess;
    }
#else
    (void)allow_tf32;
#endif
    /* Split K only for a single product whose few output tiles leave the
     * GPU idle, and whose output is written, not accumulated; the bias and
     * the activation (a dense layer's at batch 1) then follow the sum. */
    int splits = 1;
    if (count == 1 && epi.beta == 0.0f && epi.ldc == n) splits = split_k_for(m, n, k);
    if (splits > 1 && (epi.bias || epi.act != PYNN_ACT_LINEAR)) {
        Epilogue plain{epi.c, n, 0, alpha, 0.0f, nullptr, PYNN_ACT_LINEAR, 0.0f, 0};
        PYNN_CHECK(launch_tiled_gemm(m, n, k, 1, splits, MatA{a, lda, 0, trans_a},
                                     MatB{b, ldb, 0, trans_b}, plain, stream));
        return (cudaError_t)pynn_cuda_bias_activation_forward(epi.act, epi.act_alpha, epi.c,
                                                              epi.bias, epi.c, m, n, stream);
    }
    for (ptrdiff_t z0 = 0; z0 < count; z0 += 65535) {
        ptrdiff_t part = count - z0 < 65535 ? count - z0 : 65535;
        MatA pa{a + z0 * stride_a, lda, stride_a, trans_a};
        MatB pb{b + z0 * stride_b, ldb, stride_b, trans_b};
        Epilogue pe = epi;
        pe.c = epi.c + z0 * epi.stride;
        PYNN_CHECK(launch_tiled_gemm(m, n, k, part, splits, pa, pb, pe, stream));
    }
    return cudaSuccess;
}

}  // namespace

extern "C" int pynn_cuda_sgemm(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                               float alpha, const float *a, ptrdiff_t lda, const float *b,
                               ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc,
                               int allow_tf32, cudaStream_t stream)
{
    Epilogue epi{c, ldc, 0, alpha, beta, nullptr, PYNN_ACT_LINEAR, 0.0f, 0};
    return gemm(1, trans_a, trans_b, m, n, k, alpha, a, lda, 0, b, ldb, 0, epi, allow_tf32,
                stream);
}

extern "C" int pynn_cuda_sgemm_batched(ptrdiff_t count, int trans_a, int trans_b, ptrdiff_t m,
                                       ptrdiff_t n, ptrdiff_t k, float alpha, const float *a,
                                       ptrdiff_t lda, ptrdiff_t stride_a, const float *b,
                                       ptrdiff_t ldb, ptrdiff_t stride_b, float beta, float *c,
                                       ptrdiff_t ldc, ptrdiff_t stride_c, int allow_tf32,
                                       cudaStream_t stream)
{
    Epilogue epi{c, ldc, stride_c, alpha, beta, nullptr, PYNN_ACT_LINEAR, 0.0f, 0};
    return gemm(count, trans_a, trans_b, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b, epi,
                allow_tf32, stream);
}

extern "C" int pynn_cuda_dense_forward(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *x,
                                       const float *w, const float *bias, int act,
                                       float alpha_act, float *y, int allow_tf32,
                                       cudaStream_t stream)
{
    int softmax = act == PYNN_ACT_SOFTMAX;
    Epilogue epi{y, n, 0, 1.0f, 0.0f, softmax ? nullptr : bias,
                 softmax ? PYNN_ACT_LINEAR : act, alpha_act, 0};
    PYNN_CHECK(gemm(1, 0, 0, m, n, k, 1.0f, x, k, 0, w, n, 0, epi, allow_tf32, stream));
    if (softmax)
        return pynn_cuda_bias_activation_forward(act, alpha_act, y, bias, y, m, n, stream);
    return cudaSuccess;
}
