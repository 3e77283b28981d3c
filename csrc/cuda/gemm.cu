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
/* The TF32 tensor-core product: 128 x 128 tiles, K 16 at a time, eight
 * warps of 64 x 32 (4 x 2 fragments of 16 x 16 x 8).  Each warp stages
 * its fragments through shared memory for the bounds-checked epilogue. */
constexpr int kTcK = 16, kTcPadA = 4, kTcPadB = 4;

__global__ void __launch_bounds__(256)
tf32_gemm_kernel(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, MatA load_a, MatB load_b, Epilogue epi)
{
#if __CUDA_ARCH__ >= 800
    using namespace nvcuda;
    __shared__ __align__(32) float As[kTileM][kTcK + kTcPadA];
    __shared__ __align__(32) float Bs[kTcK][kTileN + kTcPadB];
    __shared__ __align__(32) float stage[8][16 * 16];

    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int wm = warp / 4, wn = warp % 4; /* 2 x 4 warps: 64 rows x 32 columns each */
    const ptrdiff_t m0 = (ptrdiff_t)blockIdx.x * kTileM, n0 = (ptrdiff_t)blockIdx.y * kTileN;
    const ptrdiff_t z = blockIdx.z;

    wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[4][2];
    PYNN_UNROLL
    for (int i = 0; i < 4; i++)
        PYNN_UNROLL
        for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.0f);

    for (ptrdiff_t k0 = 0; k0 < K; k0 += kTcK) {
        /* 2048 elements of each operand, 8 per thread */
        PYNN_UNROLL
        for (int i = 0; i < 8; i++) {
            int e = tid + i * 256;
            int r = load_a.k_contiguous() ? e / kTcK : e % kTileM;
            int c = load_a.k_contiguous() ? e % kTcK : e / kTileM;
            ptrdiff_t m = m0 + r, k = k0 + c;
            float v = (m < M && k < K) ? load_a(z, m, k) : 0.0f;
            As[r][c] = wmma::__float_to_tf32(v);
            int kr = load_b.n_contiguous() ? e / kTileN : e % kTcK;
            int nc = load_b.n_contiguous() ? e % kTileN : e / kTcK;
            ptrdiff_t kb = k0 + kr, n = n0 + nc;
            float w = (kb < K && n < N) ? load_b(z, kb, n) : 0.0f;
            Bs[kr][nc] = wmma::__float_to_tf32(w);
        }
        __syncthreads();
        PYNN_UNROLL
        for (int kk = 0; kk < kTcK; kk += 8) {
            wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> a[4];
            wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> b[2];
            PYNN_UNROLL
            for (int i = 0; i < 4; i++)
                wmma::load_matrix_sync(a[i], &As[wm * 64 + i * 16][kk], kTcK + kTcPadA);
            PYNN_UNROLL
            for (int j = 0; j < 2; j++)
                wmma::load_matrix_sync(b[j], &Bs[kk][wn * 32 + j * 16], kTileN + kTcPadB);
            PYNN_UNROLL
            for (int i = 0; i < 4; i++)
                PYNN_UNROLL
                for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
    PYNN_UNROLL
    for (int i = 0; i < 4; i++)
        PYNN_UNROLL
        for (int j = 0; j < 2; j++) {
            wmma::store_matrix_sync(stage[warp], acc[i][j], 16, wmma::mem_row_major);
            __syncwarp();
            for (int e = lane; e < 256; e += 32) {
                ptrdiff_t m = m0 + wm * 64 + i * 16 + e / 16;
                ptrdiff_t n = n0 + wn * 32 + j * 16 + e % 16;
                if (m < M && n < N) epi.store(z, m, n, stage[warp][e]);
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
    if (allow_tf32 && k > 0 && device_has_tf32()) {
        if (m == 0 || n == 0 || count == 0) return cudaSuccess;
        ptrdiff_t gx = (m + kTileM - 1) / kTileM, gy = (n + kTileN - 1) / kTileN;
        if (gx > 0x7FFFFFFF || gy > 65535) return cudaErrorInvalidValue;
        /* at most 65535 products per launch (the grid's z limit) */
        for (ptrdiff_t z0 = 0; z0 < count; z0 += 65535) {
            ptrdiff_t part = count - z0 < 65535 ? count - z0 : 65535;
            MatA pa{a + z0 * stride_a, lda, stride_a, trans_a};
            MatB pb{b + z0 * stride_b, ldb, stride_b, trans_b};
            Epilogue pe = epi;
            pe.c = epi.c + z0 * epi.stride;
            dim3 grid((unsigned)gx, (unsigned)gy, (unsigned)part);
            PYNN_LAUNCH(tf32_gemm_kernel, grid, 256, stream)(m, n, k, pa, pb, pe);
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
