#version 450
// peak.comp - arithmetic-throughput probes for ig_vk_peak (src/vk/vk_peak.c), in the spirit of
// vkpeak: every invocation runs many independent FMA chains on registers, with no memory
// traffic inside the loop, so the figure is the device's issue rate for that instruction kind.
//
// IG_PEAK_FP32 : 8 independent vec4 chains x 16 rounds of fma() per loop iteration
//                = 512 FMAs = 1024 FLOP per invocation per iteration
// IG_PEAK_FP16 : the same with f16vec4 (needs shaderFloat16), 1024 FLOP per iteration
// IG_PEAK_COOP : GL_NV_cooperative_matrix 16x16x16, f16 x f16 + f32 -> f32; every subgroup
//                keeps 2 A and 4 B fragments (loaded once from shared memory) and 8 independent
//                fp32 accumulators, 2 rounds of 8 coopMatMulAddNV per iteration
//                = 16 x 8192 = 131072 FLOP per subgroup per iteration
// IG_PEAK_COOP_KHR : the same through GL_KHR_cooperative_matrix (the cross-vendor extension;
//                needs a compiler that has it: an IG_SHADER_REQ(..., KHR_COOPMAT) variant)
//
// The loop is rolled (pc.loops iterations; llvmpipe stops any loop after 65535 iterations per
// invocation and JIT time grows with unrolling, so the caller keeps pc.loops small there).
// The chains run x = x * m + a with |m| < 1: they converge to a / (1 - m) and never overflow
// or become denormal. The result is stored only when it equals pc.never (it never does, but
// the compiler cannot know), so nothing is written and nothing can be optimised away.
#if defined(IG_PEAK_FP16) || defined(IG_PEAK_COOP) || defined(IG_PEAK_COOP_KHR)
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#endif
#ifdef IG_PEAK_COOP
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#endif
#ifdef IG_PEAK_COOP_KHR
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#endif
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) writeonly buffer Out { float outv[]; };
layout(push_constant) uniform PC {
    uint loops;  // loop iterations
    float m;     // chain multiplier, 0 < m < 1
    float a;     // chain addend
    float never; // a value the result cannot take
} pc;

#if defined(IG_PEAK_FP32) || defined(IG_PEAK_FP16)

#ifdef IG_PEAK_FP16
#define VEC f16vec4
#define SCALAR float16_t
#else
#define VEC vec4
#define SCALAR float
#endif

#define ROUND                                                                                      \
    x0 = fma(x0, m, a); x1 = fma(x1, m, a); x2 = fma(x2, m, a); x3 = fma(x3, m, a);                  \
    x4 = fma(x4, m, a); x5 = fma(x5, m, a); x6 = fma(x6, m, a); x7 = fma(x7, m, a);
#define ROUND4 ROUND ROUND ROUND ROUND

void main() {
    VEC m = VEC(SCALAR(pc.m)), a = VEC(SCALAR(pc.a));
    float s = float(gl_GlobalInvocationID.x & 255u) * (1.0 / 256.0);
    VEC x0 = VEC(SCALAR(s)), x1 = VEC(SCALAR(s + 0.125)), x2 = VEC(SCALAR(s + 0.25));
    VEC x3 = VEC(SCALAR(s + 0.375)), x4 = VEC(SCALAR(s + 0.5)), x5 = VEC(SCALAR(s + 0.625));
    VEC x6 = VEC(SCALAR(s + 0.75)), x7 = VEC(SCALAR(s + 0.875));
    for (uint i = 0u; i < pc.loops; i++) {
        ROUND4 ROUND4 ROUND4 ROUND4
    }
    VEC y = ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7));
    float r = float(y.x) + float(y.y) + float(y.z) + float(y.w);
    if (r == pc.never) outv[gl_GlobalInvocationID.x & 1023u] = r;
}

#elif defined(IG_PEAK_COOP) || defined(IG_PEAK_COOP_KHR)

#ifdef IG_PEAK_COOP_KHR
#define AM coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA>
#define BM coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseB>
#define F32M coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>
#define LOAD_A(m, off) coopMatLoad(m, frag, off, 16u, gl_CooperativeMatrixLayoutRowMajor)
#define LOAD_B(m, off) coopMatLoad(m, frag, off, 16u, gl_CooperativeMatrixLayoutColumnMajor)
#define MMA coopMatMulAdd
#else
#define AM fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define BM AM
#define F32M fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>
#define LOAD_A(m, off) coopMatLoadNV(m, frag, off, 16u, false)
#define LOAD_B(m, off) coopMatLoadNV(m, frag, off, 16u, true)
#define MMA coopMatMulAddNV
#endif

// 6 fragments of 16x16 fp16 (2 A, 4 B), shared by the workgroup's subgroups
shared float16_t frag[6 * 256];

void main() {
    uint n = gl_WorkGroupSize.x;
    for (uint i = gl_LocalInvocationID.x; i < 6u * 256u; i += n)
        frag[i] = float16_t(pc.a * float(1u + (i % 7u)));
    barrier();
    AM a0, a1;
    BM b0, b1, b2, b3;
    LOAD_A(a0, 0u);
    LOAD_A(a1, 256u);
    LOAD_B(b0, 512u);
    LOAD_B(b1, 768u);
    LOAD_B(b2, 1024u);
    LOAD_B(b3, 1280u);
    F32M c0 = F32M(0.0), c1 = F32M(0.0), c2 = F32M(0.0), c3 = F32M(0.0);
    F32M c4 = F32M(0.0), c5 = F32M(0.0), c6 = F32M(0.0), c7 = F32M(0.0);
    for (uint i = 0u; i < pc.loops; i++) {
        c0 = MMA(a0, b0, c0); c1 = MMA(a0, b1, c1);
        c2 = MMA(a0, b2, c2); c3 = MMA(a0, b3, c3);
        c4 = MMA(a1, b0, c4); c5 = MMA(a1, b1, c5);
        c6 = MMA(a1, b2, c6); c7 = MMA(a1, b3, c7);
        c0 = MMA(a0, b0, c0); c1 = MMA(a0, b1, c1);
        c2 = MMA(a0, b2, c2); c3 = MMA(a0, b3, c3);
        c4 = MMA(a1, b0, c4); c5 = MMA(a1, b1, c5);
        c6 = MMA(a1, b2, c6); c7 = MMA(a1, b3, c7);
    }
    F32M y = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7));
    float r = 0.0;
    for (int k = 0; k < y.length(); k++) r += y[k];
    if (r == pc.never) outv[gl_GlobalInvocationID.x & 1023u] = r;
}

#else
#error "define IG_PEAK_FP32, IG_PEAK_FP16, IG_PEAK_COOP or IG_PEAK_COOP_KHR"
#endif
