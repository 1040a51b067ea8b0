# src/vk/vk.cmake - the Vulkan backend: volk, the src/vk sources and the embedded shaders.
# Included by the top-level CMakeLists.txt after the inrgan_lib target exists.
#
# Every shader variant (src/vk/vk_shaders.def) is compiled with glslangValidator
# (--target-env vulkan1.2, SPIR-V 1.5; vulkan1.3 for NV_COOPMAT2 variants), validated with
# spirv-val, and turned into a header holding `const uint32_t ig_spv_<name>[]`;
# ig_vk_shaders.h includes them all. A variant that fails to compile or validate fails the
# build. The shaders include their record layouts from shaders/records/ (rebuilt when one
# changes).
#
# The compiler (docs/building.md): IG_GLSLANG / IG_SPIRV_VAL, by default the private toolchain
# scripts/toolchain.sh builds (Debian 13's glslang 15 and spirv-tools 2025) when it is there,
# else the system's. At configure time each cooperative extension is probed by compiling a tiny
# shader (cmake/probes/*.comp) and validating it; a variant that requires an extension the
# compiler cannot build (IG_SHADER_REQ lines) is compiled out: it keeps its IG_SH_ id with empty
# SPIR-V, and one configure line names it.

if(NOT EXISTS /usr/include/volk.c)
  message(FATAL_ERROR "volk not found: install libvulkan-volk-dev (scripts/setup.sh)")
endif()

# --- the compiler: explicit paths, never a HINTS guess (an empty $ENV{X}/bin becomes /bin) ---
set(IG_TOOLCHAIN_DIR "")
if(NOT "$ENV{XDG_CACHE_HOME}" STREQUAL "" AND IS_ABSOLUTE "$ENV{XDG_CACHE_HOME}")
  set(IG_TOOLCHAIN_DIR "$ENV{XDG_CACHE_HOME}/inrgan/toolchain")
elseif(NOT "$ENV{HOME}" STREQUAL "")
  set(IG_TOOLCHAIN_DIR "$ENV{HOME}/.cache/inrgan/toolchain")
endif()
# IG_GLSLANG / IG_SPIRV_VAL: what the user gave (-D...) is kept; what was chosen automatically
# is chosen again at each configure (so a toolchain built later is picked up).
foreach(tool GLSLANG SPIRV_VAL)
  if(tool STREQUAL "GLSLANG")
    set(prog glslangValidator)
  else()
    set(prog spirv-val)
  endif()
  set(auto "")
  if(IG_TOOLCHAIN_DIR AND EXISTS "${IG_TOOLCHAIN_DIR}/stamp" AND EXISTS "${IG_TOOLCHAIN_DIR}/bin/${prog}")
    set(auto "${IG_TOOLCHAIN_DIR}/bin/${prog}")
  else()
    find_program(IG__SYSTEM_${tool} ${prog} PATHS /usr/bin /usr/local/bin)
    if(IG__SYSTEM_${tool})
      set(auto "${IG__SYSTEM_${tool}}")
    endif()
  endif()
  if(NOT IG_${tool} OR IG_${tool} STREQUAL "${IG__AUTO_${tool}}")
    set(IG_${tool} "${auto}" CACHE FILEPATH "${prog} used for the shaders (default: the private toolchain of scripts/toolchain.sh, else the system's)" FORCE)
    set(IG__AUTO_${tool} "${auto}" CACHE INTERNAL "")
  endif()
  if(NOT IG_${tool} OR NOT EXISTS "${IG_${tool}}")
    message(FATAL_ERROR "${prog} not found (IG_${tool}='${IG_${tool}}'): install glslang-tools and spirv-tools (scripts/setup.sh), or pass -DIG_${tool}=PATH")
  endif()
endforeach()
execute_process(COMMAND ${IG_GLSLANG} --version OUTPUT_VARIABLE ig_glslang_out ERROR_QUIET RESULT_VARIABLE ig_rc)
if(NOT ig_rc EQUAL 0 OR NOT ig_glslang_out MATCHES "Glslang Version: [0-9]+:([0-9.]+)")
  message(FATAL_ERROR "${IG_GLSLANG} --version did not say which glslang it is: not a glslangValidator?")
endif()
set(IG_GLSLANG_VERSION "glslang ${CMAKE_MATCH_1}")
message(STATUS "inrgan: shader compiler ${IG_GLSLANG} (${IG_GLSLANG_VERSION}), validator ${IG_SPIRV_VAL}")

# --- probes: which cooperative extensions the compiler (and validator) can build ------------
# requirement name | probe (cmake/probes/<probe>.comp) | target env | extension
set(IG_SHADER_REQS
  "KHR_COOPMAT|khr_coopmat|vulkan1.2|GL_KHR_cooperative_matrix"
  "NV_COOPMAT|nv_coopmat|vulkan1.2|GL_NV_cooperative_matrix"
  "NV_COOPMAT2|nv_coopmat2|vulkan1.3|GL_NV_cooperative_matrix2"
  "NV_COOPVEC|nv_coopvec|vulkan1.2|GL_NV_cooperative_vector")
set(IG_PROBE_DIR ${CMAKE_BINARY_DIR}/probes)
file(MAKE_DIRECTORY ${IG_PROBE_DIR})
set(IG_SHADER_REQS_BUILT "")
foreach(req ${IG_SHADER_REQS})
  string(REPLACE "|" ";" parts "${req}")
  list(GET parts 0 rname)
  list(GET parts 1 probe)
  list(GET parts 2 renv)
  list(GET parts 3 rext)
  set(IG_REQ_ENV_${rname} ${renv})
  set(IG_REQ_EXT_${rname} ${rext})
  set(psrc ${CMAKE_SOURCE_DIR}/cmake/probes/${probe}.comp)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${psrc})
  execute_process(COMMAND ${IG_GLSLANG} -V --target-env ${renv} -o ${IG_PROBE_DIR}/${probe}.spv ${psrc}
    RESULT_VARIABLE rc1 OUTPUT_VARIABLE out1 ERROR_VARIABLE out1)
  set(rc2 1)
  if(rc1 EQUAL 0)
    execute_process(COMMAND ${IG_SPIRV_VAL} --target-env ${renv} ${IG_PROBE_DIR}/${probe}.spv
      RESULT_VARIABLE rc2 OUTPUT_VARIABLE out2 ERROR_VARIABLE out2)
  endif()
  if(rc1 EQUAL 0 AND rc2 EQUAL 0)
    list(APPEND IG_SHADER_REQS_BUILT ${rname})
    message(STATUS "inrgan: ${rext}: yes (${IG_GLSLANG_VERSION})")
  elseif(NOT rc1 EQUAL 0)
    message(STATUS "inrgan: ${rext}: no: ${IG_GLSLANG} (${IG_GLSLANG_VERSION}) cannot build it; variants that need it are compiled out")
  else()
    message(STATUS "inrgan: ${rext}: no: ${IG_SPIRV_VAL} rejects it; variants that need it are compiled out")
  endif()
endforeach()

set(IG_SHADER_DIR ${CMAKE_SOURCE_DIR}/shaders)
set(IG_SPV_DIR ${CMAKE_BINARY_DIR}/spv)
file(MAKE_DIRECTORY ${IG_SPV_DIR})

# The variant list, src/vk/vk_shaders.def (also read by vk_internal.h and vk_pipe.c): lines
#   IG_SHADER(ID, name, "source.comp", "defines")
#   IG_SHADER_REQ(ID, name, "source.comp", "defines", REQ)   REQ: KHR_COOPMAT, NV_COOPMAT,
#                                                            NV_COOPMAT2 or NV_COOPVEC
# a line that starts with IG_SHADER but does not parse fails the configuration.
set(IG_SHADER_LIST ${CMAKE_SOURCE_DIR}/src/vk/vk_shaders.def)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${IG_SHADER_LIST})
file(STRINGS ${IG_SHADER_LIST} IG_SHADER_LINES REGEX "^IG_SHADER")
set(IG_SHADER_VARIANTS "")
foreach(line ${IG_SHADER_LINES})
  if(line MATCHES "^IG_SHADER\\([A-Z0-9_]+, ([a-z0-9_]+), \"([a-z0-9_]+\\.comp)\", \"([^\"]*)\"\\)$")
    set(req "")
  elseif(line MATCHES "^IG_SHADER_REQ\\([A-Z0-9_]+, ([a-z0-9_]+), \"([a-z0-9_]+\\.comp)\", \"([^\"]*)\", ([A-Z0-9_]+)\\)$")
    set(req ${CMAKE_MATCH_4})
    if(NOT DEFINED IG_REQ_ENV_${req})
      message(FATAL_ERROR "src/vk/vk_shaders.def: unknown requirement ${req} in '${line}' (KHR_COOPMAT, NV_COOPMAT, NV_COOPMAT2 or NV_COOPVEC)")
    endif()
  else()
    message(FATAL_ERROR "src/vk/vk_shaders.def: cannot read '${line}'")
  endif()
  list(APPEND IG_SHADER_VARIANTS "${CMAKE_MATCH_1}|${CMAKE_MATCH_2}|${req}|${CMAKE_MATCH_3}")
endforeach()

# the record layouts every shader may include (shaders/records/rec.h)
file(GLOB IG_RECORD_HEADERS ${IG_SHADER_DIR}/records/*.h)

# ig_vk_shaders.h: per variant the SPIR-V array ig_spv_<name> and IG_SPV_BYTES_<name> (0 for a
# compiled-out variant, whose array is one unused word), included by vk_pipe.c only.
set(IG_SPV_HEADERS "")
set(IG_SHADERS_BUILT "")
set(IG_SHADERS_OUT "")
set(IG_SHADERS_H_CONTENT "/* generated by src/vk/vk.cmake - do not edit */\n#ifndef IG_VK_SHADERS_H\n#define IG_VK_SHADERS_H\n#include <stdint.h>\n")
string(APPEND IG_SHADERS_H_CONTENT "#define IG_SPV_COMPILER \"${IG_GLSLANG_VERSION}\"\n")
foreach(variant ${IG_SHADER_VARIANTS})
  string(REPLACE "|" ";" parts "${variant}")
  list(GET parts 0 name)
  list(GET parts 1 src)
  list(GET parts 2 req)
  list(LENGTH parts nparts)
  set(defs "")
  set(defstr "")
  if(nparts GREATER 3)
    list(GET parts 3 defstr)
    if(defstr)
      separate_arguments(defs UNIX_COMMAND "${defstr}")
    endif()
  endif()
  set(env vulkan1.2)
  if(req)
    set(env ${IG_REQ_ENV_${req}})
    if(NOT req IN_LIST IG_SHADER_REQS_BUILT)
      message(STATUS "inrgan: shader variant ${name} (${src} ${defstr}) compiled out: needs ${IG_REQ_EXT_${req}}")
      list(APPEND IG_SHADERS_OUT ${name})
      string(APPEND IG_SHADERS_H_CONTENT "static const uint32_t ig_spv_${name}[1] = {0}; /* compiled out: needs ${IG_REQ_EXT_${req}} */\n#define IG_SPV_BYTES_${name} 0\n")
      continue()
    endif()
    list(APPEND IG_SHADERS_BUILT ${name})
  endif()
  set(spv ${IG_SPV_DIR}/${name}.spv)
  set(hdr ${IG_SPV_DIR}/spv_${name}.h)
  add_custom_command(
    OUTPUT ${hdr}
    COMMAND ${IG_GLSLANG} -V --target-env ${env} ${defs} -o ${spv} ${IG_SHADER_DIR}/${src}
    COMMAND ${IG_SPIRV_VAL} --target-env ${env} ${spv}
    COMMAND ${IG_GLSLANG} -V --target-env ${env} ${defs} --vn ig_spv_${name} -o ${hdr} ${IG_SHADER_DIR}/${src}
    DEPENDS ${IG_SHADER_DIR}/${src} ${IG_RECORD_HEADERS} ${IG_GLSLANG} ${IG_SPIRV_VAL}
    COMMENT "SPIR-V ${name} (${src} ${defstr}, ${env}) + spirv-val"
    VERBATIM)
  list(APPEND IG_SPV_HEADERS ${hdr})
  string(APPEND IG_SHADERS_H_CONTENT "#include \"spv_${name}.h\"\n#define IG_SPV_BYTES_${name} sizeof ig_spv_${name}\n")
endforeach()
string(APPEND IG_SHADERS_H_CONTENT "#endif\n")
file(CONFIGURE OUTPUT ${IG_SPV_DIR}/ig_vk_shaders.h CONTENT "${IG_SHADERS_H_CONTENT}" @ONLY)
add_custom_target(inrgan_shaders DEPENDS ${IG_SPV_HEADERS})
# IG_SHADERS_BUILT / IG_SHADERS_OUT: the gated variants built and compiled out (read by
# tests/vk_tests.cmake, included later in this scope)

target_sources(inrgan_lib PRIVATE
  /usr/include/volk.c
  ${CMAKE_SOURCE_DIR}/src/vk/vk_util.c
  ${CMAKE_SOURCE_DIR}/src/vk/vk_ctx.c
  ${CMAKE_SOURCE_DIR}/src/vk/vk_mem.c
  ${CMAKE_SOURCE_DIR}/src/vk/vk_pipe.c
  ${CMAKE_SOURCE_DIR}/src/vk/vk_disp.c
  ${CMAKE_SOURCE_DIR}/src/vk/vk_backend.c
  ${CMAKE_SOURCE_DIR}/src/vk/vk_choice.c
  ${CMAKE_SOURCE_DIR}/src/vk/vk_inrgan.c
  ${CMAKE_SOURCE_DIR}/src/vk/vk_inrgan_gemm.c
  ${CMAKE_SOURCE_DIR}/src/vk/vk_inrgan_tile.c
  ${CMAKE_SOURCE_DIR}/src/vk/vk_cips.c
  ${CMAKE_SOURCE_DIR}/src/vk/vk_peak.c
  ${CMAKE_SOURCE_DIR}/src/vk/vk_facts.c
)
# volk.c warns under -Wpedantic (dlsym cast); keep it quiet whatever the project adds.
set_source_files_properties(/usr/include/volk.c PROPERTIES COMPILE_OPTIONS "-w")
add_dependencies(inrgan_lib inrgan_shaders)
target_include_directories(inrgan_lib PRIVATE ${IG_SPV_DIR} ${CMAKE_SOURCE_DIR}/src/vk
  ${CMAKE_SOURCE_DIR}/shaders) # shaders/records/*.h: the record layouts C and GLSL share
target_compile_definitions(inrgan_lib PUBLIC $<BUILD_INTERFACE:VK_NO_PROTOTYPES> INRGAN_HAVE_VULKAN=1)
target_link_libraries(inrgan_lib PUBLIC ${CMAKE_DL_LIBS} Threads::Threads)
