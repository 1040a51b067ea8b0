#version 450
// Configure-time probe (src/vk/vk.cmake): can the compiler build GL_NV_cooperative_vector?
// A 16-wide fp16 vector times a 16x16 fp16 row-major matrix; target vulkan1.2. Never run.
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_NV_cooperative_vector : require
layout(local_size_x = 32) in;
layout(std430, binding = 0) readonly buffer M { float16_t w[]; };
layout(std430, binding = 1) buffer V { float16_t v[]; };
void main() {
    coopvecNV<float16_t, 16> x, y;
    coopVecLoadNV(x, v, 16u * gl_GlobalInvocationID.x);
    coopVecMatMulNV(y, x, gl_ComponentTypeFloat16NV, w, 0u, gl_ComponentTypeFloat16NV, 16u, 16u,
                    gl_CooperativeVectorMatrixLayoutRowMajorNV, false, 32u);
    coopVecStoreNV(y, v, 16u * gl_GlobalInvocationID.x);
}
