"""SHA-256 row leaves and tree levels of GCX-TP commitments as CUDA kernels (source only).

Theory of operation (the byte layouts are docs/gcx-tp-commitments.md's): :data:`SHA256_SOURCE`
is CUDA C that :class:`gcx.tp.backends.cupy_backend.CupyBackend` compiles with NVRTC
(``cupy.RawModule``). It has two kernels:

* ``row_leaves(rows, n_rows, row_size, tensor_id, dtype, cols, tag, out)``: thread ``r`` (grid-
  stride) hashes ``tag(16) ‖ tensor_id u32be ‖ r u32be ‖ dtype u8 ‖ cols u32be`` (the 29-byte
  prefix) followed by row ``r`` (bytes ``r·row_size … (r+1)·row_size`` of ``rows``) and writes
  the 32-byte digest to ``out + 32·r``.
* ``tree_level(level, n, tag, pad, out)``: thread ``i`` writes ``H(tag ‖ level[2i] ‖
  level[2i+1])`` to ``out + 32·i`` for ``i < ceil(n/2)``; a missing right child (odd ``n``) is
  the 32-byte ``pad``.

**One thread per row**, because SHA-256 is a serial chain of 64-byte compressions (Merkle–
Damgård): nothing inside one row's hash can run in parallel, so a warp per row would leave 31
lanes idle for the same critical path (it could only share the loads). The parallelism is across
rows. A row whose size is a multiple of 4 (every int32 row, int8 rows with ``cols % 4 == 0``) in
a 4-aligned buffer takes the fast path for its interior blocks: the 29-byte prefix puts message
word ``t`` of block ``b`` at row byte ``64b + 4t − 29 ≡ 3 (mod 4)``, so each message word is one
``__byte_perm`` of two aligned 32-bit loads (17 loads per block, little-endian device). The first
block, the last one or two (0x80, zeros, bit length) and unaligned rows assemble bytes one by one.

The source has no ``#include`` (NVRTC has no host headers) and only C constructs behind a few
macros, so the same text compiles as plain C with ``gcc`` when the test harness defines
``__global__``, ``__device__``, ``__forceinline__``, ``__constant__``, ``threadIdx`` / ``blockIdx``
/ ``blockDim`` / ``gridDim`` and ``__byte_perm`` first (tests/gcx/tp/test_tp_sha256_kernel.py).
"""

from __future__ import annotations

from typing import Final

__all__ = ["KERNEL_NAMES", "SHA256_SOURCE"]

KERNEL_NAMES: Final = ("row_leaves", "tree_level")

SHA256_SOURCE: Final = r"""
#ifdef __cplusplus
#define GCX_EXTERN_C extern "C"
#else
#define GCX_EXTERN_C
#endif

typedef unsigned int gcx_u32;
typedef unsigned long long gcx_u64;

__constant__ gcx_u32 GCX_SHA256_K[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u,
    0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu,
    0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu,
    0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau, 0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u,
    0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu,
    0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu,
    0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u, 0x19a4c116u,
    0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u,
    0xc67178f2u};

__device__ __forceinline__ gcx_u32 gcx_rotr(gcx_u32 x, gcx_u32 n) {
    return (x >> n) | (x << (32u - n));
}

__device__ __forceinline__ void gcx_sha256_init(gcx_u32* s) {
    s[0] = 0x6a09e667u; s[1] = 0xbb67ae85u; s[2] = 0x3c6ef372u; s[3] = 0xa54ff53au;
    s[4] = 0x510e527fu; s[5] = 0x9b05688cu; s[6] = 0x1f83d9abu; s[7] = 0x5be0cd19u;
}

/* One compression of the 16 big-endian words w (overwritten: rolling message schedule). */
__device__ __forceinline__ void gcx_sha256_compress(gcx_u32* s, gcx_u32* w) {
    gcx_u32 a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
#pragma unroll
    for (int t = 0; t < 64; ++t) {
        if (t >= 16) {
            gcx_u32 w15 = w[(t - 15) & 15], w2 = w[(t - 2) & 15];
            gcx_u32 s0 = gcx_rotr(w15, 7) ^ gcx_rotr(w15, 18) ^ (w15 >> 3);
            gcx_u32 s1 = gcx_rotr(w2, 17) ^ gcx_rotr(w2, 19) ^ (w2 >> 10);
            w[t & 15] += s0 + w[(t - 7) & 15] + s1;
        }
        gcx_u32 t1 = h + (gcx_rotr(e, 6) ^ gcx_rotr(e, 11) ^ gcx_rotr(e, 25)) + ((e & f) ^ (~e & g))
                     + GCX_SHA256_K[t] + w[t & 15];
        gcx_u32 t2 = (gcx_rotr(a, 2) ^ gcx_rotr(a, 13) ^ gcx_rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    s[0] += a; s[1] += b; s[2] += c; s[3] += d; s[4] += e; s[5] += f; s[6] += g; s[7] += h;
}

__device__ __forceinline__ gcx_u32 gcx_be32(const unsigned char* p) {
    return ((gcx_u32)p[0] << 24) | ((gcx_u32)p[1] << 16) | ((gcx_u32)p[2] << 8) | (gcx_u32)p[3];
}

__device__ __forceinline__ void gcx_store_digest(const gcx_u32* s, unsigned char* out) {
    for (int k = 0; k < 8; ++k) {
        out[4 * k] = (unsigned char)(s[k] >> 24);
        out[4 * k + 1] = (unsigned char)(s[k] >> 16);
        out[4 * k + 2] = (unsigned char)(s[k] >> 8);
        out[4 * k + 3] = (unsigned char)s[k];
    }
}

/* Byte p of a padded leaf message: prefix (29 bytes, as 8 big-endian words, the last one's
   low 3 bytes unused), then the row (msg_len - 29 bytes), 0x80, zeros, and the 64-bit bit
   length in the last 8 of total bytes. */
__device__ __forceinline__ gcx_u32 gcx_leaf_byte(gcx_u64 p, const gcx_u32* pre, const unsigned char* row,
                                                 gcx_u64 msg_len, gcx_u64 total) {
    if (p < 29u) return (pre[p >> 2] >> (24u - 8u * (gcx_u32)(p & 3u))) & 0xffu;
    if (p < msg_len) return row[p - 29u];
    if (p == msg_len) return 0x80u;
    if (p >= total - 8u) return (gcx_u32)(((msg_len * 8u) >> (8u * (total - 1u - p))) & 0xffu);
    return 0u;
}

GCX_EXTERN_C __global__ void row_leaves(const unsigned char* rows, gcx_u64 n_rows, gcx_u32 row_size,
                                        gcx_u32 tensor_id, gcx_u32 dtype, gcx_u32 cols,
                                        const unsigned char* tag, unsigned char* out) {
    const gcx_u64 msg_len = 29u + (gcx_u64)row_size;
    const gcx_u64 blocks = (msg_len + 9u + 63u) / 64u;
    const gcx_u64 total = 64u * blocks;
    const int aligned = (row_size % 4u == 0u) && (((gcx_u64)rows) % 4u == 0u);
    for (gcx_u64 r = blockIdx.x * (gcx_u64)blockDim.x + threadIdx.x; r < n_rows;
         r += (gcx_u64)gridDim.x * blockDim.x) {
        const unsigned char* row = rows + r * (gcx_u64)row_size;
        gcx_u32 pre[8];
        pre[0] = gcx_be32(tag); pre[1] = gcx_be32(tag + 4); pre[2] = gcx_be32(tag + 8);
        pre[3] = gcx_be32(tag + 12); pre[4] = tensor_id; pre[5] = (gcx_u32)r;
        pre[6] = (dtype << 24) | (cols >> 8); pre[7] = cols << 24;
        gcx_u32 s[8], w[16];
        gcx_sha256_init(s);
        for (gcx_u64 b = 0; b < blocks; ++b) {
            const gcx_u64 base = 64u * b;
            if (b >= 1u && base + 64u <= msg_len) {
                if (aligned) {
                    /* row bytes base-29 .. base+34: aligned words 16b-8 .. 16b+8 */
                    const gcx_u32* r32 = (const gcx_u32*)row + (16u * b - 8u);
                    gcx_u32 lo = r32[0];
#pragma unroll
                    for (int t = 0; t < 16; ++t) {
                        gcx_u32 hi = r32[t + 1];
                        w[t] = __byte_perm(lo, hi, 0x3456u);
                        lo = hi;
                    }
                } else {
                    const unsigned char* q = row + (base - 29u);
#pragma unroll
                    for (int t = 0; t < 16; ++t) w[t] = gcx_be32(q + 4 * t);
                }
            } else {
                for (int t = 0; t < 16; ++t) {
                    gcx_u64 p = base + 4u * (gcx_u64)t;
                    w[t] = (gcx_leaf_byte(p, pre, row, msg_len, total) << 24)
                           | (gcx_leaf_byte(p + 1u, pre, row, msg_len, total) << 16)
                           | (gcx_leaf_byte(p + 2u, pre, row, msg_len, total) << 8)
                           | gcx_leaf_byte(p + 3u, pre, row, msg_len, total);
                }
            }
            gcx_sha256_compress(s, w);
        }
        gcx_store_digest(s, out + 32u * r);
    }
}

GCX_EXTERN_C __global__ void tree_level(const unsigned char* level, gcx_u64 n, const unsigned char* tag,
                                        const unsigned char* pad, unsigned char* out) {
    const gcx_u64 parents = (n + 1u) / 2u;
    for (gcx_u64 i = blockIdx.x * (gcx_u64)blockDim.x + threadIdx.x; i < parents;
         i += (gcx_u64)gridDim.x * blockDim.x) {
        const unsigned char* left = level + 64u * i;
        const unsigned char* right = (2u * i + 1u < n) ? left + 32 : pad;
        gcx_u32 s[8], w[16];
        gcx_sha256_init(s);
        /* 80 bytes: tag (16) ‖ left (32) ‖ right (32), then 0x80, zeros, bit length 640 */
        for (int t = 0; t < 4; ++t) w[t] = gcx_be32(tag + 4 * t);
        for (int t = 0; t < 8; ++t) w[4 + t] = gcx_be32(left + 4 * t);
        for (int t = 0; t < 4; ++t) w[12 + t] = gcx_be32(right + 4 * t);
        gcx_sha256_compress(s, w);
        for (int t = 0; t < 4; ++t) w[t] = gcx_be32(right + 16 + 4 * t);
        w[4] = 0x80000000u;
        for (int t = 5; t < 15; ++t) w[t] = 0u;
        w[15] = 640u;
        gcx_sha256_compress(s, w);
        gcx_store_digest(s, out + 32u * i);
    }
}
"""
