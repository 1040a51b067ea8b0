/* cpu_simd.h - the CPU backend's vector type and multiversioning: code marked IG_MULTIVERSION
 * is compiled for x86-64-v3 (AVX2 + FMA) and for the baseline, and the loader picks the one
 * the CPU runs, so one binary is fast on new CPUs and still runs everywhere. */
#ifndef IG_CPU_SIMD_H
#define IG_CPU_SIMD_H

typedef float ig_v8 __attribute__((vector_size(32)));

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define IG_MULTIVERSION __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define IG_MULTIVERSION
#endif

#endif
