#version 450
// Configure-time probe (src/vk/vk.cmake): can the compiler build GL_NV_cooperative_matrix?
// fp16 x fp16 + fp32 -> fp32, 16x16x16, subgroup scope; target vulkan1.2. Never run.
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_NV_cooperative_matrix : require
layout(local_size_x = 32) in;
layout(std430, binding = 0) readonly buffer A { float16_t a[]; };
layout(std430, binding = 1) buffer C { float c[]; };
void main() {
    fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> ma, mb;
    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> mc;
    coopMatLoadNV(ma, a, 0u, 16u, false);
    coopMatLoadNV(mb, a, 256u, 16u, true);
    coopMatLoadNV(mc, c, 0u, 16u, false);
    mc = coopMatMulAddNV(ma, mb, mc);
    coopMatStoreNV(mc, c, 0u, 16u, false);
}
