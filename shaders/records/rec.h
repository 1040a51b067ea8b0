/* shaders/records/rec.h - how a kernel's dispatch record is declared, once for C and GLSL.
 *
 * A record is a run of uint32 words in the meta buffer (binding 0), at meta[rec] (the push
 * constant). Each kernel's header under shaders/records/ lists its fields once, in word order,
 * with their word offsets:
 *
 *     #define IGR_FC_FIELDS(F, P) F(P, in_dim, 0) F(P, rows, 1) ...
 *     IGR_DECLARE(IGR_FC, IGR_FC_FIELDS, 16)
 *
 * and both languages read that list (GLSL through GL_GOOGLE_include_directive):
 *   GLSL: const uint IGR_FC_in_dim = 0u; ...  const uint IGR_FC_WORDS = 16u;
 *         the kernel reads meta[r + IGR_FC_in_dim]
 *   C:    enum { IGR_FC_in_dim = 0, ..., IGR_FC_WORDS = 16 }; the planner writes
 *         m[IGR_FC_in_dim] = ... into the IGR_FC_WORDS words of ig__vk_disp_new
 *         plus struct IGR_FC_layout, one uint32_t member per field in list order, and static
 *         asserts that every field sits at its stated word (offsetof) and that the fields fill
 *         exactly WORDS words (sizeof). A field moved, doubled, skipped or added without
 *         keeping the list dense and in order fails the C build (tests/vk/records_check.sh
 *         shows it for every field).
 * Words a kernel does not read are listed as spareN fields, so every record's size is stated.
 * Records with a per-image tail (lerp's t, layer_gemm's noise seeds) keep it after WORDS.
 */
#ifndef IG_RECORDS_REC_H
#define IG_RECORDS_REC_H

#if defined(__STDC__) || defined(__cplusplus) /* C (glslang defines neither) */
#include <stddef.h>
#include <stdint.h>

#define IGR__ENUM(P, name, off) P##_##name = (off),
#define IGR__MEMBER(P, name, off) uint32_t name;
#define IGR__AT(P, name, off)                                                               \
    _Static_assert(offsetof(struct P##_layout, name) == 4u * (off),                         \
                   #P "_" #name ": not at word " #off " (record fields must be listed in "  \
                   "word order, one word each, none skipped or shared)");
#define IGR_DECLARE(P, LIST, WORDS)                                                         \
    enum { LIST(IGR__ENUM, P) P##_WORDS = (WORDS) };                                        \
    struct P##_layout { LIST(IGR__MEMBER, P) };                                             \
    LIST(IGR__AT, P)                                                                        \
    _Static_assert(sizeof(struct P##_layout) == 4u * (WORDS),                               \
                   #P ": its fields do not fill exactly " #WORDS " words");

#else /* GLSL */

#define IGR_GLSL_CONST(P, name, off) const uint P##_##name = uint(off);
#define IGR_DECLARE(P, LIST, WORDS) LIST(IGR_GLSL_CONST, P) const uint P##_WORDS = uint(WORDS);

#endif
#endif
