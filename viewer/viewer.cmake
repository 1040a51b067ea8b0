# viewer/viewer.cmake - inrgan-viewer: GLFW window, Vulkan swapchain (volk), rendering (CPU
# backend or Vulkan, src/cli/backend.c) through libinrgan in a worker thread (docs/viewer.md).
# Included at the end of the top-level CMakeLists.txt; skipped (with a note) when GLFW or volk
# is missing.

find_package(glfw3 3.3 QUIET)
if(NOT glfw3_FOUND OR NOT EXISTS /usr/include/volk.c OR NOT EXISTS /usr/include/stb/stb_easy_font.h)
  message(STATUS "inrgan-viewer: not built (needs libglfw3-dev, libvulkan-volk-dev, libstb-dev)")
  return()
endif()

add_executable(inrgan-viewer
  ${CMAKE_SOURCE_DIR}/viewer/main.c
  ${CMAKE_SOURCE_DIR}/viewer/gpu.c
  ${CMAKE_SOURCE_DIR}/viewer/worker.c
  ${CMAKE_SOURCE_DIR}/viewer/hud.c
  ${CMAKE_SOURCE_DIR}/viewer/script.c
  ${CMAKE_SOURCE_DIR}/src/cli/backend.c)

# volk: one copy per program. When the Vulkan backend is built, libinrgan already holds it.
get_target_property(_ig_viewer_lib_sources inrgan_lib SOURCES)
if(NOT "/usr/include/volk.c" IN_LIST _ig_viewer_lib_sources)
  target_sources(inrgan-viewer PRIVATE /usr/include/volk.c)
  # volk.c warns under -Wpedantic (dlsym cast); keep it quiet whatever the project adds.
  set_source_files_properties(/usr/include/volk.c PROPERTIES COMPILE_OPTIONS "-w")
endif()

# the zero-copy presentation's compute shader (viewer/to_rgba8.comp), embedded as SPIR-V like
# the backend's (src/vk/vk.cmake): vw_spv_to_rgba8[] in ${CMAKE_BINARY_DIR}/viewer_spv/
find_program(IG_VW_GLSLANG glslangValidator REQUIRED)
find_program(IG_VW_SPIRV_VAL spirv-val REQUIRED)
set(_vw_spv_dir ${CMAKE_BINARY_DIR}/viewer_spv)
file(MAKE_DIRECTORY ${_vw_spv_dir})
add_custom_command(
  OUTPUT ${_vw_spv_dir}/spv_to_rgba8.h
  COMMAND ${IG_VW_GLSLANG} -V --target-env vulkan1.2 -o ${_vw_spv_dir}/to_rgba8.spv ${CMAKE_SOURCE_DIR}/viewer/to_rgba8.comp
  COMMAND ${IG_VW_SPIRV_VAL} --target-env vulkan1.2 ${_vw_spv_dir}/to_rgba8.spv
  COMMAND ${IG_VW_GLSLANG} -V --target-env vulkan1.2 --vn vw_spv_to_rgba8 -o ${_vw_spv_dir}/spv_to_rgba8.h ${CMAKE_SOURCE_DIR}/viewer/to_rgba8.comp
  DEPENDS ${CMAKE_SOURCE_DIR}/viewer/to_rgba8.comp
  COMMENT "SPIR-V viewer to_rgba8 + spirv-val"
  VERBATIM)
target_sources(inrgan-viewer PRIVATE ${_vw_spv_dir}/spv_to_rgba8.h)

target_include_directories(inrgan-viewer PRIVATE ${CMAKE_SOURCE_DIR}/viewer ${CMAKE_SOURCE_DIR}/src/cli /usr/include/stb ${_vw_spv_dir})
target_compile_definitions(inrgan-viewer PRIVATE VK_NO_PROTOTYPES _POSIX_C_SOURCE=200809L)
# libvulkan is not linked: volk dlopens libvulkan.so.1 (as does GLFW for its surface calls)
target_link_libraries(inrgan-viewer PRIVATE inrgan_lib glfw ${CMAKE_DL_LIBS} Threads::Threads m)
