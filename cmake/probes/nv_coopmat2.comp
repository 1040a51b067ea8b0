#version 450
// Configure-time probe (src/vk/vk.cmake): can the compiler build GL_NV_cooperative_matrix2?
// A 16x16 fp16 tile loaded through a tensor layout, fp16 x fp16 + fp32 -> fp32 at workgroup
// scope; target vulkan1.3 (SPIR-V 1.6). Never run.
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_cooperative_matrix : require
#extension GL_NV_cooperative_matrix2 : require
layout(local_size_x = 128) in;
layout(std430, binding = 0) readonly buffer A { float16_t a[]; };
layout(std430, binding = 1) buffer C { float c[]; };
void main() {
    tensorLayoutNV<2> t = createTensorLayoutNV(2);
    t = setTensorLayoutDimensionNV(t, 64, 64);
    coopmat<float16_t, gl_ScopeWorkgroup, 16, 16, gl_MatrixUseA> ma;
    coopmat<float16_t, gl_ScopeWorkgroup, 16, 16, gl_MatrixUseB> mb;
    coopmat<float, gl_ScopeWorkgroup, 16, 16, gl_MatrixUseAccumulator> mc =
        coopmat<float, gl_ScopeWorkgroup, 16, 16, gl_MatrixUseAccumulator>(0.0);
    coopMatLoadTensorNV(ma, a, 0u, sliceTensorLayoutNV(t, 0, 16, 0, 16));
    coopMatLoadTensorNV(mb, a, 0u, sliceTensorLayoutNV(t, 16, 16, 0, 16));
    mc = coopMatMulAdd(ma, mb, mc);
    coopMatStoreTensorNV(mc, c, 0u, sliceTensorLayoutNV(t, 0, 16, 0, 16));
}
