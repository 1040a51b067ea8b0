/* noise.h - seeded per-pixel noise of the models that inject it (CIPS).
 *
 * n(seed, layer, row, col) is a pure function of integers, so every tile, stride and backend
 * draws the same value for the same pixel of the same image. The GLSL twin is in
 * shaders/layer_gemm.comp; both must change together (tests/test_core.c pins known values).
 *
 *   mix(x)  = the MurmurHash3 32-bit finaliser (x ^= x>>16; x *= 0x85ebca6b; x ^= x>>13;
 *             x *= 0xc2b2ae35; x ^= x>>16)
 *   h       = mix(mix(mix(mix(seed) + layer) + row) + col)
 *   r_k     = mix(h + k * 0x9e3779b9), k = 0..5; twelve 16-bit halves u_0..u_11
 *   n       = (sum(u_i + 1/2) - 6 * 65536) / 65536
 *
 * i.e. the sum of twelve uniforms on (0, 1) minus 6 (Irwin-Hall): mean 0, variance 1, range
 * (-6, 6). Every step is integer arithmetic and one exact int -> float conversion, so C and GLSL
 * agree bit for bit. `layer` counts the noise-injecting layers from 0 (conv1, linears.0, ...);
 * row and col index the whole image at the render size (the plan's full grid). */
#ifndef IG_NOISE_H
#define IG_NOISE_H

#include <stdint.h>

static inline uint32_t ig_noise_mix(uint32_t x) {
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    x ^= x >> 16;
    return x;
}

static inline float ig_noise_value(uint32_t seed, uint32_t layer, uint32_t row, uint32_t col) {
    uint32_t h = ig_noise_mix(ig_noise_mix(ig_noise_mix(ig_noise_mix(seed) + layer) + row) + col);
    int32_t sum = 0;
    for (uint32_t k = 0; k < 6; k++) {
        uint32_t r = ig_noise_mix(h + k * 0x9e3779b9u);
        sum += (int32_t)(r & 0xffffu) + (int32_t)(r >> 16);
    }
    return (float)(sum + 6 - 6 * 65536) * (1.0f / 65536.0f);
}

#endif
