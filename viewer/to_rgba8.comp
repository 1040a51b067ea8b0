#version 450
// to_rgba8.comp - the viewer's zero-copy presentation (viewer/gpu.c, vw_gpu_convert): the Vulkan
// backend's float output (ig_vk_render_device, read through its strides) -> one 4-byte pixel per
// pixel in the swapchain's byte order (R8G8B8A8 or B8G8R8A8, alpha 255), with exactly the CPU's
// conversion ig_quantize8 (src/image.c): v = x * 127.5 + 128 rounded after the product and after
// the sum (`precise`: no fused multiply-add, as the C code compiled with -std=c11), clamped to
// [0, 255], truncated; NaN -> 0.
layout(local_size_x = 16, local_size_y = 16) in;

layout(std430, set = 0, binding = 0) readonly buffer Src { float v[]; } src;
layout(std430, set = 0, binding = 1) writeonly buffer Dst { uint p[]; } dst;

layout(push_constant) uniform Pc {
    uint base;            // first float of image 0, channel 0, pixel 0 (from the binding's start)
    uint channel_stride;  // floats
    uint pixel_stride;    // floats
    uint width, height;
    uint bgr;             // 1: B8G8R8A8 byte order
} pc;

uint q8(float x) {
    precise float v = x * 127.5 + 128.0;
    if (isnan(v)) return 0u;
    return uint(clamp(v, 0.0, 255.0));
}

void main() {
    uvec2 g = gl_GlobalInvocationID.xy;
    if (g.x >= pc.width || g.y >= pc.height) return;
    uint q = g.y * pc.width + g.x;
    uint at = pc.base + q * pc.pixel_stride;
    uint r = q8(src.v[at]), gr = q8(src.v[at + pc.channel_stride]), b = q8(src.v[at + 2u * pc.channel_stride]);
    dst.p[q] = (pc.bgr != 0u ? (b | (gr << 8) | (r << 16)) : (r | (gr << 8) | (b << 16))) | 0xff000000u;
}
