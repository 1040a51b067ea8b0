# libFuzzer targets (docs/fuzzing.md). Included when INRGAN_FUZZ=ON, which needs clang:
#   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
#         -DINRGAN_FUZZ=ON -DINRGAN_VULKAN=OFF
# scripts/fuzz.sh does exactly that. The library is built with -fsanitize=fuzzer-no-link plus
# ASan and UBSan (set in CMakeLists.txt for the whole fuzz build); each target links libFuzzer.
if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "INRGAN_FUZZ=ON needs clang (libFuzzer): -DCMAKE_C_COMPILER=clang-14")
endif()
set(IG_FUZZ_TARGETS model npy parse grammar)
set(IG_FUZZ_SECONDS 20 CACHE STRING "seconds each fuzz target runs under ctest")
foreach(t IN LISTS IG_FUZZ_TARGETS)
  add_executable(fuzz_${t} ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_${t}.c)
  target_compile_definitions(fuzz_${t} PRIVATE _POSIX_C_SOURCE=200809L)
  target_link_libraries(fuzz_${t} PRIVATE inrgan_lib)
  target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer)
  # a short run from the committed seeds and regression inputs (new inputs go to a scratch
  # directory in the build tree, never into the source tree)
  add_test(NAME fuzz_${t}
           COMMAND ${CMAKE_SOURCE_DIR}/scripts/fuzz.sh --run ${CMAKE_BINARY_DIR} ${t} ${IG_FUZZ_SECONDS})
  set_tests_properties(fuzz_${t} PROPERTIES LABELS "fuzz;no_sanitizer" TIMEOUT 300)
endforeach()
add_executable(fuzz_make_seed ${CMAKE_SOURCE_DIR}/tests/fuzz/make_seed.c)
target_link_libraries(fuzz_make_seed PRIVATE inrgan_lib)
