# cmake/install.cmake - `cmake --install`: the static library libinrgan.a, the public headers
# (include/inrgan/), the CLI `inrgan`, the viewer `inrgan-viewer` (when built), the demo model
# (share/inrgan/demo.safetensors), a pkg-config file (inrgan.pc) and a CMake package
# (find_package(inrgan) -> inrgan::inrgan). The SPIR-V of the Vulkan backend is compiled into
# the library (src/vk/vk.cmake), so no shader files are installed. Also: where the programs look
# for the demo model (src/paths.c). Included at the end of the top-level CMakeLists.txt, after
# every target exists. Checked by tests/test_install.py.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

option(INRGAN_SOURCE_TREE_MODEL
  "Let the programs fall back to the source tree's assets/demo.safetensors when no installed demo model is found (OFF for packages)" ON)

# ---- the default model (src/paths.c) ---------------------------------------------------------
file(RELATIVE_PATH _ig_data_from_bin ${CMAKE_INSTALL_FULL_BINDIR} ${CMAKE_INSTALL_FULL_DATADIR}/inrgan)
set(_ig_paths_defs
  "IG_DATA_FROM_BINDIR=\"${_ig_data_from_bin}\""
  "IG_DATA_DIR=\"${CMAKE_INSTALL_FULL_DATADIR}/inrgan\"")
if(INRGAN_SOURCE_TREE_MODEL)
  list(APPEND _ig_paths_defs
    "IG_SOURCE_ASSETS=\"${CMAKE_SOURCE_DIR}/assets\""
    "IG_BUILD_DIR=\"${CMAKE_BINARY_DIR}\"")
endif()
set_source_files_properties(${CMAKE_SOURCE_DIR}/src/paths.c PROPERTIES COMPILE_DEFINITIONS "${_ig_paths_defs}")

# ---- the library and its headers -------------------------------------------------------------
set_target_properties(inrgan_lib PROPERTIES EXPORT_NAME inrgan)
add_library(inrgan::inrgan ALIAS inrgan_lib) # the same name for add_subdirectory users
install(TARGETS inrgan_lib EXPORT inrgan-targets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
set(_ig_header_exclude "")
if(NOT TARGET inrgan_shaders) # built without the Vulkan backend: no ig_vk.h
  set(_ig_header_exclude PATTERN ig_vk.h EXCLUDE)
endif()
install(DIRECTORY ${CMAKE_SOURCE_DIR}/include/inrgan DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h" ${_ig_header_exclude})

# ---- programs and data -----------------------------------------------------------------------
install(TARGETS inrgan RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET inrgan-viewer)
  install(TARGETS inrgan-viewer RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
install(FILES ${CMAKE_SOURCE_DIR}/assets/demo.safetensors DESTINATION ${CMAKE_INSTALL_DATADIR}/inrgan)

# ---- pkg-config --------------------------------------------------------------------------------
# Relocatable: prefix is found from the .pc file's own place (${pcfiledir}).
file(RELATIVE_PATH IG_PC_PREFIX_FROM_PCDIR ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" IG_PC_PREFIX_FROM_PCDIR "${IG_PC_PREFIX_FROM_PCDIR}")
file(RELATIVE_PATH IG_PC_LIBDIR ${CMAKE_INSTALL_PREFIX} ${CMAKE_INSTALL_FULL_LIBDIR})
file(RELATIVE_PATH IG_PC_INCLUDEDIR ${CMAKE_INSTALL_PREFIX} ${CMAKE_INSTALL_FULL_INCLUDEDIR})
file(RELATIVE_PATH IG_PC_DATADIR ${CMAKE_INSTALL_PREFIX} ${CMAKE_INSTALL_FULL_DATADIR})
set(IG_PC_CFLAGS "")
set(IG_HAVE_VULKAN OFF)
if(TARGET inrgan_shaders)
  set(IG_PC_CFLAGS " -DINRGAN_HAVE_VULKAN=1")
  set(IG_HAVE_VULKAN ON)
endif()
set(IG_PC_LIBS_DL "")
if(CMAKE_DL_LIBS)
  set(IG_PC_LIBS_DL " -l${CMAKE_DL_LIBS}")
endif()
configure_file(${CMAKE_SOURCE_DIR}/cmake/inrgan.pc.in ${CMAKE_BINARY_DIR}/inrgan.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/inrgan.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# ---- CMake package -------------------------------------------------------------------------------
set(IG_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/inrgan)
set(IG_DEMO_MODEL ${CMAKE_INSTALL_DATADIR}/inrgan/demo.safetensors)
install(EXPORT inrgan-targets NAMESPACE inrgan:: DESTINATION ${IG_CMAKE_DIR})
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/inrgan-config.cmake.in
  ${CMAKE_BINARY_DIR}/inrgan-config.cmake INSTALL_DESTINATION ${IG_CMAKE_DIR} PATH_VARS IG_DEMO_MODEL)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/inrgan-config-version.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/inrgan-config.cmake ${CMAKE_BINARY_DIR}/inrgan-config-version.cmake
  DESTINATION ${IG_CMAKE_DIR})
