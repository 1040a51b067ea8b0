#version 450
// lerp.comp - interpolation of per-image vectors (src/vk/vk_inrgan.c; ig_render_desc z_b, t,
// space): a[n][i] = a (t = 0), b (t = 1), else (1 - t) a + t b, t per image, in place in a.
// Record: IGR_LERP (shaders/records/lerp.h), then t of each image (float bits)
#extension GL_GOOGLE_include_directive : require
#include "records/lerp.h"
#define REC(f) meta[r + IGR_LERP_##f] // a field of this dispatch's record
#ifdef IG_F16
#extension GL_EXT_shader_16bit_storage : require
#define ST float16_t
#else
#define ST float
#endif
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer Meta { uint meta[]; };
layout(std430, binding = 1) buffer A { ST av[]; };
layout(std430, binding = 2) readonly buffer B { ST bv[]; };
layout(push_constant) uniform PC { uint rec; } pc;

void main() {
    uint r = pc.rec;
    uint i = gl_GlobalInvocationID.x, n = gl_GlobalInvocationID.y, n_img = REC(n_img);
    if (i >= REC(len) || n >= n_img) return;
    float t = uintBitsToFloat(meta[r + IGR_LERP_WORDS + n]);
    uint qa = REC(a_base) + n * REC(stride) + i, qb = REC(b_base) + n * REC(stride) + i;
    if (t == 1.0) av[qa] = bv[qb];
    else if (t != 0.0) av[qa] = ST((1.0 - t) * float(av[qa]) + t * float(bv[qb]));
}
